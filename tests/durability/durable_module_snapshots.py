"""``durable_module`` served with snapshots every few kilobytes of log (the SIGKILL tests):
kills then land before, during and after snapshots, and restarts load snapshot + log tail."""

from durable_module import module

from spacetimedb_sdk.server.durability import durability

durability.SNAPSHOT_BYTES = 2048  # read by DataDir.open, which the server calls after this

__all__ = ["module"]

"""Client-side authentication: the token a client keeps to stay the same identity.

:mod:`.credentials` saves and loads tokens in the official Rust SDK's file format.
(``spacetimedb_sdk.credentials`` re-exports it, the path users import.)  The local
server's token signing is separate, in :mod:`spacetimedb_sdk.server.auth`.
"""

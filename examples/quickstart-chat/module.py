"""The quickstart-chat module, for ``spacetimedb-py serve examples/quickstart-chat/module.py``.

The module ships inside the package (``spacetimedb_sdk/server/examples/quickstart_chat.py``,
served by ``spacetimedb-py serve --example quickstart-chat``); this file re-exports it so
that the repository's demo, client, tests and benchmarks serve exactly the same module.
Read or copy the shipped file to see how it is written.
"""

from spacetimedb_sdk.server.examples.quickstart_chat import (
    Message,
    User,
    identity_connected,
    identity_disconnected,
    init,
    module,
    send_message,
    set_name,
    validate_message,
    validate_name,
)

__all__ = [
    "Message",
    "User",
    "identity_connected",
    "identity_disconnected",
    "init",
    "module",
    "send_message",
    "set_name",
    "validate_message",
    "validate_name",
]

"""BSATN encoders and decoders for every v2 ``ClientMessage`` and ``ServerMessage``.

One import path for both directions; the code lives in one module per direction:

* :mod:`.client_messages` — what the client sends (the client encodes, the local server decodes);
* :mod:`.server_messages` — what the server sends (the server encodes, the client decodes),
  including the row lists every update carries;
* :mod:`.primitives` — what both share: primitive readers/writers, the decode failure
  that names the field path, and the tag dispatch.

The layouts follow protocol.md §4.3–4.5 (``websocket/v2.rs`` upstream).

Every malformed input raises :class:`~spacetimedb_sdk.errors.ProtocolError`
whose message names the field path and the byte offset, e.g.
``truncated SubscribeApplied.rows.tables[0].rows.rows_data: length 4000 at
offset 23 exceeds the 12 remaining bytes``.  Encoding a value that does not fit
its wire type (a negative ``request_id``, a reserved flag above 255, ...) raises
:class:`~spacetimedb_sdk.errors.BsatnEncodeError`; passing an object that is not
a message raises ``TypeError``.
"""

from __future__ import annotations

from .client_messages import (
    decode_client_message,
    encode_client_message,
    encode_client_message_into,
)
from .primitives import Buffer
from .server_messages import (
    decode_server_message,
    encode_server_message,
    encode_server_message_into,
)

__all__ = [
    "Buffer",
    "decode_client_message",
    "decode_server_message",
    "encode_client_message",
    "encode_client_message_into",
    "encode_server_message",
    "encode_server_message_into",
]

"""The v1 WebSocket protocol (``v1.bsatn.spacetimedb``, ``v1.json.spacetimedb``), server side.

Upstream 2.8 still serves these legacy subprotocols beside v2/v3; the local server does too.
:mod:`.messages` holds the messages as dataclasses, :mod:`.types` their SATS types in both
formats, :mod:`.codec` encodes and decodes them (BSATN or typed SATS-JSON).  Pure: no I/O.
The SDK's own client speaks v3/v2; these are for the server and for tests that act as a v1 client.

Example::

    >>> from spacetimedb_sdk.protocol.v1 import SUBPROTOCOL_V1_JSON, messages
    >>> SUBPROTOCOL_V1_JSON
    'v1.json.spacetimedb'
"""

from . import messages
from .codec import (
    decode_client_message,
    decode_server_frame,
    decode_server_message,
    encode_client_message,
    encode_server_frame,
    encode_server_message,
    query_update_of,
)

SUBPROTOCOL_V1_BSATN = "v1.bsatn.spacetimedb"
"""The binary v1 subprotocol (``BIN_PROTOCOL`` upstream)."""
SUBPROTOCOL_V1_JSON = "v1.json.spacetimedb"
"""The text v1 subprotocol (``TEXT_PROTOCOL`` upstream)."""

__all__ = [
    "SUBPROTOCOL_V1_BSATN",
    "SUBPROTOCOL_V1_JSON",
    "decode_client_message",
    "decode_server_frame",
    "decode_server_message",
    "encode_client_message",
    "encode_server_frame",
    "encode_server_message",
    "messages",
    "query_update_of",
]

"""The wire layer: v2 messages to and from bytes, v2/v3 framing, the compression envelope.

Pure functions, no I/O: bytes in, message objects out (and back).  The modules:

* :mod:`.messages` — the v2 ``ClientMessage``/``ServerMessage`` dataclasses (v3 reuses them).
  Row payloads stay BSATN in :class:`~.messages.BsatnRowList`; decoding rows needs the
  table's type and is the cache's job.
* BSATN of one message, both sides (the client encodes ``ClientMessage``s and decodes
  ``ServerMessage``s; the local server does the mirror image), one module per direction:
  :mod:`.client_messages` and :mod:`.server_messages`, over the shared readers/writers
  of :mod:`.primitives`; :mod:`.codec` is the one import path for both.
  Hand-written ``struct`` decoders: this is the hot path.
* :mod:`.framing` — one WebSocket binary message: the server's ``[tag][body]`` envelope
  (0 none, 1 Brotli, 2 gzip; bounded decompression), v2 = one message per frame,
  v3 = one or more back to back.

Every malformed input raises :class:`~spacetimedb_sdk.errors.ProtocolError` naming the
field path and byte offset; nothing else escapes a decoder.

Example::

    >>> from spacetimedb_sdk.protocol import SUBPROTOCOL_V2, decode_server_frame
    >>> decode_server_frame(bytes.fromhex("000400000000"), SUBPROTOCOL_V2)
    [TransactionUpdate(query_sets=[])]
"""

from .client_messages import (
    decode_client_message,
    encode_client_message,
    encode_client_message_into,
)
from .framing import (
    COMPRESSION_THRESHOLD,
    DEFAULT_MAX_DECOMPRESSED_SIZE,
    SERVER_MAX_INCOMING_MESSAGE_SIZE,
    SUBPROTOCOL_V2,
    SUBPROTOCOL_V3,
    SUBPROTOCOLS,
    Compression,
    brotli_available,
    compress,
    decode_client_frame,
    decode_server_frame,
    decompress,
    encode_client_frame,
    encode_server_frame,
)
from .primitives import Buffer
from .server_messages import (
    decode_server_message,
    encode_server_message,
    encode_server_message_into,
)

__all__ = [
    "COMPRESSION_THRESHOLD",
    "DEFAULT_MAX_DECOMPRESSED_SIZE",
    "SERVER_MAX_INCOMING_MESSAGE_SIZE",
    "SUBPROTOCOLS",
    "SUBPROTOCOL_V2",
    "SUBPROTOCOL_V3",
    "Buffer",
    "Compression",
    "brotli_available",
    "compress",
    "decode_client_frame",
    "decode_client_message",
    "decode_server_frame",
    "decode_server_message",
    "decompress",
    "encode_client_frame",
    "encode_client_message",
    "encode_client_message_into",
    "encode_server_frame",
    "encode_server_message",
    "encode_server_message_into",
]

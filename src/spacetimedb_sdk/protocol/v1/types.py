"""The SATS types of the v1 messages, in upstream's field and variant order, for both formats.

``v1.rs`` is generic over a ``WebsocketFormat``: ``BsatnFormat`` (``Single = Box<[u8]>``,
``List = BsatnRowList``, ``QueryUpdate = CompressableQueryUpdate``) and ``JsonFormat``
(``Single = ByteString``, ``List = Vec<ByteString>``, ``QueryUpdate = QueryUpdate``).
:class:`V1Types` builds the ``ClientMessage`` and ``ServerMessage`` sums for one of them; the
codecs (:mod:`.codec`) encode their generic values with BSATN or typed SATS-JSON.

Example::

    >>> [v.name for v in BSATN_TYPES.client_message.variants][:2]
    ['CallReducer', 'Subscribe']
"""

from __future__ import annotations

from ...sats.types import (
    AlgebraicType,
    ProductType,
    ProductTypeElement,
    SumType,
    SumTypeVariant,
)

T = AlgebraicType
_U8, _U16, _U32, _U64, _STR = T.U8, T.U16, T.U32, T.U64, T.STRING
_BYTES = T.array(_U8)


def product(*fields: tuple[str, AlgebraicType]) -> ProductType:
    """A product with named fields, in order."""
    return ProductType(tuple(ProductTypeElement(n, t) for n, t in fields))


def sum_of(*variants: tuple[str, AlgebraicType]) -> SumType:
    """A sum with named variants, in tag order."""
    return SumType(tuple(SumTypeVariant(n, t) for n, t in variants))


UNIT = product()
QUERY_ID = product(("id", _U32))
"""``QuerySetId``/``QueryId``: ``{ id: u32 }``."""
ENERGY_QUANTA = product(("quanta", T.U128))
BSATN_ROW_LIST = product(
    ("size_hint", sum_of(("FixedSize", _U16), ("RowOffsets", T.array(_U64)))),
    ("rows_data", _BYTES),
)


class V1Types:
    """The v1 message types of one format (``json=False``: BSATN, ``True``: JSON)."""

    def __init__(self, *, json: bool) -> None:
        self.json = json
        single = _STR if json else _BYTES
        rows = T.array(_STR) if json else BSATN_ROW_LIST
        self.query_update = product(("deletes", rows), ("inserts", rows))
        update_elem: AlgebraicType = self.query_update
        if not json:
            update_elem = sum_of(
                ("Uncompressed", self.query_update), ("Brotli", _BYTES), ("Gzip", _BYTES)
            )
        self.table_update = product(
            ("table_id", _U32),
            ("table_name", _STR),
            ("num_rows", _U64),
            ("updates", T.array(update_elem)),
        )
        self.database_update = product(("tables", T.array(self.table_update)))
        subscribe_rows = product(
            ("table_id", _U32), ("table_name", _STR), ("table_rows", self.table_update)
        )
        rows_applied = product(
            ("request_id", _U32),
            ("total_host_execution_duration_micros", _U64),
            ("query_id", QUERY_ID),
            ("rows", subscribe_rows),
        )
        multi_applied = product(
            ("request_id", _U32),
            ("total_host_execution_duration_micros", _U64),
            ("query_id", QUERY_ID),
            ("update", self.database_update),
        )
        self.client_message = sum_of(
            (
                "CallReducer",
                product(("reducer", _STR), ("args", single), ("request_id", _U32), ("flags", _U8)),
            ),
            ("Subscribe", product(("query_strings", T.array(_STR)), ("request_id", _U32))),
            ("OneOffQuery", product(("message_id", _BYTES), ("query_string", _STR))),
            (
                "SubscribeSingle",
                product(("query", _STR), ("request_id", _U32), ("query_id", QUERY_ID)),
            ),
            (
                "SubscribeMulti",
                product(
                    ("query_strings", T.array(_STR)),
                    ("request_id", _U32),
                    ("query_id", QUERY_ID),
                ),
            ),
            ("Unsubscribe", product(("request_id", _U32), ("query_id", QUERY_ID))),
            ("UnsubscribeMulti", product(("request_id", _U32), ("query_id", QUERY_ID))),
            (
                "CallProcedure",
                product(
                    ("procedure", _STR), ("args", single), ("request_id", _U32), ("flags", _U8)
                ),
            ),
        )
        update_status = sum_of(
            ("Committed", self.database_update), ("Failed", _STR), ("OutOfEnergy", UNIT)
        )
        reducer_call = product(
            ("reducer_name", _STR), ("reducer_id", _U32), ("args", single), ("request_id", _U32)
        )
        procedure_status = sum_of(
            ("Returned", single), ("OutOfEnergy", UNIT), ("InternalError", _STR)
        )
        self.server_message = sum_of(
            (
                "InitialSubscription",
                product(
                    ("database_update", self.database_update),
                    ("request_id", _U32),
                    ("total_host_execution_duration", T.time_duration()),
                ),
            ),
            (
                "TransactionUpdate",
                product(
                    ("status", update_status),
                    ("timestamp", T.timestamp()),
                    ("caller_identity", T.identity()),
                    ("caller_connection_id", T.connection_id()),
                    ("reducer_call", reducer_call),
                    ("energy_quanta_used", ENERGY_QUANTA),
                    ("total_host_execution_duration", T.time_duration()),
                ),
            ),
            (
                "TransactionUpdateLight",
                product(("request_id", _U32), ("update", self.database_update)),
            ),
            (
                "IdentityToken",
                product(
                    ("identity", T.identity()),
                    ("token", _STR),
                    ("connection_id", T.connection_id()),
                ),
            ),
            (
                "OneOffQueryResponse",
                product(
                    ("message_id", _BYTES),
                    ("error", T.option(_STR)),
                    ("tables", T.array(product(("table_name", _STR), ("rows", rows)))),
                    ("total_host_execution_duration", T.time_duration()),
                ),
            ),
            ("SubscribeApplied", rows_applied),
            ("UnsubscribeApplied", rows_applied),
            (
                "SubscriptionError",
                product(
                    ("total_host_execution_duration_micros", _U64),
                    ("request_id", T.option(_U32)),
                    ("query_id", T.option(_U32)),
                    ("table_id", T.option(_U32)),
                    ("error", _STR),
                ),
            ),
            ("SubscribeMultiApplied", multi_applied),
            ("UnsubscribeMultiApplied", multi_applied),
            (
                "ProcedureResult",
                product(
                    ("status", procedure_status),
                    ("timestamp", T.timestamp()),
                    ("total_host_execution_duration", T.time_duration()),
                    ("request_id", _U32),
                ),
            ),
        )


BSATN_TYPES = V1Types(json=False)
JSON_TYPES = V1Types(json=True)

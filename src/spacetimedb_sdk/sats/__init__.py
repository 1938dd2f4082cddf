"""Values and types of SATS, the SpacetimeDB algebraic type system.

- :mod:`.types`: :class:`AlgebraicType`, :class:`Typespace` (the type model);
- :mod:`.values`: :class:`Identity`, :class:`ConnectionId`, :class:`Timestamp`, ...;
- :mod:`.bsatn`: binary encoding, with codecs compiled once per type;
- :mod:`.sats_json`: the server's JSON encoding of values;
- :mod:`.plain`: :func:`to_plain` / :func:`from_plain`, the plain JSON the command line shows;
- :mod:`.widths`: ``U8 … I256, F32, F64`` annotation aliases.

Example::

    >>> from spacetimedb_sdk.sats import AlgebraicType, bsatn
    >>> bsatn.encode(AlgebraicType.U16, 258)
    b'\\x02\\x01'
"""

from .plain import from_plain, to_plain
from .types import (
    AlgebraicType,
    ArrayType,
    PrimitiveType,
    ProductType,
    ProductTypeElement,
    RefType,
    SumType,
    SumTypeVariant,
    Typespace,
)
from .values import (
    ConnectionId,
    Err,
    Identity,
    Ok,
    ScheduleAt,
    Some,
    SumValue,
    TimeDuration,
    Timestamp,
)
from .widths import (
    F32,
    F64,
    I8,
    I16,
    I32,
    I64,
    I128,
    I256,
    U8,
    U16,
    U32,
    U64,
    U128,
    U256,
    SatsType,
    type_of_annotation,
)  # fmt: skip

__all__ = [
    "F32", "F64", "I8", "I16", "I32", "I64", "I128", "I256",
    "U8", "U16", "U32", "U64", "U128", "U256",
    "AlgebraicType", "ArrayType", "ConnectionId", "Err", "Identity", "Ok", "PrimitiveType",
    "ProductType", "ProductTypeElement", "RefType", "SatsType", "ScheduleAt", "Some", "SumType",
    "SumTypeVariant", "SumValue", "TimeDuration", "Timestamp", "Typespace", "from_plain",
    "to_plain", "type_of_annotation",
]  # fmt: skip

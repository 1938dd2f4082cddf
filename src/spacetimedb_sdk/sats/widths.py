"""Integer and float width aliases for annotations.

``U8 … U256``, ``I8 … I256``, ``F32`` and ``F64`` are ``typing.Annotated``
aliases of ``int``/``float`` carrying their :class:`AlgebraicType`, so a plain
annotation tells generated code and the local server's module API the wire type.

Example::

    >>> from spacetimedb_sdk.sats import U32, type_of_annotation
    >>> type_of_annotation(U32)
    PrimitiveType(kind='U32')
"""

from __future__ import annotations

from typing import Annotated, Any, get_args, get_origin

from .types import AlgebraicType


class SatsType:
    """Marker placed in ``Annotated[...]`` metadata: the SATS type of the annotated value.

    Example::

        >>> Score = Annotated[int, SatsType(AlgebraicType.U16)]
        >>> type_of_annotation(Score)
        PrimitiveType(kind='U16')
    """

    __slots__ = ("algebraic_type",)

    def __init__(self, algebraic_type: AlgebraicType) -> None:
        self.algebraic_type = algebraic_type

    def __repr__(self) -> str:
        return f"SatsType({self.algebraic_type!r})"


U8 = Annotated[int, SatsType(AlgebraicType.U8)]
U16 = Annotated[int, SatsType(AlgebraicType.U16)]
U32 = Annotated[int, SatsType(AlgebraicType.U32)]
U64 = Annotated[int, SatsType(AlgebraicType.U64)]
U128 = Annotated[int, SatsType(AlgebraicType.U128)]
U256 = Annotated[int, SatsType(AlgebraicType.U256)]
I8 = Annotated[int, SatsType(AlgebraicType.I8)]
I16 = Annotated[int, SatsType(AlgebraicType.I16)]
I32 = Annotated[int, SatsType(AlgebraicType.I32)]
I64 = Annotated[int, SatsType(AlgebraicType.I64)]
I128 = Annotated[int, SatsType(AlgebraicType.I128)]
I256 = Annotated[int, SatsType(AlgebraicType.I256)]
F32 = Annotated[float, SatsType(AlgebraicType.F32)]
F64 = Annotated[float, SatsType(AlgebraicType.F64)]


def type_of_annotation(annotation: Any) -> AlgebraicType | None:
    """The :class:`AlgebraicType` carried by an ``Annotated[..., SatsType(...)]``, else ``None``.

    Example::

        >>> type_of_annotation(I64), type_of_annotation(int)
        (PrimitiveType(kind='I64'), None)
    """
    if get_origin(annotation) is Annotated:
        for meta in get_args(annotation)[1:]:
            if isinstance(meta, SatsType):
                return meta.algebraic_type
    return None


__all__ = [
    "F32", "F64", "I8", "I16", "I32", "I64", "I128", "I256",
    "U8", "U16", "U32", "U64", "U128", "U256", "SatsType", "type_of_annotation",
]  # fmt: skip

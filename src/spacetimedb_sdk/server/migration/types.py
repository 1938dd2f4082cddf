"""What migrations need to know about column types: inlining refs, upstream's type text, layouts.

A column's type may change in place only when the old stored values stay valid and keep their
byte layout: upstream compares the types with their refs resolved, prints them in its
``fmt_algebraic_type`` notation in errors (``(some: String | none: ())``, ``Array<U8>``), and
refuses a changed sum whose in-memory layout (size, alignment) differs
(``crates/sats/src/layout.rs``).  This file is those three pieces, nothing else.

Example::

    >>> from spacetimedb_sdk.sats.types import AlgebraicType
    >>> type_text(AlgebraicType.option(AlgebraicType.STRING))
    '(some: String | none: ())'
    >>> layout(AlgebraicType.option(AlgebraicType.U32))
    (8, 4)
"""

from __future__ import annotations

from ...errors import SchemaError
from ...sats.types import (
    AlgebraicType,
    ArrayType,
    PrimitiveType,
    ProductType,
    SumType,
    Typespace,
)
from ..sql.check import fmt_type

_PRIMITIVE_LAYOUT = {
    "Bool": (1, 1),
    "I8": (1, 1),
    "U8": (1, 1),
    "I16": (2, 2),
    "U16": (2, 2),
    "I32": (4, 4),
    "U32": (4, 4),
    "F32": (4, 4),
    "I64": (8, 8),
    "U64": (8, 8),
    "F64": (8, 8),
    "I128": (16, 16),
    "U128": (16, 16),
    "I256": (32, 32),
    "U256": (32, 32),
}
_VAR_LEN_LAYOUT = (4, 2)  # strings and arrays live behind a var-len reference


def inline(typespace: Typespace, ty: AlgebraicType) -> AlgebraicType:
    """``ty`` with its refs resolved; a recursive type keeps its refs (compared as written).

    Example::

        >>> inline(Typespace((AlgebraicType.U8,)), AlgebraicType.ref(0))
        PrimitiveType(kind='U8')
    """
    try:
        return typespace.inline(ty)
    except SchemaError:
        return ty


def type_text(ty: AlgebraicType) -> str:
    """The type as upstream's errors and migration plans print it (the SQL checker's notation).

    Example::

        >>> type_text(AlgebraicType.array(AlgebraicType.U8))
        'Array<U8>'
    """
    return fmt_type(ty)


def _align_to(base: int, alignment: int) -> int:
    if alignment == 0:
        return base
    return -(-base // alignment) * alignment


def layout(ty: AlgebraicType) -> tuple[int, int]:
    """``(size, alignment)`` of a value of ``ty`` in a table row (``ty`` without refs).

    Example::

        >>> layout(AlgebraicType.product({"a": AlgebraicType.U8, "b": AlgebraicType.U32}))
        (8, 4)
    """
    if isinstance(ty, PrimitiveType):
        return _PRIMITIVE_LAYOUT.get(ty.kind, _VAR_LEN_LAYOUT)
    if isinstance(ty, ArrayType):
        return _VAR_LEN_LAYOUT
    if isinstance(ty, ProductType):
        offset, align = 0, 1
        for e in ty.elements:
            size, child_align = layout(e.algebraic_type)
            offset = _align_to(offset, child_align) + size
            align = max(align, child_align)
        return _align_to(offset, align), align
    if isinstance(ty, SumType):
        max_size, max_align = 0, 0
        for v in ty.variants:
            size, child_align = layout(v.algebraic_type)
            max_size, max_align = max(max_size, size), max(max_align, child_align)
        align = max(max_align, 1)
        return align + _align_to(max_size, max_align), align
    raise SchemaError(f"cannot lay out the unresolved type {type_text(ty)}")


class _Parts:
    """The names and types an incompatibility error mentions."""

    __slots__ = ("column", "table")

    def __init__(self, table: str, column: str) -> None:
        self.table = table
        self.column = column

    def error(self, within: bool, old: AlgebraicType, new: AlgebraicType, why: str = "") -> str:
        where = "a type within" if within else "the type of"
        return (
            f"Changing {where} column {self.column} in table {self.table} from "
            f"{type_text(old)} to {type_text(new)}{why} requires a manual migration"
        )

    def layout_error(self, within: bool, old: AlgebraicType, new: AlgebraicType, what: str) -> str:
        where = "a type within" if within else "the type of"
        return (
            f"Changing {where} column {self.column} in table {self.table} from "
            f"{type_text(old)} to {type_text(new)}, requires a manual migration, "
            f"due to {what} mismatch"
        )


def upgrade(
    table: str, column: str, old: AlgebraicType, new: AlgebraicType
) -> tuple[bool, list[str]]:
    """Whether stored values of ``old`` can stay as they are under ``new``.

    Returns ``(changed, errors)``: no errors means the values keep their bytes and
    ``changed`` says whether the type differs at all (a sum gained variants).  The rules
    are upstream's ``ensure_old_ty_upgradable_to_new``: a sum may only gain variants at the
    end (same names, compatible payloads, same layout), a product keeps its fields (same
    count and names, compatible types), an array's element follows the same rules, and any
    other type must not change.  Both types must have their refs resolved.

    Example::

        >>> u8 = AlgebraicType.U8
        >>> upgrade("t", "c", u8, AlgebraicType.U16)[1]
        ['Changing the type of column c in table t from U8 to U16 requires a manual migration']
    """
    errors: list[str] = []
    changed = _upgrade(_Parts(table, column), False, old, new, errors)
    return changed, errors


def _upgrade(
    parts: _Parts, within: bool, old: AlgebraicType, new: AlgebraicType, errors: list[str]
) -> bool:
    if isinstance(old, SumType) and isinstance(new, SumType):
        changed = len(old.variants) < len(new.variants)
        if len(old.variants) > len(new.variants):
            errors.append(parts.error(within, old, new, ", with fewer variants,"))
        for o, n in zip(old.variants, new.variants, strict=False):
            changed |= _upgrade(parts, True, o.algebraic_type, n.algebraic_type, errors)
            if o.name != n.name:
                errors.append(parts.error(within, old, new, ", with a renamed variant,"))
        (old_size, old_align), (new_size, new_align) = layout(old), layout(new)
        if old_size != new_size:
            errors.append(parts.layout_error(within, old, new, "size"))
        if old_align != new_align:
            errors.append(parts.layout_error(within, old, new, "alignment"))
        return changed
    if isinstance(old, ProductType) and isinstance(new, ProductType):
        if len(old.elements) != len(new.elements):
            errors.append(parts.error(within, old, new, ", with fewer fields,"))
        changed = False
        for f, g in zip(old.elements, new.elements, strict=False):
            changed |= _upgrade(parts, True, f.algebraic_type, g.algebraic_type, errors)
            if f.name != g.name:
                errors.append(parts.error(within, old, new, ", with a renamed field,"))
        return changed
    if isinstance(old, ArrayType) and isinstance(new, ArrayType):
        return _upgrade(parts, True, old.elem, new.elem, errors)
    if old != new:
        errors.append(parts.error(within, old, new))
    return False

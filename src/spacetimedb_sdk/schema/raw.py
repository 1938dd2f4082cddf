"""``RawModuleDef`` (v9 and v10) described as SATS types, and its generic values.

A module definition is itself a SATS value: the Rust structs of
``crates/lib/src/db/raw_def/v9.rs``/``v10.rs`` derive ``SpacetimeType``, so their
BSATN and SATS-JSON follow the ordinary rules.  Describing them once as
:class:`AlgebraicType`\\ s in :data:`RAW_TYPESPACE` lets the generic codecs
(:mod:`..sats.bsatn`, :mod:`..sats.sats_json`) read and write both encodings into
the same generic value (dicts, lists, :class:`SumValue`), which
:mod:`.load` then normalizes once.  Re-encoding a decoded value reproduces the
input bytes.

The ``AlgebraicType`` inside a definition (typespace entries, reducer params,
return types) is the "meta type" sum ``Ref | Sum | Product | Array | String | Bool
| I8 … F64``; :func:`type_from_value` and :func:`type_to_value` convert between
its generic value and :mod:`..sats.types` objects.

Example::

    >>> raw = RawModuleDef.from_json({"V10": {"sections": []}})
    >>> raw.version, raw.to_bsatn()
    (10, b'\\x02\\x00\\x00\\x00\\x00')
"""

from __future__ import annotations

import json
import struct
import warnings
from dataclasses import dataclass, field
from typing import Any

from ..errors import BsatnDecodeError, SchemaError
from ..sats import bsatn, sats_json
from ..sats.types import (
    PRIMITIVE_KINDS,
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
from ..sats.values import SumValue

__all__ = [
    "RAW_MODULE_DEF",
    "RAW_MODULE_DEF_V9",
    "RAW_MODULE_DEF_V10",
    "RAW_TYPESPACE",
    "V10_SECTION_NAMES",
    "RawModuleDef",
    "type_from_value",
    "type_to_value",
    "typespace_from_value",
]

_T = AlgebraicType


class _Builder:
    """Assigns typespace slots by name so recursive definitions can refer ahead."""

    def __init__(self) -> None:
        self.slots: dict[str, int] = {}
        self.types: list[AlgebraicType | None] = []

    def ref(self, name: str) -> RefType:
        if name not in self.slots:
            self.slots[name] = len(self.types)
            self.types.append(None)
        return RefType(self.slots[name])

    def define(self, name: str, ty: AlgebraicType) -> RefType:
        r = self.ref(name)
        self.types[r.index] = ty
        return r

    def product(self, name: str, *fields: tuple[str, AlgebraicType]) -> RefType:
        return self.define(name, _T.product(list(fields)))

    def enum(self, name: str, *variants: str | tuple[str, AlgebraicType]) -> RefType:
        items = [(v, _T.unit()) if isinstance(v, str) else v for v in variants]
        return self.define(name, _T.sum(items))

    def finish(self) -> Typespace:
        missing = [n for n, i in self.slots.items() if self.types[i] is None]
        if missing:  # pragma: no cover - guards this file's own definitions
            raise AssertionError(f"raw typespace slots never defined: {missing}")
        return Typespace(tuple(t for t in self.types if t is not None))


def _build() -> tuple[Typespace, dict[str, RefType]]:
    b = _Builder()
    s, u16, u32, i128 = _T.STRING, _T.U16, _T.U32, _T.I128
    opt, arr = _T.option, _T.array
    opt_s = opt(s)
    col_list = arr(u16)

    # The meta type of AlgebraicType (tag order of the Rust enum; Array's payload is the
    # element type itself because ArrayType is a transparent newtype).
    algebraic = b.ref("AlgebraicType")
    b.product("SumTypeVariant", ("name", opt_s), ("algebraic_type", algebraic))
    b.product("ProductTypeElement", ("name", opt_s), ("algebraic_type", algebraic))
    sum_ty = b.product("SumType", ("variants", arr(b.ref("SumTypeVariant"))))
    product = b.product("ProductType", ("elements", arr(b.ref("ProductTypeElement"))))
    meta: list[tuple[str, AlgebraicType]] = [
        ("Ref", u32),
        ("Sum", sum_ty),
        ("Product", product),
        ("Array", algebraic),
    ]
    b.define("AlgebraicType", _T.sum(meta + [(k, _T.unit()) for k in PRIMITIVE_KINDS]))
    typespace = b.product("Typespace", ("types", arr(algebraic)))

    # Shared by v9 and v10.
    # Struct-like variants with one field (`BTree { columns }`) serialize like newtypes.
    algorithm = b.enum(
        "RawIndexAlgorithm", ("BTree", col_list), ("Hash", col_list), ("Direct", u16)
    )
    unique = b.product("RawUniqueConstraintDataV9", ("columns", col_list))
    constraint_data = b.enum("RawConstraintDataV9", ("Unique", unique))
    table_type = b.enum("TableType", "System", "User")
    table_access = b.enum("TableAccess", "Public", "Private")
    lifecycle = b.enum("Lifecycle", "Init", "OnConnect", "OnDisconnect")
    rls = b.product("RawRowLevelSecurityDefV9", ("sql", s))
    seq_tail = (
        ("column", u16),
        ("start", opt(i128)),
        ("min_value", opt(i128)),
        ("max_value", opt(i128)),
        ("increment", i128),
    )
    view_tail = (
        ("index", u32),
        ("is_public", _T.BOOL),
        ("is_anonymous", _T.BOOL),
        ("params", product),
        ("return_type", algebraic),
    )

    # v9
    index9 = b.product(
        "RawIndexDefV9", ("name", opt_s), ("accessor_name", opt_s), ("algorithm", algorithm)
    )
    constraint9 = b.product("RawConstraintDefV9", ("name", opt_s), ("data", constraint_data))
    sequence9 = b.product("RawSequenceDefV9", ("name", opt_s), *seq_tail)
    schedule9 = b.product(
        "RawScheduleDefV9", ("name", opt_s), ("reducer_name", s), ("scheduled_at_column", u16)
    )
    table9 = b.product(
        "RawTableDefV9",
        ("name", s),
        ("product_type_ref", u32),
        ("primary_key", col_list),
        ("indexes", arr(index9)),
        ("constraints", arr(constraint9)),
        ("sequences", arr(sequence9)),
        ("schedule", opt(schedule9)),
        ("table_type", table_type),
        ("table_access", table_access),
    )
    reducer9 = b.product(
        "RawReducerDefV9", ("name", s), ("params", product), ("lifecycle", opt(lifecycle))
    )
    scoped9 = b.product("RawScopedTypeNameV9", ("scope", arr(s)), ("name", s))
    typedef9 = b.product(
        "RawTypeDefV9", ("name", scoped9), ("ty", u32), ("custom_ordering", _T.BOOL)
    )
    default9 = b.product(
        "RawColumnDefaultValueV9", ("table", s), ("col_id", u16), ("value", arr(_T.U8))
    )
    procedure9 = b.product(
        "RawProcedureDefV9", ("name", s), ("params", product), ("return_type", algebraic)
    )
    view9 = b.product("RawViewDefV9", ("name", s), *view_tail)
    misc9 = b.enum(
        "RawMiscModuleExportV9",
        ("ColumnDefaultValue", default9),
        ("Procedure", procedure9),
        ("View", view9),
    )
    v9 = b.product(
        "RawModuleDefV9",
        ("typespace", typespace),
        ("tables", arr(table9)),
        ("reducers", arr(reducer9)),
        ("types", arr(typedef9)),
        ("misc_exports", arr(misc9)),
        ("row_level_security", arr(rls)),
    )

    # v10
    visibility = b.enum("FunctionVisibility", "Private", "ClientCallable")
    index10 = b.product(
        "RawIndexDefV10", ("source_name", opt_s), ("accessor_name", opt_s), ("algorithm", algorithm)
    )
    constraint10 = b.product(
        "RawConstraintDefV10", ("source_name", opt_s), ("data", constraint_data)
    )
    sequence10 = b.product("RawSequenceDefV10", ("source_name", opt_s), *seq_tail)
    default10 = b.product("RawColumnDefaultValueV10", ("col_id", u16), ("value", arr(_T.U8)))
    table10 = b.product(
        "RawTableDefV10",
        ("source_name", s),
        ("product_type_ref", u32),
        ("primary_key", col_list),
        ("indexes", arr(index10)),
        ("constraints", arr(constraint10)),
        ("sequences", arr(sequence10)),
        ("table_type", table_type),
        ("table_access", table_access),
        ("default_values", arr(default10)),
        ("is_event", _T.BOOL),
    )
    reducer10 = b.product(
        "RawReducerDefV10",
        ("source_name", s),
        ("params", product),
        ("visibility", visibility),
        ("ok_return_type", algebraic),
        ("err_return_type", algebraic),
    )
    procedure10 = b.product(
        "RawProcedureDefV10",
        ("source_name", s),
        ("params", product),
        ("return_type", algebraic),
        ("visibility", visibility),
    )
    view10 = b.product("RawViewDefV10", ("source_name", s), *view_tail)
    schedule10 = b.product(
        "RawScheduleDefV10",
        ("source_name", opt_s),
        ("table_name", s),
        ("schedule_at_col", u16),
        ("function_name", s),
    )
    lifecycle10 = b.product(
        "RawLifeCycleReducerDefV10", ("lifecycle_spec", lifecycle), ("function_name", s)
    )
    policy = b.enum("CaseConversionPolicy", "None", "SnakeCase")
    mapping = b.product("NameMapping", ("source_name", s), ("canonical_name", s))
    entry = b.enum(
        "ExplicitNameEntry", ("Table", mapping), ("Function", mapping), ("Index", mapping)
    )
    explicit = b.product("ExplicitNames", ("entries", arr(entry)))
    handler = b.product("RawHttpHandlerDefV10", ("source_name", s))
    method = b.enum(
        "HttpMethod",
        *("Get", "Head", "Post", "Put", "Delete", "Connect", "Options", "Trace", "Patch"),
        ("Extension", s),
    )
    method_or_any = b.enum("MethodOrAny", "Any", ("Method", method))
    route = b.product(
        "RawHttpRouteDefV10", ("handler_function", s), ("method", method_or_any), ("path", s)
    )
    view_pk = b.product("RawViewPrimaryKeyDefV10", ("view_source_name", s), ("columns", arr(s)))
    submodule = b.product("RawSubmoduleV10", ("namespace", s), ("module", b.ref("RawModuleDefV10")))
    scoped10 = b.product("RawScopedTypeNameV10", ("scope", arr(s)), ("source_name", s))
    typedef10 = b.product(
        "RawTypeDefV10", ("source_name", scoped10), ("ty", u32), ("custom_ordering", _T.BOOL)
    )
    section = b.enum(
        "RawModuleDefV10Section",
        ("Typespace", typespace),
        ("Types", arr(typedef10)),
        ("Tables", arr(table10)),
        ("Reducers", arr(reducer10)),
        ("Procedures", arr(procedure10)),
        ("Views", arr(view10)),
        ("Schedules", arr(schedule10)),
        ("LifeCycleReducers", arr(lifecycle10)),
        ("RowLevelSecurity", arr(rls)),
        ("CaseConversionPolicy", policy),
        ("ExplicitNames", explicit),
        ("HttpHandlers", arr(handler)),
        ("HttpRoutes", arr(route)),
        ("ViewPrimaryKeys", arr(view_pk)),
        ("Submodules", arr(submodule)),
    )
    v10 = b.product("RawModuleDefV10", ("sections", arr(section)))

    # V8BackCompat (tag 0) is not described: this SDK refuses pre-1.0 definitions.
    top = b.enum("RawModuleDef", "V8BackCompat", ("V9", v9), ("V10", v10))
    refs = {
        "AlgebraicType": algebraic,
        "Typespace": typespace,
        "RawModuleDefV9": v9,
        "RawModuleDefV10": v10,
        "RawModuleDefV10Section": section,
        "RawModuleDef": top,
    }
    return b.finish(), refs


RAW_TYPESPACE, _REFS = _build()
"""The typespace holding every ``RawModuleDef`` type; refs below point into it."""

RAW_MODULE_DEF: RefType = _REFS["RawModuleDef"]
RAW_MODULE_DEF_V9: RefType = _REFS["RawModuleDefV9"]
RAW_MODULE_DEF_V10: RefType = _REFS["RawModuleDefV10"]
_SECTION_TYPE = RAW_TYPESPACE.resolve(_REFS["RawModuleDefV10Section"])
assert isinstance(_SECTION_TYPE, SumType)
V10_SECTION_NAMES: tuple[str, ...] = tuple(v.name or "" for v in _SECTION_TYPE.variants)

_PRIMITIVES = {k: PrimitiveType(k) for k in PRIMITIVE_KINDS}


# ---- the AlgebraicType meta type ---------------------------------------------------------


def type_from_value(value: Any) -> AlgebraicType:
    """The :class:`AlgebraicType` of a generic meta-type value (``SumValue("U32")`` …).

    Example::

        >>> type_from_value(SumValue("Array", SumValue("U8")))
        ArrayType(elem=PrimitiveType(kind='U8'))
    """
    if not isinstance(value, SumValue):
        raise SchemaError(f"expected an AlgebraicType value, got {value!r:.80}")
    tag, payload = value.tag, value.value
    if tag in _PRIMITIVES:
        return _PRIMITIVES[tag]
    if tag == "Ref":
        return RefType(payload)
    if tag == "Array":
        return ArrayType(type_from_value(payload))
    if tag == "Product":
        return ProductType(
            tuple(
                ProductTypeElement(e["name"], type_from_value(e["algebraic_type"]))
                for e in payload["elements"]
            )
        )
    if tag == "Sum":
        return SumType(
            tuple(
                SumTypeVariant(v["name"], type_from_value(v["algebraic_type"]))
                for v in payload["variants"]
            )
        )
    raise SchemaError(f"unknown AlgebraicType variant {tag!r}")


def product_from_value(value: Any) -> ProductType:
    """A :class:`ProductType` from the generic value ``{"elements": [...]}`` (reducer params).

    Example::

        >>> product_from_value({"elements": []})
        ProductType(elements=())
    """
    ty = type_from_value(SumValue("Product", value))
    assert isinstance(ty, ProductType)
    return ty


def type_to_value(ty: AlgebraicType) -> SumValue:
    """The generic meta-type value of an :class:`AlgebraicType` (inverse of :func:`type_from_value`).

    Example::

        >>> type_to_value(AlgebraicType.option(AlgebraicType.U8)).tag
        'Sum'
    """
    if isinstance(ty, PrimitiveType):
        return SumValue(ty.kind)
    if isinstance(ty, RefType):
        return SumValue("Ref", ty.index)
    if isinstance(ty, ArrayType):
        return SumValue("Array", type_to_value(ty.elem))
    if isinstance(ty, ProductType):
        return SumValue("Product", product_to_value(ty))
    if isinstance(ty, SumType):
        variants = [
            {"name": v.name, "algebraic_type": type_to_value(v.algebraic_type)} for v in ty.variants
        ]
        return SumValue("Sum", {"variants": variants})
    raise TypeError(f"not an AlgebraicType: {ty!r}")


def product_to_value(ty: ProductType) -> dict[str, Any]:
    """The generic value ``{"elements": [...]}`` of a :class:`ProductType`.

    Example::

        >>> product_to_value(AlgebraicType.unit())
        {'elements': []}
    """
    return {
        "elements": [
            {"name": e.name, "algebraic_type": type_to_value(e.algebraic_type)} for e in ty.elements
        ]
    }


def typespace_from_value(value: Any) -> Typespace:
    """A :class:`Typespace` from its generic value ``{"types": [...]}``.

    Example::

        >>> typespace_from_value({"types": [SumValue("U8")]}).types
        (PrimitiveType(kind='U8'),)
    """
    return Typespace(tuple(type_from_value(t) for t in value["types"]))


# ---- the whole definition -----------------------------------------------------------------


@dataclass(frozen=True)
class RawModuleDef:
    """A decoded ``RawModuleDef``: its version (9 or 10) and generic value.

    ``value`` is the generic value of ``RawModuleDefV9``/``RawModuleDefV10`` (the
    payload of the ``RawModuleDef`` sum).  :meth:`to_bsatn` gives the wrapped
    ``RawModuleDef`` bytes back, identical to what was decoded.  ``dropped`` names
    the v10 sections that were not understood (a newer server) and were left out of
    ``value``; re-encoding then cannot reproduce the input.

    Example::

        >>> RawModuleDef.from_json({"sections": []}).version
        10
    """

    version: int
    value: Any = field(repr=False)
    dropped: tuple[str, ...] = ()

    @property
    def ty(self) -> RefType:
        """The SATS type of :attr:`value` in :data:`RAW_TYPESPACE` (a ``RefType``).

        Example::

            >>> raw = RawModuleDef.from_json({"V10": {"sections": []}})
            >>> RAW_TYPESPACE.resolve(raw.ty).names()
            ['sections']
        """
        return RAW_MODULE_DEF_V9 if self.version == 9 else RAW_MODULE_DEF_V10

    @staticmethod
    def from_json(obj: Any) -> RawModuleDef:
        """Read a schema document: bare v9/v10 or wrapped ``{"V9": …}``/``{"V10": …}``.

        ``obj`` may be JSON text or bytes.  The reading is tolerant: unknown keys and
        unknown v10 sections are dropped with a warning, missing list/option/bool
        fields default to empty (older or abridged documents).

        Example::

            >>> RawModuleDef.from_json('{"V9": {"typespace": {"types": []}}}').version
            9
        """
        if isinstance(obj, (str, bytes, bytearray)):
            try:
                obj = json.loads(obj)
            except ValueError as e:
                raise SchemaError(f"module schema is not valid JSON: {e}") from None
        version, body = _unwrap(obj)
        dropped: tuple[str, ...] = ()
        if version == 10:
            body, dropped = _drop_unknown_sections(body)
        ty = RAW_MODULE_DEF_V9 if version == 9 else RAW_MODULE_DEF_V10
        try:
            value = sats_json.from_json(ty, body, RAW_TYPESPACE, tolerant=True)
        except sats_json.SatsJsonError as e:
            raise SchemaError(f"malformed RawModuleDefV{version} JSON: {e}") from None
        return RawModuleDef(version, value, dropped)

    @staticmethod
    def from_bsatn(data: bytes | bytearray | memoryview) -> RawModuleDef:
        """Decode BSATN ``RawModuleDef`` (the ``V9``/``V10`` sum ``__describe_module__`` returns).

        A v10 section with an unknown tag cannot be skipped (BSATN carries no
        lengths), so it and every later section are dropped with a warning.

        Example::

            >>> RawModuleDef.from_bsatn(bytes.fromhex("0200000000")).value
            {'sections': []}
        """
        buf = bytes(data)
        if not buf:
            raise SchemaError("empty RawModuleDef bytes")
        try:
            if buf[0] == 1:
                return RawModuleDef(9, _codec(RAW_MODULE_DEF_V9).decode(buf[1:]))
            if buf[0] == 2:
                return _read_v10(buf)
        except BsatnDecodeError as e:
            raise SchemaError(f"malformed RawModuleDef BSATN: {e}") from None
        if buf[0] == 0:
            raise SchemaError("RawModuleDef::V8BackCompat (pre-1.0 modules) is not supported")
        raise SchemaError(f"unknown RawModuleDef tag {buf[0]} (expected 1 = V9 or 2 = V10)")

    def to_bsatn(self) -> bytes:
        """BSATN of the wrapped ``RawModuleDef`` (first byte 1 = V9, 2 = V10).

        Example::

            >>> RawModuleDef(10, {"sections": []}).to_bsatn().hex()
            '0200000000'
        """
        return _codec(RAW_MODULE_DEF).encode(SumValue(f"V{self.version}", self.value))

    def to_json(self) -> Any:
        """Typed SATS-JSON of the bare ``RawModuleDefV9``/``V10`` (the ``/schema`` form).

        Example::

            >>> RawModuleDef(10, {"sections": []}).to_json()
            {'sections': []}
        """
        return sats_json.to_json(self.ty, self.value, RAW_TYPESPACE)


def _codec(ty: RefType) -> bsatn.Codec:
    return bsatn.codec_for(ty, RAW_TYPESPACE)


def _read_v10(buf: bytes) -> RawModuleDef:
    section_codec = _codec(_REFS["RawModuleDefV10Section"])
    if len(buf) < 5:
        raise BsatnDecodeError("truncated RawModuleDefV10 section count", offset=1)
    (count,) = struct.unpack_from("<I", buf, 1)
    off = 5
    sections: list[Any] = []
    for i in range(count):
        if off >= len(buf):
            raise BsatnDecodeError(f"truncated: section {i} of {count} missing", offset=off)
        if buf[off] >= len(V10_SECTION_NAMES):
            lost = f"tag {buf[off]} (and {count - i - 1} later sections)"
            warnings.warn(
                f"ignoring unknown RawModuleDefV10 section {lost} (newer server?)",
                UserWarning,
                stacklevel=3,
            )
            return RawModuleDef(10, {"sections": sections}, (lost,))
        section, off = section_codec.read(buf, off)
        sections.append(section)
    if off != len(buf):
        raise BsatnDecodeError(f"{len(buf) - off} trailing bytes after RawModuleDef", offset=off)
    return RawModuleDef(10, {"sections": sections})


def _unwrap(obj: Any) -> tuple[int, Any]:
    if not isinstance(obj, dict):
        raise SchemaError(f"a module schema must be a JSON object, got {type(obj).__name__}")
    if len(obj) == 1:
        ((key, body),) = obj.items()
        if key in ("V9", "V10"):
            return int(key[1:]), body
        if key == "V8BackCompat":
            raise SchemaError("RawModuleDef::V8BackCompat (pre-1.0 modules) is not supported")
    if "sections" in obj:
        return 10, obj
    if "typespace" in obj or "tables" in obj:
        return 9, obj
    raise SchemaError(
        "not a module schema: expected RawModuleDefV9 ('typespace', 'tables', …), "
        f"RawModuleDefV10 ('sections') or {{'V9'|'V10': …}}; got keys {sorted(obj)[:8]}"
    )


def _drop_unknown_sections(body: Any) -> tuple[Any, tuple[str, ...]]:
    """Remove v10 sections this SDK does not know (added by newer servers), with a warning."""
    if not isinstance(body, dict) or not isinstance(body.get("sections"), list):
        return body, ()
    kept = []
    dropped = []
    for section in body["sections"]:
        key = _section_key(section)
        if key is None or key in V10_SECTION_NAMES:
            kept.append(section)
            continue
        dropped.append(key)
        warnings.warn(
            f"ignoring unknown RawModuleDefV10 section {key!r} (newer server?)",
            UserWarning,
            stacklevel=4,
        )
    return {**body, "sections": kept}, tuple(dropped)


def _section_key(section: Any) -> str | None:
    """The section's variant name, or ``None`` when it is not in a recognisable form."""
    if isinstance(section, dict) and len(section) == 1:
        key = next(iter(section))
    elif isinstance(section, list) and len(section) == 2:
        key = section[0]
    else:
        return None
    if isinstance(key, str) and key.isdigit():
        key = int(key)
    if isinstance(key, int) and not isinstance(key, bool):
        return V10_SECTION_NAMES[key] if 0 <= key < len(V10_SECTION_NAMES) else f"tag {key}"
    return key if isinstance(key, str) else None

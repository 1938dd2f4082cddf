"""Source generation for the compiled BSATN codecs of :mod:`.bsatn`.

For each type we write a Python function specialised to it and ``exec`` it once:
runs of fixed-size fields become one ``struct.unpack_from``/``pack`` call (a
following string/array length prefix or sum tag joins the run), ``Array<U8>``
is a slice, numeric arrays are one ``unpack_from``, options/results/sums are
inline ``if`` chains.  Non-fixed ``Ref`` targets get one function each, named
before their body is generated, so recursive types just call themselves.

The generated code is lean on purpose: it raises whatever is cheapest
(``_Fail``, ``IndexError``, ``struct.error``, ``KeyError``...) and the caller
re-runs the reference walker of :mod:`._bsatn_ref` for the precise error.

Example::

    >>> prog = Program(Ctx(None, {}))
    >>> name = DecGen(prog).reader(AlgebraicType.product({"a": AlgebraicType.U8}))
    >>> prog.flush()
    >>> prog.ns[name](b"\\x07", 0)
    ({'a': 7}, 1)
"""

from __future__ import annotations

import keyword
import struct
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

from ._bsatn_ref import (
    MAX_ZERO_SIZE_ELEMENTS,
    PRIM_INFO,
    SIGNED_BIG,
    Ctx,
    class_fields,
    class_kind,
    kind_of,
    variant_name,
)
from .types import (
    CONNECTION_ID_TAG,
    IDENTITY_TAG,
    TIME_DURATION_TAG,
    TIMESTAMP_TAG,
    UUID_TAG,
    AlgebraicType,
    ArrayType,
    PrimitiveType,
    ProductType,
    RefType,
    SumType,
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
    _HexInt,
    _Micros,
)


class Fail(Exception):
    """Raised by generated code on bad input; the caller diagnoses with the reference walker."""


# The value classes validate in __init__; decoded values are in range by construction,
# so build them through the slot descriptors instead (about twice as fast).
_new = object.__new__
_set_hex: Callable[[object, int], None] = _HexInt.__dict__["_value"].__set__
_set_micros: Callable[[object, int], None] = _Micros.__dict__["_micros"].__set__


def _mk_identity(v: int) -> Identity:
    o = _new(Identity)
    _set_hex(o, v)
    return o


def _mk_connection_id(v: int) -> ConnectionId:
    o = _new(ConnectionId)
    _set_hex(o, v)
    return o


def _mk_timestamp(v: int) -> Timestamp:
    o = _new(Timestamp)
    _set_micros(o, v)
    return o


def _mk_time_duration(v: int) -> TimeDuration:
    o = _new(TimeDuration)
    _set_micros(o, v)
    return o


def _mk_uuid_checked(b: bytes) -> uuid.UUID:
    return uuid.UUID(int=int.from_bytes(b, "little"))


try:  # UUID.__init__ parses its arguments in Python; set its slots directly instead.
    _set_uuid_int = uuid.UUID.__dict__["int"].__set__
    _set_uuid_safe = uuid.UUID.__dict__["is_safe"].__set__
    _UUID_UNKNOWN = uuid.SafeUUID.unknown

    def _mk_uuid(b: bytes) -> uuid.UUID:
        o = _new(uuid.UUID)
        _set_uuid_int(o, int.from_bytes(b, "little"))
        _set_uuid_safe(o, _UUID_UNKNOWN)
        return o

except (KeyError, AttributeError):  # pragma: no cover - a UUID without slots
    _mk_uuid = _mk_uuid_checked


class _Formats(dict[int, str]):
    """``'<{n}{code}'`` struct formats for numeric arrays, built once per length."""

    def __init__(self, code: str) -> None:
        super().__init__()
        self.code = code

    def __missing__(self, n: int) -> str:
        fmt = f"<{n}{self.code}"
        if n < 4096:
            self[n] = fmt
        return fmt


def _sched(tag: int, micros: int) -> ScheduleAt:
    if tag == 0:
        return ScheduleAt.Interval(_mk_time_duration(micros))
    if tag == 1:
        return ScheduleAt.Time(_mk_timestamp(micros))
    raise Fail


def _sched_enc(x: object) -> tuple[int, int]:
    if type(x) is ScheduleAt.Interval and type(x.duration) is TimeDuration:
        return 0, x.duration.micros
    if type(x) is ScheduleAt.Time and type(x.time) is Timestamp:
        return 1, x.time.micros
    raise Fail


_BASE_NS: dict[str, Any] = {
    "_Fail": Fail,
    "_BOOL": (False, True),
    "_ifb": int.from_bytes,
    "_i2b": int.to_bytes,
    "_U32": struct.Struct("<I").unpack_from,
    "_U32p": struct.Struct("<I").pack,
    "_unpack_from": struct.unpack_from,
    "_pack": struct.pack,
    "_Some": Some,
    "_Ok": Ok,
    "_Err": Err,
    "_SV": SumValue,
    "_sched": _sched,
    "_sched_enc": _sched_enc,
    "_mk_identity": _mk_identity,
    "_mk_connection_id": _mk_connection_id,
    "_mk_timestamp": _mk_timestamp,
    "_mk_time_duration": _mk_time_duration,
    "_mk_uuid": _mk_uuid,
    "_new": _new,
    "_set_hex": _set_hex,
    "_set_micros": _set_micros,
    "_Identity": Identity,
    "_ConnectionId": ConnectionId,
    "_Timestamp": Timestamp,
    "_TimeDuration": TimeDuration,
    "_UUID": uuid.UUID,
    "_bool": bool,
    "_str": str,
    "_bytes": bytes,
    "_bytearray": bytearray,
    "_list": list,
    "_tuple": tuple,
    "_type": type,
    "_isinstance": isinstance,
    "_getattr": getattr,
    "_len": len,
}

# Decoding of the specials: struct code, size, expression over the raw field, and for the
# statement form (used where statements are allowed; saves a call) class and slot setter.
_SPECIAL_DEC: dict[str, tuple[str, int, Callable[[str], str], tuple[str, str] | None]] = {
    IDENTITY_TAG: (
        "32s", 32, lambda r: f"_mk_identity(_ifb({r}, 'little'))", ("_Identity", "_set_hex")
    ),
    CONNECTION_ID_TAG: (
        "16s", 16, lambda r: f"_mk_connection_id(_ifb({r}, 'little'))",
        ("_ConnectionId", "_set_hex"),
    ),
    TIMESTAMP_TAG: ("q", 8, lambda r: f"_mk_timestamp({r})", ("_Timestamp", "_set_micros")),
    TIME_DURATION_TAG: (
        "q", 8, lambda r: f"_mk_time_duration({r})", ("_TimeDuration", "_set_micros")
    ),
    UUID_TAG: ("16s", 16, lambda r: f"_mk_uuid({r})", None),
}  # fmt: skip
# Encoding of the specials: (struct code, size, exact-class check, raw expression builder).
_SPECIAL_ENC: dict[str, tuple[str, int, str, Callable[[str], str]]] = {
    IDENTITY_TAG: ("32s", 32, "_Identity", lambda x: f"_i2b({x}._value, 32, 'little')"),
    CONNECTION_ID_TAG: ("16s", 16, "_ConnectionId", lambda x: f"_i2b({x}._value, 16, 'little')"),
    TIMESTAMP_TAG: ("q", 8, "_Timestamp", lambda x: f"{x}._micros"),
    TIME_DURATION_TAG: ("q", 8, "_TimeDuration", lambda x: f"{x}._micros"),
    UUID_TAG: ("16s", 16, "_UUID", lambda x: f"_i2b({x}.int, 16, 'little')"),
}
_PLAIN_CODES = frozenset("bBhHiIqQfd")


def _attr(x: str, name: str) -> str:
    """Attribute access in generated code, safe for names that are not identifiers."""
    if name.isidentifier() and not keyword.iskeyword(name):
        return f"{x}.{name}"
    return f"_getattr({x}, {name!r})"


class Src:
    """Indented lines of one generated function."""

    def __init__(self, head: str) -> None:
        self.lines = [head]
        self.depth = 1

    def __call__(self, line: str) -> None:
        self.lines.append("    " * self.depth + line)

    @contextmanager
    def block(self, head: str) -> Iterator[None]:
        self(head)
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


class Program:
    """Every function generated for one ``(typespace, classes)``, in one namespace.

    Codecs of many types over the same typespace share the per-``Ref`` functions.
    """

    def __init__(self, ctx: Ctx) -> None:
        self.ctx = ctx
        self.ns: dict[str, Any] = dict(_BASE_NS)
        self._n = 0
        self._consts: dict[Any, str] = {}
        self.pending: list[str] = []
        self.source: list[str] = []  # everything compiled so far, for debugging
        self.dec_refs: dict[int, str] = {}
        self.enc_refs: dict[int, str] = {}
        self.dec_fixed: dict[AlgebraicType, Fixed | None] = {}
        self.enc_fixed: dict[AlgebraicType, EncFixed | None] = {}
        self.stack: set[int] = set()
        # The validators' (see ._bsatn_skip): per-Ref skip functions and fixed layouts.
        self.skip_refs: dict[int, str] = {}
        self.skip_layouts: dict[AlgebraicType, Any] = {}

    def fresh(self, prefix: str = "v") -> str:
        self._n += 1
        return f"{prefix}{self._n}"

    def const(self, obj: Any, key: Any = None) -> str:
        """A global name bound to ``obj`` in the generated namespace (deduplicated by ``key``)."""
        if key is not None and key in self._consts:
            return self._consts[key]
        name = self.fresh("_k")
        self.ns[name] = obj
        if key is not None:
            self._consts[key] = name
        return name

    def unpacker(self, fmt: str) -> str:
        return self.const(struct.Struct("<" + fmt).unpack_from, ("unpack", fmt))

    def iter_unpacker(self, fmt: str) -> str:
        return self.const(struct.Struct("<" + fmt).iter_unpack, ("iter", fmt))

    def packer(self, fmt: str) -> str:
        return self.const(struct.Struct("<" + fmt).pack, ("pack", fmt))

    def flush(self) -> None:
        """Compile the functions generated since the last flush into the namespace."""
        if self.pending:
            code = "".join(self.pending)
            self.pending = []
            self.source.append(code)
            exec(compile(code, "<bsatn codec>", "exec"), self.ns)

    def memo_fixed(self, memo: dict[AlgebraicType, Any], ty: AlgebraicType, make: Any) -> Any:
        """``make(resolved, cls)`` memoised per type; a recursive ref is never fixed-size."""
        if ty in memo:
            return memo[ty]
        if isinstance(ty, RefType):
            if ty.index in self.stack:
                return None
            self.stack.add(ty.index)
            try:
                t, cls = self.ctx.resolve(ty)
                result = make(t, cls)
            finally:
                self.stack.discard(ty.index)
        else:
            result = make(ty, None)
        memo[ty] = result
        return result


@dataclass(frozen=True)
class Fixed:
    """How to decode a fixed-size type: struct codes and an expression over the raw fields."""

    fmt: str
    nraw: int
    size: int
    build: Callable[[list[str]], str]
    plain: bool = False  # one numeric raw field that is the value itself
    # Statement form of ``build``: emits statements, returns an expression (a local).
    inline: Callable[[Src, list[str]], str] | None = None


def _ident(r: list[str]) -> str:
    return r[0]


class DecGen:
    """Generates decoders: ``read(buf, off) -> (value, off)`` and ``rows(buf) -> list``."""

    def __init__(self, prog: Program) -> None:
        self.p = prog

    # ---- entry points ----

    def reader(self, ty: AlgebraicType) -> str:
        if isinstance(ty, RefType):
            return self.ref_reader(ty.index)
        name = self.p.fresh("_read")
        w = Src(f"def {name}(buf, off):")
        w("blen = len(buf)")
        self.emit(ty, w, "v", top=True)
        w("return v, off")
        self.p.pending.append(w.text())
        return name

    def rows(self, ty: AlgebraicType) -> str:
        name = self.p.fresh("_rows")
        w = Src(f"def {name}(buf):")
        f = self.fixed(ty)
        if f is not None and f.size > 0:
            raws = [self.p.fresh() for _ in range(f.nraw)]
            target = "(" + ", ".join(raws) + ",)"
            w(f"return [{f.build(raws)} for {target} in {self.p.iter_unpacker(f.fmt)}(buf)]")
        else:
            w("blen = len(buf)")
            w("out = []")
            w("app = out.append")
            w("off = 0")
            with w.block("while off < blen:"):
                self.emit(ty, w, "v", top=True)
                w("app(v)")
            w("return out")
        self.p.pending.append(w.text())
        return name

    def ref_reader(self, index: int) -> str:
        name = self.p.dec_refs.get(index)
        if name is None:
            name = self.p.dec_refs[index] = f"_r{index}"
            w = Src(f"def {name}(buf, off):")
            w("blen = len(buf)")
            self.emit(RefType(index), w, "v", top=True)
            w("return v, off")
            self.p.pending.append(w.text())
        return name

    # ---- fixed-size layouts ----

    def fixed(self, ty: AlgebraicType) -> Fixed | None:
        result: Fixed | None = self.p.memo_fixed(self.p.dec_fixed, ty, self._fixed)
        return result

    def _fixed(self, t: AlgebraicType, cls: type | None) -> Fixed | None:
        if cls is not None:
            return self._fixed_class(t, cls)
        k = kind_of(t)
        if k == "prim":
            assert isinstance(t, PrimitiveType)
            return self._fixed_prim(t.kind)
        if k == "special":
            assert isinstance(t, ProductType) and t.elements[0].name is not None
            code, size, mk, stmt = _SPECIAL_DEC[t.elements[0].name]
            inline = None
            if stmt is not None:
                klass, setter = stmt

                def inline(w: Src, r: list[str]) -> str:
                    o = self.p.fresh()
                    w(f"{o} = _new({klass})")
                    raw = r[0] if setter == "_set_micros" else f"_ifb({r[0]}, 'little')"
                    w(f"{setter}({o}, {raw})")
                    return o

            return Fixed(code, 1, size, lambda r: mk(r[0]), inline=inline)
        if k == "product":
            assert isinstance(t, ProductType)
            return self._fixed_product(t, None)
        if k == "schedule":
            return Fixed("Bq", 2, 9, lambda r: f"_sched({r[0]}, {r[1]})")
        if k == "enum":
            assert isinstance(t, SumType)
            table = tuple(SumValue(variant_name(t, i)) for i in range(len(t.variants)))
            tbl = self.p.const(table)
            return Fixed("B", 1, 1, lambda r: f"{tbl}[{r[0]}]")
        return None

    def _fixed_prim(self, kind: str) -> Fixed:
        code, size, _lo, _hi = PRIM_INFO[kind]
        if kind == "Bool":
            return Fixed("B", 1, 1, lambda r: f"_BOOL[{r[0]}]")
        if size >= 16:
            signed = ", signed=True" if kind in SIGNED_BIG else ""
            return Fixed(code, 1, size, lambda r: f"_ifb({r[0]}, 'little'{signed})")
        return Fixed(code, 1, size, _ident, plain=True)

    def _fixed_class(self, t: AlgebraicType, cls: type) -> Fixed | None:
        ck = class_kind(t, cls)
        if ck == "cls_product":
            assert isinstance(t, ProductType)
            return self._fixed_product(t, cls)
        if ck == "cls_enum":
            tbl = self.p.const(tuple(cast(Any, cls)))
            return Fixed("B", 1, 1, lambda r: f"{tbl}[{r[0]}]")
        assert isinstance(t, SumType)
        if t.is_plain_enum():
            tbl = self.p.const(tuple(cls.__sats_variants__))  # type: ignore[attr-defined]
            return Fixed("B", 1, 1, lambda r: f"{tbl}[{r[0]}]()")
        return None

    def _fixed_product(self, t: ProductType, cls: type | None) -> Fixed | None:
        subs: list[Fixed] = []
        for e in t.elements:
            f = self.fixed(e.algebraic_type)
            if f is None:
                return None
            subs.append(f)
        keys = t.names()
        ctor = self.p.const(cls) if cls is not None else None

        def build(r: list[str]) -> str:
            parts = []
            i = 0
            for s in subs:
                parts.append(s.build(r[i : i + s.nraw]))
                i += s.nraw
            return _construct(ctor, keys, parts)

        def inline(w: Src, r: list[str]) -> str:
            parts = []
            i = 0
            for s in subs:
                parts.append(self.inline(s, w, r[i : i + s.nraw]))
                i += s.nraw
            return _construct(ctor, keys, parts)

        return Fixed(
            "".join(s.fmt for s in subs),
            sum(s.nraw for s in subs),
            sum(s.size for s in subs),
            build,
            inline=inline,
        )

    def inline(self, f: Fixed, w: Src, raws: list[str]) -> str:
        """The value of fixed ``f`` from its raw fields, using statements where that is faster."""
        return f.inline(w, raws) if f.inline is not None else f.build(raws)

    # ---- variable-size code ----

    def header(self, ty: AlgebraicType) -> tuple[str, int] | None:
        """The fixed prefix (length or tag) of a variable type, so it can join a run."""
        if isinstance(ty, RefType):
            return None
        k = kind_of(ty)
        if k in ("string", "bytes", "array"):
            return ("I", 4)
        if k in ("option", "result", "sum"):
            return ("B", 1)
        return None

    def emit(
        self, ty: AlgebraicType, w: Src, dst: str, hdr: str | None = None, top: bool = False
    ) -> None:
        """Emit code reading one ``ty`` at ``off`` into ``dst``, advancing ``off``."""
        f = self.fixed(ty)
        if f is not None:
            self.emit_fixed(f, w, dst)
            return
        if isinstance(ty, RefType) and not top:
            w(f"{dst}, off = {self.ref_reader(ty.index)}(buf, off)")
            return
        t, cls = self.p.ctx.resolve(ty)
        if cls is not None:
            ck = class_kind(t, cls)
            if ck == "cls_product":
                assert isinstance(t, ProductType)
                self.emit_product(t, cls, w, dst)
            else:
                assert isinstance(t, SumType)
                self.emit_sum(t, w, dst, hdr, cls)
            return
        k = kind_of(t)
        if k == "string":
            self.emit_slice(w, dst, hdr, ".decode()")
        elif k == "bytes":
            self.emit_slice(w, dst, hdr, "")
        elif k == "array":
            assert isinstance(t, ArrayType)
            self.emit_array(t, w, dst, hdr)
        elif k == "product":
            assert isinstance(t, ProductType)
            self.emit_product(t, None, w, dst)
        elif k == "option":
            assert isinstance(t, SumType)
            self.emit_option(t, w, dst, hdr)
        elif k == "result":
            assert isinstance(t, SumType)
            self.emit_result(t, w, dst, hdr)
        else:
            assert isinstance(t, SumType) and k == "sum"
            self.emit_sum(t, w, dst, hdr, None)

    def emit_fixed(self, f: Fixed, w: Src, dst: str) -> None:
        raws = [self.p.fresh() for _ in range(f.nraw)]
        if f.fmt == "B":
            w(f"{raws[0]} = buf[off]")
            w("off += 1")
        elif raws:
            w(f"{', '.join(raws)}, = {self.p.unpacker(f.fmt)}(buf, off)")
            w(f"off += {f.size}")
        w(f"{dst} = {self.inline(f, w, raws)}")

    def length(self, w: Src, hdr: str | None) -> str:
        if hdr is not None:
            return hdr
        n = self.p.fresh()
        w(f"{n}, = _U32(buf, off)")
        w("off += 4")
        return n

    def tag(self, w: Src, hdr: str | None) -> str:
        if hdr is not None:
            return hdr
        tag = self.p.fresh()
        w(f"{tag} = buf[off]")
        w("off += 1")
        return tag

    def emit_slice(self, w: Src, dst: str, hdr: str | None, suffix: str) -> None:
        n = self.length(w, hdr)
        end = self.p.fresh()
        w(f"{end} = off + {n}")
        w(f"if {end} > blen: raise _Fail")
        w(f"{dst} = buf[off:{end}]{suffix}")
        w(f"off = {end}")

    def emit_array(self, t: ArrayType, w: Src, dst: str, hdr: str | None) -> None:
        n = self.length(w, hdr)
        ef = self.fixed(t.elem)
        if ef is not None and ef.size == 0:
            w(f"if {n} > {MAX_ZERO_SIZE_ELEMENTS}: raise _Fail")
            w(f"{dst} = [{ef.build([])} for _ in range({n})]")
            return
        if ef is not None:
            end = self.p.fresh()
            w(f"{end} = off + {n} * {ef.size}")
            w(f"if {end} > blen: raise _Fail")
            if ef.plain:
                fmts = self.p.const(_Formats(ef.fmt), ("formats", ef.fmt))
                w(f"{dst} = list(_unpack_from({fmts}[{n}], buf, off))")
            elif ef.fmt == "B":  # iterating bytes yields the ints directly
                x = self.p.fresh()
                w(f"{dst} = [{ef.build([x])} for {x} in buf[off:{end}]]")
            else:
                raws = [self.p.fresh() for _ in range(ef.nraw)]
                target = "(" + ", ".join(raws) + ",)"
                it = self.p.iter_unpacker(ef.fmt)
                w(f"{dst} = [{ef.build(raws)} for {target} in {it}(buf[off:{end}])]")
            w(f"off = {end}")
            return
        # Every variable-size value takes at least one byte: a bogus count fails fast.
        w(f"if {n} > blen - off: raise _Fail")
        app = self.p.fresh()
        w(f"{dst} = []")
        w(f"{app} = {dst}.append")
        with w.block(f"for _ in range({n}):"):
            x = self.p.fresh()
            self.emit(t.elem, w, x)
            w(f"{app}({x})")

    def emit_product(self, t: ProductType, cls: type | None, w: Src, dst: str) -> None:
        fmt: list[str] = []
        raws: list[str] = []
        size = 0
        parts: list[str | tuple[Fixed, list[str]]] = []

        def flush() -> None:
            nonlocal size
            code = "".join(fmt)
            if code == "B":  # indexing beats a struct call for one byte
                w(f"{raws[0]} = buf[off]")
                w("off += 1")
            elif code:
                w(f"{', '.join(raws)}, = {self.p.unpacker(code)}(buf, off)")
                w(f"off += {size}")
            fmt.clear()
            raws.clear()
            size = 0

        for e in t.elements:
            ety = e.algebraic_type
            f = self.fixed(ety)
            if f is not None:
                r = [self.p.fresh() for _ in range(f.nraw)]
                fmt.append(f.fmt)
                raws.extend(r)
                size += f.size
                parts.append((f, r))  # built once every run is unpacked
                continue
            v = self.p.fresh()
            h = self.header(ety)
            hv = None
            if h is not None:
                hv = self.p.fresh()
                fmt.append(h[0])
                raws.append(hv)
                size += h[1]
            flush()
            self.emit(ety, w, v, hdr=hv)
            parts.append(v)
        flush()
        exprs = [p if isinstance(p, str) else self.inline(p[0], w, p[1]) for p in parts]
        ctor = self.p.const(cls) if cls is not None else None
        w(f"{dst} = {_construct(ctor, t.names(), exprs)}")

    def emit_option(self, t: SumType, w: Src, dst: str, hdr: str | None) -> None:
        tag = self.tag(w, hdr)
        inner = t.variants[0].algebraic_type
        with w.block(f"if {tag} == 0:"):
            if self.p.ctx.is_option(inner):
                x = self.p.fresh()
                self.emit(inner, w, x)
                w(f"{dst} = _Some({x})")
            else:
                self.emit(inner, w, dst)
        with w.block(f"elif {tag} == 1:"):
            w(f"{dst} = None")
        with w.block("else:"):
            w("raise _Fail")

    def emit_result(self, t: SumType, w: Src, dst: str, hdr: str | None) -> None:
        tag = self.tag(w, hdr)
        for i, wrap in enumerate(("_Ok", "_Err")):
            with w.block(f"{'if' if i == 0 else 'elif'} {tag} == {i}:"):
                x = self.p.fresh()
                self.emit(t.variants[i].algebraic_type, w, x)
                w(f"{dst} = {wrap}({x})")
        with w.block("else:"):
            w("raise _Fail")

    def emit_sum(self, t: SumType, w: Src, dst: str, hdr: str | None, cls: type | None) -> None:
        tag = self.tag(w, hdr)
        vclasses: tuple[type, ...] = cls.__sats_variants__ if cls is not None else ()  # type: ignore[attr-defined]
        for i, variant in enumerate(t.variants):
            pt = variant.algebraic_type
            unit = self.p.ctx.resolve(pt)[0].is_unit()
            with w.block(f"{'if' if i == 0 else 'elif'} {tag} == {i}:"):
                if cls is not None:
                    vc = self.p.const(vclasses[i])
                    if unit:
                        w(f"{dst} = {vc}()")
                    else:
                        x = self.p.fresh()
                        self.emit(pt, w, x)
                        w(f"{dst} = {vc}({x})")
                elif unit:
                    w(f"{dst} = {self.p.const(SumValue(variant_name(t, i)))}")
                else:
                    x = self.p.fresh()
                    self.emit(pt, w, x)
                    w(f"{dst} = _SV({variant_name(t, i)!r}, {x})")
        with w.block("else:"):
            w("raise _Fail")


def _construct(ctor: str | None, keys: list[str], parts: list[str]) -> str:
    if ctor is not None:
        return f"{ctor}({', '.join(parts)})"
    return "{" + ", ".join(f"{k!r}: {p}" for k, p in zip(keys, parts, strict=True)) + "}"


# ---- encoding -----------------------------------------------------------------------------


@dataclass(frozen=True)
class EncFixed:
    """How to encode a fixed-size type: struct codes and a ``prep`` that emits checks and
    returns the expressions to pack, given the name of a local holding the value."""

    fmt: str
    size: int
    prep: Callable[[Src, str], list[str]]
    plain: bool = False  # numeric: packs the value itself after a not-a-bool check


class EncGen:
    """Generates encoders: ``write(out: bytearray, value) -> None``."""

    def __init__(self, prog: Program) -> None:
        self.p = prog

    def writer(self, ty: AlgebraicType) -> str:
        if isinstance(ty, RefType):
            return self.ref_writer(ty.index)
        name = self.p.fresh("_write")
        w = Src(f"def {name}(out, v):")
        self.emit(ty, w, "v", top=True)
        self.p.pending.append(w.text())
        return name

    def ref_writer(self, index: int) -> str:
        name = self.p.enc_refs.get(index)
        if name is None:
            name = self.p.enc_refs[index] = f"_w{index}"
            w = Src(f"def {name}(out, v):")
            self.emit(RefType(index), w, "v", top=True)
            self.p.pending.append(w.text())
        return name

    # ---- fixed-size layouts ----

    def fixed(self, ty: AlgebraicType) -> EncFixed | None:
        result: EncFixed | None = self.p.memo_fixed(self.p.enc_fixed, ty, self._fixed)
        return result

    def _fixed(self, t: AlgebraicType, cls: type | None) -> EncFixed | None:
        if cls is not None:
            return self._fixed_class(t, cls)
        k = kind_of(t)
        if k == "prim":
            assert isinstance(t, PrimitiveType)
            return self._fixed_prim(t.kind)
        if k == "special":
            assert isinstance(t, ProductType) and t.elements[0].name is not None
            code, size, klass, raw = _SPECIAL_ENC[t.elements[0].name]

            def prep_special(w: Src, x: str) -> list[str]:
                if klass == "_UUID":
                    w(f"if not _isinstance({x}, _UUID): raise _Fail")
                else:
                    w(f"if {x}.__class__ is not {klass}: raise _Fail")
                return [raw(x)]

            return EncFixed(code, size, prep_special)
        if k == "product":
            assert isinstance(t, ProductType)
            return self._fixed_product(t, None)
        if k == "schedule":

            def prep_sched(w: Src, x: str) -> list[str]:
                s = self.p.fresh()
                w(f"{s} = _sched_enc({x})")
                return [f"{s}[0]", f"{s}[1]"]

            return EncFixed("Bq", 9, prep_sched)
        if k == "enum":
            assert isinstance(t, SumType)
            tags = self.p.const({variant_name(t, i): i for i in range(len(t.variants))})

            def prep_enum(w: Src, x: str) -> list[str]:
                w(f"if {x}.__class__ is not _SV or {x}.value is not None: raise _Fail")
                return [f"{tags}[{x}.tag]"]

            return EncFixed("B", 1, prep_enum)
        return None

    def _fixed_prim(self, kind: str) -> EncFixed:
        code, size, _lo, _hi = PRIM_INFO[kind]
        if kind == "Bool":

            def prep_bool(w: Src, x: str) -> list[str]:
                w(f"if {x}.__class__ is not _bool: raise _Fail")
                return [x]

            return EncFixed("B", 1, prep_bool)
        if size >= 16:
            signed = ", signed=True" if kind in SIGNED_BIG else ""

            def prep_big(w: Src, x: str) -> list[str]:
                w(f"if {x}.__class__ is _bool: raise _Fail")
                return [f"_i2b({x}, {size}, 'little'{signed})"]

            return EncFixed(code, size, prep_big)

        def prep_num(w: Src, x: str) -> list[str]:
            w(f"if {x}.__class__ is _bool: raise _Fail")
            return [x]

        return EncFixed(code, size, prep_num, plain=True)

    def _fixed_class(self, t: AlgebraicType, cls: type) -> EncFixed | None:
        ck = class_kind(t, cls)
        if ck == "cls_product":
            assert isinstance(t, ProductType)
            return self._fixed_product(t, cls)
        c = self.p.const(cls)
        if ck == "cls_enum":
            tags = self.p.const({m: i for i, m in enumerate(cast(Any, cls))})

            def prep_enum(w: Src, x: str) -> list[str]:
                w(f"if {x}.__class__ is not {c}: raise _Fail")
                return [f"{tags}[{x}]"]

            return EncFixed("B", 1, prep_enum)
        assert isinstance(t, SumType)
        if t.is_plain_enum():
            vtags = self.p.const(
                {vc: i for i, vc in enumerate(cls.__sats_variants__)}  # type: ignore[attr-defined]
            )
            return EncFixed("B", 1, lambda w, x: [f"{vtags}[{x}.__class__]"])
        return None

    def _fixed_product(self, t: ProductType, cls: type | None) -> EncFixed | None:
        subs: list[EncFixed] = []
        for e in t.elements:
            f = self.fixed(e.algebraic_type)
            if f is None:
                return None
            subs.append(f)

        def prep(w: Src, x: str) -> list[str]:
            raws: list[str] = []
            for f, get in zip(subs, self.field_getters(t, cls, w, x), strict=True):
                e = self.p.fresh()
                w(f"{e} = {get}")
                raws.extend(f.prep(w, e))
            return raws

        return EncFixed("".join(s.fmt for s in subs), sum(s.size for s in subs), prep)

    def field_getters(self, t: ProductType, cls: type | None, w: Src, x: str) -> list[str]:
        """Emit the container check; return one expression per element fetching its value."""
        if cls is not None:
            c = self.p.const(cls)
            w(f"if {x}.__class__ is not {c} and not _isinstance({x}, {c}): raise _Fail")
            return [_attr(x, name) for name in class_fields(t, cls)]
        w(f"if _len({x}) != {len(t.elements)}: raise _Fail")
        return [f"{x}[{name!r}]" for name in t.names()]

    # ---- variable-size code ----

    def emit(self, ty: AlgebraicType, w: Src, x: str, top: bool = False) -> None:
        """Emit code appending the encoding of the value in local ``x`` to ``out``."""
        f = self.fixed(ty)
        if f is not None:
            raws = f.prep(w, x)
            if raws:
                w(f"out += {self.p.packer(f.fmt)}({', '.join(raws)})")
            return
        if isinstance(ty, RefType) and not top:
            w(f"{self.ref_writer(ty.index)}(out, {x})")
            return
        t, cls = self.p.ctx.resolve(ty)
        if cls is not None:
            if class_kind(t, cls) == "cls_product":
                assert isinstance(t, ProductType)
                self.emit_product(t, cls, w, x)
            else:
                assert isinstance(t, SumType)
                self.emit_sum(t, cls, w, x)
            return
        k = kind_of(t)
        if k == "string":
            b = self.p.fresh()
            w(f"if {x}.__class__ is not _str: raise _Fail")
            w(f"{b} = {x}.encode()")
            w(f"out += _U32p(len({b}))")
            w(f"out += {b}")
        elif k == "bytes":
            w(f"if {x}.__class__ is not _bytes and {x}.__class__ is not _bytearray: raise _Fail")
            w(f"out += _U32p(len({x}))")
            w(f"out += {x}")
        elif k == "array":
            assert isinstance(t, ArrayType)
            self.emit_array(t, w, x)
        elif k == "product":
            assert isinstance(t, ProductType)
            self.emit_product(t, None, w, x)
        elif k == "option":
            assert isinstance(t, SumType)
            self.emit_option(t, w, x)
        elif k == "result":
            assert isinstance(t, SumType)
            self.emit_result(t, w, x)
        else:
            assert isinstance(t, SumType) and k == "sum"
            self.emit_sum(t, None, w, x)

    def emit_array(self, t: ArrayType, w: Src, x: str) -> None:
        w(f"if {x}.__class__ is not _list and {x}.__class__ is not _tuple: raise _Fail")
        w(f"out += _U32p(len({x}))")
        ef = self.fixed(t.elem)
        if ef is not None and ef.plain:
            w(f"if _bool in map(_type, {x}): raise _Fail")
            w(f"out += _pack('<%d{ef.fmt}' % len({x}), *{x})")
            return
        e = self.p.fresh()
        with w.block(f"for {e} in {x}:"):
            if ef is not None:
                raws = ef.prep(w, e)
                if raws:
                    w(f"out += {self.p.packer(ef.fmt)}({', '.join(raws)})")
                else:
                    w("pass")
            else:
                self.emit(t.elem, w, e)

    def emit_product(self, t: ProductType, cls: type | None, w: Src, x: str) -> None:
        fmt: list[str] = []
        raws: list[str] = []

        def flush() -> None:
            if "".join(fmt):
                w(f"out += {self.p.packer(''.join(fmt))}({', '.join(raws)})")
            fmt.clear()
            raws.clear()

        for e, get in zip(t.elements, self.field_getters(t, cls, w, x), strict=True):
            v = self.p.fresh()
            w(f"{v} = {get}")
            f = self.fixed(e.algebraic_type)
            if f is not None:
                raws.extend(f.prep(w, v))
                fmt.append(f.fmt)
                continue
            flush()
            self.emit(e.algebraic_type, w, v)
        flush()

    def emit_option(self, t: SumType, w: Src, x: str) -> None:
        inner = t.variants[0].algebraic_type
        with w.block(f"if {x} is None:"):
            w("out.append(1)")
        with w.block("else:"):
            p = self.p.fresh()
            if self.p.ctx.is_option(inner):
                w(f"if {x}.__class__ is not _Some: raise _Fail")
                w(f"{p} = {x}.value")
            else:
                w(f"{p} = {x}.value if {x}.__class__ is _Some else {x}")
            w("out.append(0)")
            self.emit(inner, w, p)

    def emit_result(self, t: SumType, w: Src, x: str) -> None:
        for i, (klass, attr) in enumerate((("_Ok", "value"), ("_Err", "error"))):
            with w.block(f"{'if' if i == 0 else 'elif'} {x}.__class__ is {klass}:"):
                w(f"out.append({i})")
                p = self.p.fresh()
                w(f"{p} = {x}.{attr}")
                self.emit(t.variants[i].algebraic_type, w, p)
        with w.block("else:"):
            w("raise _Fail")

    def emit_sum(self, t: SumType, cls: type | None, w: Src, x: str) -> None:
        tag = self.p.fresh()
        if cls is not None:
            vtags = self.p.const(
                {vc: i for i, vc in enumerate(cls.__sats_variants__)}  # type: ignore[attr-defined]
            )
            w(f"{tag} = {vtags}[{x}.__class__]")
        else:
            tags = self.p.const({variant_name(t, i): i for i in range(len(t.variants))})
            w(f"if {x}.__class__ is not _SV: raise _Fail")
            w(f"{tag} = {tags}[{x}.tag]")
        w(f"out.append({tag})")
        for i, variant in enumerate(t.variants):
            pt = variant.algebraic_type
            with w.block(f"{'if' if i == 0 else 'elif'} {tag} == {i}:"):
                if self.p.ctx.resolve(pt)[0].is_unit():
                    if cls is None:
                        w(f"if {x}.value is not None: raise _Fail")
                    else:
                        w("pass")
                else:
                    p = self.p.fresh()
                    w(f"{p} = {x}.value")
                    self.emit(pt, w, p)


__all__ = ["DecGen", "EncGen", "Fail", "Program"]

"""Source generation for BSATN validators: walk a value's bytes without building it.

A validator accepts exactly the bytes the compiled decoder of :mod:`._bsatn_gen` accepts
and builds no Python value: fixed-size runs are one bounds check plus a test of the few
bytes that can be wrong (``Bool`` bytes, plain-enum and ``ScheduleAt`` tags), strings are
checked for UTF-8, sums dispatch on their tag.  The client cache uses them to keep rows as
bytes until someone looks at them, while still rejecting a malformed row when its message
arrives (see :mod:`spacetimedb_sdk.client.table_cache`).

Functions generated per type, like the decoders:

- ``valid(buf) -> None``: one value filling ``buf`` exactly;
- ``split(buf) -> list[bytes]``: back-to-back values (a row list's ``rows_data``),
  returned as one ``bytes`` slice each;
- ``skip(buf, off) -> off``, one per ``Ref`` that is not fixed-size: one value at ``off``.

They raise whatever is cheapest (``_Fail``, ``IndexError``, ``struct.error``,
``UnicodeDecodeError``); :class:`~.bsatn.Codec` turns a failure into the decoder's precise
error by decoding the same bytes.

Example::

    >>> from ._bsatn_ref import Ctx
    >>> from ._bsatn_gen import Program
    >>> prog = Program(Ctx(None, {}))
    >>> name = SkipGen(prog).validator(AlgebraicType.product({"ok": AlgebraicType.BOOL}))
    >>> prog.flush()
    >>> prog.ns[name](b"\\x01") is None
    True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ._bsatn_gen import DecGen, Program, Src
from ._bsatn_ref import MAX_ZERO_SIZE_ELEMENTS, class_kind, kind_of
from .types import AlgebraicType, ArrayType, ProductType, RefType, SumType, Typespace


@dataclass(frozen=True)
class _Layout:
    """A fixed-size type as a validator sees it: its size and the bytes that can be wrong.

    ``checks`` holds ``(offset, limit)`` pairs: the byte at ``offset`` must be below
    ``limit`` (a ``Bool`` byte below 2, a plain-enum tag below its variant count).
    """

    size: int
    checks: tuple[tuple[int, int], ...] = ()


class SkipGen:
    """Generates validators over a :class:`~._bsatn_gen.Program`'s namespace."""

    def __init__(self, prog: Program) -> None:
        self.p = prog
        self.dec = DecGen(prog)  # the decoder's notion of "fixed size" is the one to mirror
        self.refs = prog.skip_refs
        self.layouts: dict[AlgebraicType, _Layout | None] = prog.skip_layouts

    # ---- entry points ----

    def validator(self, ty: AlgebraicType) -> str:
        """The name of ``valid(buf)``: one value of ``ty`` filling ``buf`` exactly."""
        name = self.p.fresh("_valid")
        self.define(name, "buf", ty, ["off = 0"], "if off != blen: raise _Fail")
        return name

    def ref_skipper(self, index: int) -> str:
        """The name of ``skip(buf, off) -> off`` for the typespace entry ``index``."""
        name = self.refs.get(index)
        if name is None:
            name = self.refs[index] = f"_s{index}"
            self.define(name, "buf, off", RefType(index), [], "return off")
        return name

    def define(self, name: str, args: str, ty: AlgebraicType, head: list[str], tail: str) -> None:
        """Queue ``def name(args)`` checking one ``ty`` from ``off``."""
        w = Src(f"def {name}({args}):")
        w("blen = len(buf)")
        for line in head:
            w(line)
        self.emit(ty, w, top=True)
        w(tail)
        self.p.pending.append(w.text())

    def splitter(self, ty: AlgebraicType) -> str:
        """The name of ``split(buf) -> list[bytes]``: back-to-back values of ``ty``."""
        name = self.p.fresh("_split")
        w = Src(f"def {name}(buf):")
        w("blen = len(buf)")
        lay = self.layout(ty)
        if lay is not None and lay.size == 0:
            w("if blen: raise _Fail")  # rows of 0 bytes cannot be told apart
            w("return []")
        elif lay is not None and not lay.checks:
            w(f"if blen % {lay.size}: raise _Fail")
            w(f"return [buf[i:i + {lay.size}] for i in range(0, blen, {lay.size})]")
        else:
            w("out = []")
            w("app = out.append")
            w("off = 0")
            with w.block("while off < blen:"):
                w("start = off")
                self.emit(ty, w, top=True)
                w("app(buf[start:off])")
            w("return out")
        self.p.pending.append(w.text())
        return name

    # ---- fixed-size layouts ----

    def layout(self, ty: AlgebraicType) -> _Layout | None:
        """The layout of ``ty`` if the decoder treats it as fixed-size, else ``None``."""
        if ty in self.layouts:
            return self.layouts[ty]
        lay = None if self.dec.fixed(ty) is None else self._layout(ty)
        self.layouts[ty] = lay
        return lay

    def _layout(self, ty: AlgebraicType) -> _Layout:
        f = self.dec.fixed(ty)
        assert f is not None
        t, cls = self.p.ctx.resolve(ty)
        if isinstance(t, ProductType) and (cls is not None or kind_of(t) == "product"):
            checks: list[tuple[int, int]] = []
            at = 0
            for e in t.elements:
                sub = self.layout(e.algebraic_type)
                assert sub is not None  # a fixed product has fixed elements only
                checks += [(at + o, lim) for o, lim in sub.checks]
                at += sub.size
            return _Layout(f.size, tuple(checks))
        if isinstance(t, SumType):  # plain enums (bound or not) and ScheduleAt: a tag byte
            return _Layout(f.size, ((0, len(t.variants)),))
        if kind_of(t) == "prim" and f.fmt == "B" and not f.plain:  # Bool
            return _Layout(1, ((0, 2),))
        return _Layout(f.size)  # numbers and the specials: every bit pattern decodes

    # ---- code ----

    def emit(self, ty: AlgebraicType, w: Src, top: bool = False, before: int = 0) -> None:
        """Emit code checking one ``ty`` at ``off`` and advancing ``off`` past it.

        ``before``: the value starts ``before`` bytes after ``off``, and those bytes need no
        test but a bounds test (a run of numbers): reading a length prefix there checks both.
        """
        if before and not self.reads_length(ty):
            self.emit_fixed(_Layout(before), w)
            before = 0
        lay = self.layout(ty)
        if lay is not None:
            self.emit_fixed(lay, w)
            return
        if isinstance(ty, RefType) and not top:
            w(f"off = {self.ref_skipper(ty.index)}(buf, off)")
            return
        t, cls = self.p.ctx.resolve(ty)
        if (cls is not None and class_kind(t, cls) == "cls_product") or (
            cls is None and kind_of(t) == "product"
        ):
            assert isinstance(t, ProductType)
            self.emit_product(t, w)
            return
        if cls is not None or kind_of(t) in ("sum", "option", "result"):
            assert isinstance(t, SumType)
            self.emit_sum(t, w)
            return
        k = kind_of(t)
        if k == "string":
            end = self.slice_end(w, before)
            w(f"buf[off:{end}].decode()")
            w(f"off = {end}")
        elif k == "bytes":
            w(f"off = {self.slice_end(w, before)}")
        else:
            assert isinstance(t, ArrayType) and k == "array"
            self.emit_array(t, w, before)

    def reads_length(self, ty: AlgebraicType) -> bool:
        """Whether checking ``ty`` starts by reading a length prefix (so it can absorb a run)."""
        if isinstance(ty, RefType) or self.layout(ty) is not None:
            return False
        t, cls = self.p.ctx.resolve(ty)
        return cls is None and kind_of(t) in ("string", "bytes", "array")

    def emit_fixed(self, lay: _Layout, w: Src) -> None:
        if not lay.size:
            return
        w(f"if off + {lay.size} > blen: raise _Fail")
        tests = [f"buf[off + {o}] >= {lim}" if o else f"buf[off] >= {lim}" for o, lim in lay.checks]
        if tests:
            w(f"if {' or '.join(tests)}: raise _Fail")
        w(f"off += {lay.size}")

    def length(self, w: Src, before: int = 0) -> str:
        n = self.p.fresh()
        if before:  # the read fails unless the run before the prefix is there too
            w(f"{n}, = _U32(buf, off + {before})")
            w(f"off += {before + 4}")
        else:
            w(f"{n}, = _U32(buf, off)")
            w("off += 4")
        return n

    def slice_end(self, w: Src, before: int = 0) -> str:
        n = self.length(w, before)
        end = self.p.fresh()
        w(f"{end} = off + {n}")
        w(f"if {end} > blen: raise _Fail")
        return end

    def emit_array(self, t: ArrayType, w: Src, before: int = 0) -> None:
        n = self.length(w, before)
        lay = self.layout(t.elem)
        if lay is not None and lay.size == 0:
            w(f"if {n} > {MAX_ZERO_SIZE_ELEMENTS}: raise _Fail")
            return
        if lay is not None:
            end = self.p.fresh()
            w(f"{end} = off + {n} * {lay.size}")
            w(f"if {end} > blen: raise _Fail")
            for o, lim in lay.checks:
                if lay.size == 1:
                    w(f"if {n} and max(buf[off:{end}]) >= {lim}: raise _Fail")
                else:
                    i = self.p.fresh()
                    with w.block(f"for {i} in range(off + {o}, {end}, {lay.size}):"):
                        w(f"if buf[{i}] >= {lim}: raise _Fail")
            w(f"off = {end}")
            return
        # As the decoder: every variable-size value takes at least one byte.
        w(f"if {n} > blen - off: raise _Fail")
        with w.block(f"for _ in range({n}):"):
            self.emit(t.elem, w)

    def emit_product(self, t: ProductType, w: Src) -> None:
        run = _Run()
        for e in t.elements:
            lay = self.layout(e.algebraic_type)
            if lay is not None:
                run.add(lay)
                continue
            before = 0
            if not run.checks and self.reads_length(e.algebraic_type):
                before, run.size = run.size, 0  # the prefix's read checks the run's bounds
            run.flush(self.emit_fixed, w)
            self.emit(e.algebraic_type, w, before=before)
        run.flush(self.emit_fixed, w)

    def emit_sum(self, t: SumType, w: Src) -> None:
        tag = self.p.fresh()
        w(f"{tag} = buf[off]")
        w("off += 1")
        w(f"if {tag} >= {len(t.variants)}: raise _Fail")
        first = True
        for i, variant in enumerate(t.variants):
            pt = variant.algebraic_type
            lay = self.layout(pt)
            if lay is not None and lay.size == 0:
                continue  # a unit (or empty) payload: nothing to read
            with w.block(f"{'if' if first else 'elif'} {tag} == {i}:"):
                self.emit(pt, w)
            first = False


class _Run:
    """Consecutive fixed-size fields of a product, checked with one bounds test."""

    def __init__(self) -> None:
        self.size = 0
        self.checks: list[tuple[int, int]] = []

    def add(self, lay: _Layout) -> None:
        self.checks += [(self.size + o, lim) for o, lim in lay.checks]
        self.size += lay.size

    def flush(self, emit: Callable[[_Layout, Src], None], w: Src) -> None:
        if self.size:
            emit(_Layout(self.size, tuple(self.checks)), w)
        self.size = 0
        self.checks = []


def is_recursive(ty: AlgebraicType, typespace: Typespace | None) -> bool:
    """Whether values of ``ty`` can nest without bound (a cycle of refs).

    Such values are validated and decoded by recursive functions whose depth limits differ,
    so the client cache decodes them eagerly instead of validating them.

    Example::

        >>> is_recursive(AlgebraicType.U8, None)
        False
    """
    seen: set[int] = set()

    def walk(t: AlgebraicType, path: frozenset[int]) -> bool:
        if isinstance(t, RefType):
            if t.index in path:
                return True
            if t.index in seen:
                return False
            seen.add(t.index)
            assert typespace is not None
            return walk(typespace[t.index], path | {t.index})
        if isinstance(t, ArrayType):
            return walk(t.elem, path)
        if isinstance(t, ProductType):
            return any(walk(e.algebraic_type, path) for e in t.elements)
        if isinstance(t, SumType):
            return any(walk(v.algebraic_type, path) for v in t.variants)
        return False

    return walk(ty, frozenset())


__all__ = ["SkipGen", "is_recursive"]

"""Type programs for the compiled BSATN extension (``spacetimedb_sdk._speedups._bsatn``).

The extension does not walk :class:`AlgebraicType` objects: it runs a *program*, a flat list
of nodes that :func:`build` derives from a type once per codec.  Each node is a tuple
``(op, size, trusted, kids, a, b, c, d)``:

- ``op``: what to read (the ``OP_*`` constants below, the same numbers as in ``_bsatn.c``);
- ``size``: the encoded size when every value of the node has the same size, else ``-1``.
  It is the compiled Python decoder's own notion (:meth:`._bsatn_gen.DecGen.fixed`), so both
  decoders agree on which arrays are "fixed-size elements" and on zero-size elements;
- ``trusted``: every byte string of ``size`` bytes is a valid value (numbers and the special
  products), so a validating skip may just step over it;
- ``kids``: child node indices (``-1``: a unit variant, built from nothing);
- ``a``..``d``: the Python objects the node builds with (classes, keys, constants).

Recursive types are cycles in the node graph: a ``Ref`` gets its node index before its body
is built.  The nodes reproduce exactly what the generated Python decoders of
:mod:`._bsatn_gen` build, value for value (the differential tests hold them to it).

Example::

    >>> from .types import AlgebraicType as T
    >>> nodes, root = build(Ctx(None, {}), T.product({"a": T.U8}))
    >>> [n[0] for n in nodes], root
    ([18, 2], 0)
"""

from __future__ import annotations

import dataclasses
import inspect
import types
import uuid
from typing import Any, cast

from . import _bsatn_gen as gen
from ._bsatn_gen import DecGen, Program
from ._bsatn_ref import Ctx, class_kind, kind_of, variant_name
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
)

# The op numbers of _bsatn.c (keep in step with its enum).
PRIM_OPS = {
    "Bool": 0, "I8": 1, "U8": 2, "I16": 3, "U16": 4, "I32": 5, "U32": 6, "I64": 7, "U64": 8,
    "I128": 9, "U128": 10, "I256": 11, "U256": 12, "F32": 13, "F64": 14,
}  # fmt: skip
OP_STRING = 15
OP_BYTES = 16
OP_ARRAY = 17
OP_PRODUCT = 18  # a dict: a = template dict (what a dict display builds), b = keys
OP_CLASS = 19  # cls(*fields): a = cls, b = its slots (see _fast_init) or None: call it
OP_OPTION = 20  # a = Some when the payload is itself an option, else None; b = Some's slots
OP_SUM = 21  # SumValue: a = names, b = unit constants (None for payload variants),
#              c = SumValue, d = its slots
OP_SUM_CLASS = 22  # a = one class per variant: cls() for unit kids (-1), else cls(payload);
#                    b = per variant, its slots or None
OP_ENUM = 23  # a = the members, by tag
OP_SPECIAL = 24  # a = class, b = its slots (the int first), c = values of the other slots,
#                  d = None; or a = a maker called with the raw bytes, b = None

Node = tuple[int, int, bool, tuple[int, ...], Any, Any, Any, Any]


def _slot(cls: type, name: str) -> Any:
    """The attribute ``name`` as ``type(obj).name`` lookup finds it (first class in the MRO)."""
    for klass in cls.__mro__:
        if name in vars(klass):
            return vars(klass)[name]
    raise AttributeError(f"{cls.__name__} has no attribute {name!r}")


def _fast_init(cls: Any, nargs: int) -> tuple[Any, ...] | None:
    """The slot descriptors to set instead of calling ``cls(*args)``, or ``None`` to call it.

    Only for a class where the two are indistinguishable: a frozen slotted dataclass (the
    codegen's rows, ``SumValue``, ``Some``, ``Ok``...) whose ``__init__`` is the one dataclasses
    generated, taking exactly its ``nargs`` fields positionally, with no ``__post_init__``, no
    ``__new__`` and no metaclass of its own.  Its ``__init__`` then does nothing but
    ``object.__setattr__(self, field, value)`` per field, which is what setting each slot's
    descriptor on ``object.__new__(cls)`` does, without running Python code.
    """
    params = getattr(cls, "__dataclass_params__", None)
    init = getattr(cls, "__init__", None)
    code = getattr(init, "__code__", None)
    if (
        init is None
        or type(cls) is not type
        or params is None
        or not params.frozen
        or getattr(cls, "__new__", None) is not object.__new__
        or hasattr(cls, "__post_init__")
        or code is None
        or code.co_filename != "<string>"  # dataclasses writes __init__ with exec()
        or code.co_name != "__init__"
    ):
        return None
    fields = [f for f in dataclasses.fields(cls) if f.init]
    sig = inspect.signature(init)
    params_ = list(sig.parameters.values())[1:]
    if len(fields) != nargs or [p.name for p in params_] != [f.name for f in fields]:
        return None
    if any(p.kind is not inspect.Parameter.POSITIONAL_OR_KEYWORD for p in params_):
        return None
    slots = []
    for f in fields:
        try:
            slot = _slot(cls, f.name)
        except AttributeError:
            return None
        if not isinstance(slot, types.MemberDescriptorType):
            return None
        slots.append(slot)
    return tuple(slots)


_SPECIALS: dict[str, tuple[int, type, str]] = {
    IDENTITY_TAG: (32, Identity, "_value"),
    CONNECTION_ID_TAG: (16, ConnectionId, "_value"),
    TIMESTAMP_TAG: (8, Timestamp, "_micros"),
    TIME_DURATION_TAG: (8, TimeDuration, "_micros"),
}


def _template(keys: list[str]) -> dict[str, None]:
    """An empty-valued dict laid out exactly as the generated decoders' dict displays are.

    The extension copies it and fills in the values, so its rows take the same memory as the
    pure-Python ones (a display is presized; inserting one key at a time may grow it more).
    """
    if not keys:
        return {}
    source = "{" + ", ".join(f"{k!r}: None" for k in keys) + "}"
    return cast(dict[str, None], eval(compile(source, "<bsatn template>", "eval"), {}))


class _Builder:
    def __init__(self, ctx: Ctx) -> None:
        self.ctx = ctx
        self.dec = DecGen(Program(ctx))  # only for its fixed-size analysis
        self.nodes: list[Node | None] = []
        self.memo: dict[AlgebraicType, int] = {}

    def size(self, ty: AlgebraicType) -> int:
        f = self.dec.fixed(ty)
        return f.size if f is not None else -1

    def node(self, ty: AlgebraicType) -> int:
        index = self.memo.get(ty)
        if index is not None:
            return index
        index = self.memo[ty] = len(self.nodes)
        self.nodes.append(None)  # reserved: a recursive Ref points here while it is built
        t, cls = self.ctx.resolve(ty)
        self.nodes[index] = self.make(t, cls, self.size(ty))
        return index

    def trusted(self, kids: list[int]) -> bool:
        return all(k >= 0 and (n := self.nodes[k]) is not None and n[2] for k in kids)

    def make(self, t: AlgebraicType, cls: type | None, size: int) -> Node:
        if cls is not None:
            return self.make_class(t, cls, size)
        k = kind_of(t)
        if k == "prim":
            assert isinstance(t, PrimitiveType)
            return (PRIM_OPS[t.kind], size, t.kind != "Bool", (), None, None, None, None)
        if k == "string":
            return (OP_STRING, size, False, (), None, None, None, None)
        if k == "bytes":
            return (OP_BYTES, size, False, (), None, None, None, None)
        if k == "array":
            assert isinstance(t, ArrayType)
            return (OP_ARRAY, size, False, (self.node(t.elem),), None, None, None, None)
        if k == "special":
            assert isinstance(t, ProductType) and t.elements[0].name is not None
            return self.make_special(t.elements[0].name, size)
        if k == "product":
            assert isinstance(t, ProductType)
            kids = [self.node(e.algebraic_type) for e in t.elements]
            trusted = size >= 0 and self.trusted(kids)
            template = _template(t.names())
            # The template's own key objects: setting a value then finds its key by identity.
            own = {k: k for k in template}
            keys = tuple(own[name] for name in t.names())
            return (OP_PRODUCT, size, trusted, tuple(kids), template, keys, None, None)
        assert isinstance(t, SumType)
        kids = [self.node(v.algebraic_type) for v in t.variants]
        if k == "option":
            if self.ctx.is_option(t.variants[0].algebraic_type):
                return (OP_OPTION, size, False, (kids[0],), Some, _fast_init(Some, 1), None, None)
            return (OP_OPTION, size, False, (kids[0],), None, None, None, None)
        if k in ("result", "schedule"):
            wrappers = (Ok, Err) if k == "result" else (ScheduleAt.Interval, ScheduleAt.Time)
            inits = tuple(_fast_init(w, 1) for w in wrappers)
            return (OP_SUM_CLASS, size, False, tuple(kids), wrappers, inits, None, None)
        names = tuple(variant_name(t, i) for i in range(len(t.variants)))
        units = [self.is_unit(v.algebraic_type) for v in t.variants]
        consts = tuple(SumValue(n) if u else None for n, u in zip(names, units, strict=True))
        kids = [-1 if u else kid for kid, u in zip(kids, units, strict=True)]
        return (OP_SUM, size, False, tuple(kids), names, consts, SumValue,
                _fast_init(SumValue, 2))  # fmt: skip

    def is_unit(self, ty: AlgebraicType) -> bool:
        return self.ctx.resolve(ty)[0].is_unit()

    def make_class(self, t: AlgebraicType, cls: type, size: int) -> Node:
        ck = class_kind(t, cls)
        if ck == "cls_product":
            assert isinstance(t, ProductType)
            kids = [self.node(e.algebraic_type) for e in t.elements]
            trusted = size >= 0 and self.trusted(kids)
            init = _fast_init(cls, len(kids))
            return (OP_CLASS, size, trusted, tuple(kids), cls, init, None, None)
        assert isinstance(t, SumType)
        if ck == "cls_enum":
            return (OP_ENUM, size, False, (), tuple(cast(Any, cls)), None, None, None)
        variants: tuple[type, ...] = cls.__sats_variants__  # type: ignore[attr-defined]
        kids = [
            -1
            if t.is_plain_enum() or self.is_unit(v.algebraic_type)
            else self.node(v.algebraic_type)
            for v in t.variants
        ]
        inits = tuple(_fast_init(vc, int(k >= 0)) for vc, k in zip(variants, kids, strict=True))
        return (OP_SUM_CLASS, size, False, tuple(kids), tuple(variants), inits, None, None)

    def make_special(self, tag: str, size: int) -> Node:
        if tag == UUID_TAG:
            if gen._mk_uuid is gen._mk_uuid_checked:  # pragma: no cover - a UUID without slots
                return (OP_SPECIAL, size, True, (), gen._mk_uuid, None, None, None)
            slots = (_slot(uuid.UUID, "int"), _slot(uuid.UUID, "is_safe"))
            return (OP_SPECIAL, size, True, (), uuid.UUID, slots, (uuid.SafeUUID.unknown,), None)
        _, cls, name = _SPECIALS[tag]
        return (OP_SPECIAL, size, True, (), cls, (_slot(cls, name),), None, None)


def build(ctx: Ctx, ty: AlgebraicType) -> tuple[list[Node], int]:
    """The nodes of ``ty``'s program and the index of its root node."""
    b = _Builder(ctx)
    root = b.node(ty)
    nodes = [n for n in b.nodes if n is not None]
    assert len(nodes) == len(b.nodes)
    return nodes, root


__all__ = ["build"]

"""What a connection knows about a module: tables, reducers and procedures with their codecs.

:class:`ModuleBindings` is built once per connection, either from a
:class:`~spacetimedb_sdk.schema.ModuleSchema` at run time (dynamic bindings) or
by generated code (which passes its own row classes).  Either way the client
core sees the same thing: per table a row decoder, key columns and indexes; per
reducer and procedure an argument encoder.  Generated bindings are therefore a
thin typed layer over exactly this.

Rows of named product types become classes: frozen dataclasses made at run
time (dynamic mode) or generated ones.  Field names are the canonical column
names, with Python keywords escaped by a trailing underscore (``from`` →
``from_``); the wire names are kept in ``__sats_fields__``' sibling
``__sats_wire_names__``.

Example::

    bindings = ModuleBindings.from_schema(ModuleSchema.from_json(text))
    user = bindings.table("user")
    user.decode_row(row_bytes)      # User(identity=Identity('c200…'), name='Alice', online=True)
    bindings.reducer("set_name").encode_args((), {"name": "Bob"})
"""

from __future__ import annotations

import dataclasses
import keyword
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import SchemaError
from ..sats import bsatn
from ..sats.types import AlgebraicType, ProductType, RefType, Typespace
from ..schema.model import IndexAlgorithm, ModuleSchema, TableSchema, ViewSchema
from .indexes import IndexDef, order_key_for_type

# Names a generated row class cannot use as field names without shadowing SDK machinery.
_RESERVED = frozenset({"__sats_fields__", "__sats_wire_names__"})


def py_name(name: str) -> str:
    """A Python identifier for a wire name: keywords get a trailing ``_``, others are sanitized.

    Example::

        >>> py_name("from"), py_name("player_1_id"), py_name("my-col")
        ('from_', 'player_1_id', 'my_col')
    """
    out = "".join(c if c.isalnum() or c == "_" else "_" for c in name) or "_"
    if out[0].isdigit():
        out = "_" + out
    if keyword.iskeyword(out) or keyword.issoftkeyword(out) or out in _RESERVED:
        out += "_"
    return out


def python_name(accessor: str) -> str:
    """The Python attribute for a table, reducer or procedure, from its accessor (source) name.

    camelCase and PascalCase become snake_case with digits kept on their word
    (``insertOneU8`` → ``insert_one_u8``, the name a Python module author would write),
    unlike the canonical wire name (``insert_one_u_8``), which stays reachable as an alias.

    Example::

        >>> python_name("insertOneU8"), python_name("Player1Canonical"), python_name("send_message")
        ('insert_one_u8', 'player1_canonical', 'send_message')
    """
    s = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", accessor)
    s = re.sub(r"(?<=[A-Z])(?=[A-Z][a-z])", "_", s)
    return py_name(s.lower())


def make_row_class(name: str, row_type: ProductType) -> type:
    """A frozen dataclass for a product type, usable with the ``bsatn`` ``classes`` contract.

    Example::

        >>> Point = make_row_class("Point", AlgebraicType.product({"x": AlgebraicType.I32}))
        >>> Point(x=1)
        Point(x=1)
    """
    wire = row_type.names()
    fields = [py_name(n) for n in wire]
    if len(set(fields)) != len(fields):
        raise SchemaError(
            f"type {name}: columns {wire} collide after escaping to Python names {fields}"
        )
    cls = dataclasses.make_dataclass(py_name(name), fields, frozen=True, slots=True)
    cls.__sats_fields__ = tuple(fields)  # type: ignore[attr-defined]
    cls.__sats_wire_names__ = tuple(wire)  # type: ignore[attr-defined]
    return cls


@dataclass(frozen=True, slots=True)
class TableBinding:
    """One table (or view) as the client cache needs it."""

    name: str
    accessor: str
    row_type: ProductType
    codec: bsatn.Codec
    row_class: type | None
    primary_key: tuple[str, ...]
    indexes: tuple[IndexDef, ...]
    is_event: bool
    is_view: bool = False

    def decode_row(self, data: bytes) -> Any:
        return self.codec.decode(data)


@dataclass(frozen=True, slots=True)
class FunctionBinding:
    """A reducer or procedure: canonical name, Python name, parameters and their encoder."""

    name: str
    accessor: str
    params: ProductType
    param_names: tuple[str, ...]
    args_codec: bsatn.Codec
    return_codec: bsatn.Codec | None = None
    return_type: AlgebraicType | None = None

    def encode_args(self, args: Sequence[Any], kwargs: Mapping[str, Any]) -> bytes:
        """BSATN of the parameter product from positional and/or keyword arguments."""
        names = self.param_names
        if len(args) > len(names):
            raise TypeError(
                f"{self.accessor}() takes {len(names)} arguments but {len(args)} were given"
            )
        values: dict[str, Any] = dict(zip(names, args, strict=False))
        for k, v in kwargs.items():
            if k not in names:
                raise TypeError(
                    f"{self.accessor}() got an unexpected keyword argument {k!r}; parameters: {list(names)}"
                )
            if k in values:
                raise TypeError(f"{self.accessor}() got multiple values for argument {k!r}")
            values[k] = v
        missing = [n for n in names if n not in values]
        if missing:
            raise TypeError(f"{self.accessor}() missing required arguments: {missing}")
        wire = self.params.names()
        return self.args_codec.encode({w: values[p] for w, p in zip(wire, names, strict=True)})

    def decode_return(self, data: bytes) -> Any:
        if self.return_codec is None:
            return None
        return self.return_codec.decode(data)


@dataclass(slots=True)
class ModuleBindings:
    """Tables, reducers and procedures of one module, with compiled codecs.

    Example::

        >>> b = ModuleBindings.from_schema(schema)   # doctest: +SKIP
        >>> sorted(b.tables)                           # doctest: +SKIP
        ['message', 'user']
    """

    schema: ModuleSchema
    classes: dict[int, type]
    tables: dict[str, TableBinding] = field(default_factory=dict)
    reducers: dict[str, FunctionBinding] = field(default_factory=dict)
    procedures: dict[str, FunctionBinding] = field(default_factory=dict)
    _by_wire: dict[str, TableBinding] = field(default_factory=dict)

    @classmethod
    def from_schema(
        cls, schema: ModuleSchema, *, classes: Mapping[int, type] | None = None
    ) -> ModuleBindings:
        """Build bindings; ``classes`` (typespace index → class) comes from generated code, and
        any named product type without one gets a dataclass made at run time.

        Bindings are read-only once built, so equal schemas (with the same ``classes``) share
        one: a thousand connections to one database compile its codecs and make its row
        classes once (and rows of any of them are instances of the same classes).
        """
        key = (schema, None if classes is None else tuple(sorted(classes.items())))
        try:
            shared = _SHARED.get(key)
        except TypeError:  # an unhashable part (a hand-made schema): build, do not share
            return cls._build(schema, classes)
        if shared is None:
            shared = cls._build(schema, classes)
            if len(_SHARED) >= _SHARED_LIMIT:
                del _SHARED[next(iter(_SHARED))]  # the oldest
            _SHARED[key] = shared
        return shared

    @classmethod
    def _build(cls, schema: ModuleSchema, classes: Mapping[int, type] | None) -> ModuleBindings:
        ts = schema.typespace
        bound = dict(classes) if classes is not None else _runtime_classes(schema)
        b = cls(schema, bound)
        for t in schema.tables:
            b._add_table(_table_binding(t, ts, bound))
        for v in schema.views:
            vb = _view_binding(v, ts, bound)
            if vb is not None:
                b._add_table(vb)
        for r in schema.reducers:
            if r.lifecycle is None and r.is_client_callable:
                b.reducers[python_name(r.accessor_name)] = _function_binding(
                    r.name, r.accessor_name, r.params, ts, bound
                )
        for p in schema.procedures:
            b.procedures[python_name(p.accessor_name)] = _function_binding(
                p.name, p.accessor_name, p.params, ts, bound, p.return_type
            )
        return b

    def _add_table(self, t: TableBinding) -> None:
        self.tables[t.accessor] = t
        self._by_wire[t.name] = t

    def table(self, name: str) -> TableBinding:
        """A table by wire name or Python accessor name."""
        t = self._by_wire.get(name) or self.tables.get(name)
        if t is None:
            raise SchemaError(f"no table or view named {name!r}; known: {sorted(self._by_wire)}")
        return t

    def reducer(self, name: str) -> FunctionBinding:
        r = self.reducers.get(name) or next(
            (x for x in self.reducers.values() if x.name == name), None
        )
        if r is None:
            raise SchemaError(
                f"no client-callable reducer named {name!r}; known: {sorted(self.reducers)}"
            )
        return r

    def procedure(self, name: str) -> FunctionBinding:
        p = self.procedures.get(name) or next(
            (x for x in self.procedures.values() if x.name == name), None
        )
        if p is None:
            raise SchemaError(f"no procedure named {name!r}; known: {sorted(self.procedures)}")
        return p


_SHARED: dict[tuple[ModuleSchema, tuple[tuple[int, type], ...] | None], ModuleBindings] = {}
_SHARED_LIMIT = 64  # distinct schemas kept (a process rarely talks to more modules)


def _runtime_classes(schema: ModuleSchema) -> dict[int, type]:
    """A dataclass for every named product type and every table/view row type."""
    ts = schema.typespace
    out: dict[int, type] = {}
    for td in schema.types:
        ty = ts[td.ty]
        if isinstance(ty, ProductType) and ty.special_kind() is None and not ty.is_unit():
            out[td.ty] = make_row_class(td.name.name, ty)
    named: list[TableSchema | ViewSchema] = [*schema.tables, *schema.views]
    for t in named:
        ref = t.product_type_ref
        if ref is not None and ref not in out:
            ty = ts[ref]
            if isinstance(ty, ProductType):
                out[ref] = make_row_class(_pascal(t.name), ty)
    return out


def _pascal(name: str) -> str:
    return "".join(p[:1].upper() + p[1:] for p in name.split("_")) or name


def _row_codec(
    ref: int | None, row_type: ProductType, ts: Typespace, classes: Mapping[int, type]
) -> bsatn.Codec:
    ty: AlgebraicType = RefType(ref) if ref is not None else row_type
    return bsatn.codec_for(ty, ts, classes=classes)


def _index_defs(
    cols: Sequence[tuple[str, AlgebraicType]],
    indexes: Sequence[tuple[str, tuple[int, ...], bool]],
    ts: Typespace,
    classes: Mapping[int, type],
) -> tuple[IndexDef, ...]:
    out: dict[str, IndexDef] = {}
    readers = _column_readers(cols, ts, classes)
    for name, col_ids, unique in indexes:
        columns = tuple(cols[i][0] for i in col_ids)
        # ``classes``: columns of bound types hold the row classes the decoder builds.
        keys = (
            None if unique else tuple(order_key_for_type(cols[i][1], ts, classes) for i in col_ids)
        )
        if name not in out:
            out[name] = IndexDef(
                name, columns, unique, None, keys, _key_from_bytes(readers, col_ids)
            )
    return tuple(out.values())


def _column_readers(
    cols: Sequence[tuple[str, AlgebraicType]], ts: Typespace, classes: Mapping[int, type]
) -> list[Callable[[bytes], Any] | None]:
    """Per column, a function reading it from a row's bytes, for columns at a fixed offset
    (every column before them is fixed-size): index keys without decoding the row."""
    out: list[Callable[[bytes], Any] | None] = []
    offset: int | None = 0
    for _, ty in cols:
        codec = bsatn.codec_for(ty, ts, classes=classes)
        out.append(None if offset is None else codec.reader_at(offset))
        offset = None if offset is None or codec.fixed_size is None else offset + codec.fixed_size
    return out


def _key_from_bytes(
    readers: Sequence[Callable[[bytes], Any] | None], col_ids: Sequence[int]
) -> Callable[[bytes], Any] | None:
    """An index's key (one value, or a tuple for several columns) read from a row's bytes."""
    parts = [readers[i] for i in col_ids]
    if not parts or any(p is None for p in parts):
        return None
    got = [p for p in parts if p is not None]
    if len(got) == 1:
        return got[0]
    return lambda data: tuple(p(data) for p in got)


def _table_binding(t: TableSchema, ts: Typespace, classes: Mapping[int, type]) -> TableBinding:
    cols = [(py_name(c.name), c.algebraic_type) for c in t.columns]
    unique_sets = {tuple(c.columns) for c in t.constraints}
    idx: list[tuple[str, tuple[int, ...], bool]] = []
    for i in t.indexes:
        unique = tuple(i.columns) in unique_sets or tuple(i.columns) == tuple(t.primary_key)
        if i.algorithm is IndexAlgorithm.BTREE or unique:
            idx.append(
                (_index_accessor(i.accessor_name, i.columns, cols), tuple(i.columns), unique)
            )
    for u in unique_sets:
        if not any(c == u for _, c, _ in idx):
            idx.append((_index_accessor(None, u, cols), u, True))
    return TableBinding(
        name=t.name,
        accessor=python_name(t.accessor_name),
        row_type=t.row_type,
        codec=_row_codec(t.product_type_ref, t.row_type, ts, classes),
        row_class=classes.get(t.product_type_ref),
        primary_key=tuple(cols[i][0] for i in t.primary_key),
        indexes=_index_defs(cols, idx, ts, classes),
        is_event=t.is_event,
    )


def _index_accessor(
    accessor: str | None, col_ids: Sequence[int], cols: Sequence[tuple[str, AlgebraicType]]
) -> str:
    # One column: the column's name (``db.user.identity.find``); several: the module's accessor.
    if len(col_ids) == 1:
        return cols[col_ids[0]][0]
    return py_name(accessor) if accessor else "_".join(cols[i][0] for i in col_ids)


def _view_binding(v: ViewSchema, ts: Typespace, classes: Mapping[int, type]) -> TableBinding | None:
    if v.row_type is None:
        return None
    cols = [(py_name(c.name), c.algebraic_type) for c in v.columns]
    pk = tuple(cols[i][0] for i in v.primary_key)
    idx = [(cols[i][0], (i,), True) for i in v.primary_key[:1]] if len(v.primary_key) == 1 else []
    return TableBinding(
        name=v.name,
        accessor=python_name(v.accessor_name),
        row_type=v.row_type,
        codec=_row_codec(v.product_type_ref, v.row_type, ts, classes),
        row_class=classes.get(v.product_type_ref) if v.product_type_ref is not None else None,
        primary_key=pk,
        indexes=_index_defs(cols, idx, ts, classes),
        is_event=False,
        is_view=True,
    )


def _function_binding(
    name: str,
    accessor: str,
    params: ProductType,
    ts: Typespace,
    classes: Mapping[int, type],
    return_type: AlgebraicType | None = None,
) -> FunctionBinding:
    return FunctionBinding(
        name=name,
        accessor=python_name(accessor),
        params=params,
        param_names=tuple(python_name(n) for n in params.names()),
        args_codec=bsatn.codec_for(params, ts, classes=classes),
        return_codec=bsatn.codec_for(return_type, ts, classes=classes)
        if return_type is not None
        else None,
        return_type=return_type,
    )


__all__ = [
    "FunctionBinding",
    "ModuleBindings",
    "TableBinding",
    "make_row_class",
    "py_name",
    "python_name",
]

"""The Python emitter: one :class:`~.plan.Plan` → the files of a ``module_bindings`` package.

Files (all re-exported from ``__init__.py``):

- ``_types.py``: frozen slotted dataclasses for products, ``enum.Enum`` for plain
  enums, a base class plus one dataclass per variant for sums with payloads, and
  ``CLASSES`` (typespace index → class, the ``bsatn`` ``classes`` contract);
- ``_tables.py``: per table a ``TableHandle`` subclass with typed index properties
  and callbacks, a query-builder ``TableRef`` subclass with typed columns, then
  ``RemoteTables`` (``conn.db``) and ``QueryBuilder`` (``q``);
- ``_reducers.py`` / ``_procedures.py``: typed callables and ``RemoteReducers`` /
  ``RemoteProcedures``;
- ``_schema.py``: the schema, embedded as BSATN (no fetch at connect);
- ``_connection.py``: the ``DbConnection`` subclass wiring all of it in;
- ``py.typed``.

Example::

    files = emit_package(make_plan(schema), version="2.0.0")
    files["_types.py"]   # the generated source
"""

from __future__ import annotations

import base64
from collections.abc import Iterable

from ..sats.types import (
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
from .plan import FunctionPlan, IndexPlan, Plan, TablePlan, TypeClass
from .writer import ModuleWriter, doc, fmt_call, header, name_key, natural, pystr

__all__ = ["PACKAGE_FILES", "TypeNames", "emit_package"]

PACKAGE_FILES = (
    "__init__.py",
    "_connection.py",
    "_procedures.py",
    "_reducers.py",
    "_schema.py",
    "_tables.py",
    "_types.py",
    "py.typed",
)

_SATS = "spacetimedb_sdk.sats"
_TYPING = "typing"
_ABC = "collections.abc"
_SPECIAL = {
    IDENTITY_TAG: (_SATS, "Identity"),
    CONNECTION_ID_TAG: (_SATS, "ConnectionId"),
    TIMESTAMP_TAG: (_SATS, "Timestamp"),
    TIME_DURATION_TAG: (_SATS, "TimeDuration"),
    UUID_TAG: ("uuid", "UUID"),
}
_WIDTHS = frozenset(
    {"U8", "U16", "U32", "U64", "U128", "U256", "I8", "I16", "I32", "I64", "I128", "I256"}
)


class TypeNames:
    """Python annotations for SATS types, in the context of one :class:`ModuleWriter`.

    Example::

        TypeNames(plan, writer).annot(AlgebraicType.option(AlgebraicType.STRING))  # 'str | None'
    """

    def __init__(self, plan: Plan, w: ModuleWriter) -> None:
        self.plan = plan
        self.w = w
        self.ts = plan.schema.typespace

    def annot(self, ty: AlgebraicType, shadow: Iterable[str] = ()) -> str:
        """The annotation of ``ty`` (names that ``shadow`` hides are aliased)."""
        return self._annot(ty, frozenset(shadow), frozenset())

    def cls(self, name: str, shadow: Iterable[str] = ()) -> str:
        """A generated type class, imported from ``_types`` when needed."""
        return self.w.name("._types", name, shadow)

    def _annot(self, ty: AlgebraicType, sh: frozenset[str], seen: frozenset[int]) -> str:
        w = self.w
        if isinstance(ty, RefType):
            name = self.plan.class_of_ref.get(ty.index)
            if name is not None:
                return self.cls(name, sh)
            if ty.index in seen:  # a recursive type without a class: nothing to call it
                return w.name(_TYPING, "Any", sh)
            return self._annot(self.ts[ty.index], sh, seen | {ty.index})
        if isinstance(ty, PrimitiveType):
            if ty.kind == "Bool":
                return w.ref("bool", sh)
            if ty.kind == "String":
                return w.ref("str", sh)
            if ty.kind in _WIDTHS or ty.kind in ("F32", "F64"):
                return w.name(_SATS, ty.kind, sh)
            raise ValueError(f"unknown primitive type {ty.kind!r}")
        if isinstance(ty, ArrayType):
            elem = self.ts.resolve(ty.elem) if isinstance(ty.elem, RefType) else ty.elem
            if isinstance(elem, PrimitiveType) and elem.kind == "U8":
                return w.ref("bytes", sh)
            return f"{w.ref('list', sh)}[{self._annot(ty.elem, sh, seen)}]"
        if isinstance(ty, ProductType):
            special = ty.special_kind()
            if special is not None:
                module, name = _SPECIAL[special]
                return w.name(module, name, sh)
            return f"{w.ref('dict', sh)}[{w.ref('str', sh)}, {w.name(_TYPING, 'Any', sh)}]"
        assert isinstance(ty, SumType)
        if ty.is_option():
            inner = ty.variants[0].algebraic_type
            text = self._annot(inner, sh, seen)
            if self._resolved(inner).is_option():
                return f"{w.name(_SATS, 'Some', sh)}[{text}] | None"
            return f"{text} | None"
        if ty.is_result():
            ok = self._annot(ty.variants[0].algebraic_type, sh, seen)
            err = self._annot(ty.variants[1].algebraic_type, sh, seen)
            return f"{w.name(_SATS, 'Ok', sh)}[{ok}] | {w.name(_SATS, 'Err', sh)}[{err}]"
        if ty.is_schedule_at():
            return w.name(_SATS, "ScheduleAt", sh)
        return w.name(_SATS, "SumValue", sh)

    def _resolved(self, ty: AlgebraicType) -> AlgebraicType:
        if isinstance(ty, RefType) and ty.index in self.plan.class_of_ref:
            return ProductType(())  # a classed type is never an option
        return self.ts.resolve(ty)

    def returns(self, ty: AlgebraicType, shadow: Iterable[str] = ()) -> str:
        """A return annotation: the unit type is ``None``."""
        resolved = self.ts.resolve(ty) if isinstance(ty, RefType) else ty
        if (
            isinstance(resolved, ProductType)
            and resolved.is_unit()
            and not (isinstance(ty, RefType) and ty.index in self.plan.class_of_ref)
        ):
            return "None"
        return self.annot(ty, shadow)


def _blank2(w: ModuleWriter) -> None:
    w.add("", "")


# ---- _types.py ----------------------------------------------------------------------------------


def emit_types(plan: Plan, head: str) -> str:
    """``_types.py``: every type class, then ``CLASSES``."""
    w = ModuleWriter("_types", plan.taken)
    names = TypeNames(plan, w)
    for tc in plan.type_classes:
        if tc.kind == "product":
            _emit_product(w, names, tc)
        elif tc.kind == "enum":
            _emit_enum(w, tc)
        else:
            _emit_sum(w, names, tc)
    for alias, target in plan.type_aliases:
        w.add(f"{alias} = {target}")
        _blank2(w)
    final = w.name(_TYPING, "Final")
    classes = plan.name("CLASSES")
    w.add(f"#: Typespace index -> class, for the codecs ({classes!s} is the `classes` contract).")
    entries = [f"{tc.ref}: {tc.name}" for tc in sorted(plan.type_classes, key=lambda c: c.ref)]
    head_line = f"{classes}: {final}[{w.ref('dict')}[{w.ref('int')}, {w.ref('type')}]] = "
    if len(head_line) + 2 + sum(len(e) + 2 for e in entries) <= 99:
        w.add(head_line + "{" + ", ".join(entries) + "}")
    else:
        w.add(head_line + "{", *(f"    {e}," for e in entries), "}")
    return w.render(head, "The module's types: rows, nested products, enums and sums.")


def _tuple_lines(name: str, annot: str, items: list[str], indent: str) -> list[str]:
    values = ", ".join(items) + ("," if len(items) == 1 else "")
    one = f"{indent}{name}: {annot} = ({values})"
    if len(one) <= 99:
        return [one]
    return [f"{indent}{name}: {annot} = (", *(f"{indent}    {i}," for i in items), f"{indent})"]


def _emit_product(w: ModuleWriter, names: TypeNames, tc: TypeClass) -> None:
    shadow = {f.py for f in tc.fields}
    dataclass = w.use("dataclasses", "dataclass")
    classvar = w.name(_TYPING, "ClassVar", shadow)
    w.add(f"@{dataclass}(frozen=True, slots=True)", f"class {tc.name}:")
    what = f"product type ``{doc(tc.sats_name)}``" if tc.sats_name else "unnamed row type"
    w.add(f'    """The {what}."""', "")
    for f in tc.fields:
        w.add(f"    {f.py}: {names.annot(f.ty, shadow)}")
    if tc.fields:
        w.add("")
    strs = f"{classvar}[{w.ref('tuple', shadow)}[{w.ref('str', shadow)}, ...]]"
    w.add(*_tuple_lines("__sats_fields__", strs, [pystr(f.py) for f in tc.fields], "    "))
    w.add(*_tuple_lines("__sats_wire_names__", strs, [pystr(f.wire) for f in tc.fields], "    "))
    _blank2(w)


def _emit_enum(w: ModuleWriter, tc: TypeClass) -> None:
    base = w.use("enum", "Enum")
    w.add(f"class {tc.name}({base}):")
    w.add(f'    """The plain enum ``{doc(tc.sats_name)}`` (members in tag order)."""', "")
    for member, wire in tc.members:
        w.add(f"    {member} = {pystr(wire)}")
    _blank2(w)


def _emit_sum(w: ModuleWriter, names: TypeNames, tc: TypeClass) -> None:
    shadow = {v.attr for v in tc.variants}
    classvar = w.name(_TYPING, "ClassVar", shadow)
    dataclass = w.use("dataclasses", "dataclass")
    first = tc.variants[0]
    w.add(f"class {tc.name}:")
    w.add(
        f'    """The sum type ``{doc(tc.sats_name)}``: one class per variant, '
        f'e.g. ``{tc.name}.{first.attr}(...)``."""',
        "",
        "    __slots__ = ()",
        "",
    )
    type_ = w.ref("type", shadow)
    for v in tc.variants:
        w.add(f"    {v.attr}: {classvar}[{type_}[{w.ref(v.cls, shadow)}]]")
    tuple_ = w.ref("tuple", shadow)
    w.add(f"    __sats_variants__: {classvar}[{tuple_}[{type_}[{tc.name}], ...]]")
    _blank2(w)
    for v in tc.variants:
        w.add(f"@{dataclass}(frozen=True, slots=True)", f"class {v.cls}({tc.name}):")
        w.add(f'    """The variant ``{doc(v.wire)}`` of ``{doc(tc.sats_name)}``."""')
        if v.payload is not None:
            w.add("", f"    value: {names.annot(v.payload, {'value'})}")
        _blank2(w)
    for v in tc.variants:
        w.add(f"{tc.name}.{v.attr} = {v.cls}")
        w.add(f"{v.cls}.__qualname__ = {pystr(f'{tc.name}.{v.attr}')}")
    variants = [v.cls for v in tc.variants]
    one = (
        f"{tc.name}.__sats_variants__ = ({', '.join(variants)}{',' if len(variants) == 1 else ''})"
    )
    if len(one) <= 99:
        w.add(one)
    else:
        w.add(f"{tc.name}.__sats_variants__ = (", *(f"    {v}," for v in variants), ")")
    _blank2(w)


# ---- _tables.py ---------------------------------------------------------------------------------


def _row_annot(plan: Plan, names: TypeNames, t: TablePlan, shadow: Iterable[str] = ()) -> str:
    if t.ref is not None and t.ref in plan.class_of_ref:
        return names.cls(plan.class_of_ref[t.ref], shadow)
    return names.annot(t.row_type, shadow)


def emit_tables(plan: Plan, head: str) -> str:
    """``_tables.py``: handles, query columns, ``RemoteTables`` and ``QueryBuilder``."""
    w = ModuleWriter("_tables", plan.taken)
    names = TypeNames(plan, w)
    for t in plan.tables:
        _emit_handle(w, plan, names, t)
        _emit_cols(w, plan, names, t)
    _emit_remote_tables(w, plan)
    _emit_query_builder(w, plan)
    return w.render(head, "Tables: typed cache handles (``conn.db``) and query columns (``q``).")


def _emit_handle(w: ModuleWriter, plan: Plan, names: TypeNames, t: TablePlan) -> None:
    shadow = {ix.prop for ix in t.indexes}
    base = w.use("spacetimedb_sdk.codegen.runtime", "TypedTableHandle")
    row = _row_annot(plan, names, t, shadow)
    kind = "view" if t.is_view else "table"
    w.add(f"class {t.handle_cls}({base}[{_row_annot(plan, names, t)}]):")
    w.add(f'    """``conn.db.{t.accessor}``: the cached rows of {kind} ``{doc(t.name)}``."""', "")
    w.add("    __slots__ = ()")
    for ix in t.indexes:
        _emit_index(w, names, ix, row, shadow)
    _blank2(w)


def _emit_index(
    w: ModuleWriter, names: TypeNames, ix: IndexPlan, row: str, shadow: set[str]
) -> None:
    cols = [names.annot(c.ty, shadow) for c in ix.columns]
    key = cols[0] if len(cols) == 1 else f"{w.ref('tuple', shadow)}[{', '.join(cols)}]"
    on = ", ".join(c.wire for c in ix.columns)
    if ix.unique:
        acc = w.name("spacetimedb_sdk.codegen.runtime", "UniqueIndexAccessor", shadow)
        what = f"Unique index on ``{doc(on)}``: ``find(value)``."
        key_t = key
    else:
        acc = w.name("spacetimedb_sdk.codegen.runtime", "BTreeIndexAccessor", shadow)
        what = f"BTree index on ``{doc(on)}``: ``filter(value | Range(...) | prefix tuple)``."
        key_t = cols[0]
    w.add(
        "",
        "    @property",
        f"    def {ix.prop}(self) -> {acc}[{key_t}, {row}]:",
        f'        """{what}"""',
        f"        return {acc}(self.index({pystr(ix.index_name)}))",
    )


def _emit_cols(w: ModuleWriter, plan: Plan, names: TypeNames, t: TablePlan) -> None:
    shadow = set(t.col_attrs)
    base = w.use("spacetimedb_sdk.query", "TableRef")
    column = w.name("spacetimedb_sdk.query", "Column", shadow)
    w.add(f"class {t.cols_cls}({base}):")
    w.add(
        f'    """``q.{t.accessor}``: {"view" if t.is_view else "table"} ``{doc(t.name)}`` in queries."""'
    )
    if t.columns:
        w.add("")
    for attr, c in zip(t.col_attrs, t.columns, strict=True):
        w.add(f"    {attr}: {column}[{names.annot(c.ty, shadow)}]")
    _blank2(w)


def _emit_remote_tables(w: ModuleWriter, plan: Plan) -> None:
    shadow = {t.accessor for t in plan.tables}
    base = w.use("spacetimedb_sdk.codegen.runtime", "TablesBase")
    w.add(f"class {plan.name('RemoteTables')}({base}):")
    w.add('    """``conn.db``: one typed handle per table and view."""', "", "    __slots__ = ()")
    for t in plan.tables:
        cls = w.ref(t.handle_cls, shadow)
        w.add(
            "",
            "    @property",
            f"    def {t.accessor}(self) -> {cls}:",
            f'        """{"View" if t.is_view else "Table"} ``{doc(t.name)}``."""',
            f"        return self._table({pystr(t.accessor)}, {cls})",
        )
    _blank2(w)


def _emit_query_builder(w: ModuleWriter, plan: Plan) -> None:
    shadow = {t.accessor for t in plan.tables}
    base = w.use("spacetimedb_sdk.query", "QueryBuilder")
    classvar = w.name(_TYPING, "ClassVar", shadow)
    schema_t = w.name("spacetimedb_sdk.schema", "ModuleSchema", shadow)
    mapping = w.name(_ABC, "Mapping", shadow)
    ref_t = w.name("spacetimedb_sdk.query", "TableRef", shadow)
    schema = w.name("._schema", plan.name("SCHEMA"), shadow)
    w.add(f"class {plan.name('QueryBuilder')}({base}):")
    w.add('    """The tables for typed queries: ``q.user.where(q.user.online)``."""', "")
    w.add(f"    __schema__: {classvar}[{schema_t} | None] = {schema}")
    str_ = w.ref("str", shadow)
    pairs = [f"{pystr(name)}: {pystr(acc)}" for name, acc in sorted(plan.accessors.items())]
    decl = f"    __accessors__: {classvar}[{mapping}[{str_}, {str_}] | None] = "
    if len(decl) + sum(len(p) + 2 for p in pairs) + 2 <= 99:
        w.add(decl + "{" + ", ".join(pairs) + "}")
    else:
        w.add(decl + "{", *(f"        {p}," for p in pairs), "    }")
    refs = [f"{pystr(t.accessor)}: {w.ref(t.cols_cls, shadow)}" for t in plan.tables]
    decl = f"    __table_refs__: {classvar}[{mapping}[{w.ref('str', shadow)}, {w.ref('type', shadow)}[{ref_t}]]] = "
    if len(decl) + sum(len(r) + 2 for r in refs) + 2 <= 99:
        w.add(decl + "{" + ", ".join(refs) + "}")
    else:
        w.add(decl + "{", *(f"        {r}," for r in refs), "    }")
    if plan.tables:
        w.add("")
    for t in plan.tables:
        w.add(f"    {t.accessor}: {w.ref(t.cols_cls, shadow)}")
    _blank2(w)


# ---- _reducers.py / _procedures.py ----------------------------------------------------------------


def _params(names: TypeNames, fn: FunctionPlan, shadow: set[str]) -> list[str]:
    return [f"{p.py}: {names.annot(p.ty, shadow)}" for p in fn.params]


def _args_tuple(fn: FunctionPlan) -> str:
    if not fn.params:
        return "()"
    return "(" + ", ".join(p.py for p in fn.params) + ("," if len(fn.params) == 1 else "") + ")"


def emit_reducers(plan: Plan, head: str) -> str:
    """``_reducers.py``: one typed callable per reducer and ``RemoteReducers``."""
    w = ModuleWriter("_reducers", plan.taken)
    names = TypeNames(plan, w)
    for fn in plan.reducers:
        shadow = {"fire", "then"}
        base = w.use("spacetimedb_sdk.codegen.runtime", "ReducerWrapper")
        pending = w.name("spacetimedb_sdk.connection", "Pending", shadow)
        ret = f"{pending}[{names.returns(fn.returns, shadow)}]"
        params = _params(names, fn, shadow)
        args = _args_tuple(fn)
        w.add(f"class {fn.cls}({base}):")
        w.add(
            f'    """Reducer ``{doc(fn.name)}``: ``await conn.reducers.{fn.accessor}(...)``."""',
            "",
            "    __slots__ = ()",
            "",
        )
        w.add(*fmt_call("def __call__", ["self", *params], f" -> {ret}:", "    "))
        w.add(
            '        """Call it; resolves after this client\'s row callbacks for the call ran."""',
            f"        return self._call({args})",
            "",
        )
        w.add(*fmt_call("def fire", ["self", *params], " -> None:", "    "))
        w.add(
            '        """Call it without waiting for the result."""',
            f"        self._fire({args})",
            "",
        )
        ctx = w.name("spacetimedb_sdk.client.events", "ReducerEventContext", shadow)
        cb = f"callback: {w.name(_ABC, 'Callable', shadow)}[[{ctx}], object]"
        w.add(*fmt_call("def then", ["self", cb, *params], f" -> {ret}:", "    "))
        w.add(
            '        """Call it and run ``callback(ctx)`` with the result event."""',
            f"        return self._then(callback, {args})",
        )
        _blank2(w)
    caller = w.use("spacetimedb_sdk.connection", "ReducerCaller")
    _emit_callables(w, plan, plan.name("RemoteReducers"), plan.reducers, caller, "reducers")
    return w.render(head, "Reducers: typed callables (``conn.reducers``).")


def emit_procedures(plan: Plan, head: str) -> str:
    """``_procedures.py``: one typed callable per procedure and ``RemoteProcedures``."""
    w = ModuleWriter("_procedures", plan.taken)
    names = TypeNames(plan, w)
    for fn in plan.procedures:
        shadow: set[str] = set()
        base = w.use("spacetimedb_sdk.codegen.runtime", "ProcedureWrapper")
        pending = w.name("spacetimedb_sdk.connection", "Pending", shadow)
        ret = f"{pending}[{names.returns(fn.returns, shadow)}]"
        w.add(f"class {fn.cls}({base}):")
        w.add(
            f'    """Procedure ``{doc(fn.name)}``: ``await conn.procedures.{fn.accessor}(...)``."""',
            "",
            "    __slots__ = ()",
            "",
        )
        w.add(
            *fmt_call("def __call__", ["self", *_params(names, fn, shadow)], f" -> {ret}:", "    ")
        )
        w.add(
            '        """Call it; resolves to its return value."""',
            f"        return self._call({_args_tuple(fn)})",
        )
        _blank2(w)
    caller = w.use("spacetimedb_sdk.connection", "ProcedureCaller")
    _emit_callables(w, plan, plan.name("RemoteProcedures"), plan.procedures, caller, "procedures")
    return w.render(head, "Procedures: typed callables (``conn.procedures``).")


def _emit_callables(
    w: ModuleWriter, plan: Plan, cls: str, fns: list[FunctionPlan], caller: str, what: str
) -> None:
    base = w.use("spacetimedb_sdk.codegen.runtime", "CallablesBase")
    mapping = w.use(_ABC, "Mapping")
    w.add(f"class {cls}({base}):")
    w.add(f'    """``conn.{what}``: one typed callable per {what[:-1]}."""', "")
    slots = [pystr(a) for a in sorted((f.accessor for f in fns), key=natural)]
    if fns:
        one = f"    __slots__ = ({', '.join(slots)}{',' if len(slots) == 1 else ''})"
        if len(one) <= 99:
            w.add(one)
        else:
            w.add("    __slots__ = (", *(f"        {s}," for s in slots), "    )")
    else:
        w.add("    __slots__ = ()")
    w.add("", f"    def __init__(self, callers: {mapping}[{w.ref('str')}, {caller}]) -> None:")
    w.add("        super().__init__(callers)")
    for f in fns:
        line = f"        self.{f.accessor} = {f.cls}(callers.get({pystr(f.accessor)}), {pystr(f.name)})"
        if len(line) <= 99:
            w.add(line)
        else:
            w.add(
                f"        self.{f.accessor} = {f.cls}(",
                f"            callers.get({pystr(f.accessor)}), {pystr(f.name)}",
                "        )",
            )
    _blank2(w)


# ---- _schema.py, _connection.py, __init__.py ------------------------------------------------------


def emit_schema(plan: Plan, head: str) -> str:
    """``_schema.py``: the schema as BSATN, base64 in 76-character lines."""
    w = ModuleWriter("_schema", plan.taken)
    final = w.use(_TYPING, "Final")
    b64 = w.use("base64", "b64decode")
    module_schema = w.use("spacetimedb_sdk.schema", "ModuleSchema")
    text = base64.b64encode(plan.schema.raw_to_bsatn()).decode("ascii")
    chunks = [text[i : i + 76] for i in range(0, len(text), 76)] or [""]
    w.add(f"{plan.name('SCHEMA')}: {final} = {module_schema}.from_bsatn(")
    w.add(f"    {b64}(")
    w.add(*(f'        "{c}"' for c in chunks))
    w.add("    )", ")")
    return w.render(
        head, "The module's schema, embedded so that connecting needs no schema request."
    )


def emit_connection(plan: Plan, head: str) -> str:
    """``_connection.py``: the ``DbConnection`` subclass."""
    w = ModuleWriter("_connection", plan.taken)
    shadow = {"db", "reducers", "procedures", "subscription_builder"}
    base = w.use("spacetimedb_sdk.connection", "DbConnection")
    classvar = w.name(_TYPING, "ClassVar", shadow)
    mapping = w.name(_ABC, "Mapping", shadow)
    handle = w.name("spacetimedb_sdk.connection", "TableHandle", shadow)
    tables = w.name("._tables", plan.name("RemoteTables"), shadow)
    reducers = w.name("._reducers", plan.name("RemoteReducers"), shadow)
    procedures = w.name("._procedures", plan.name("RemoteProcedures"), shadow)
    qb = w.name("._tables", plan.name("QueryBuilder"), shadow)
    typed_sub = w.name("spacetimedb_sdk.codegen.runtime", "TypedSubscriptionBuilder", shadow)
    conn = plan.name("DbConnection")
    w.add(f"class {conn}({base}):")
    w.add(
        '    """A connection to a database running this module, with typed tables and calls.',
        "",
        "    Example::",
        "",
        f"        conn = await ({conn}.builder()",
        '            .with_uri("http://127.0.0.1:3000")',
        '            .with_database_name("my-database")',
        "            .connect())",
        '    """',
        "",
    )
    w.add(f"    __schema__ = {w.name('._schema', plan.name('SCHEMA'), shadow)}")
    w.add(f"    __classes__ = {w.name('._types', plan.name('CLASSES'), shadow)}")
    entries = [
        f"{pystr(t.accessor)}: {w.name('._tables', t.handle_cls, shadow)}" for t in plan.tables
    ]
    decl = f"    __table_handles__: {classvar}[{mapping}[{w.ref('str', shadow)}, {w.ref('type', shadow)}[{handle}]] | None] = "
    if len(decl) + sum(len(e) + 2 for e in entries) + 2 <= 99:
        w.add(decl + "{" + ", ".join(entries) + "}")
    else:
        w.add(decl + "{", *(f"        {e}," for e in entries), "    }")
    w.add(
        f"    __tables_class__ = {tables}",
        f"    __reducers_class__ = {reducers}",
        f"    __procedures_class__ = {procedures}",
        f"    __query_builder_class__ = {qb}",
        "",
        f"    db: {tables}",
        f"    reducers: {reducers}",
        f"    procedures: {procedures}",
        "",
        f"    def subscription_builder(self) -> {typed_sub}[{qb}]:",
        '        """Start a subscription; ``add_query(lambda q: ...)`` gets the typed tables."""',
        f"        return {typed_sub}(self)",
    )
    return w.render(head, "The typed ``DbConnection`` of this module.")


def emit_init(plan: Plan, head: str) -> str:
    """``__init__.py``: re-exports of every public name."""
    w = ModuleWriter("__init__", ())
    exported: list[str] = []

    def export(module: str, name: str) -> None:
        w.use(module, name)
        exported.append(name)

    export("._connection", plan.name("DbConnection"))
    export("._schema", plan.name("SCHEMA"))
    for name in ("QueryBuilder", "RemoteTables"):
        export("._tables", plan.name(name))
    export("._reducers", plan.name("RemoteReducers"))
    export("._procedures", plan.name("RemoteProcedures"))
    export("._types", plan.name("CLASSES"))
    for tc in plan.type_classes:
        export("._types", tc.name)
        for v in tc.variants:
            export("._types", v.cls)
    for alias, _ in plan.type_aliases:
        export("._types", alias)
    for t in plan.tables:
        export("._tables", t.handle_cls)
        export("._tables", t.cols_cls)
    for f in plan.reducers:
        export("._reducers", f.cls)
    for f in plan.procedures:
        export("._procedures", f.cls)
    w.add("__all__ = [", *(f"    {pystr(n)}," for n in sorted(exported, key=name_key)), "]")
    conn = plan.name("DbConnection")
    docstring = (
        "Typed bindings of a SpacetimeDB module (generated by spacetimedb-py).\n\n"
        "Example::\n\n"
        f"    from module_bindings import {conn}\n\n"
        f"    conn = await {conn}.builder().with_uri(url).with_database_name(name).connect()\n"
        "    await conn.subscription_builder().add_query(lambda q: q.<table>).subscribe()\n"
    )
    return w.render(head, docstring)


def emit_package(plan: Plan, *, version: str) -> dict[str, str]:
    """Every file of the package, by file name.

    Example::

        >>> from spacetimedb_sdk.codegen.plan import ModuleSchema, make_plan
        >>> sorted(emit_package(make_plan(ModuleSchema.from_json({"sections": []})), version="0"))
        ['__init__.py', '_connection.py', '_procedures.py', '_reducers.py', '_schema.py', '_tables.py', '_types.py', 'py.typed']
    """
    head = header(version)
    return {
        "__init__.py": emit_init(plan, head),
        "_connection.py": emit_connection(plan, head),
        "_procedures.py": emit_procedures(plan, head),
        "_reducers.py": emit_reducers(plan, head),
        "_schema.py": emit_schema(plan, head),
        "_tables.py": emit_tables(plan, head),
        "_types.py": emit_types(plan, head),
        "py.typed": head,
    }

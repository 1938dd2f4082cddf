"""``--compat-07``: the module shapes the 0.7 Python SDK generated, over the 2.x bindings.

For each table a ``<table>.py`` with a class named like the row type offering the
0.7 class methods (``iter``, ``filter_by_<column>``, ``register_row_update``), for
each reducer a ``<reducer>_reducer.py`` with ``<reducer>(...)`` and
``register_on_<reducer>(callback)``, and for each enum or sum type a
``<type>.py`` re-exporting the 2.x class.  Rows are the 2.x row classes.

They call a small runtime, ``spacetimedb_sdk.compat`` (the 0.7 client over the new
core), by canonical table and reducer names:

- ``register_row_update(table, callback)``: ``callback(op, old, new, reducer_event)``
  with ``op`` one of ``"insert"``, ``"delete"``, ``"update"``;
- ``iter_rows(table)``; ``filter_by(table, column, value) -> list``;
  ``find_by(table, column, value) -> row | None`` (``column`` is the row class's
  attribute);
- ``call_reducer(reducer, *args)`` (arguments in parameter order);
- ``register_on_reducer(reducer, callback)``: ``callback(caller_identity,
  caller_connection_id, status, message, *args)``.

Example (generated)::

    from module_bindings.user import User
    User.filter_by_identity(identity)
"""

from __future__ import annotations

from ..client.bindings import python_name
from ..query import literal_kind
from ..sats.types import AlgebraicType
from .emit import TypeNames
from .naming import NameAllocator, pascal
from .plan import FunctionPlan, Plan, TablePlan
from .writer import ModuleWriter, doc, fmt_call, header, pystr

__all__ = ["emit_compat", "snake"]

_RUNTIME = "spacetimedb_sdk.compat"


def snake(name: str) -> str:
    """``PascalCase``/``camelCase`` → ``snake_case`` (the 0.7 file names), as a Python name.

    Example::

        >>> snake("SendMessage"), snake("oneU8"), snake("user")
        ('send_message', 'one_u8', 'user')
    """
    return python_name(name)


def emit_compat(plan: Plan, *, version: str) -> dict[str, str]:
    """The 0.7-style modules, by file name (see the module docs).

    Example::

        >>> from spacetimedb_sdk.codegen.plan import ModuleSchema, make_plan
        >>> emit_compat(make_plan(ModuleSchema.from_json({"sections": []})), version="0")
        {}
    """
    head = header(version)
    files = NameAllocator({"__init__", "_types", "_tables", "_reducers", "_procedures"})
    files.taken |= {"_schema", "_connection", "py"}
    out: dict[str, str] = {}
    for t in plan.tables:
        if t.is_view:
            continue
        out[files.take(snake(t.accessor)) + ".py"] = _table_module(plan, t, head)
    for fn in plan.reducers:
        out[files.take(snake(fn.accessor) + "_reducer") + ".py"] = _reducer_module(plan, fn, head)
    for tc in plan.type_classes:
        if tc.kind == "product":
            continue
        name = files.take(snake(tc.name))
        w = ModuleWriter(name, ())
        w.use("._types", tc.name)
        w.add("__all__ = [" + pystr(tc.name) + "]")
        out[name + ".py"] = w.render(head, f"0.7 layout: the type ``{doc(tc.sats_name)}``.")
    return out


def _table_module(plan: Plan, t: TablePlan, head: str) -> str:
    w = ModuleWriter(snake(t.accessor), ())
    names = TypeNames(plan, w)
    row_cls = plan.class_of_ref.get(t.ref) if t.ref is not None else None
    cls = row_cls or pascal(t.accessor)
    row = w.use("._types", row_cls) if row_cls else names.annot(t.row_type)
    if row_cls == cls:
        # The 0.7 class takes the row type's name; the row class is imported under another.
        row = w.imports["._types"][row_cls] = "_" + row_cls
    compat = w.use("spacetimedb_sdk", "compat")
    callable_ = w.use("collections.abc", "Callable")
    iterator = w.use("collections.abc", "Iterator")
    any_ = w.use("typing", "Any")
    methods = {"register_row_update", "iter"}
    filters = _filters(plan, t)
    shadow = methods | {f"filter_by_{c}" for c, _, _ in filters}
    w.add(f"class {cls}:")
    w.add(
        f'    """0.7 API of table ``{doc(t.name)}``; its rows are ``{row_cls or "dict"}`` values."""',
        "",
        "    is_table_class = True",
        f"    TABLE_NAME = {pystr(t.name)}",
    )
    if len(t.primary_key) == 1:
        w.add(f"    primary_key = {pystr(t.primary_key[0])}")
    w.add("", "    @classmethod")
    cb = f"callback: {callable_}[[str, {row} | None, {row} | None, {any_}], object]"
    w.add(*fmt_call("def register_row_update", ["cls", cb], " -> None:", "    "))
    w.add(
        '        """Call ``callback(op, old, new, reducer_event)`` on every change."""',
        f"        {compat}.register_row_update({pystr(t.name)}, callback)",
        "",
        "    @classmethod",
        f"    def iter(cls) -> {iterator}[{row}]:",
        '        """The cached rows."""',
        f"        rows: {iterator}[{row}] = {compat}.iter_rows({pystr(t.name)})",
        "        return rows",
    )
    for py, ty, unique in filters:
        value = names.annot(ty, shadow)
        ret = f"{row} | None" if unique else f"list[{row}]"
        fn = "find_by" if unique else "filter_by"
        w.add("", "    @classmethod")
        w.add(*fmt_call(f"def filter_by_{py}", ["cls", f"{py}: {value}"], f" -> {ret}:", "    "))
        w.add(
            f'        """The {"row" if unique else "rows"} whose ``{py}`` equals the value."""',
            f"        found: {ret} = {compat}.{fn}({pystr(t.name)}, {pystr(py)}, {py})",
            "        return found",
        )
    return w.render(head, f"0.7 layout: table ``{doc(t.name)}``.")


def _filters(plan: Plan, t: TablePlan) -> list[tuple[str, AlgebraicType, bool]]:
    # 0.7 offered filter_by_<column> for scalar, string and identity-like columns.
    unique = {ix.columns[0].py for ix in t.indexes if ix.unique and len(ix.columns) == 1}
    ts = plan.schema.typespace
    out = []
    for c in t.columns:
        ty = ts.resolve(c.ty)
        if literal_kind(ty) is not None or ty.is_option():
            out.append((c.py, c.ty, c.py in unique))
    return out


def _reducer_module(plan: Plan, fn: FunctionPlan, head: str) -> str:
    w = ModuleWriter(snake(fn.accessor) + "_reducer", ())
    names = TypeNames(plan, w)
    compat = w.use("spacetimedb_sdk", "compat")
    callable_ = w.use("collections.abc", "Callable")
    identity = w.use("spacetimedb_sdk.sats", "Identity")
    conn_id = w.use("spacetimedb_sdk.sats", "ConnectionId")
    params = [f"{p.py}: {names.annot(p.ty)}" for p in fn.params]
    types = [names.annot(p.ty) for p in fn.params]
    w.add(f"reducer_name = {pystr(fn.name)}", "", "")
    w.add(*fmt_call(f"def {fn.accessor}", params, " -> None:", ""))
    args = "".join(f", {p.py}" for p in fn.params)
    w.add(
        f'    """Call reducer ``{doc(fn.name)}`` (the result arrives through the callbacks)."""',
        f"    {compat}.call_reducer({pystr(fn.name)}{args})",
        "",
        "",
    )
    cb_types = ", ".join([identity, f"{conn_id} | None", "str", "str", *types])
    cb = f"callback: {callable_}[[{cb_types}], object]"
    w.add(*fmt_call(f"def register_on_{fn.accessor}", [cb], " -> None:", ""))
    w.add(
        '    """Call ``callback(caller_identity, caller_connection_id, status, message, *args)``'
        ' after this client\'s calls."""',
        f"    {compat}.register_on_reducer({pystr(fn.name)}, callback)",
    )
    return w.render(head, f"0.7 layout: reducer ``{doc(fn.name)}``.")

"""``--compat-07``: the modules the 0.7 CLI generated, file for file, beside the 2.x bindings.

What ``spacetime generate --lang python`` of SpacetimeDB 0.7 wrote, typed for mypy:

- per table, ``<type>.py`` with the row class named like the table's type (``User``):
  ``is_table_class``, ``primary_key``, ``register_row_update``, ``iter``, ``filter_by_<col>``,
  ``__init__(data)`` building ``data`` from 0.7's JSON, ``encode()`` and attribute access to
  the fields;
- per other product type, ``<type>.py`` with the same class shape (``is_table_class = False``);
- per plain enum, ``<type>.py`` with an ``Enum`` numbered from 1, as 0.7 numbered them; a sum
  with payloads (which 0.7 could not generate) re-exports its 2.x class;
- per reducer, ``<reducer>_reducer.py`` with ``reducer_name``, ``<reducer>(...)``,
  ``register_on_<reducer>(callback)`` and ``_decode_args(data)``.

Like 0.7's, they call the client's internals on ``SpacetimeDBClient.instance``
(``_register_row_update``, ``_get_table_cache``, ``_reducer_call``, ``_register_reducer``),
which the 0.7 layer (:mod:`spacetimedb_sdk.compat`) provides over the 2.x connection, so these
bindings and those the 0.7 CLI wrote run the same way.  Field types 0.7 knew are converted
inline as 0.7 did; the others (sums with payloads, results, recursive types) through
``compat.field_from_json07``.

Example (generated)::

    from module_bindings.user import User
    User.filter_by_identity(identity)
"""

from __future__ import annotations

from ..client.bindings import py_name, python_name
from ..query import literal_kind
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
    refs_in,
)
from .naming import NameAllocator, pascal
from .plan import FunctionPlan, Plan, TablePlan, TypeClass
from .writer import ModuleWriter, doc, fmt_call, header, pystr

__all__ = ["emit_compat", "snake"]

_CLIENT = "spacetimedb_sdk.spacetimedb_client"
_RUNTIME = "spacetimedb_sdk"
_METHODS = frozenset({"register_row_update", "iter", "encode", "data", "is_table_class"})
_PYTHON_TYPE = {"Bool": "bool", "String": "str", "F32": "float", "F64": "float"}


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
    gen = _Compat(plan, header(version))
    files = NameAllocator({"__init__", "_types", "_tables", "_reducers", "_procedures"})
    files.taken |= {"_schema", "_connection", "py"}
    out: dict[str, str] = {}
    table_refs = set()
    for t in plan.tables:
        if t.is_view:
            continue
        name = gen.class_name(t)
        if t.ref is not None:
            table_refs.add(t.ref)
        module = files.take(snake(name))
        gen.module_of[name] = module
        out[module + ".py"] = gen.table_module(t, name, module)
    used = gen.used_refs()
    for tc in plan.type_classes:
        if tc.ref in table_refs or tc.ref not in used:
            continue
        module = files.take(snake(tc.name))
        gen.module_of[tc.name] = module
        out[module + ".py"] = gen.type_module(tc, module)
    for fn in plan.reducers:
        module = files.take(snake(fn.name) + "_reducer")
        out[module + ".py"] = gen.reducer_module(fn, module)
    return out


class _Compat:
    """The emitters, sharing what they know of the plan's types."""

    def __init__(self, plan: Plan, head: str) -> None:
        self.plan = plan
        self.head = head
        self.ts = plan.schema.typespace
        self.module_of: dict[str, str] = {}
        self.classes: dict[int, TypeClass] = {tc.ref: tc for tc in plan.type_classes}
        self.table_class: dict[int, str] = {}
        for t in plan.tables:
            if t.ref is not None and not t.is_view:
                self.table_class[t.ref] = self.class_name(t)
        self.recursive = {ref for ref in range(len(self.ts)) if self._reaches(ref, ref, set())}

    def used_refs(self) -> set[int]:
        """The named types that tables and reducers use, directly or inside other types.

        0.7 modules named no other types; a 2.x schema can (TypeScript modules name each
        reducer's parameters), and those get no 0.7 module.
        """
        roots: list[AlgebraicType] = [t.row_type for t in self.plan.tables]
        roots += [p.ty for fn in self.plan.reducers for p in fn.params]
        todo = [ref for root in roots for ref in refs_in(root)]
        seen: set[int] = set()
        while todo:
            ref = todo.pop()
            if ref not in seen:
                seen.add(ref)
                todo.extend(refs_in(self.ts[ref]))
        return seen

    def class_name(self, t: TablePlan) -> str:
        """The 0.7 class of a table: its row type's name, else the table's in PascalCase."""
        tc = self.classes.get(t.ref) if t.ref is not None else None
        return tc.name if tc is not None else pascal(t.accessor)

    def _reaches(self, ref: int, target: int, seen: set[int]) -> bool:
        for inner in refs_in(self.ts[ref]):
            if inner == target:
                return True
            if inner not in seen:
                seen.add(inner)
                if self._reaches(inner, target, seen):
                    return True
        return False

    # ---- one field: annotation and 0.7 JSON decoding --------------------------------------------

    def _class_of(self, ref: int) -> tuple[str, str] | None:
        """``(kind, 0.7 class)`` of a named product or plain enum that has a 0.7 module."""
        if ref in self.recursive:
            return None
        if ref in self.table_class:
            return "product", self.table_class[ref]
        tc = self.classes.get(ref)
        if tc is not None and tc.kind in ("product", "enum"):
            return tc.kind, tc.name
        return None

    def simple(self, ty: AlgebraicType) -> bool:
        """Whether 0.7's inline conversions cover ``ty`` (else the runtime decodes it)."""
        if isinstance(ty, RefType):
            return self._class_of(ty.index) is not None
        if isinstance(ty, PrimitiveType):
            return True
        if isinstance(ty, ArrayType):
            return self.simple(ty.elem)
        if isinstance(ty, ProductType):
            return ty.special_kind() is not None
        assert isinstance(ty, SumType)
        inner = ty.variants[0].algebraic_type
        return ty.is_option() and not self.ts.resolve(inner).is_option() and self.simple(inner)

    def annot(
        self,
        w: ModuleWriter,
        ty: AlgebraicType,
        sh: frozenset[str] = frozenset(),
        *,
        arg: bool = False,
    ) -> str:
        """The annotation of a field (or, with ``arg``, a reducer argument) of type ``ty``;
        names that class members ``sh`` hide are referred to through aliases."""
        any_ = w.name("typing", "Any", sh)
        if isinstance(ty, RefType):
            found = self._class_of(ty.index)
            if found is None:
                return any_
            kind, name = found
            cls = self._use_class(w, name, sh)
            if arg and kind == "product":  # 0.7 also took dicts and lists for structs
                return f"{cls} | {w.ref('dict', sh)}[{w.ref('str', sh)}, {any_}] | {w.ref('list', sh)}[{any_}]"
            return cls
        if isinstance(ty, PrimitiveType):
            return w.ref(_PYTHON_TYPE.get(ty.kind, "int"), sh)
        if isinstance(ty, ArrayType):
            if ty.elem == AlgebraicType.U8:
                return w.ref("bytes", sh)
            return f"{w.ref('list', sh)}[{self.annot(w, ty.elem, sh, arg=arg)}]"
        if isinstance(ty, ProductType) and ty.special_kind() is not None:
            return self._special_class(w, ty.special_kind() or "", sh)
        if isinstance(ty, SumType) and self.simple(ty):
            return f"{self.annot(w, ty.variants[0].algebraic_type, sh, arg=arg)} | None"
        return any_

    def _use_class(self, w: ModuleWriter, name: str, sh: frozenset[str] = frozenset()) -> str:
        module = self.module_of.get(name, snake(name))
        return w.ref(name, sh) if module == w.module else w.name("." + module, name, sh)

    def _special_class(self, w: ModuleWriter, kind: str, sh: frozenset[str] = frozenset()) -> str:
        if kind == IDENTITY_TAG:
            return w.name(_CLIENT, "Identity", sh)
        if kind == CONNECTION_ID_TAG:
            return w.name(_CLIENT, "Address", sh)
        if kind == TIMESTAMP_TAG:
            return w.name("spacetimedb_sdk.sats", "Timestamp", sh)
        if kind == TIME_DURATION_TAG:
            return w.name("spacetimedb_sdk.sats", "TimeDuration", sh)
        assert kind == UUID_TAG
        return w.name("uuid", "UUID", sh)

    def convert(self, w: ModuleWriter, ty: AlgebraicType, value: str, depth: int = 0) -> str:
        """The expression decoding ``value`` (0.7 JSON) into a field value, as 0.7 wrote it."""
        if isinstance(ty, RefType):
            found = self._class_of(ty.index)
            assert found is not None
            kind, name = found
            cls = self._use_class(w, name)
            if kind == "enum":  # 0.7: {"<index>": []}, members numbered from 1
                return f"{cls}(int(next(iter({value}))) + 1)"
            return f"{cls}({value})"
        if isinstance(ty, PrimitiveType):
            return f"{_PYTHON_TYPE.get(ty.kind, 'int')}({value})"
        if isinstance(ty, ArrayType):
            if ty.elem == AlgebraicType.U8:
                return f"bytes.fromhex({value})"
            item = "item" if depth == 0 else f"item{depth}"
            return f"[{self.convert(w, ty.elem, item, depth + 1)} for {item} in {value}]"
        if isinstance(ty, ProductType):
            special = ty.special_kind()
            cls = self._special_class(w, special or "")
            if special in (IDENTITY_TAG, CONNECTION_ID_TAG):
                return f"{cls}.from_string({value}[0])"
            if special == UUID_TAG:
                return f"{cls}(str({value}))"
            return f"{cls}(int({value}))"
        assert isinstance(ty, SumType) and ty.is_option()
        inner = self.convert(w, ty.variants[0].algebraic_type, f'{value}["0"]', depth)
        return f'{inner} if "0" in {value} else None'

    # ---- modules ---------------------------------------------------------------------------------

    def table_module(self, t: TablePlan, name: str, module: str) -> str:
        w = ModuleWriter(module, ())
        sh = self._members(t.row_type)
        callable_ = w.name("collections.abc", "Callable", sh)
        iterator = w.name("collections.abc", "Iterator", sh)
        client = w.use(_CLIENT, "SpacetimeDBClient")
        event = w.name(_CLIENT, "ReducerEvent", sh)
        str_, list_, object_ = (w.ref(b, sh) for b in ("str", "list", "object"))
        cls_ref = w.ref(name, sh)
        w.add(f"class {name}:")
        w.add(
            f'    """Table ``{doc(t.name)}``: rows built from 0.7\'s JSON, fields in ``data``."""',
            "",
            "    is_table_class = True",
            "",
        )
        if len(t.primary_key) == 1:
            w.add(f"    primary_key = {pystr(t.primary_key[0])}", "")
        self._field_annotations(w, t.row_type, sh)
        row_t = f"{cls_ref} | None"
        cb = f"callback: {callable_}[[{str_}, {row_t}, {row_t}, {event} | None], {object_}]"
        w.add("    @classmethod")
        w.add(*fmt_call("def register_row_update", ["cls", cb], " -> None:", "    "))
        w.add(
            '        """Call ``callback(row_op, old, new, reducer_event)`` on each change."""',
            f"        {client}.instance._register_row_update({pystr(name)}, callback)",
            "",
            "    @classmethod",
            f"    def iter(cls) -> {iterator}[{cls_ref}]:",
            '        """The cached rows."""',
            f"        rows: list[{name}] = {client}.instance._get_table_cache({pystr(name)}).values()",
            "        return iter(rows)",
        )
        unique = {ix.columns[0].py for ix in t.indexes if ix.unique and len(ix.columns) == 1}
        for col in t.columns:
            if not self._filterable(col.ty) or col.py in _METHODS:
                continue
            value = self.annot(w, col.ty, sh)
            one = col.py in unique
            w.add("", "    @classmethod")
            ret = f"{cls_ref} | None" if one else f"{list_}[{cls_ref}]"
            w.add(
                *fmt_call(
                    f"def filter_by_{col.py}", ["cls", f"{col.py}: {value}"], f" -> {ret}:", "    "
                )
            )
            test = f"row.{col.py} == {col.py}"
            w.add(
                f'        """The {"row" if one else "rows"} whose ``{col.py}`` equals the value."""',
                f"        return next((row for row in cls.iter() if {test}), None)"
                if one
                else f"        return [row for row in cls.iter() if {test}]",
            )
        w.add("")
        self._row_methods(w, t.row_type, t.ref, sh)
        return w.render(self.head, f"0.7 layout: table ``{doc(t.name)}``.")

    def _filterable(self, ty: AlgebraicType) -> bool:
        # 0.7 filtered on scalars, strings, identities and options of those.
        resolved = self.ts.resolve(ty)
        if isinstance(resolved, SumType) and resolved.is_option():
            return self.simple(resolved) and self._filterable(resolved.variants[0].algebraic_type)
        return not isinstance(ty, RefType) and literal_kind(resolved) is not None

    def _members(self, row: ProductType) -> frozenset[str]:
        """The field names a row class declares (they hide builtins and imports in its body)."""
        names = {py_name(n) for n in row.names()}
        return frozenset(n for n in names if n not in _METHODS and not n.startswith("filter_by_"))

    def _field_annotations(self, w: ModuleWriter, row: ProductType, sh: frozenset[str]) -> None:
        # For type checkers: the values live in ``data`` and are read through __getattr__.
        lines = [
            f"    {py_name(n)}: {self.annot(w, e.algebraic_type, sh)}"
            for n, e in zip(row.names(), row.elements, strict=True)
            if py_name(n) in sh
        ]
        if lines:
            w.add(*lines, "")

    def _row_methods(
        self, w: ModuleWriter, row: ProductType, ref: int | None, sh: frozenset[str]
    ) -> None:
        any_ = w.name("typing", "Any", sh)
        compat = w.use(_RUNTIME, "compat")
        schema = w.use("._schema", "SCHEMA")
        list_, str_ = w.ref("list", sh), w.ref("str", sh)
        w.add(
            f"    def __init__(self, data: {list_}[{any_}]) -> None:",
            f"        self.data: dict[str, {w.use('typing', 'Any')}] = {{}}",
        )
        for i, (n, e) in enumerate(zip(row.names(), row.elements, strict=True)):
            key, item = pystr(py_name(n)), f"data[{i}]"
            if self.simple(e.algebraic_type):
                value = self.convert(w, e.algebraic_type, item)
            else:
                value = f"{compat}.field_from_json07({schema}, {ref}, {i}, {item})"
            w.add(f"        self.data[{key}] = {value}")
        w.add(
            "",
            f"    def encode(self) -> {list_}[{any_}]:",
            '        """The row in 0.7\'s JSON shape."""',
            f"        return {compat}.encode07({schema}, {ref}, self.data)",
            "",
            f"    def __getattr__(self, name: {str_}) -> {any_}:",
            '        if name.startswith("__") or name == "data":',
            "            raise AttributeError(name)",
            "        return self.data.get(name)",
        )

    def type_module(self, tc: TypeClass, module: str) -> str:
        w = ModuleWriter(module, ())
        if tc.kind == "enum":
            enum_ = w.use("enum", "Enum")
            w.add(f"class {tc.name}({enum_}):")
            w.add(
                f'    """The enum ``{doc(tc.sats_name)}`` (members numbered from 1, as in 0.7)."""'
            )
            w.add("")
            for i, (member, _) in enumerate(tc.members, start=1):
                w.add(f"    {member} = {i}")
            return w.render(self.head, f"0.7 layout: the enum ``{doc(tc.sats_name)}``.")
        if tc.kind == "sum":  # 0.7 generated no sums with payloads: the 2.x class
            w.use("._types", tc.name)
            w.add("__all__ = [" + pystr(tc.name) + "]")
            return w.render(self.head, f"0.7 layout: the type ``{doc(tc.sats_name)}``.")
        ty = self.ts[tc.ref]
        assert isinstance(ty, ProductType)
        w.add(f"class {tc.name}:")
        w.add(
            f'    """The type ``{doc(tc.sats_name)}`` as 0.7 bindings had it (fields in ``data``)."""',
            "",
            "    is_table_class = False",
            "",
        )
        sh = self._members(ty)
        self._field_annotations(w, ty, sh)
        self._row_methods(w, ty, tc.ref, sh)
        return w.render(self.head, f"0.7 layout: the type ``{doc(tc.sats_name)}``.")

    def reducer_module(self, fn: FunctionPlan, module: str) -> str:
        w = ModuleWriter(module, ())
        callable_ = w.use("collections.abc", "Callable")
        any_ = w.use("typing", "Any")
        client = w.use(_CLIENT, "SpacetimeDBClient")
        identity = w.use(_CLIENT, "Identity")
        address = w.use(_CLIENT, "Address")
        params = [f"{p.py}: {self.annot(w, p.ty, arg=True)}" for p in fn.params]
        w.add(f"reducer_name = {pystr(fn.name)}", "", "")
        w.add(*fmt_call(f"def {snake(fn.name)}", params, " -> None:", ""))
        call = fmt_call(
            f"{client}.instance._reducer_call",
            [pystr(fn.name), *(p.py for p in fn.params)],
            "",
            "    ",
        )
        w.add(
            f'    """Call reducer ``{doc(fn.name)}``; the outcome reaches the callbacks."""',
            *call,
            "",
            "",
        )
        types = [self.annot(w, p.ty) for p in fn.params]
        cb_types = ", ".join([identity, f"{address} | None", "str", "str", *types])
        cb = f"callback: {callable_}[[{cb_types}], object]"
        w.add(*fmt_call(f"def register_on_{snake(fn.name)}", [cb], " -> None:", ""))
        w.add(
            '    """Call ``callback(caller_identity, caller_address, status, message, *args)``'
            ' after this client\'s calls."""',
            f"    {client}.instance._register_reducer({pystr(fn.name)}, callback)",
            "",
            "",
            f"def _decode_args(data: list[{any_}]) -> list[{any_}]:",
        )
        items = []
        for i, p in enumerate(fn.params):
            if self.simple(p.ty):
                items.append(self.convert(w, p.ty, f"data[{i}]"))
            else:
                compat, schema = w.use(_RUNTIME, "compat"), w.use("._schema", "SCHEMA")
                items.append(
                    f"{compat}.arg_from_json07({schema}, {pystr(fn.name)}, {i}, data[{i}])"
                )
        one = f"    return [{', '.join(items)}]"
        if len(one) <= 99 or not items:
            w.add(one)
        else:
            w.add("    return [", *(f"        {item}," for item in items), "    ]")
        return w.render(self.head, f"0.7 layout: reducer ``{doc(fn.name)}``.")

"""The normalized, immutable module schema that clients, codegen and the server share.

Every entity carries its **canonical** ``name`` (the one on the wire, in SQL and in
system tables) and its ``accessor_name`` (as written in the module source; equal to
the canonical name for v9 schemas, which carry canonical names only).  The row
types and the :attr:`ModuleSchema.typespace` hold canonical column and variant
names, as on a server after validation; reducer/procedure/view ``params`` are kept
as the module declared them (the server keeps them unconverted too).

:class:`ModuleSchema` is built from a decoded ``RawModuleDef`` here too, because the
builder's result is a ``ModuleSchema`` and its constructors (``from_json``,
``from_bsatn``, ``from_raw``) run the builder: keeping both in one module keeps
imports one-way (the parts live in :mod:`.entities`, the per-entity steps in
:mod:`.entity_builders`, the name conversion in :mod:`.names`).  The assembly
mirrors what the host's validation derives from a definition
(``crates/schema/src/def/validate/v9.rs`` and ``v10.rs``), minus the checks:

* v10 canonical names: an ``ExplicitNames`` entry wins, otherwise the
  ``CaseConversionPolicy`` (default ``SnakeCase``) converts tables, columns,
  reducers, procedures and views to snake_case, named types to PascalCase and enum
  variants to camelCase (the whole typespace is converted, except inside the special
  types, options, results and ``ScheduleAt``);
* generated names use canonical table and column names: indexes
  ``{table}_{cols}_idx_{btree|hash|direct}`` (unless an explicit index name maps the
  index's source name), unique constraints always ``{table}_{cols}_key`` in v10,
  sequences ``{table}_{col}_seq`` unless named, schedules ``{table}_sched``;
* lifecycle reducers and scheduled functions become ``Private``;
* a query view with no declared primary key takes the primary key of the table
  with the same row type, if exactly one such key exists.

v9 schemas already carry canonical names and are taken as they are.

Example::

    >>> schema = ModuleSchema.from_json(open("quickstart-chat.v10.json").read())  # doctest: +SKIP
    >>> schema.table("user").primary_key_column.name  # doctest: +SKIP
    'identity'
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import SchemaError
from ..sats.types import AlgebraicType, Typespace
from ..sats.values import SumValue
from .entities import (
    ColumnSchema,
    ConstraintSchema,
    FunctionKind,
    IndexAlgorithm,
    IndexSchema,
    Lifecycle,
    ProcedureSchema,
    ReducerSchema,
    ScheduleSchema,
    ScopedName,
    SequenceSchema,
    TableAccess,
    TableSchema,
    TableType,
    TypeDefSchema,
    ViewSchema,
    Visibility,
    _lookup,
    _unknown,
)
from .entity_builders import (
    _Base,
    _check_columns,
    _cols_name,
    _column_name,
    _columns,
    _generated_index_name,
    _index,
    _inherit_query_view_pk,
    _kind_lookup,
    _row_type,
    _schedule,
    _sequence,
)
from .names import CaseConversionPolicy, canonicalize_typespace
from .raw import RawModuleDef, product_from_value, type_from_value, typespace_from_value

__all__ = [
    "ColumnSchema",
    "ConstraintSchema",
    "FunctionKind",
    "IndexAlgorithm",
    "IndexSchema",
    "Lifecycle",
    "ModuleSchema",
    "ProcedureSchema",
    "ReducerSchema",
    "ScheduleSchema",
    "ScopedName",
    "SequenceSchema",
    "TableAccess",
    "TableSchema",
    "TableType",
    "TypeDefSchema",
    "ViewSchema",
    "Visibility",
]


@dataclass(frozen=True, slots=True)
class ModuleSchema:
    """A module's schema, normalized from ``RawModuleDefV9``/``V10`` (JSON or BSATN).

    Lookups accept canonical or accessor names: :meth:`table`, :meth:`reducer`,
    :meth:`procedure`, :meth:`view`, :meth:`type_def`; :meth:`lifecycle_reducer`
    finds ``Init``/``OnConnect``/``OnDisconnect``.  :attr:`raw` keeps the decoded
    definition (not compared), so :meth:`raw_to_bsatn` re-encodes the input.
    ``submodules`` are ``(namespace, schema)`` pairs of v10 submodules, each
    normalized on its own (own typespace, names not yet qualified by the namespace).

    Example::

        >>> s = ModuleSchema.from_json(text)  # doctest: +SKIP
        >>> [t.name for t in s.tables], s.reducer("set_name").params.names()  # doctest: +SKIP
        (['user', 'message'], ['name'])
    """

    version: int
    typespace: Typespace
    tables: tuple[TableSchema, ...]
    reducers: tuple[ReducerSchema, ...]
    procedures: tuple[ProcedureSchema, ...]
    views: tuple[ViewSchema, ...]
    types: tuple[TypeDefSchema, ...]
    row_level_security: tuple[str, ...]
    case_conversion_policy: CaseConversionPolicy
    submodules: tuple[tuple[str, ModuleSchema], ...] = ()
    raw: RawModuleDef | None = field(default=None, compare=False, repr=False)

    # ---- construction ------------------------------------------------------------------

    @staticmethod
    def from_json(obj_or_text: Any) -> ModuleSchema:
        """From a ``/schema?version=9|10`` response (object, text or bytes), bare or wrapped.

        Example::

            >>> ModuleSchema.from_json({"V10": {"sections": []}}).tables
            ()
        """
        return ModuleSchema.from_raw(RawModuleDef.from_json(obj_or_text))

    @staticmethod
    def from_bsatn(data: bytes) -> ModuleSchema:
        """From BSATN ``RawModuleDef`` (what a module's ``__describe_module__`` returns).

        Example::

            >>> ModuleSchema.from_bsatn(b"\\x02\\x00\\x00\\x00\\x00").version
            10
        """
        return ModuleSchema.from_raw(RawModuleDef.from_bsatn(data))

    @staticmethod
    def from_raw(raw: RawModuleDef) -> ModuleSchema:
        """Normalize an already decoded :class:`RawModuleDef`.

        Example::

            >>> ModuleSchema.from_raw(RawModuleDef.from_json({"sections": []})).reducers
            ()
        """
        return normalize(raw)

    def raw_to_bsatn(self) -> bytes:
        """The BSATN ``RawModuleDef`` this schema was read from, re-encoded.

        Example::

            >>> ModuleSchema.from_json({"sections": []}).raw_to_bsatn().hex()
            '0200000000'
        """
        return self._raw().to_bsatn()

    def raw_to_json(self) -> Any:
        """The typed SATS-JSON of the raw definition (bare ``RawModuleDefV9``/``V10``).

        Example::

            >>> ModuleSchema.from_json({"V10": {"sections": []}}).raw_to_json()
            {'sections': []}
        """
        return self._raw().to_json()

    def _raw(self) -> RawModuleDef:
        if self.raw is None:
            raise SchemaError("this ModuleSchema was built without its raw definition")
        return self.raw

    # ---- lookups -------------------------------------------------------------------------

    def table(self, name: str) -> TableSchema:
        """A table by canonical or accessor name.

        Example::

            >>> schema.table("oneU8").name  # doctest: +SKIP
            'one_u_8'
        """
        return _lookup(self.tables, name, "table")

    def reducer(self, name: str) -> ReducerSchema:
        """A reducer by canonical or accessor name.

        Example::

            >>> from spacetimedb_sdk.server import Module
            >>> module = Module("chat")
            >>> @module.reducer
            ... def sendMessage(ctx, text: str) -> None: ...
            >>> schema = ModuleSchema.from_json(module.describe_v10())
            >>> schema.reducer("sendMessage").name, schema.reducer("send_message").params.names()
            ('send_message', ['text'])
        """
        return _lookup(self.reducers, name, "reducer")

    def procedure(self, name: str) -> ProcedureSchema:
        """A procedure by canonical or accessor name.

        Example::

            >>> from spacetimedb_sdk.server import Module
            >>> module = Module("chat")
            >>> @module.procedure
            ... def countMessages(ctx) -> int: ...
            >>> schema = ModuleSchema.from_json(module.describe_v10())
            >>> count = schema.procedure("count_messages")
            >>> count is schema.procedure("countMessages"), count.return_type
            (True, PrimitiveType(kind='I64'))
        """
        return _lookup(self.procedures, name, "procedure")

    def view(self, name: str) -> ViewSchema:
        """A view by canonical or accessor name.

        Example::

            >>> from spacetimedb_sdk.server import Module
            >>> module = Module("chat")
            >>> @module.table(public=True)
            ... class Person:
            ...     name: str
            ...     level: int
            >>> @module.view
            ... def peopleAtLevel2(ctx) -> list[Person]: ...
            >>> schema = ModuleSchema.from_json(module.describe_v10())
            >>> schema.view("peopleAtLevel2").name, schema.view("people_at_level_2").columns[0].name
            ('people_at_level_2', 'name')
        """
        return _lookup(self.views, name, "view")

    def table_or_view(self, name: str) -> TableSchema | ViewSchema:
        """The table or view a ``table_name`` from the wire names.

        Example::

            >>> from spacetimedb_sdk.server import Module
            >>> module = Module("chat")
            >>> @module.table(public=True)
            ... class Person:
            ...     name: str
            ...     level: int
            >>> @module.view
            ... def peopleAtLevel2(ctx) -> list[Person]: ...
            >>> schema = ModuleSchema.from_json(module.describe_v10())
            >>> [type(schema.table_or_view(n)).__name__ for n in ("person", "people_at_level_2")]
            ['TableSchema', 'ViewSchema']
        """
        items: tuple[TableSchema | ViewSchema, ...] = (*self.tables, *self.views)
        return _lookup(items, name, "table or view")

    def type_def(self, name: str) -> TypeDefSchema:
        """A named type by canonical or source name.

        Example::

            >>> from spacetimedb_sdk.server import Module
            >>> module = Module("chat")
            >>> @module.table(public=True)
            ... class Person:
            ...     name: str
            ...     level: int
            >>> schema = ModuleSchema.from_json(module.describe_v10())
            >>> schema.type_def("Person").ty == schema.table("person").product_type_ref
            True
        """
        for t in self.types:
            if name in (str(t.name), str(t.source_name), t.name.name, t.source_name.name):
                return t
        names = [str(t.name) for t in self.types]
        raise SchemaError(_unknown("type", name, names, len(names)))

    def type_name_of(self, ref: int) -> ScopedName | None:
        """The canonical name of ``typespace[ref]``, if named.

        Example::

            >>> from spacetimedb_sdk.server import Module
            >>> module = Module("chat")
            >>> @module.table(public=True)
            ... class Person:
            ...     name: str
            ...     level: int
            >>> schema = ModuleSchema.from_json(module.describe_v10())
            >>> str(schema.type_name_of(schema.table("person").product_type_ref))
            'Person'
        """
        for t in self.types:
            if t.ty == ref:
                return t.name
        return None

    def lifecycle_reducer(self, lifecycle: Lifecycle) -> ReducerSchema | None:
        """The reducer playing ``lifecycle``, if any.

        Example::

            >>> from spacetimedb_sdk.server import Module
            >>> module = Module("chat")
            >>> @module.client_connected
            ... def identityConnected(ctx) -> None: ...
            >>> schema = ModuleSchema.from_json(module.describe_v10())
            >>> schema.lifecycle_reducer(Lifecycle.ON_CONNECT).name
            'identity_connected'
            >>> schema.lifecycle_reducer(Lifecycle.INIT) is None
            True
        """
        for r in self.reducers:
            if r.lifecycle is lifecycle:
                return r
        return None


# ---- building a ModuleSchema from a RawModuleDef --------------------------------------------


def normalize(raw: RawModuleDef) -> ModuleSchema:
    """Build the :class:`ModuleSchema` of a decoded definition.

    Example::

        >>> normalize(RawModuleDef(10, {"sections": []})).case_conversion_policy
        <CaseConversionPolicy.SNAKE_CASE: 'SnakeCase'>
    """
    if raw.version == 9:
        return _V9(raw).build()
    return _V10(raw).build()


# ---- v9 -------------------------------------------------------------------------------------


class _V9(_Base):
    def __init__(self, raw: RawModuleDef) -> None:
        self.value: dict[str, Any] = raw.value
        self.raw = raw
        self.policy = CaseConversionPolicy.NONE
        self.typespace = typespace_from_value(self.value["typespace"])
        self.accessor_typespace = self.typespace

    def build(self) -> ModuleSchema:
        misc: list[SumValue] = self.value["misc_exports"]
        defaults: dict[str, dict[int, bytes]] = {}
        for m in misc:
            if m.tag == "ColumnDefaultValue":
                defaults.setdefault(m.value["table"], {})[m.value["col_id"]] = m.value["value"]
        reducers = tuple(self._reducer(r) for r in self.value["reducers"])
        procedures = tuple(
            ProcedureSchema(
                name=m.value["name"],
                accessor_name=m.value["name"],
                params=product_from_value(m.value["params"]),
                return_type=type_from_value(m.value["return_type"]),
                visibility=Visibility.CLIENT_CALLABLE,
            )
            for m in misc
            if m.tag == "Procedure"
        )
        kind_of = _kind_lookup(reducers, procedures)
        tables = tuple(
            self._table(t, defaults.get(t["name"], {}), kind_of) for t in self.value["tables"]
        )
        views = tuple(
            self._view(m.value, m.value["name"], m.value["name"], None)
            for m in misc
            if m.tag == "View"
        )
        return ModuleSchema(
            version=9,
            typespace=self.typespace,
            tables=tables,
            reducers=reducers,
            procedures=procedures,
            views=views,
            types=self._type_defs(self.value["types"], "name"),
            row_level_security=tuple(r["sql"] for r in self.value["row_level_security"]),
            case_conversion_policy=self.policy,
            raw=self.raw,
        )

    def _reducer(self, raw: dict[str, Any]) -> ReducerSchema:
        lifecycle: SumValue | None = raw["lifecycle"]
        return ReducerSchema(
            name=raw["name"],
            accessor_name=raw["name"],
            params=product_from_value(raw["params"]),
            lifecycle=None if lifecycle is None else Lifecycle(lifecycle.tag),
            visibility=Visibility.CLIENT_CALLABLE,
            ok_return_type=AlgebraicType.unit(),
            err_return_type=AlgebraicType.STRING,
        )

    def _table(
        self,
        raw: dict[str, Any],
        defaults: dict[int, bytes],
        kind_of: Callable[[str], FunctionKind],
    ) -> TableSchema:
        name: str = raw["name"]
        row = _row_type(self.typespace, raw["product_type_ref"], f"table {name!r}")
        table = _check_columns(
            TableSchema(
                name=name,
                accessor_name=name,
                product_type_ref=raw["product_type_ref"],
                row_type=row,
                columns=_columns(row, row, defaults),
                primary_key=tuple(raw["primary_key"]),
                indexes=tuple(
                    _index(i, i["name"] or _generated_index_name(name, row, i))
                    for i in raw["indexes"]
                ),
                constraints=tuple(
                    ConstraintSchema(
                        c["name"] or f"{name}_{_cols_name(row, c['data'].value['columns'])}_key",
                        tuple(c["data"].value["columns"]),
                    )
                    for c in raw["constraints"]
                ),
                sequences=tuple(
                    _sequence(s, s["name"] or f"{name}_{_column_name(row, s['column'])}_seq")
                    for s in raw["sequences"]
                ),
                schedule=None,
                table_type=TableType(raw["table_type"].tag),
                access=TableAccess(raw["table_access"].tag),
                is_event=False,
            )
        )
        sched = raw["schedule"]
        if sched is None:
            return table
        return dataclasses.replace(
            table,
            schedule=_schedule(
                table,
                sched["name"] or f"{name}_sched",
                sched["reducer_name"],
                sched["scheduled_at_column"],
                kind_of,
            ),
        )


# ---- v10 ------------------------------------------------------------------------------------


class _V10(_Base):
    def __init__(self, raw: RawModuleDef) -> None:
        self.raw = raw
        self.sections: dict[str, Any] = {}
        for s in raw.value["sections"]:
            # The host reads the first section of each kind and ignores repeats.
            self.sections.setdefault(s.tag, s.value)
        policy = self.sections.get("CaseConversionPolicy")
        self.policy = (
            CaseConversionPolicy.SNAKE_CASE if policy is None else CaseConversionPolicy(policy.tag)
        )
        self.explicit: dict[str, dict[str, str]] = {"Table": {}, "Function": {}, "Index": {}}
        for entry in (self.sections.get("ExplicitNames") or {"entries": []})["entries"]:
            self.explicit[entry.tag][entry.value["source_name"]] = entry.value["canonical_name"]
        self.accessor_typespace = typespace_from_value(
            self.sections.get("Typespace", {"types": []})
        )
        self.typespace = canonicalize_typespace(self.accessor_typespace, self.policy)

    def _table_name(self, source: str) -> str:
        return self.explicit["Table"].get(source) or self.policy.convert(source)

    def _function_name(self, source: str) -> str:
        return self.explicit["Function"].get(source) or self.policy.convert(source)

    def build(self) -> ModuleSchema:
        reducers = [self._reducer(r) for r in self.sections.get("Reducers", [])]
        procedures = [self._procedure(p) for p in self.sections.get("Procedures", [])]
        tables = [self._table(t) for t in self.sections.get("Tables", [])]
        private: set[str] = set()
        self._attach_lifecycles(reducers, private)
        self._attach_schedules(tables, _kind_lookup(reducers, procedures), private)
        reducers = [
            dataclasses.replace(r, visibility=Visibility.PRIVATE) if r.name in private else r
            for r in reducers
        ]
        procedures = [
            dataclasses.replace(p, visibility=Visibility.PRIVATE) if p.name in private else p
            for p in procedures
        ]
        # Keyed by the view's source name; only single-column keys exist today.
        view_pks: dict[str, str] = {}
        for pk in self.sections.get("ViewPrimaryKeys", []):
            if pk["columns"]:
                view_pks.setdefault(pk["view_source_name"], pk["columns"][0])
        views = [
            self._view(
                v,
                self._function_name(v["source_name"]),
                v["source_name"],
                view_pks.get(v["source_name"]),
            )
            for v in self.sections.get("Views", [])
        ]
        views = [_inherit_query_view_pk(v, tables) for v in views]
        return ModuleSchema(
            version=10,
            typespace=self.typespace,
            tables=tuple(tables),
            reducers=tuple(reducers),
            procedures=tuple(procedures),
            views=tuple(views),
            types=self._type_defs(self.sections.get("Types", []), "source_name"),
            row_level_security=tuple(r["sql"] for r in self.sections.get("RowLevelSecurity", [])),
            case_conversion_policy=self.policy,
            submodules=tuple(
                (m["namespace"], _V10(RawModuleDef(10, m["module"])).build())
                for m in self.sections.get("Submodules", [])
            ),
            raw=self.raw,
        )

    def _reducer(self, raw: dict[str, Any]) -> ReducerSchema:
        return ReducerSchema(
            name=self._function_name(raw["source_name"]),
            accessor_name=raw["source_name"],
            params=product_from_value(raw["params"]),
            lifecycle=None,
            visibility=Visibility(raw["visibility"].tag),
            ok_return_type=type_from_value(raw["ok_return_type"]),
            err_return_type=type_from_value(raw["err_return_type"]),
        )

    def _procedure(self, raw: dict[str, Any]) -> ProcedureSchema:
        return ProcedureSchema(
            name=self._function_name(raw["source_name"]),
            accessor_name=raw["source_name"],
            params=product_from_value(raw["params"]),
            return_type=type_from_value(raw["return_type"]),
            visibility=Visibility(raw["visibility"].tag),
        )

    def _table(self, raw: dict[str, Any]) -> TableSchema:
        source: str = raw["source_name"]
        name = self._table_name(source)
        ref: int = raw["product_type_ref"]
        row = _row_type(self.typespace, ref, f"table {source!r}")
        accessor_row = _row_type(self.accessor_typespace, ref, f"table {source!r}")
        defaults = {d["col_id"]: d["value"] for d in raw["default_values"]}
        explicit_index = self.explicit["Index"]
        return _check_columns(
            TableSchema(
                name=name,
                accessor_name=source,
                product_type_ref=ref,
                row_type=row,
                columns=_columns(row, accessor_row, defaults),
                primary_key=tuple(raw["primary_key"]),
                indexes=tuple(
                    _index(
                        i,
                        explicit_index.get(i["source_name"] or "")
                        or _generated_index_name(name, row, i),
                    )
                    for i in raw["indexes"]
                ),
                # v10 ignores any constraint name the module gives and always generates one.
                constraints=tuple(
                    ConstraintSchema(
                        f"{name}_{_cols_name(row, c['data'].value['columns'])}_key",
                        tuple(c["data"].value["columns"]),
                    )
                    for c in raw["constraints"]
                ),
                sequences=tuple(
                    _sequence(s, s["source_name"] or f"{name}_{_column_name(row, s['column'])}_seq")
                    for s in raw["sequences"]
                ),
                schedule=None,
                table_type=TableType(raw["table_type"].tag),
                access=TableAccess(raw["table_access"].tag),
                is_event=raw["is_event"],
            )
        )

    def _attach_lifecycles(self, reducers: list[ReducerSchema], private: set[str]) -> None:
        for lc in self.sections.get("LifeCycleReducers", []):
            fname = self._function_name(lc["function_name"])
            for i, r in enumerate(reducers):
                if r.name == fname:
                    reducers[i] = dataclasses.replace(
                        r, lifecycle=Lifecycle(lc["lifecycle_spec"].tag)
                    )
                    private.add(fname)
                    break
            else:
                raise SchemaError(
                    f"lifecycle {lc['lifecycle_spec'].tag} names reducer {fname!r}, "
                    "which the module does not define"
                )

    def _attach_schedules(
        self,
        tables: list[TableSchema],
        kind_of: Callable[[str], FunctionKind],
        private: set[str],
    ) -> None:
        for sched in self.sections.get("Schedules", []):
            tname = self._table_name(sched["table_name"])
            fname = self._function_name(sched["function_name"])
            for i, t in enumerate(tables):
                if t.name == tname:
                    schedule = _schedule(
                        t, f"{tname}_sched", fname, sched["schedule_at_col"], kind_of
                    )
                    tables[i] = dataclasses.replace(t, schedule=schedule)
                    private.add(fname)
                    break
            else:
                raise SchemaError(f"schedule for table {sched['table_name']!r}: no such table")

"""The catalog: what queries over one module and datastore need, computed once and cached.

A :class:`_Catalog` holds the SQL schema, table infos, BSATN codecs, the RLS filters compiled to
fragments and what the ``st_*`` system tables read (:class:`~..system_tables.SystemState`: the
``st_var`` variables and the connected clients).  Both the subscription engine and ``/sql``
(:mod:`.sql_statements`) read through it; there is one per datastore (:func:`_catalog`).
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any

from ...sats import bsatn
from ...sats.ordering import KeyCompiler
from ...sats.types import Typespace
from ...sats.values import Identity
from ..datastore import Datastore
from ..module import Module, Query
from ..sql import SelectPlan, SqlError, compile_subscription
from ..sql.eval import CompiledFragment, Fragment, RowSource, TableInfo, expand_rls
from ..sqlschema import ModuleSqlSchema, ModuleSqlTable
from ..system_tables import SYSTEM_CLASSES, SYSTEM_TYPESPACE, SystemState, system_rows
from .errors import SubscriptionFailure

_SourceId = tuple[str, Identity | None]
"""A FROM source: a table ``(name, None)``, or a view and the caller it is evaluated for."""


class _Catalog:
    """Per-datastore caches: SQL schema, table infos, codecs, RLS fragments, variables."""

    def __init__(self, module: Module, datastore: Datastore) -> None:
        self.module = module
        self.datastore = datastore
        self.schema = ModuleSqlSchema(module)
        self.keys = datastore.keys
        self._infos: dict[str, TableInfo] = {}
        self._codecs: dict[str, bsatn.Codec] = {}
        self._generic: dict[str, bsatn.Codec] = {}
        self._rls: dict[str, list[Fragment]] | None = None
        self.system = SystemState(sequence_next=self._sequence_next)
        self._system_keys = KeyCompiler(SYSTEM_TYPESPACE, SYSTEM_CLASSES)
        self._view_queries: dict[str, Fragment] = {}

    def table(self, name: str) -> ModuleSqlTable:
        table = self.schema.table(name)
        assert table is not None, name  # plans only name tables the schema resolved
        return table

    def info(self, name: str) -> TableInfo:
        info = self._infos.get(name)
        if info is None:
            info = self._infos[name] = self._make_info(self.table(name))
        return info

    def _sequence_next(self, table: str, col_id: int) -> int | None:
        return self.datastore.store(table).sequence_next.get(col_id)

    def typespace_of(self, name: str) -> Typespace:
        """The typespace a table's ``row_type`` ref points into."""
        return SYSTEM_TYPESPACE if self.table(name).system is not None else self.module.typespace

    def _make_info(self, table: ModuleSqlTable) -> TableInfo:
        if table.system is not None:
            # Derived when read, like a view's rows (see call_view).
            col_keys = tuple(
                self.keys.key(ty, f"{table.name}.{attr}")
                for attr, ty in zip(table.attrs, table.raw_types, strict=True)
            )
            row_key = self._system_keys.key(table.row_type, table.name)
            return TableInfo(table.name, table.attrs, col_keys, row_key, is_view=True)
        if table.view is None:
            store = self.datastore.store(table.name)
            return TableInfo(
                table.name, table.attrs, tuple(store.col_key), store.row_key, table.is_event
            )
        col_keys = tuple(
            self.keys.key(ty, f"{table.name}.{attr}")
            for attr, ty in zip(table.attrs, table.raw_types, strict=True)
        )
        row_key = self.keys.key(table.row_type, table.name)
        return TableInfo(table.name, table.attrs, col_keys, row_key, is_view=True)

    def codec(self, name: str) -> bsatn.Codec:
        """The BSATN codec of a table's or view's row objects."""
        codec = self._codecs.get(name)
        if codec is None:
            ts, classes = self.module.typespace, self.module.classes
            if self.table(name).system is not None:
                ts, classes = SYSTEM_TYPESPACE, SYSTEM_CLASSES
            codec = bsatn.codec_for(self.table(name).row_type, ts, classes=classes)
            self._codecs[name] = codec
        return codec

    def generic_row(self, name: str, row: Any) -> dict[str, Any]:
        """A row object as the generic ``dict`` value (for SATS-JSON)."""
        codec = self._generic.get(name)
        if codec is None:
            codec = bsatn.codec_for(self.table(name).row_type, self.typespace_of(name))
            self._generic[name] = codec
        value: dict[str, Any] = codec.decode(self.codec(name).encode(row))
        return value

    def rls_rules(self) -> dict[str, list[Fragment]]:
        """The module's RLS filters as fragments, by the table they filter."""
        if self._rls is None:
            rules: dict[str, list[Fragment]] = {}
            for sql in self.module.row_level_security:
                try:
                    plan = compile_subscription(sql, self.schema, caller_is_owner=True)
                except SqlError as e:
                    raise SubscriptionFailure(e.with_sql(sql)) from None
                frag = Fragment.from_select(plan.select, plan.return_index)
                rules.setdefault(plan.return_table.name, []).append(frag)
            self._rls = rules
        return self._rls

    def fragments(self, select: SelectPlan, ret: int, is_owner: bool) -> list[Fragment]:
        """The fragments a SELECT evaluates as: RLS-expanded unless the caller owns the db."""
        frag = Fragment.from_select(select, ret)
        return [frag] if is_owner else expand_rls(frag, self.rls_rules())

    def is_per_caller(self, name: str) -> bool:
        view = self.table(name).view
        return view is not None and not view.is_anonymous

    def source_id(self, name: str, sender: Identity | None) -> _SourceId:
        return (name, sender if self.is_per_caller(name) else None)

    def call_view(self, sid: _SourceId) -> list[Any]:
        """A view's rows for a caller (or a system table's current rows)."""
        if self.table(sid[0]).system is not None:
            return system_rows(sid[0], self.module, self.system)
        view = self.table(sid[0]).view
        assert view is not None
        result = self.module.call_view(self.datastore, view, sender=sid[1])
        if isinstance(result, Query):
            return self._query_view_rows(result.to_sql(), sid[1])
        return result

    def _query_view_rows(self, sql: str, sender: Identity | None) -> list[Any]:
        """Run a query view's query over the current state, with the module's privileges
        (private tables readable, no RLS), as the view's caller for ``:sender``."""
        frag = self._view_queries.get(sql)
        if frag is None:
            try:
                plan = compile_subscription(sql, self.schema, caller_is_owner=True)
            except SqlError as e:
                raise SubscriptionFailure(e.with_sql(sql)) from None
            frag = self._view_queries[sql] = Fragment.from_select(plan.select, plan.return_index)
        infos = [self.info(name) for name in frag.tables]
        compiled = CompiledFragment(frag, infos, self.keys, sender)
        return compiled.rows([self.current_source(self.source_id(n, sender)) for n in frag.tables])

    def current_source(self, sid: _SourceId, view_rows: Sequence[Any] | None = None) -> RowSource:
        """The current rows of a source (a view's rows computed now unless given)."""
        info = self.info(sid[0])
        if not info.is_view:
            return RowSource(info, store=self.datastore.store(sid[0]))
        return RowSource(info, self.call_view(sid) if view_rows is None else view_rows)


_CATALOGS: weakref.WeakKeyDictionary[Datastore, _Catalog] = weakref.WeakKeyDictionary()


def _catalog(module: Module, datastore: Datastore) -> _Catalog:
    catalog = _CATALOGS.get(datastore)
    if catalog is None or catalog.module is not module:
        catalog = _CATALOGS[datastore] = _Catalog(module, datastore)
    return catalog

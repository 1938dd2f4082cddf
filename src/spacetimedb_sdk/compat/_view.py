"""The 0.7 view of a 2.x connection: 0.7 names, 0.7 rows and 0.7 reducer calls.

Built when the 0.7 client connects, from the connection's schema and the bindings package
(:class:`~._package.Package07`):

- table and reducer names as the 0.7 module spelled them resolve to the canonical ones;
- a row of a table whose 0.7 class the package has becomes ``Cls(json)`` with the row in
  0.7's JSON shape (:mod:`.json07`), once per cached row, so the same row is the same object
  in callbacks and in ``Cls.iter()``; tables without such a class keep the 2.x rows;
- reducer arguments in 0.7's JSON shapes (or as 0.7 apps passed them) are converted and the
  call sent; what comes back is given in 0.7's shapes again.

Example::

    view = View07(conn, Package07(module_bindings))
    view.row("user", row)                # User(json): .data, .identity, ...
    view.call("send_message", ["hi"], on_result)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from .._log import get_logger
from ..client.bindings import ModuleBindings
from ..client.events import ReducerEventContext
from ..connection import DbConnection, ReducerCaller, TableHandle
from ..errors import SpacetimeDBError
from ..sats.sats_json import SatsJsonError
from ..sats.types import ProductType
from ._package import Names, Package07, translate_sql
from .json07 import from_json07, to_json07

__all__ = ["TableCache07", "View07"]

log = get_logger("spacetimedb_sdk.compat")


class View07:
    """0.7 names, rows and calls over one connected 2.x connection (see the module docs)."""

    def __init__(self, conn: DbConnection, package: Package07) -> None:
        schema = conn.schema
        self.conn = conn
        self.package = package
        self.typespace = schema.typespace
        self.tables = Names("table", {t.name: t.accessor_name for t in schema.tables})
        self.reducers = Names(
            "reducer",
            {r.name: r.accessor_name for r in schema.reducers if r.is_client_callable},
        )
        # Generic codecs (no row classes), so arguments can be given as dicts and lists.
        self._generic = ModuleBindings.from_schema(schema, classes={})
        self.handles: dict[str, TableHandle] = {h.table_name: h for h in conn.db}
        self.row_types: dict[str, ProductType] = {t.name: t.row_type for t in schema.tables}
        self.classes: dict[str, type] = {}
        for name07, cls in package.table_classes.items():
            found = self.tables.candidates(name07)
            if len(found) == 1:
                self.classes[found[0]] = cls
            else:  # using the table (Cls.iter(), a query) raises, saying why
                log.warning(
                    "bindings class %s matches %s: its rows stay 2.x rows",
                    name07,
                    f"the tables {found}" if found else "no table of the module",
                )
        self._names07 = {
            self.reducers.resolve(name): name for name in package.reducers if self._known(name)
        }
        self._rows: dict[str, dict[int, tuple[Any, Any]]] = {t: {} for t in self.handles}

    def _known(self, reducer: str) -> bool:
        return bool(self.reducers.candidates(reducer))

    # ---- names --------------------------------------------------------------------------------

    def table(self, name: str) -> str:
        """The canonical name of a table named as 0.7 did (``"User"`` → ``"user"``)."""
        return self.tables.resolve(name)

    def translate(self, sql: str) -> str:
        """A 0.7 query with the module's table names (``FROM User`` → ``FROM user``)."""
        return translate_sql(sql, self.tables.resolve_or_none)

    def reducer_name07(self, canonical: str) -> str:
        """The name the bindings use for a reducer (their ``reducer_name``), else the canonical."""
        return self._names07.get(canonical, canonical)

    # ---- rows ---------------------------------------------------------------------------------

    def row(self, table: str, row: Any) -> Any:
        """The 0.7 row object of a cached 2.x row (made once per row), or the row itself."""
        cls = self.classes.get(table)
        if cls is None or row is None:
            return row
        memo = self._rows[table]
        hit = memo.get(id(row))
        if hit is not None and hit[0] is row:
            return hit[1]
        obj = cls(to_json07(self.row_types[table], row, self.typespace))
        memo[id(row)] = (row, obj)  # holds the row, so its id is not reused meanwhile
        return obj

    def forget(self, table: str, row: Any) -> None:
        """``row`` left the cache: drop its 0.7 object."""
        memo = self._rows.get(table)
        if memo is not None and row is not None:
            hit = memo.get(id(row))
            if hit is not None and hit[0] is row:
                del memo[id(row)]

    def rows(self, table: str) -> list[Any]:
        """The cached rows of a table (canonical name), as 0.7 rows where there is a class."""
        return [self.row(table, r) for r in self.handles[table].iter()]

    # ---- reducers -----------------------------------------------------------------------------

    def call(
        self,
        reducer: str,
        args: Sequence[Any],
        on_result: Callable[[ReducerEventContext], object],
    ) -> str:
        """Call ``reducer`` (0.7 or canonical name) with 0.7-shaped arguments; returns the
        canonical name.  ``on_result(ctx)`` runs when the outcome arrives."""
        name = self.reducers.resolve(reducer)
        binding = self._generic.reducer(name)
        params = binding.params.elements
        if len(args) != len(params):
            raise TypeError(
                f"reducer {reducer!r} takes {len(params)} argument(s) "
                f"({', '.join(binding.param_names)}), got {len(args)}"
            )
        try:
            values = [
                from_json07(p.algebraic_type, a, self.typespace)
                for p, a in zip(params, args, strict=True)
            ]
        except SatsJsonError as e:
            raise SatsJsonError(f"reducer {reducer!r}: {e}") from None
        ReducerCaller(self.conn, binding).then(on_result, *values)
        return name

    def args07(self, reducer: str, args: dict[str, Any]) -> list[Any]:
        """A reducer's decoded arguments (by parameter name) as 0.7's JSON list."""
        try:
            binding = self._generic.reducer(reducer)
        except SpacetimeDBError:
            return list(args.values())
        return [
            to_json07(p.algebraic_type, v, self.typespace)
            for p, v in zip(binding.params.elements, args.values(), strict=False)
        ]


class TableCache07:
    """What ``SpacetimeDBClient.instance._get_table_cache("User")`` returns, as in 0.7.

    ``values()`` are the table's cached rows (0.7 row objects); before the client is
    connected there are none.

    Example::

        for user in SpacetimeDBClient.instance._get_table_cache("User").values():
            print(user.name)
    """

    def __init__(self, name: str, rows: Callable[[], list[Any]], table_class: type | None) -> None:
        self.name = name
        self._rows = rows
        self.table_class = table_class

    def values(self) -> list[Any]:
        """The cached rows (a fresh list each call)."""
        return self._rows()

    def decode(self, value: Any) -> Any:
        """A 0.7 row object from 0.7 JSON, as 0.7's cache did (``Cls(value)``)."""
        if self.table_class is None:
            raise SpacetimeDBError(f"the bindings have no class for table {self.name!r}")
        return self.table_class(value)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._rows())

    def __len__(self) -> int:
        return len(self._rows())

    def __repr__(self) -> str:
        return f"<0.7 table cache {self.name!r}: {len(self)} rows>"

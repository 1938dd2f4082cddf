"""The query builder: ``q.<table>`` for every table and view of a module.

Built from a :class:`~spacetimedb_sdk.schema.ModuleSchema` or a connection's bindings;
generated bindings subclass :class:`QueryBuilder` with typed table attributes.  This is
what ``add_query(lambda q: ...)`` passes as ``q``.

Example::

    q = QueryBuilder(schema)
    q.user.to_sql()     # SELECT * FROM "user"
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import ClassVar

from ..client.bindings import ModuleBindings
from ..schema.model import ModuleSchema
from .queries import TableRef
from .table_info import table_infos

__all__ = ["QueryBuilder"]


class QueryBuilder:
    """The tables of a module for building queries: ``q.<table>`` is a :class:`TableRef`.

    Built from a :class:`ModuleSchema` or the connection's bindings; generated bindings
    subclass it with typed table attributes and need no argument.  ``q["wire_name"]``
    finds a table by its canonical name too.

    Example::

        conn.subscription_builder().add_query(lambda q: q.user.where(q.user.online)).subscribe()
        q = QueryBuilder(schema)
        q.user.to_sql()     # SELECT * FROM "user"
    """

    #: Set by generated bindings: the schema, the accessor of every table and view (by
    #: canonical name, as the connection names them), and a TableRef subclass per accessor.
    __schema__: ClassVar[ModuleSchema | None] = None
    __accessors__: ClassVar[Mapping[str, str] | None] = None
    __table_refs__: ClassVar[Mapping[str, type[TableRef]]] = {}

    def __init__(self, source: ModuleSchema | ModuleBindings | None = None) -> None:
        accessors: Mapping[str, str] | None = None
        if source is None:
            schema = type(self).__schema__
            accessors = type(self).__accessors__
        elif isinstance(source, ModuleSchema):
            schema = source
        else:
            schema = source.schema
            accessors = {b.name: accessor for accessor, b in source.tables.items()}
        if schema is None:
            raise TypeError("QueryBuilder needs a ModuleSchema (or use generated bindings)")
        refs: dict[str, TableRef] = {}
        for info in table_infos(schema, accessors):
            ref_cls = type(self).__table_refs__.get(info.accessor, TableRef)
            refs[info.accessor] = ref_cls(info)
        self._refs = refs
        self._by_wire = {r.table_name: r for r in refs.values()}
        self.__dict__.update(refs)

    def __getattr__(self, name: str) -> TableRef:
        if name.startswith("_"):
            raise AttributeError(name)
        raise AttributeError(f"no table or view named {name!r}; tables: {sorted(self._refs)}")

    def __getitem__(self, name: str) -> TableRef:
        ref = self._by_wire.get(name) or self._refs.get(name)
        if ref is None:
            raise KeyError(f"no table or view named {name!r}; tables: {sorted(self._by_wire)}")
        return ref

    def __iter__(self) -> Iterator[TableRef]:
        return iter(self._refs.values())

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *self._refs})

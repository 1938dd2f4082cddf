"""A module's tables and views as the SQL checker's :class:`~.sql.SqlSchema`.

The checker (:mod:`.sql`) knows tables only through the small ``SqlTable``
protocol; this adapter builds one :class:`ModuleSqlTable` per table and per
view of a :class:`~.module.Module`, keyed by canonical (wire) name, and adds
what the evaluator needs on top: the Python attribute of each column (rows are
dataclass instances), the unresolved column types (for codecs and SATS-JSON)
and the typespace ref of the row type.

* tables: columns in declaration order with their canonical names; indexes are
  the column lists of every index (unique columns and primary keys have one);
* views: columns are the fields of the returned row type, named like table
  columns (canonical case), with an index on the primary key if the view has one
  (none otherwise); ``is_view`` is set so DML is refused and the subscription
  engine materializes them by calling the view;
* the ``st_*`` system tables (:mod:`.system_tables`), public, with ``system``
  set: their rows are derived when read.

Example::

    >>> from spacetimedb_sdk.server import Module
    >>> m = Module("demo")
    >>> @m.table(public=True)
    ... class Person:
    ...     name: str
    >>> ModuleSqlSchema(m).table("person").columns[0][0]
    'name'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..sats.types import AlgebraicType, ProductType, RefType
from .datastore import TableSchema
from .module import Module, ViewDef
from .system_tables import SYSTEM_TABLES, SystemTable


@dataclass(frozen=True)
class ModuleSqlTable:
    """One table or view as the SQL layer sees it (implements ``SqlTable``).

    ``columns`` holds ``(canonical name, type resolved at the top level)``;
    ``attrs`` the Python attribute of each column and ``raw_types`` the
    column types as declared (refs kept).

    Example::

        >>> t = ModuleSqlTable("t", (("a", AlgebraicType.U8),), True, False, False, (), ("a",),
        ...                    (AlgebraicType.U8,), 0)
        >>> t.attrs
        ('a',)
    """

    name: str
    columns: tuple[tuple[str, AlgebraicType], ...]
    is_public: bool
    is_event: bool
    is_view: bool
    indexes: tuple[tuple[int, ...], ...]
    attrs: tuple[str, ...]
    raw_types: tuple[AlgebraicType, ...]
    row_ref: int
    schema: TableSchema | None = None
    view: ViewDef | None = None
    system: SystemTable | None = None

    @property
    def row_type(self) -> RefType:
        """The row type as a typespace ref (what row codecs are built from).

        The ref is into the module's typespace, or into
        :data:`~.system_tables.SYSTEM_TYPESPACE` for a system table.
        """
        return RefType(self.row_ref)


class ModuleSqlSchema:
    """The ``SqlSchema`` of a module: its tables and views by canonical name.

    Example::

        >>> from spacetimedb_sdk.server import Module
        >>> m = Module("demo")
        >>> @m.table
        ... class Secret:
        ...     code: str
        >>> ModuleSqlSchema(m).table("secret").is_public
        False
    """

    def __init__(self, module: Module) -> None:
        self.module = module
        typespace = module.typespace
        by_name: dict[str, ModuleSqlTable] = {}
        for schema in module.table_schemas():
            by_name[schema.name] = ModuleSqlTable(
                name=schema.name,
                columns=tuple(
                    (c.name, typespace.resolve(c.algebraic_type)) for c in schema.columns
                ),
                is_public=schema.public,
                is_event=schema.is_event,
                is_view=False,
                indexes=tuple(ix.columns for ix in schema.indexes),
                attrs=tuple(c.attr for c in schema.columns),
                raw_types=tuple(c.algebraic_type for c in schema.columns),
                row_ref=schema.product_type_ref,
                schema=schema,
            )
        for vd in module.views:
            row = typespace[vd.product_type_ref]
            assert isinstance(row, ProductType)  # the module builder checks view row types
            attrs = tuple(row.names())
            by_name[vd.name] = ModuleSqlTable(
                name=vd.name,
                columns=tuple(
                    (module.canonical(attr), typespace.resolve(e.algebraic_type))
                    for attr, e in zip(attrs, row.elements, strict=True)
                ),
                is_public=vd.is_public,
                is_event=False,
                is_view=True,
                # A view with a primary key is stored with a unique index on it (upstream's
                # view tables), so subscriptions may join on that column.
                indexes=() if vd.primary_key is None else ((vd.primary_key,),),
                attrs=attrs,
                raw_types=tuple(e.algebraic_type for e in row.elements),
                row_ref=vd.product_type_ref,
                view=vd,
            )
        for name, st in SYSTEM_TABLES.items():
            if name in by_name:
                continue  # a module's own table of that name shadows the catalog's
            by_name[name] = ModuleSqlTable(
                name=name,
                columns=st.columns,
                is_public=True,
                is_event=False,
                is_view=False,
                indexes=st.indexes,
                attrs=tuple(col for col, _ in st.columns),
                raw_types=tuple(ty for _, ty in st.columns),
                row_ref=st.row_ref,
                system=st,
            )
        self._by_name = by_name

    def table(self, name: str) -> ModuleSqlTable | None:
        """The table or view whose canonical name is ``name``, if any."""
        return self._by_name.get(name)

    def tables(self) -> Sequence[ModuleSqlTable]:
        """Every table and view, tables first in declaration order."""
        return tuple(self._by_name.values())


__all__ = ["ModuleSqlSchema", "ModuleSqlTable"]

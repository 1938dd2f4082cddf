"""The typed query builder: subscription SQL from Python expressions, rendered safely.

``q.user.where(q.user.online == True)`` renders
``SELECT * FROM "user" WHERE "user"."online" = TRUE``.  Tables are attributes
of a :class:`QueryBuilder` (named like ``conn.db.<table>``), columns are
attributes of a table (:class:`Column`), and comparisons (``== != < <= > >=``)
build :class:`BoolExpr` values that combine with ``&``, ``|`` and ``~``.
Generated bindings subclass these classes with typed column attributes; the
dynamic path (no codegen) offers the same attributes at run time.

Rendering follows the official TypeScript builder, and literals are checked
against the column's type when the comparison is written, so a mistake fails where
it is made, not on the server.

The modules, one concept each: :mod:`.literals` (values as SQL literals),
:mod:`.expressions` (columns and conditions), :mod:`.table_info` (what the builder
reads from the schema), :mod:`.queries` (tables, filtered rows, semijoins) and
:mod:`.builder` (:class:`QueryBuilder`).  Everything is importable from here, the
path generated bindings use.

Example::

    q = QueryBuilder(schema)
    q.person.where((q.person.age > 20) & (q.person.name != "Bob")).to_sql()
    # SELECT * FROM "person" WHERE ("person"."age" > 20) AND ("person"."name" <> 'Bob')
    q.person.right_semijoin(q.orders, on=lambda p, o: o.person_id == p.id).to_sql()
    # SELECT "orders".* FROM "person" JOIN "orders" ON "orders"."person_id" = "person"."id"
"""

from .builder import QueryBuilder
from .expressions import BoolExpr, Column, and_, not_, or_
from .expressions import Condition as Condition
from .literals import literal_kind, literal_sql, quote_identifier
from .queries import FromQuery, Query, SemijoinQuery, TableRef
from .table_info import TABLE_REF_ATTRIBUTES as TABLE_REF_ATTRIBUTES
from .table_info import TableInfo as TableInfo
from .table_info import column_attr
from .table_info import table_infos as table_infos

__all__ = [
    "BoolExpr",
    "Column",
    "FromQuery",
    "Query",
    "QueryBuilder",
    "SemijoinQuery",
    "TableRef",
    "and_",
    "column_attr",
    "literal_kind",
    "literal_sql",
    "not_",
    "or_",
    "quote_identifier",
]

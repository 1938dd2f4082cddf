"""The SQL front end of the local server: parse, resolve and type-check.

Two grammars, as on a real server (protocol.md §7.7):

* :func:`compile_subscription` — subscriptions and WebSocket one-off
  queries: ``SELECT * FROM t [WHERE …]`` or ``SELECT a.* FROM t a JOIN s b
  ON a.x = b.y [WHERE …]``, returning a :class:`SubscriptionPlan`;
* :func:`compile_sql` — HTTP ``/sql``: column lists, ``COUNT(*) AS n``,
  ``LIMIT``, ``INSERT``, ``UPDATE``, ``DELETE``, ``SET``/``SHOW row_limit``,
  returning a :data:`SqlPlan`.

Tables come from any object implementing :class:`SqlSchema`
(:class:`StaticSchema` is a ready-made one).  Errors are :class:`SqlError`
subclasses worded like the server's (see :mod:`.errors`).  Evaluation of the
plans is not done here.

Example::

    >>> from spacetimedb_sdk.sats import AlgebraicType
    >>> schema = StaticSchema([StaticTable("person", [("name", AlgebraicType.STRING)])])
    >>> plan = compile_subscription(
    ...     'SELECT * FROM "person" WHERE "person"."name" = \\'O\\'\\'Brian\\'', schema)
    >>> plan.select.filter.right.value
    "O'Brian"
"""

from .ast import Statement
from .check import (
    MAX_SQL_LENGTH,
    SqlSchema,
    SqlTable,
    StaticSchema,
    StaticTable,
    check_statement,
    check_subscription,
    compile_sql,
    compile_subscription,
    fmt_type,
    parse_literal,
)
from .errors import (
    SqlAuthError,
    SqlError,
    SqlNameError,
    SqlPlanError,
    SqlSyntaxError,
    SqlTypeError,
    SqlUnsupported,
)
from .parser import parse_sql, parse_subscription
from .plan import (
    BoundTable,
    ColumnRef,
    ColumnsProjection,
    Compare,
    Const,
    CountProjection,
    DeletePlan,
    Expr,
    IndexJoin,
    InsertPlan,
    JoinCondition,
    Logic,
    SelectPlan,
    SenderParam,
    SetVarPlan,
    ShowVarPlan,
    Source,
    SqlPlan,
    StarProjection,
    SubscriptionPlan,
    UpdatePlan,
)

__all__ = [
    "MAX_SQL_LENGTH",
    "BoundTable",
    "ColumnRef",
    "ColumnsProjection",
    "Compare",
    "Const",
    "CountProjection",
    "DeletePlan",
    "Expr",
    "IndexJoin",
    "InsertPlan",
    "JoinCondition",
    "Logic",
    "SelectPlan",
    "SenderParam",
    "SetVarPlan",
    "ShowVarPlan",
    "Source",
    "SqlAuthError",
    "SqlError",
    "SqlNameError",
    "SqlPlan",
    "SqlPlanError",
    "SqlSchema",
    "SqlSyntaxError",
    "SqlTable",
    "SqlTypeError",
    "SqlUnsupported",
    "StarProjection",
    "Statement",
    "StaticSchema",
    "StaticTable",
    "SubscriptionPlan",
    "UpdatePlan",
    "check_statement",
    "check_subscription",
    "compile_sql",
    "compile_subscription",
    "fmt_type",
    "parse_literal",
    "parse_sql",
    "parse_subscription",
]

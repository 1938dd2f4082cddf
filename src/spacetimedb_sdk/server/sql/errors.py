"""Errors of the SQL front end, worded like the real server's.

Every error is a :class:`SqlError` (a ``ValueError``).  The subclasses follow
the stages of upstream's compiler, and the messages follow upstream's texts
(``crates/sql-parser/src/parser/errors.rs``, ``crates/expr/src/errors.rs``,
``crates/subscription/src/lib.rs``), so a client sees what a real server
would say:

==========================  ===========================================================
class                       upstream source of the wording
==========================  ===========================================================
:class:`SqlSyntaxError`     the ``sqlparser`` crate (0.38): ``sql parser error: Expected
                            …, found: … at Line: L, Column C``
:class:`SqlUnsupported`     ``SqlUnsupported`` / ``SubscriptionUnsupported`` /
                            ``SqlRequired`` / recursion limits of the sql-parser crate
:class:`SqlNameError`       ``Unresolved`` and ``DuplicateName`` of the expr crate
:class:`SqlTypeError`       ``UnexpectedType``, ``InvalidLiteral``, ``InvalidOp``, the
                            INSERT arity errors, ``InvalidWildcard``, ``Unsupported``,
                            ``InvalidVar`` and ``DmlOnView`` of the expr crate
:class:`SqlPlanError`       the subscription planner (index joins, event tables, table
                            count) and the SQL length limit
:class:`SqlAuthError`       DML by a caller without write access
==========================  ===========================================================

Where upstream prints a re-rendered SQL fragment (``Unsupported: SELECT …``)
we print the fragment as the user wrote it.

Example::

    >>> from spacetimedb_sdk.server.sql import parse_subscription
    >>> try:
    ...     parse_subscription("SELECT * FROM t LIMIT 5")
    ... except SqlError as e:
    ...     print(e)
    Unsupported: SELECT * FROM t LIMIT 5
"""

from __future__ import annotations

from ...errors import SpacetimeDBError


class SqlError(SpacetimeDBError, ValueError):
    """Base class of every error raised while parsing or checking SQL.

    Example::

        >>> isinstance(SqlSyntaxError("sql parser error: …"), ValueError)
        True
    """

    def with_sql(self, sql: str) -> str:
        """The message as the server reports it for a statement: ``…, executing: `sql```."""
        return f"{self}, executing: `{sql}`"


class SqlSyntaxError(SqlError):
    """The text is not SQL the grammar understands (or is nested too deeply).

    Example::

        >>> str(SqlSyntaxError("sql parser error: Expected an SQL statement, found: x"))[:16]
        'sql parser error'
    """


class SqlUnsupported(SqlError):
    """Valid SQL that SpacetimeDB does not support (``LIMIT`` in a subscription, ``NOT``, …).

    Example::

        >>> SqlUnsupported("Non-inner joins are not supported").args[0]
        'Non-inner joins are not supported'
    """


class SqlNameError(SqlError):
    """A table, alias or column that does not resolve, or a name used twice.

    Example::

        >>> str(SqlNameError("`x` is not in scope"))
        '`x` is not in scope'
    """


class SqlTypeError(SqlError):
    """A literal, operator or projection that does not fit the types of the schema.

    Example::

        >>> str(SqlTypeError("Cannot resolve type for literal expression"))
        'Cannot resolve type for literal expression'
    """


class SqlPlanError(SqlError):
    """A well-typed query the subscription planner refuses (e.g. an unindexed join).

    Example::

        >>> str(SqlPlanError("Subscriptions require indexes on join columns"))
        'Subscriptions require indexes on join columns'
    """


class SqlAuthError(SqlError):
    """The caller may not run this statement (DML without owner rights).

    Example::

        >>> SqlAuthError("Caller c200… is not authorized to run SQL DML statements").args[0][:6]
        'Caller'
    """


__all__ = [
    "SqlAuthError",
    "SqlError",
    "SqlNameError",
    "SqlPlanError",
    "SqlSyntaxError",
    "SqlTypeError",
    "SqlUnsupported",
]

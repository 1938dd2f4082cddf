"""The errors of subscriptions, one-off queries and ``/sql``, with upstream's texts.

The host catches these to answer the client (a ``SubscriptionError``, a close with 1011, an HTTP
400), so they live apart from the engine that raises them.
"""

from __future__ import annotations

from ...errors import SpacetimeDBError


class SubscriptionFailure(SpacetimeDBError):
    """A subscription or one-off query was refused; ``message`` is what the client is told.

    ``over_limit``: refused by a resource limit (the host counts those).

    Example::

        >>> SubscriptionFailure("no such table: `x`").message
        'no such table: `x`'
    """

    def __init__(self, message: str, *, over_limit: bool = False) -> None:
        self.message = message
        self.over_limit = over_limit
        super().__init__(message)


class DuplicateQuerySet(SpacetimeDBError):
    """The client subscribed with a query-set id that is still active (fatal: close 1011).

    Example::

        >>> str(DuplicateQuerySet(3))
        'Subscription with id QuerySetId { id: 3 } already exists for this client'
    """

    def __init__(self, query_set_id: int) -> None:
        self.query_set_id = query_set_id
        super().__init__(
            f"Subscription with id QuerySetId {{ id: {query_set_id} }} already exists "
            "for this client"
        )


class UnknownQuerySet(SpacetimeDBError):
    """Unsubscribe from a query set that is not active (answered with a SubscriptionError).

    Example::

        >>> UnknownQuerySet(4).message
        'Subscription not found: QuerySetId { id: 4 }'
    """

    def __init__(self, query_set_id: int) -> None:
        self.query_set_id = query_set_id
        self.message = f"Subscription not found: QuerySetId {{ id: {query_set_id} }}"
        super().__init__(self.message)


class SqlExecutionError(SpacetimeDBError):
    """A ``/sql`` statement failed; the host answers 400 with ``message``.

    ``over_limit``: refused or stopped by a resource limit (the host counts those).

    Example::

        >>> SqlExecutionError("no such table: `x`").message
        'no such table: `x`'
    """

    def __init__(self, message: str, *, over_limit: bool = False) -> None:
        self.message = message
        self.over_limit = over_limit
        super().__init__(message)

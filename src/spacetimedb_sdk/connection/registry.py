"""What the call and subscription registries share: the core, its lock, and the way out.

Both registries start work from any user thread (ask the sans-I/O core for a
request or query-set id under the connection's lock, then flush the core's
outgoing frames to the session) and finish it on the network side (run user
callbacks, settle ``Pending`` objects).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from ..client.core import ClientCore
from .callbacks import UserCallbacks

OwnerT = TypeVar("OwnerT")  # the connection, as each registry sees it


@dataclass(eq=False, repr=False)
class Registry(Generic[OwnerT]):
    """Base of :class:`~.calls.CallRegistry` and :class:`~.subscriptions.SubscriptionRegistry`."""

    _conn: OwnerT
    _core: ClientCore
    _lock: threading.RLock
    _callbacks: UserCallbacks
    _flush: Callable[[], None]


__all__ = ["Registry"]

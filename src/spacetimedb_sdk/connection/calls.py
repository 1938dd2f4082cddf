"""Reducer, procedure and one-off query calls: sending them, and settling them from the results.

``conn.reducers.<name>`` and ``conn.procedures.<name>`` are :class:`ReducerCaller`
and :class:`ProcedureCaller` objects.  Calling one encodes the arguments in the
caller's thread (so a wrong argument raises there), asks the sans-I/O core for a
request id and a frame, and returns a :class:`~.pending.Pending`.  The
:class:`CallRegistry` keeps those ``Pending`` objects by request id and settles
them when the core reports the result, after the call's row callbacks ran.

Example::

    await conn.reducers.send_message(text="hello")
    conn.reducers.send_message.fire(text="no need to wait")
    total = await conn.procedures.add(a=1, b=2)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from .._log import get_logger
from ..client import core as core_events
from ..client.bindings import FunctionBinding, ModuleBindings
from ..client.events import (
    Committed,
    EventSource,
    Failed,
    InternalFailure,
    ReducerCall,
    ReducerEvent,
    ReducerEventContext,
)
from ..errors import InternalError, ProcedureError, ProtocolError, QueryError, ReducerError
from ..protocol import messages as m
from ..sats import bsatn
from ..sats.types import AlgebraicType
from ..sats.values import Err
from .pending import Pending, Waiter
from .registry import Registry

log = get_logger("spacetimedb_sdk.connection")

_STRING = AlgebraicType.STRING


class CallOwner(EventSource, Waiter, Protocol):
    """What callers and the registry use of their connection."""

    _bindings: ModuleBindings | None
    _calls: CallRegistry


class ReducerCaller:
    """``conn.reducers.<name>``: call with the reducer's arguments.

    ``await conn.reducers.set_name(name="Alice")`` returns the reducer's return
    value (``None`` for most) after this client's row callbacks for the call ran;
    it raises :class:`ReducerError` for the reducer's own error and
    :class:`InternalError` for host failures.

    Example::

        conn.reducers.send_message.fire(text="no need to wait")
        conn.reducers.set_name.then(lambda ctx: print(ctx.event.status), name="Bob")
    """

    __slots__ = ("_binding", "_conn")

    def __init__(self, conn: CallOwner, binding: FunctionBinding) -> None:
        self._conn = conn
        self._binding = binding

    def __call__(self, *args: Any, **kwargs: Any) -> Pending[Any]:
        """Call the reducer; ``await`` the result (or ``.result()`` it), or let it go.

        Arguments are encoded here, so a wrong one raises ``TypeError``/``ValueError`` at once.

        Example::

            await conn.reducers.set_name(name="Ada")
        """
        return self._conn._calls.call_reducer(self._binding, args, kwargs, None)

    def fire(self, *args: Any, **kwargs: Any) -> None:
        """Send the call and forget it (errors are logged).

        Example::

            conn.reducers.send_message.fire(text="no need to wait")
        """
        self._conn._calls.call_reducer(self._binding, args, kwargs, None, fire=True)

    def then(
        self, callback: Callable[[ReducerEventContext], object], *args: Any, **kwargs: Any
    ) -> Pending[Any]:
        """Call, and run ``callback(ctx)`` with ``ctx.event`` the :class:`ReducerEvent` when it finishes.

        Example::

            conn.reducers.set_name.then(lambda ctx: print(ctx.event.status), name="Bob")
        """
        return self._conn._calls.call_reducer(self._binding, args, kwargs, callback)

    def __repr__(self) -> str:
        return f"<reducer {self._binding.name}({', '.join(self._binding.param_names)})>"


class ProcedureCaller:
    """``conn.procedures.<name>``: call, then await the decoded return value.

    Example::

        total = await conn.procedures.add(a=1, b=2)
    """

    __slots__ = ("_binding", "_conn")

    def __init__(self, conn: CallOwner, binding: FunctionBinding) -> None:
        self._conn = conn
        self._binding = binding

    def __call__(self, *args: Any, **kwargs: Any) -> Pending[Any]:
        """Call the procedure; the ``Pending`` resolves to its decoded return value.

        Example::

            total = await conn.procedures.add(a=1, b=2)
        """
        return self._conn._calls.call_procedure(self._binding, args, kwargs)

    def __repr__(self) -> str:
        return f"<procedure {self._binding.name}({', '.join(self._binding.param_names)})>"


class Callables:
    """``conn.reducers`` / ``conn.procedures`` without generated bindings: callers by name."""

    def __init__(self, kind: str, items: Mapping[str, Any]) -> None:
        self._kind = kind
        self._items = dict(items)

    def __getattr__(self, name: str) -> Any:
        try:
            return self._items[name]
        except KeyError:
            for item in self._items.values():  # the canonical wire name works too
                if getattr(getattr(item, "_binding", None), "name", None) == name:
                    return item
            raise AttributeError(
                f"no {self._kind} named {name!r}; {self._kind}s: {sorted(self._items)}"
            ) from None

    def __dir__(self) -> list[str]:
        return sorted(self._items)

    def __repr__(self) -> str:
        return callables_repr(f"conn.{self._kind}s", self._items)


def callables_repr(label: str, items: Mapping[str, Any]) -> str:
    """``<conn.reducers: send_message(text), set_name(name)>``: the repr of a callables view.

    Example::

        >>> callables_repr("conn.procedures", {})
        '<conn.procedures: none>'
    """
    sigs = []
    for name, item in sorted(items.items()):
        binding = getattr(item, "_binding", None)
        params = ", ".join(binding.param_names) if binding is not None else "..."
        sigs.append(f"{name}({params})")
    return f"<{label}: {', '.join(sigs) or 'none'}>"


_ReducerEntry = tuple[Pending[Any], FunctionBinding, Callable[..., object] | None, bool]


@dataclass(eq=False, repr=False)
class CallRegistry(Registry["CallOwner"]):
    """The calls in flight, by request id: started by callers, settled by the core's events."""

    _reducers: dict[int, _ReducerEntry] = field(default_factory=dict, init=False)
    _procedures: dict[int, tuple[Pending[Any], FunctionBinding]] = field(
        default_factory=dict, init=False
    )
    _queries: dict[int, Pending[list[Any]]] = field(default_factory=dict, init=False)

    # ---- starting calls (any thread) -----------------------------------------------------

    def call_reducer(
        self,
        binding: FunctionBinding,
        args: Sequence[Any],
        kwargs: Mapping[str, Any],
        then: Callable[..., object] | None,
        *,
        fire: bool = False,
    ) -> Pending[Any]:
        data = binding.encode_args(args, kwargs)  # raises TypeError/ValueError here, in the caller
        p: Pending[Any] = Pending(self._conn, f"reducer {binding.name}")
        with self._lock:
            rid = self._core.call_reducer(binding.name, data)
            self._reducers[rid] = (p, binding, then, fire)
        self._flush()
        return p

    def call_procedure(
        self, binding: FunctionBinding, args: Sequence[Any], kwargs: Mapping[str, Any]
    ) -> Pending[Any]:
        data = binding.encode_args(args, kwargs)
        p: Pending[Any] = Pending(self._conn, f"procedure {binding.name}")
        with self._lock:
            rid = self._core.call_procedure(binding.name, data)
            self._procedures[rid] = (p, binding)
        self._flush()
        return p

    def one_off_query(self, sql: str) -> Pending[list[Any]]:
        p: Pending[list[Any]] = Pending(self._conn, f"one-off query {sql!r}")
        with self._lock:
            rid = self._core.one_off_query(sql)
            self._queries[rid] = p
        self._flush()
        return p

    # ---- failing calls (the connection dropped) ------------------------------------------

    def fail(
        self, reducers: list[int], procedures: list[int], queries: list[int], exc: Exception
    ) -> None:
        """Fail the given calls (those the core says a reconnect cannot finish)."""
        for rid in reducers:
            entry = self._reducers.pop(rid, None)
            if entry is not None:
                entry[0]._fail(exc)
        for rid in procedures:
            pentry = self._procedures.pop(rid, None)
            if pentry is not None:
                pentry[0]._fail(exc)
        for rid in queries:
            q = self._queries.pop(rid, None)
            if q is not None:
                q._fail(exc)

    def fail_all(self, exc: Exception) -> None:
        self.fail(list(self._reducers), list(self._procedures), list(self._queries), exc)

    # ---- settling calls from the core's events -------------------------------------------

    async def reducer_finished(self, ev: core_events.ReducerFinished) -> None:
        """Run the call's row callbacks, then its ``then`` callback, then settle its Pending."""
        entry = self._reducers.pop(ev.request_id, None)
        outcome = ev.outcome
        status: Committed | Failed | InternalFailure
        if isinstance(outcome, m.ReducerOk | m.ReducerOkEmpty):
            status = Committed()
        elif isinstance(outcome, m.ReducerErr):
            status = Failed(_error_text(outcome.error))
        else:
            status = InternalFailure(outcome.message)
        binding = entry[1] if entry is not None else None
        reducer_event = ReducerEvent(
            ev.timestamp, status, ReducerCall(ev.reducer, _decode_args(binding, ev.args))
        )
        await self._callbacks.fire(self._conn, ev.changes, reducer_event)
        if entry is None:
            return
        pending, binding, then, fire = entry
        if then is not None:
            await self._callbacks.run(then, ReducerEventContext(self._conn, reducer_event))
        if isinstance(status, Committed):
            ret = outcome.ret_value if isinstance(outcome, m.ReducerOk) else b""
            pending._set(_decode_return(binding, ret))
        elif isinstance(status, Failed):
            exc: Exception = ReducerError(status.message)
            if fire:
                log.warning("reducer %s failed: %s", binding.name, status.message)
            pending._fail(exc)
        else:
            if fire:
                log.warning("reducer %s failed on the host: %s", binding.name, status.message)
            pending._fail(InternalError(status.message))

    def procedure_finished(self, ev: core_events.ProcedureFinished) -> None:
        entry = self._procedures.pop(ev.request_id, None)
        if entry is None:
            return
        pending, binding = entry
        if isinstance(ev.status, m.ProcedureReturned):
            try:
                pending._set(binding.decode_return(ev.status.value))
            except Exception as e:
                pending._fail(
                    ProtocolError(f"procedure {binding.name} returned undecodable data: {e}")
                )
        else:
            pending._fail(ProcedureError(ev.status.message))

    def query_finished(self, ev: core_events.OneOffQueryFinished) -> None:
        pending = self._queries.pop(ev.request_id, None)
        if pending is None:
            return
        if isinstance(ev.result, Err):
            pending._fail(QueryError(ev.result.error))
            return
        bindings = self._conn._bindings
        assert bindings is not None
        rows: list[Any] = []
        try:
            for single in ev.result.value.tables:
                codec = bindings.table(single.table).codec
                if single.rows.rows_data:
                    rows.extend(codec.decode_rows(single.rows.rows_data))
                else:  # none, or rows of zero bytes (a unit struct's): as many as listed
                    rows.extend(codec.decode(b"") for _ in range(len(single.rows)))
        except Exception as e:
            pending._fail(ProtocolError(f"one-off query result could not be decoded: {e}"))
            return
        pending._set(rows)


def _error_text(data: bytes) -> str:
    """A reducer's ``Err`` payload: a BSATN string for every current module."""
    try:
        return str(bsatn.decode(_STRING, data))
    except Exception:
        return data.decode("utf-8", "replace")


def _decode_args(binding: FunctionBinding | None, data: bytes) -> dict[str, Any]:
    if binding is None:
        return {}
    try:
        wire = binding.args_codec.decode(data)
    except Exception:
        return {}
    if isinstance(wire, dict):
        return dict(zip(binding.param_names, wire.values(), strict=False))
    return {}


def _decode_return(binding: FunctionBinding, data: bytes) -> Any:
    if not data:
        return None
    try:
        return (
            bsatn.decode(_STRING, data)
            if binding.return_codec is None
            else binding.return_codec.decode(data)
        )
    except Exception:
        return data


__all__ = [
    "CallOwner",
    "CallRegistry",
    "Callables",
    "ProcedureCaller",
    "ReducerCaller",
    "callables_repr",
]

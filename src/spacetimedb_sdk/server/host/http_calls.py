"""The database's side of the HTTP routes ``/call/{name}`` and ``/sql``: :class:`HttpCalls`.

Each HTTP call connects (running ``client_connected``), runs, and disconnects, as upstream; a
reducer call does all three in one job on the database thread, a procedure call connects, runs
the procedure on its own thread, then disconnects.  JSON
carries field and variant names, so arguments and results are converted with the canonical names
the schema publishes.  :class:`HttpResponse` is what the web app turns into a response.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from ...sats import bsatn
from ...sats.sats_json import SatsJsonError, from_json, to_json_untyped
from ...sats.types import AlgebraicType, Typespace
from ...sats.values import ConnectionId, Identity
from ..budget import HTTP_OUT_OF_ENERGY
from ..describe import canonical_type, canonical_typespace
from ..module import AuthCtx, CallResult, ProcedureDef, ReducerDef
from .errors import ConnectionRejected, SqlFailed
from .execution import client_auth
from .lifecycle import Lifecycle

# ---- HTTP results ------------------------------------------------------------------------------


@dataclass
class HttpResponse:
    """What an HTTP route answers, before the web framework turns it into a response.

    Example::

        >>> HttpResponse(404, "No such procedure").status
        404
    """

    status: int
    body: str | bytes = ""
    content_type: str = "text/plain; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(
        cls, value: Any, status: int = 200, headers: dict[str, str] | None = None
    ) -> HttpResponse:
        """A JSON response, encoded here (on the database thread, not the event loop)."""
        return cls(status, json.dumps(value).encode(), "application/json", headers or {})


class HttpCalls(Lifecycle):
    """``POST /call/{name}`` and ``POST /sql`` for one database."""

    def http_call(
        self, identity: Identity, name: str, body: bytes, token: str | None = None
    ) -> HttpResponse:
        """``POST /call/{name}``: connect, call a reducer or procedure with JSON args, disconnect.

        Blocks until done; not on the database thread (a procedure needs it).  ``token`` is
        the caller's, for ``ctx.sender_auth``.
        """
        step = self.worker.call(self._http_call_start, identity, name, body, token)
        if isinstance(step, HttpResponse):
            return step
        result = step.future.result()
        return self.worker.call(self._http_call_finish, step, result)

    async def http_call_async(
        self, identity: Identity, name: str, body: bytes, token: str | None = None
    ) -> HttpResponse:
        """:meth:`http_call`, awaited on the event loop."""
        step = await self.worker.run_async(self._http_call_start, identity, name, body, token)
        if isinstance(step, HttpResponse):
            return step
        result = await asyncio.shield(asyncio.wrap_future(step.future))
        return await self.worker.run_async(self._http_call_finish, step, result)

    def _http_call_start(
        self, identity: Identity, name: str, body: bytes, token: str | None
    ) -> HttpResponse | _ProcedureCall:
        """Connect and run a reducer call whole; or connect and start a procedure."""
        return self._as_http_caller(
            identity, token, lambda cid, auth: self._http_call(identity, cid, name, body, auth)
        )

    def _as_http_caller(
        self,
        identity: Identity,
        token: str | None,
        work: Callable[[ConnectionId, AuthCtx], HttpResponse | _ProcedureCall],
    ) -> HttpResponse | _ProcedureCall:
        """``client_connected``, ``work``, and ``client_disconnected`` unless a procedure
        still runs (then :meth:`_http_call_finish` disconnects)."""
        connection_id = ConnectionId.random()
        auth = client_auth(token)
        try:
            self._connected(identity, connection_id, auth)
        except ConnectionRejected as e:
            return HttpResponse(e.status, e.message)
        try:
            outcome = work(connection_id, auth)
        except BaseException:
            self._disconnected(identity, connection_id, auth)
            raise
        if isinstance(outcome, HttpResponse):
            self._disconnected(identity, connection_id, auth)
        return outcome

    def _http_call_finish(self, step: _ProcedureCall, result: CallResult) -> HttpResponse:
        """After a procedure: its response, then ``client_disconnected``."""
        try:
            return self._procedure_response(step, result)
        finally:
            self._disconnected(step.identity, step.connection_id, step.auth)

    def _http_call(
        self,
        identity: Identity,
        connection_id: ConnectionId,
        name: str,
        body: bytes,
        auth: AuthCtx,
    ) -> HttpResponse | _ProcedureCall:
        rd = self.module.reducer_def(name)
        problem = self._reducer_problem(rd, identity)
        if problem is None:
            assert rd is not None
            try:
                args = self._json_args(rd, body)
            except _BadArgs as e:
                return HttpResponse(400, f"invalid arguments for reducer {rd.name}: {e}")
            began = time.perf_counter()
            result = self._call_reducer(rd, args, identity, connection_id, auth)
            headers = _exec_headers(began, energy=True)
            if result.ok:
                return HttpResponse(200, "", headers=headers)
            if result.status == "out_of_energy":
                return HttpResponse(402, HTTP_OUT_OF_ENERGY, headers=headers)
            return HttpResponse(530, result.message or "", headers=headers)
        if problem[0] != 404:
            return HttpResponse(problem[0], problem[1])
        pd = self.module.procedure_def(name)
        if pd is None or not (pd.client_callable or self.is_owner(identity)):
            return HttpResponse(404, "No such procedure")
        try:
            args = self._json_args(pd, body)
        except _BadArgs as e:
            return HttpResponse(400, f"invalid arguments for procedure {pd.name}: {e}")
        step = _ProcedureCall(pd, identity, connection_id, auth, time.perf_counter())
        self._start_procedure(pd, args, identity, connection_id, step.future.set_result, None, auth)
        return step

    def _procedure_response(self, step: _ProcedureCall, result: CallResult) -> HttpResponse:
        pd = step.procedure
        if result.status == "out_of_energy":
            return HttpResponse(402, result.message or "")
        if not result.ok:
            return HttpResponse(500, result.message or "")
        try:
            value = self._procedure_json(pd, result.return_value)
        except Exception as e:
            return HttpResponse(
                500, f"procedure {pd.name} returned a value that does not fit its type: {e}"
            )
        return HttpResponse.json(value, headers=_exec_headers(step.began, energy=False))

    def _canonical(self, ty: AlgebraicType) -> tuple[AlgebraicType, Typespace]:
        """``ty`` and the typespace with the canonical names clients see in the schema.

        JSON carries field and variant names, so HTTP arguments and results use the names
        the schema publishes; BSATN does not, so both spellings share one byte layout.
        """
        if self._canonical_ts is None:
            self._canonical_ts = canonical_typespace(self.module)
        snake = self.module.case_conversion == "snake_case"
        return canonical_type(ty, snake), self._canonical_ts

    def _generic_codec(self, ty: AlgebraicType) -> bsatn.Codec:
        """A codec of ``ty`` over plain values (dicts for products), not the module's classes."""
        return bsatn.codec_for(*self._canonical(ty))

    def _json_args(self, fn: ReducerDef | ProcedureDef, body: bytes) -> dict[str, Any]:
        """SATS-JSON arguments (array or object) → the values the function expects."""
        try:
            obj = json.loads(body)
        except (ValueError, UnicodeDecodeError) as e:
            raise _BadArgs(f"invalid JSON: {e}") from None
        except RecursionError:
            raise _BadArgs(_TOO_DEEP) from None
        try:
            params, typespace = self._canonical(fn.params)
            generic = from_json(params, obj, typespace)
            # Through BSATN, so rows become the module's dataclasses, as over the WebSocket.
            data = self._generic_codec(fn.params).encode(generic)
            args: dict[str, Any] = self.module.args_codec(fn).decode(data)
        except (SatsJsonError, ValueError, TypeError) as e:
            raise _BadArgs(str(e)) from None
        except RecursionError:
            raise _BadArgs(_TOO_DEEP) from None
        return args

    def _procedure_json(self, pd: ProcedureDef, value: Any) -> Any:
        data = self.module.return_codec(pd).encode(value)
        generic = self._generic_codec(pd.return_type).decode(data)
        ty, ts = self._canonical(pd.return_type)
        return to_json_untyped(ty, generic, ts)

    def http_sql(self, identity: Identity, sql: str, token: str | None = None) -> HttpResponse:
        """``POST /sql``: connect, run one statement (DML broadcasts), disconnect."""
        return self.worker.call(self._http_sql_whole, identity, sql, token)

    async def http_sql_async(
        self, identity: Identity, sql: str, token: str | None = None
    ) -> HttpResponse:
        """:meth:`http_sql`, awaited on the event loop."""
        return await self.worker.run_async(self._http_sql_whole, identity, sql, token)

    def _http_sql_whole(self, identity: Identity, sql: str, token: str | None) -> HttpResponse:
        response = self._as_http_caller(
            identity, token, lambda _c, _a: self._http_sql(identity, sql)
        )
        assert isinstance(response, HttpResponse)
        return response

    def _http_sql(self, identity: Identity, sql: str) -> HttpResponse:
        try:
            results = self._sql(sql, identity)
        except SqlFailed as e:
            return HttpResponse(400, str(e))
        total = sum(int(r.get("total_duration_micros", 0)) for r in results if isinstance(r, dict))
        return HttpResponse.json(
            results, headers={"spacetime-execution-duration-micros": str(total)}
        )


class _BadArgs(Exception):
    pass


#: Arguments nested deeper than the JSON parser goes (upstream's serde_json stops at 128).
_TOO_DEEP = "invalid JSON: recursion limit exceeded"


class _ProcedureCall:
    """A ``/call`` of a procedure between its start and its response."""

    __slots__ = ("auth", "began", "connection_id", "future", "identity", "procedure")

    def __init__(
        self,
        procedure: ProcedureDef,
        identity: Identity,
        connection_id: ConnectionId,
        auth: AuthCtx,
        began: float,
    ) -> None:
        self.procedure = procedure
        self.identity = identity
        self.connection_id = connection_id
        self.auth = auth
        self.began = began
        self.future: Future[CallResult] = Future()


def _exec_headers(began: float, *, energy: bool) -> dict[str, str]:
    micros = int((time.perf_counter() - began) * 1e6)
    headers = {"spacetime-execution-duration-micros": str(micros)}
    if energy:
        headers["spacetime-energy-used"] = "0"
    return headers

"""The database's side of the HTTP routes ``/call/{name}`` and ``/sql``: :class:`HttpCalls`.

Each HTTP call connects (running ``client_connected``), runs, and disconnects, as upstream.  JSON
carries field and variant names, so arguments and results are converted with the canonical names
the schema publishes.  :class:`HttpResponse` is what the web app turns into a response.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from ...sats import bsatn
from ...sats.sats_json import SatsJsonError, from_json, to_json_untyped
from ...sats.types import AlgebraicType, Typespace
from ...sats.values import ConnectionId, Identity
from ..describe import canonical_type, canonical_typespace
from ..module import ProcedureDef, ReducerDef
from .errors import ConnectionRejected, SqlFailed
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
        """A JSON response."""
        return cls(status, json.dumps(value), "application/json", headers or {})


class HttpCalls(Lifecycle):
    """``POST /call/{name}`` and ``POST /sql`` for one database."""

    def http_call(self, identity: Identity, name: str, body: bytes) -> HttpResponse:
        """``POST /call/{name}``: connect, call a reducer or procedure with JSON args, disconnect."""
        with self._lock:
            connection_id = ConnectionId.random()
            try:
                self._connected(identity, connection_id)
            except ConnectionRejected as e:
                return HttpResponse(403, e.message)
            try:
                return self._http_call(identity, connection_id, name, body)
            finally:
                self._disconnected(identity, connection_id)

    def _http_call(
        self, identity: Identity, connection_id: ConnectionId, name: str, body: bytes
    ) -> HttpResponse:
        rd = self.module.reducer_def(name)
        problem = self._reducer_problem(rd, identity)
        if problem is None:
            assert rd is not None
            try:
                args = self._json_args(rd, body)
            except _BadArgs as e:
                return HttpResponse(400, f"invalid arguments for reducer {rd.name}: {e}")
            began = time.perf_counter()
            result = self._call_reducer(rd, args, identity, connection_id)
            headers = _exec_headers(began, energy=True)
            if result.ok:
                return HttpResponse(200, "", headers=headers)
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
        began = time.perf_counter()
        result = self._call_procedure(pd, args, identity, connection_id)
        if not result.ok:
            return HttpResponse(500, result.message or "")
        try:
            value = self._procedure_json(pd, result.return_value)
        except Exception as e:
            return HttpResponse(
                500, f"procedure {pd.name} returned a value that does not fit its type: {e}"
            )
        return HttpResponse.json(value, headers=_exec_headers(began, energy=False))

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
        try:
            params, typespace = self._canonical(fn.params)
            generic = from_json(params, obj, typespace)
            # Through BSATN, so rows become the module's dataclasses, as over the WebSocket.
            data = self._generic_codec(fn.params).encode(generic)
            args: dict[str, Any] = self.module.args_codec(fn).decode(data)
        except (SatsJsonError, ValueError, TypeError) as e:
            raise _BadArgs(str(e)) from None
        return args

    def _procedure_json(self, pd: ProcedureDef, value: Any) -> Any:
        data = self.module.return_codec(pd).encode(value)
        generic = self._generic_codec(pd.return_type).decode(data)
        ty, ts = self._canonical(pd.return_type)
        return to_json_untyped(ty, generic, ts)

    def http_sql(self, identity: Identity, sql: str) -> HttpResponse:
        """``POST /sql``: connect, run one statement (DML broadcasts), disconnect."""
        with self._lock:
            connection_id = ConnectionId.random()
            try:
                self._connected(identity, connection_id)
            except ConnectionRejected as e:
                return HttpResponse(403, e.message)
            try:
                return self._http_sql(identity, sql)
            finally:
                self._disconnected(identity, connection_id)

    def _http_sql(self, identity: Identity, sql: str) -> HttpResponse:
        try:
            results = self.sql(sql, sender=identity)
        except SqlFailed as e:
            return HttpResponse(400, str(e))
        total = sum(int(r.get("total_duration_micros", 0)) for r in results if isinstance(r, dict))
        return HttpResponse.json(
            results, headers={"spacetime-execution-duration-micros": str(total)}
        )


class _BadArgs(Exception):
    pass


def _exec_headers(began: float, *, energy: bool) -> dict[str, str]:
    micros = int((time.perf_counter() - began) * 1e6)
    headers = {"spacetime-execution-duration-micros": str(micros)}
    if energy:
        headers["spacetime-energy-used"] = "0"
    return headers

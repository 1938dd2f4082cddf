"""``GET /v1/database/{db}/logs``: the module log, as upstream streams it.

Owner only (403 otherwise, upstream's ``view module logs`` refusal).  ``num_lines`` (a ``u32``)
asks for the last lines, every line when absent; ``follow=true`` keeps the response open and
streams new lines as the module writes them (when following, no ``num_lines`` means no old
lines, and at most 2500 are sent first, as upstream).  The body is upstream's newline-delimited
JSON records (``Content-Type: application/x-ndjson``, ``Cache-Control: no-cache``; see
:mod:`..host.module_log`).  A followed stream ends when the database is deleted or reset, or
when the server stops.

Example::

    GET /v1/database/chat/logs?num_lines=10&follow=true
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from .bodies import query_u32
from .requests import _Auth, _query_bool, authenticated, forbid_unless_owner
from .resolve import resolved_database
from .state import _STATE

#: How often an idle followed stream checks that its reader is still connected.
_ALIVE_CHECK_SECONDS = 5.0


@authenticated
async def _logs(request: web.Request, auth: _Auth) -> web.StreamResponse:
    db = await resolved_database(request)
    num_lines = query_u32(request, "num_lines")
    follow = _query_bool(request, "follow") or False
    forbid_unless_owner(auth, db, "view module logs")
    headers = {"Content-Type": "application/x-ndjson", "Cache-Control": "no-cache"}
    if not follow:
        return web.Response(body=b"".join(db.log.tail(num_lines)), headers=headers)
    response = web.StreamResponse(status=200, headers=headers)
    response.headers.update(auth.headers())
    state = request.app[_STATE]
    task = asyncio.current_task()
    if task is not None:
        state.streams.add(task)  # the server's shutdown ends it
    follower = db.log.follow(num_lines)
    try:
        await response.prepare(request)
        await response.write(b"".join(follower.backlog))
        while True:
            try:
                line = await follower.next(timeout=_ALIVE_CHECK_SECONDS)
            except TimeoutError:
                if request.transport is None or request.transport.is_closing():
                    break  # the reader went away while nothing was written
                continue
            if line is None:
                await response.write_eof()
                break
            await response.write(line)
    except ConnectionResetError:
        pass  # the reader went away
    finally:
        follower.close()
        if task is not None:
            state.streams.discard(task)
    return response

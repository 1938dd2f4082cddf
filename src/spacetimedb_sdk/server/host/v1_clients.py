"""A v1 WebSocket client as the host sees it: :class:`V1ClientConnection` and its subscriptions.

The host fans commits out in v2 shapes (one ``QuerySetUpdate`` per query set); a v1 client
registers each *distinct query* it subscribes to as one query set of its own, so a commit's
updates for it are exactly its queries' updates, and :meth:`V1ClientConnection.send` turns them
into v1's shapes as upstream's ``send_v1_computed_queries`` does:

* one ``TableUpdate`` per table, holding one ``QueryUpdate`` (deletes first) per query, with
  upstream's table ids (:func:`~..system_tables.table_ids`);
* clients other than a reducer's caller get ``TransactionUpdateLight``: the local server's
  modules are 2.x modules (upstream's ``RawModuleDefVersion::V10``), whose reducer details
  upstream hides from non-callers whatever ``light`` says;
* a query that fails during a commit drops *all* the client's subscriptions (upstream marks the
  v1 client dropped) and is reported as a ``SubscriptionError`` without request or query id.

Rows travel as BSATN for ``v1.bsatn`` and as untyped SATS-JSON text for ``v1.json``
(:class:`V1Rows`).  What the client's own requests get is built by :mod:`.v1_messages`.

Example::

    client = V1ClientConnection(identity, connection_id, token, rows=V1Rows(module, json=True))
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

from ...protocol import messages as m
from ...protocol.v1 import SUBPROTOCOL_V1_BSATN, SUBPROTOCOL_V1_JSON
from ...protocol.v1 import messages as v1
from ...sats import bsatn
from ...sats.sats_json import to_json_untyped
from ...sats.types import Typespace
from ...sats.values import ConnectionId, Identity
from ..describe import canonical_typespace
from ..module import Module
from ..sqlschema import ModuleSqlSchema
from ..subscriptions import PreparedQuery
from ..system_tables import SYSTEM_TYPESPACE, table_ids
from .clients import ClientConnection


class V1Rows:
    """Row lists and table ids for one v1 client's format (BSATN, or JSON text per row)."""

    def __init__(self, module: Module, *, json: bool) -> None:
        self.json = json
        self._ids = table_ids(module)
        self._schema = ModuleSqlSchema(module)
        self._typespace: Typespace = canonical_typespace(module)
        self._codecs: dict[str, Callable[[bytes], Any]] = {}

    def table_id(self, table: str) -> int:
        """Upstream's id of a table (its ``st_table`` row)."""
        known = self._ids.get(table)
        if known is not None:
            return known
        t = self._schema.table(table)
        return t.system.table_id if t is not None and t.system is not None else 0

    def rows(self, table: str, rows: m.BsatnRowList) -> v1.RowList:
        """``rows`` in this client's format."""
        if not self.json:
            return rows
        return [self._row_json(table, row) for row in rows]

    def _row_json(self, table: str, row: bytes) -> str:
        convert = self._codecs.get(table)
        if convert is None:
            t = self._schema.table(table)
            assert t is not None, table
            ts = SYSTEM_TYPESPACE if t.system is not None else self._typespace
            codec = bsatn.codec_for(t.row_type, ts)
            row_type = t.row_type

            def convert(data: bytes) -> Any:
                return to_json_untyped(row_type, codec.decode(data), ts)

            self._codecs[table] = convert
        return json.dumps(convert(row), separators=(",", ":"), ensure_ascii=False)

    def table_update(self, table: str, updates: list[v1.QueryUpdate]) -> v1.TableUpdate:
        """One table's ``TableUpdate``: ``num_rows`` is every update's rows added up."""
        num = sum(len(u.deletes) + len(u.inserts) for u in updates)
        return v1.TableUpdate(self.table_id(table), table, num, list(updates))

    def inserted(self, rows: m.QueryRows, *, deletes: bool = False) -> v1.DatabaseUpdate:
        """Initial (or, with ``deletes``, dropped) rows: a ``TableUpdate`` per query fragment."""
        empty: v1.RowList = [] if self.json else m.BsatnRowList.empty()
        tables = []
        for single in rows.tables:
            listed = self.rows(single.table, single.rows)
            update = v1.QueryUpdate(listed, empty) if deletes else v1.QueryUpdate(empty, listed)
            tables.append(self.table_update(single.table, [update]))
        return v1.DatabaseUpdate(tables)

    def committed(self, sets: list[m.QuerySetUpdate]) -> v1.DatabaseUpdate:
        """A commit's updates: one ``TableUpdate`` per table, one ``QueryUpdate`` per query."""
        by_table: dict[str, list[v1.QueryUpdate]] = {}
        for qs in sets:
            for tu in qs.tables:
                for entry in tu.rows:
                    if isinstance(entry, m.PersistentTableRows):
                        update = v1.QueryUpdate(
                            self.rows(tu.table_name, entry.deletes),
                            self.rows(tu.table_name, entry.inserts),
                        )
                        by_table.setdefault(tu.table_name, []).append(update)
        return v1.DatabaseUpdate([self.table_update(t, us) for t, us in by_table.items()])


@dataclass
class V1Subscriptions:
    """A v1 client's subscriptions: each distinct query is one query set of the engine.

    ``sets`` maps a query's text to ``[engine query-set id, reference count]``;
    ``by_query_id`` the queries of each ``SubscribeSingle``/``SubscribeMulti``; ``legacy``
    those of the last ``Subscribe``.
    """

    sets: dict[str, list[int]] = field(default_factory=dict)
    by_query_id: dict[int, list[PreparedQuery]] = field(default_factory=dict)
    legacy: list[PreparedQuery] = field(default_factory=list)
    next_set: int = 1

    def clear(self) -> None:
        """Forget everything (the engine has dropped the client's sets)."""
        self.sets.clear()
        self.by_query_id.clear()
        self.legacy.clear()


class V1ClientConnection(ClientConnection):
    """A v1 client: v1 messages in its queue, and the v1 bookkeeping of its subscriptions.

    The host's commit fan-out queues v2 ``TransactionUpdate`` / ``SubscriptionError``
    messages on every client; :meth:`send` turns them into this client's v1 messages.
    ``on_dropped`` is called (on the database thread) when a failing query drops the client's
    subscriptions.

    Example::

        >>> c = V1ClientConnection(Identity(1), ConnectionId(2), "t", rows=None)
        >>> c.json
        False
    """

    def __init__(
        self,
        identity: Identity,
        connection_id: ConnectionId,
        token: str,
        *,
        rows: V1Rows | None,
        on_dropped: Callable[[V1ClientConnection], None] | None = None,
        **kw: Any,
    ) -> None:
        json_format = rows is not None and rows.json
        kw.setdefault("protocol", SUBPROTOCOL_V1_JSON if json_format else SUBPROTOCOL_V1_BSATN)
        super().__init__(identity, connection_id, token, **kw)
        self.rows = rows
        self.subscriptions = V1Subscriptions()
        self.on_dropped = on_dropped

    @property
    def json(self) -> bool:
        """Whether this client speaks ``v1.json.spacetimedb``."""
        return self.rows is not None and self.rows.json

    def send_v1(self, message: v1.ServerMessage) -> None:
        """Queue a v1 message (the queue of a v1 client holds v1 messages)."""
        super().send(cast(m.ServerMessage, message))

    def send(self, message: m.ServerMessage) -> None:
        """Queue the v1 form of a message of the host's fan-out (see the class docstring)."""
        if isinstance(message, m.TransactionUpdate):
            assert self.rows is not None
            update = self.rows.committed(list(message.query_sets))
            if update.tables:
                self.send_v1(v1.TransactionUpdateLight(0, update))
        elif isinstance(message, m.SubscriptionError) and message.request_id is None:
            if self.on_dropped is not None:
                self.on_dropped(self)
            self.subscriptions.clear()
            self.send_v1(v1.SubscriptionError(0, None, None, None, message.error))
        else:
            # A v1 message already (queued by the v1 handlers through send_v1).
            super().send(message)


__all__ = ["V1ClientConnection", "V1Rows", "V1Subscriptions"]

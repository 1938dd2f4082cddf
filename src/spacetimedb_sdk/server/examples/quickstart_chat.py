"""The quickstart-chat module, in Python, for the local server.

Mirrors upstream's ``templates/chat-console-rs/spacetimedb/src/lib.rs``: a public
``user`` table (who is online, with an optional name) and a public ``message``
table; ``set_name`` and ``send_message`` reject empty input; connecting and
disconnecting keep ``user.online`` current.

It ships inside the package so that the quickstart works after a plain install:
``spacetimedb-py serve --example quickstart-chat`` serves it.  To change it, copy
this file and serve the copy (``spacetimedb-py serve my_chat.py``).  The repository's
``examples/quickstart-chat/module.py`` re-exports this module, so there is one source.

Example::

    from spacetimedb_sdk.server import LocalServer
    from spacetimedb_sdk.server.examples.quickstart_chat import module

    srv = LocalServer(module).start()
"""

from __future__ import annotations

import dataclasses
import logging

from spacetimedb_sdk import Identity, Timestamp
from spacetimedb_sdk.server import Module, ReducerContext, SenderError, Table, column

log = logging.getLogger(__name__)

module = Module("quickstart-chat")


# Deriving from Table is optional: it lets mypy (as well as pyright) check `User(...)`.
@module.table(public=True)
class User(Table):
    identity: Identity = column(primary_key=True)
    name: str | None
    online: bool


@module.table(public=True)
class Message(Table):
    sender: Identity
    sent: Timestamp
    text: str


def validate_name(name: str) -> str:
    if not name:
        raise SenderError("Names must not be empty")
    return name


@module.reducer
def set_name(ctx: ReducerContext, name: str) -> None:
    name = validate_name(name)
    user = ctx.db.user.identity.find(ctx.sender)
    if user is None:
        raise SenderError("Cannot set name for unknown user")
    log.info("User %s sets name to %s", ctx.sender, name)
    ctx.db.user.identity.update(dataclasses.replace(user, name=name))


def validate_message(text: str) -> str:
    if not text:
        raise SenderError("Messages must not be empty")
    return text


@module.reducer
def send_message(ctx: ReducerContext, text: str) -> None:
    text = validate_message(text)
    log.info("User %s: %s", ctx.sender, text)
    ctx.db.message.insert(Message(sender=ctx.sender, sent=ctx.timestamp, text=text))


@module.init
def init(ctx: ReducerContext) -> None:
    """Called when the module is first published; nothing to set up."""


@module.client_connected
def identity_connected(ctx: ReducerContext) -> None:
    user = ctx.db.user.identity.find(ctx.sender)
    if user is not None:
        # A returning user: mark online, keep name and identity.
        ctx.db.user.identity.update(dataclasses.replace(user, online=True))
    else:
        ctx.db.user.insert(User(identity=ctx.sender, name=None, online=True))


@module.client_disconnected
def identity_disconnected(ctx: ReducerContext) -> None:
    user = ctx.db.user.identity.find(ctx.sender)
    if user is not None:
        ctx.db.user.identity.update(dataclasses.replace(user, online=False))
    else:
        # Unreachable in practice: a client cannot disconnect without connecting first.
        log.warning("Disconnect event for unknown user with identity %r", ctx.sender)

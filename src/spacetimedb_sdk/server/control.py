"""The server's control state: which databases it hosts, their names, owners and energy.

Upstream's standalone server keeps a control database (``crates/standalone/src/control_db.rs``):
databases by identity, and a DNS of names.  Its rules, kept here:

* a database has an identity, an owner (who published it) and any number of names;
* a name belongs to whoever registered it first (its "top-level domain" owner): adding a name
  owned by someone else is refused, and a name stays registered, pointing at its database's
  identity, after that database is deleted (publishing to it again recreates the database
  with the same identity);
* replacing a database's names (``PUT .../names``) drops its old names and registers the new
  ones for the owner;
* database names follow upstream's ``DatabaseName`` rules (:func:`database_name_problem`).
  The database a server starts with (``serve MODULE``, ``LocalServer(module)``) keeps its name
  even when upstream would refuse it, so existing code keeps working.

It also holds what new databases are created with (:class:`DatabaseDefaults`) and serializes
the operations that replace a database's module (:meth:`Control.exclusive`).

Example::

    control = Control(DatabaseDefaults(issuer))
    control.add(db, ["quickstart-chat"])
    control.find("quickstart-chat") is db
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from ..sats.values import Identity
from .auth import TokenIssuer, identity_from_claims
from .budget import DEFAULT_BUDGET_SECONDS
from .durability import DatabaseStorage, DataDir
from .host import Database
from .limits import ServerLimits
from .module import HttpPolicy


@dataclass
class DatabaseDefaults:
    """What the databases a server creates are created with (the server's settings).

    Example::

        >>> DatabaseDefaults(TokenIssuer.generate()).reducer_timeout
        10.0
    """

    issuer: TokenIssuer
    reducer_timeout: float | None = DEFAULT_BUDGET_SECONDS
    http_policy: HttpPolicy = field(default_factory=HttpPolicy)
    limits: ServerLimits = field(default_factory=ServerLimits)
    #: The server's data directory (``--data-dir``): databases keep their data there.
    data: DataDir | None = None

    def new_identity(self) -> Identity:
        """A fresh database identity (upstream allocates one per created database)."""
        return identity_from_claims(self.issuer.issuer, f"database/{uuid.uuid4()}")

    def storage(self, identity: Identity, name: str) -> DatabaseStorage | None:
        """Where database ``identity`` keeps its data (``None``: in memory)."""
        return None if self.data is None else self.data.database(identity, name)


def database_name_problem(name: str) -> str | None:
    """Why ``name`` is not a valid database name (upstream's ``DatabaseNameError`` text), or
    ``None``: lowercase ASCII letters and digits, separated by single hyphens.

    Example::

        >>> database_name_problem("quickstart-chat") is None
        True
        >>> database_name_problem("Chat")
        'invalid characters in database name'
    """
    if is_identity(name):
        return "database names cannot be identities"
    if not name:
        return "database names cannot be empty"

    def az09(c: str) -> bool:
        return c.isascii() and (c.islower() or c.isdigit())

    if name[0] == "-":
        return "invalid hyphen in database name"
    if not az09(name[0]):
        return "invalid characters in database name"
    i = 1
    while i < len(name):
        c = name[i]
        if c == "-":
            if i + 1 >= len(name) or not az09(name[i + 1]):
                return "invalid hyphen in database name"
            i += 2
            continue
        if not az09(c):
            return "invalid characters in database name"
        i += 1
    return None


def is_identity(text: str) -> bool:
    """Whether ``text`` is an identity in hex (which no database name may be).

    Example::

        >>> is_identity("c2" + "00" * 31)
        True
    """
    return parse_identity(text) is not None


def parse_identity(text: str) -> Identity | None:
    """``text`` as an identity (64 hex digits, optionally ``0x``-prefixed), or ``None``."""
    try:
        return Identity.from_hex(text)
    except ValueError:
        return None


@dataclass(frozen=True)
class NameResult:
    """The outcome of adding or replacing names, as upstream's JSON enums name it.

    ``kind`` is ``Success``, ``PermissionDenied``, ``NotYourDatabase`` or ``OtherError``.
    """

    kind: str
    detail: str = ""


class Control:
    """The databases a server hosts, by identity and by name (see the module docstring).

    Thread-safe; the web app and :class:`~.local.LocalServer` share one.

    Example::

        control = Control(DatabaseDefaults(issuer))
        control.add(db, ["chat"])
        [db] = control.databases
    """

    def __init__(self, defaults: DatabaseDefaults) -> None:
        self.defaults = defaults
        self._lock = threading.Lock()
        self._databases: dict[Identity, Database] = {}
        self._dns: dict[str, Identity] = {}  # lower-case name -> database identity
        self._names: dict[Identity, list[str]] = {}  # database identity -> names, in order
        self._tld_owners: dict[str, Identity] = {}  # lower-case name -> who registered it
        self._energy: dict[Identity, int] = {}
        self._busy: dict[Identity, asyncio.Lock] = {}

    def __repr__(self) -> str:
        return f"Control({len(self._databases)} databases)"

    # -- databases

    @property
    def databases(self) -> list[Database]:
        """The hosted databases, oldest first."""
        with self._lock:
            return list(self._databases.values())

    def add(self, db: Database, names: Iterable[str] = ()) -> None:
        """Host ``db`` under ``names`` (registered for its owner, whatever their spelling)."""
        with self._lock:
            self._databases[db.identity] = db
            for name in names:
                self._register(db.identity, name, db.owner_identity)
            self._rename(db)

    def remove(self, identity: Identity) -> Database | None:
        """Stop hosting a database; its names stay registered (as upstream's do)."""
        with self._lock:
            return self._databases.pop(identity, None)

    def by_identity(self, identity: Identity) -> Database | None:
        """The hosted database with ``identity``, if any."""
        with self._lock:
            return self._databases.get(identity)

    def lookup(self, name: str) -> Identity | None:
        """The identity a name points at (registered names only)."""
        with self._lock:
            return self._dns.get(name.lower())

    def find(self, name_or_identity: str) -> Database | None:
        """The hosted database a name or identity names, if any."""
        identity = parse_identity(name_or_identity)
        if identity is None:
            identity = self.lookup(name_or_identity)
        return None if identity is None else self.by_identity(identity)

    def owned_by(self, owner: Identity) -> list[Database]:
        """The hosted databases ``owner`` owns."""
        return [db for db in self.databases if db.is_owner(owner)]

    # -- names

    def names_of(self, identity: Identity) -> list[str]:
        """The names of a database, in the order they were given."""
        with self._lock:
            return list(self._names.get(identity, ()))

    def insert_name(self, name: str, identity: Identity, caller: Identity) -> NameResult:
        """Add a name to a database (upstream's ``create_dns_record``): the name must be free
        and its owner, if any, must be ``caller``; otherwise it becomes ``caller``'s."""
        with self._lock:
            if name.lower() in self._dns:
                return NameResult("OtherError", f"record with the name {name} already exists")
            owner = self._tld_owners.get(name.lower())
            if owner is not None and owner != caller:
                return NameResult("PermissionDenied")
            self._register(identity, name, caller)
            db = self._databases.get(identity)
            if db is not None:
                self._rename(db)
            return NameResult("Success")

    def replace_names(self, identity: Identity, owner: Identity, names: list[str]) -> NameResult:
        """Make ``names`` the only names of a database (upstream's ``replace_dns_records``);
        every old and new name must belong to ``owner`` or to no one."""
        with self._lock:
            for name in [*self._names.get(identity, ()), *names]:
                holder = self._tld_owners.get(name.lower())
                if holder is not None and holder != owner:
                    return NameResult("PermissionDenied", name)
            for name in self._names.pop(identity, []):
                self._dns.pop(name.lower(), None)
            for name in names:
                self._register(identity, name, owner)
            db = self._databases.get(identity)
            if db is not None:
                self._rename(db)
            return NameResult("Success")

    def register_owner(self, name: str, owner: Identity) -> bool:
        """Claim a name for ``owner`` before creating its database; ``False`` if it is
        someone else's (upstream's ``register_tld``)."""
        with self._lock:
            holder = self._tld_owners.setdefault(name.lower(), owner)
            return holder == owner

    def _register(self, identity: Identity, name: str, owner: Identity) -> None:
        self._dns[name.lower()] = identity
        self._tld_owners.setdefault(name.lower(), owner)
        names = self._names.setdefault(identity, [])
        if name not in names:
            names.append(name)

    def _rename(self, db: Database) -> None:
        """``db.name`` is its first name (its identity in hex when it has none)."""
        names = self._names.get(db.identity)
        db.name = names[0] if names else db.identity.to_hex()
        if db.storage is not None:  # a restart finds it under the same names
            db.storage.name, db.storage.names = db.name, list(names or [])
            db.storage.save_meta()

    # -- energy (upstream's standalone keeps balances it never charges)

    def energy(self, identity: Identity) -> int:
        """The energy balance of ``identity`` (0 unless some was added)."""
        with self._lock:
            return self._energy.get(identity, 0)

    def add_energy(self, identity: Identity, amount: int) -> int:
        """Add to a balance; returns the new balance."""
        with self._lock:
            balance = self._energy.get(identity, 0) + amount
            self._energy[identity] = balance
            return balance

    # -- serializing module replacements

    @asynccontextmanager
    async def exclusive(self, identity: Identity) -> AsyncIterator[None]:
        """Hold the right to replace, reset or delete the database ``identity`` (one at a time)."""
        lock = self._busy.setdefault(identity, asyncio.Lock())
        async with lock:
            yield

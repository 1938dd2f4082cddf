"""``SqlResult``: one statement's result from ``/sql``, raw or decoded.

The server answers ``/sql`` with, per statement, the row type (a SATS product type) and the
rows as untyped SATS-JSON arrays: an option is ``[0, value]`` or ``[1, []]``, an identity
``["0xc200…"]``, a timestamp ``[1700000000000000]``.  :attr:`SqlResult.rows` keeps that raw
form; :meth:`SqlResult.rows_as_dicts` decodes it with the row type into the SDK's values
(``None``/value for options, :class:`~spacetimedb_sdk.sats.SumValue` for sums,
:class:`~spacetimedb_sdk.Identity`, :class:`~spacetimedb_sdk.Timestamp`, …), and
:meth:`SqlResult.rows_as` into generated row classes.  The command line's ``sql`` prints
what ``rows_as_dicts`` returns (through :func:`~spacetimedb_sdk.sats.to_plain`).

Example::

    with HttpClient("http://127.0.0.1:3000") as http:
        [result] = http.sql("quickstart-chat", "SELECT * FROM user")
    for user in result.rows_as_dicts():
        print(user["identity"].to_hex()[:8], user["name"] or "(no name)", user["online"])
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from ..sats import bsatn
from ..sats.sats_json import SatsJsonError, from_json
from ..sats.types import ProductType, RefType, Typespace, refs_in
from ..schema import ModuleSchema

R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class SqlResult:
    """One statement's result from ``/sql``: the row type, and the rows as the server sent them.

    ``rows`` are untyped SATS-JSON arrays, one value per column; :meth:`rows_as_dicts`
    and :meth:`rows_as` decode them.

    Example::

        [result] = http.sql("quickstart-chat", "SELECT name, online FROM user")
        result.column_names      # ['name', 'online']
        result.rows              # [[[0, 'Ada'], True]]  (raw: the option is [tag, value])
        result.rows_as_dicts()   # [{'name': 'Ada', 'online': True}]
    """

    schema: ProductType
    rows: list[list[Any]]
    total_duration_micros: int | None = None
    stats: dict[str, int] | None = None

    @property
    def column_names(self) -> list[str]:
        """The result's column names, in order (``"0"``, ``"1"``… for unnamed columns).

        Example::

            print(result.column_names)   # ['identity', 'name', 'online']
        """
        return self.schema.names()

    @property
    def uses_module_types(self) -> bool:
        """Whether a column's type refers to the module's types (a ``Ref``), so decoding the
        rows needs the module's schema (``rows_as_dicts(http.schema(database))``).

        Servers send resolved column types; a ``Ref`` is the exception.

        Example::

            typespace = http.schema(db) if result.uses_module_types else None
            rows = result.rows_as_dicts(typespace)
        """
        return next(refs_in(self.schema), None) is not None

    def rows_as_dicts(
        self, typespace: Typespace | ModuleSchema | None = None
    ) -> list[dict[str, Any]]:
        """The rows decoded: one dict per row, keyed by column name, with the SDK's values.

        Options are ``None`` or the value, sums :class:`~spacetimedb_sdk.sats.SumValue`,
        results ``Ok``/``Err``, and the special types :class:`~spacetimedb_sdk.Identity`,
        :class:`~spacetimedb_sdk.ConnectionId`, :class:`~spacetimedb_sdk.Timestamp`,
        :class:`~spacetimedb_sdk.TimeDuration` and ``uuid.UUID``; ``Array<U8>`` is
        ``bytes``.  ``typespace`` (a ``Typespace`` or the ``ModuleSchema``, from
        ``http.schema(database)``) is needed only when :attr:`uses_module_types`.
        Raises :class:`~spacetimedb_sdk.sats.sats_json.SatsJsonError` (a ``ValueError``)
        naming the row and column of a value that does not fit its type, or when two
        columns share a name.

        Example::

            [result] = http.sql("quickstart-chat", "SELECT * FROM user")
            for user in result.rows_as_dicts():
                print(user["identity"], user["name"])   # name: str or None
        """
        ts = _typespace(typespace)
        names = self.schema.names()
        if len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})
            raise SatsJsonError(
                f"the result has several columns named {', '.join(map(repr, dup))}: "
                "give them distinct names (SELECT a.id AS a_id, ...) to read rows as dicts"
            )
        out: list[dict[str, Any]] = []
        for i, row in enumerate(self.rows):
            try:
                value = from_json(self.schema, row, ts)
            except SatsJsonError as e:
                hint = (
                    " (the column types refer to the module's types: pass "
                    "rows_as_dicts(http.schema(database)))"
                    if ts is None and self.uses_module_types
                    else ""
                )
                raise SatsJsonError(f"row {i}: {e}{hint}") from None
            out.append(dict(value))
        return out

    def rows_as(self, row_class: type[R], bindings: Any) -> list[R]:
        """The rows as instances of a generated row class, for ``SELECT *`` of its table.

        ``bindings`` is the generated ``DbConnection`` class (it carries the schema and
        row classes the bindings were generated from); nested products, enums and sums
        become their generated classes too.  The result's columns must be the row
        type's, in order: a projection (``SELECT name FROM user``) raises ``ValueError``
        (use :meth:`rows_as_dicts` for those).

        Example::

            from module_bindings import DbConnection, User

            [result] = http.sql("quickstart-chat", "SELECT * FROM user")
            users: list[User] = result.rows_as(User, DbConnection)
        """
        schema: ModuleSchema | None = getattr(bindings, "__schema__", None)
        classes: Mapping[int, type] | None = getattr(bindings, "__classes__", None)
        if schema is None or not classes:
            raise TypeError(
                "rows_as() needs generated bindings: pass the DbConnection class of your "
                "module_bindings package"
            )
        refs = [i for i, cls in classes.items() if cls is row_class]
        if not refs:
            raise TypeError(f"{row_class.__qualname__} is not a row class of these bindings")
        ts = schema.typespace
        row_type = ts.resolve(RefType(refs[0]))
        if not isinstance(row_type, ProductType) or row_type.names() != self.column_names:
            want = row_type.names() if isinstance(row_type, ProductType) else []
            raise ValueError(
                f"the result's columns {self.column_names} are not those of "
                f"{row_class.__qualname__} {want}: select all of its columns (SELECT *)"
            )
        typed = bsatn.codec_for(RefType(refs[0]), ts, classes=classes)
        generic = bsatn.codec_for(self.schema, ts)
        return [typed.decode(generic.encode(row)) for row in self.rows_as_dicts(ts)]


def _typespace(typespace: Typespace | ModuleSchema | None) -> Typespace | None:
    if isinstance(typespace, ModuleSchema):
        return typespace.typespace
    return typespace


__all__ = ["SqlResult"]

"""The errors of table operations, with upstream's texts.

Kept apart so that every layer of the datastore (storage, constraints, transactions, handles) and
the host can raise or catch them without importing the rest:
:class:`UniqueConstraintViolation` (``crates/table/src/table.rs``), :class:`NoSuchRow` and
:class:`AutoIncOverflow` (``crates/primitives/src/errno.rs``).
"""

from __future__ import annotations

from collections.abc import Sequence

from ...errors import SpacetimeDBError


class DatastoreError(SpacetimeDBError):
    """A table operation failed (constraint, missing row, misuse of a transaction).

    Example::

        try:
            datastore.begin()
        except DatastoreError as e:   # a transaction is already open
            print(e)
    """


class UniqueConstraintViolation(DatastoreError):
    """An insert or update would duplicate a unique column (or primary key) value.

    The message is upstream's: ``Unique constraint violation '<index>' in table
    '<table>': column(s): '["<col>"]' value: <SATN of the value>``.

    Example::

        try:
            ctx.db.user.insert(User(identity=ctx.sender, name=name, online=True))
        except UniqueConstraintViolation as e:
            raise SenderError(f"already registered ({e.constraint_name})") from None
    """

    def __init__(self, constraint: str, table: str, columns: Sequence[str], value: str) -> None:
        self.constraint_name = constraint
        self.table_name = table
        self.columns = tuple(columns)
        self.value = value
        cols = "[" + ", ".join(_rust_debug_str(c) for c in columns) + "]"
        super().__init__(
            f"Unique constraint violation '{constraint}' in table '{table}': "
            f"column(s): '{cols}' value: {value}"
        )


class NoSuchRow(DatastoreError):
    """``update`` found no row with the given primary key (upstream errno ``NO_SUCH_ROW``).

    Example::

        try:
            ctx.db.task.id.update(Task(id=999, owner=ctx.sender, text="x", done=False))
        except NoSuchRow:
            raise SenderError("no task 999") from None
    """

    MESSAGE = "The row was not found, e.g., in an update call"

    def __init__(self, detail: str = "") -> None:
        super().__init__(self.MESSAGE + (f" ({detail})" if detail else ""))


class AutoIncOverflow(DatastoreError):
    """An auto-increment sequence ran past its column type (errno ``AUTO_INC_OVERFLOW``).

    Example::

        ctx.db.ticket.insert(Ticket(id=0))   # raises AutoIncOverflow after 255 tickets with ``id: U8``
    """

    MESSAGE = "The auto-increment sequence overflowed"


def _rust_debug_str(s: str) -> str:
    out = ['"']
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{{{ord(ch):x}}}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)

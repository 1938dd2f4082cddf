"""Where a schema for code generation comes from: a file, or a running server.

Example::

    schema = load_schema("quickstart-chat.json")            # JSON v9/v10, or BSATN
    schema = load_schema_from_server("http://127.0.0.1:3000", "quickstart-chat")
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import SchemaError, SpacetimeDBError
from ..schema import ModuleSchema

__all__ = ["load_schema", "load_schema_from_server"]


def load_schema(path: str | os.PathLike[str]) -> ModuleSchema:
    """A schema file: ``/schema?version=9|10`` JSON (bare or wrapped) or BSATN ``RawModuleDef``.

    Raises :class:`SchemaError` naming the file when it cannot be read as either.

    Example::

        schema = load_schema("tests/fixtures/schemas/quickstart-chat.maincloud.v9.json")
    """
    file = Path(path)
    try:
        data = file.read_bytes()
    except OSError as e:
        raise SchemaError(f"cannot read schema file {str(file)!r}: {e.strerror or e}") from None
    try:
        if data.lstrip()[:1] in (b"{", b"["):
            return ModuleSchema.from_json(data.decode("utf-8"))
        return ModuleSchema.from_bsatn(data)
    except (SchemaError, ValueError) as e:
        raise SchemaError(f"{str(file)!r} is not a module schema (JSON or BSATN): {e}") from e


def load_schema_from_server(
    url: str, database: str, *, token: str | None = None, timeout: float = 30.0
) -> ModuleSchema:
    """The schema a server publishes for ``database`` (``version=10``, else ``version=9``).

    Example::

        schema = load_schema_from_server("http://127.0.0.1:3000", "quickstart-chat")
    """
    from ..http import HttpClient

    with HttpClient(url, token=token, timeout=timeout) as http:
        try:
            doc = http.schema_json(database, version=10)
        except SpacetimeDBError:
            doc = http.schema_json(database, version=9)
    return ModuleSchema.from_json(doc)

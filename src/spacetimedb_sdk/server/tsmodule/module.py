"""A TypeScript module as the local server hosts it: :class:`TsModule` and :func:`load_ts_module`.

:class:`TsModule` is a :class:`~..module.Module` whose description comes from the module's own
``__describe_module__`` (bundled, started in Node once to describe it) instead of Python
declarations, so everything that reads a module (the datastore, subscriptions, SQL, the scheduler,
the schema routes, codegen against the server) serves it unchanged.  Its calls run in Node:
each database gets a :class:`~.runner.TsRunner` of its own (``new_runner``), which owns that
database's Node processes.

Example::

    module = load_ts_module("examples/quickstart-chat-ts")
    srv = LocalServer(module).start()
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable
from typing import Any

from ...errors import BsatnDecodeError, SchemaError
from ...sats import bsatn
from ...sats.types import ArrayType, RefType
from ...sats.values import Identity
from ...schema import ModuleSchema
from ..datastore import Datastore, TableSchema
from ..module import (
    CallResult,
    Module,
    ModuleRunner,
    ProcedureDef,
    Query,
    ReducerDef,
    RunnerHost,
    ViewDef,
)
from ..module.definitions import _Built
from .bundle import (
    Bundle,
    ModuleSource,
    TsModuleError,
    bundle_module,
    module_source,
    node_executable,
)
from .definition import build_definition
from .process import K_LOAD_FAILED, K_READY, NodeExited, NodeProcess
from .runner import StandaloneHost, TsRunner


class TsModule(Module):
    """A TypeScript module, described by its own code (see the module docstring).

    Build one with :func:`load_ts_module`.  ``definition`` is what its description says
    (tables, functions and their ids); rows of its tables are instances of
    :meth:`row_class`.
    """

    def __init__(self, source: ModuleSource, bundle: Bundle, description: bytes) -> None:
        try:
            schema = ModuleSchema.from_bsatn(description)
        except (BsatnDecodeError, SchemaError) as e:
            raise TsModuleError(f"{source.shown} describes an invalid module: {e}") from None
        try:
            definition = build_definition(schema, source.shown)
        except SchemaError as e:
            raise TsModuleError(str(e)) from None
        super().__init__(source.name, case_conversion=definition.case_conversion)
        self.source = source
        self.bundle = bundle
        self.schema = schema
        self.definition = definition
        self._reducers = list(definition.reducers)
        self._procedures = list(definition.procedures)
        self._views = list(definition.views)
        self.row_level_security = list(definition.row_level_security)
        self._built = _Built(
            definition.typespace, definition.classes, definition.named_types, definition.tables
        )
        self._reducer_ids = {id(r): i for i, r in enumerate(self._reducers)}
        self._procedure_ids = {id(p): i for i, p in enumerate(self._procedures)}
        self._view_codecs: dict[str, bsatn.Codec] = {}
        self._runners: weakref.WeakKeyDictionary[Datastore, TsRunner] = weakref.WeakKeyDictionary()
        self._spare: NodeProcess | None = None
        self._warming = False
        self._closed = False
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"TsModule({self.name!r}, {self.source.shown!r})"

    def _changed(self) -> None:
        raise TypeError("a TypeScript module is declared in its TypeScript source, not in Python")

    def build(self) -> _Built:
        """The built definition (made from the module's description; never changes)."""
        assert self._built is not None
        return self._built

    def program(self) -> bytes:
        """The bundle the module was made into (what an update's hash compares)."""
        return self.bundle.path.read_bytes()

    # -- what the runner needs

    def reducer_id(self, rd: ReducerDef) -> int:
        """The id the module's dispatcher knows ``rd`` by (its position in the description)."""
        return self._reducer_ids[id(rd)]

    def procedure_id(self, pd: ProcedureDef) -> int:
        """The id the module's dispatcher knows ``pd`` by."""
        return self._procedure_ids[id(pd)]

    def view_codec(self, vd: ViewDef) -> bsatn.Codec:
        """The codec of a view's returned rows: an array of its row type, whatever the declared
        return type (the library sends an option as an array of at most one, and upstream's host
        reads every view's rows as ``Vec<row>``), bound to the row classes."""
        codec = self._view_codecs.get(vd.name)
        if codec is None:
            built = self.build()
            rows = ArrayType(RefType(vd.product_type_ref))
            codec = bsatn.codec_for(rows, built.typespace, classes=built.classes)
            self._view_codecs[vd.name] = codec
        return codec

    def row_class(self, table: str) -> type:
        """The class of a table's rows (by canonical name or accessor), for fixtures.

        Example::

            User = module.row_class("user")
            with srv.db.transaction() as tx:
                tx.user.insert(User(identity=me, name="Ada", online=False))
        """
        schema: TableSchema = self.table_schema(table)
        return schema.row_class

    def spawn(self, label: str, on_output: Callable[[str], None]) -> NodeProcess:
        """A Node process running the module, ready for calls.

        A Node process takes a few hundred milliseconds to start, so the module keeps one
        started process in reserve (first the one that described it) and starts the next in
        the background whenever it hands one out: a new database, or a process replacing a
        stopped one, rarely waits for Node.
        """
        with self._lock:
            spare, self._spare = self._spare, None
        self._warm()
        if spare is not None and spare.alive():
            spare.label = label
            spare.retarget(on_output)
            return spare
        if spare is not None:
            spare.close()
        proc = NodeProcess(self.bundle.path, label, on_output, node_executable())
        _ready(proc, self.source)
        return proc

    def _warm(self) -> None:
        with self._lock:
            if self._warming or self._closed:
                return
            self._warming = True
        threading.Thread(
            target=self._start_spare, name=f"node-warm[{self.name}]", daemon=True
        ).start()

    def _start_spare(self) -> None:
        proc: NodeProcess | None = None
        try:
            proc = NodeProcess(
                self.bundle.path, f"{self.source.shown} (spare)", _ignore, node_executable()
            )
            _ready(proc, self.source)
        except (OSError, TsModuleError):
            proc = None  # the next spawn() starts one itself, and reports the error
        with self._lock:
            self._warming = False
            if proc is not None and self._spare is None and not self._closed:
                self._spare, proc = proc, None
        if proc is not None:
            proc.close()

    def new_runner(self, host: RunnerHost) -> ModuleRunner:
        """A runner of its own for each database (it owns that database's Node processes)."""
        runner = TsRunner(self, host)
        with self._lock:
            self._runners[host.datastore] = runner
        return runner

    def _runner(self, datastore: Datastore) -> TsRunner:
        """The runner of the database owning ``datastore`` (one of its own for a bare one)."""
        with self._lock:
            found = self._runners.get(datastore)
            if found is None:
                found = TsRunner(self, StandaloneHost(self.name, datastore))
                self._runners[datastore] = found
        return found

    # The Module API (``module.call_reducer(datastore, ...)``, and the subscription engine's
    # ``module.call_view``) reaches the runner of the database the datastore belongs to.

    def call_reducer(self, datastore: Datastore, *args: Any, **kwargs: Any) -> CallResult:
        """Run a reducer on ``datastore``'s database (see :meth:`TsRunner.call_reducer`)."""
        return self._runner(datastore).call_reducer(datastore, *args, **kwargs)

    def call_procedure(self, datastore: Datastore, *args: Any, **kwargs: Any) -> CallResult:
        """Run a procedure on ``datastore``'s database (see :meth:`TsRunner.call_procedure`)."""
        return self._runner(datastore).call_procedure(datastore, *args, **kwargs)

    def call_view(
        self, datastore: Datastore, view: str | ViewDef, *, sender: Identity | None = None
    ) -> list[Any] | Query[Any]:
        """Evaluate a view on ``datastore``'s database (see :meth:`TsRunner.call_view`)."""
        return self._runner(datastore).call_view(datastore, view, sender=sender)

    def close(self) -> None:
        """Stop the process kept in reserve (databases running the module keep theirs)."""
        with self._lock:
            self._closed = True
            spare, self._spare = self._spare, None
        if spare is not None:
            spare.close()


def _ignore(line: str) -> None:
    """Output of a process in reserve (it runs no module code until a database takes it)."""


def _ready(proc: NodeProcess, source: ModuleSource) -> bytes:
    """Wait for a fresh process to load the module; its description, or :class:`TsModuleError`."""
    try:
        kind, payload = proc.recv()
    except NodeExited as e:
        proc.close()
        raise TsModuleError(f"{source.shown}: the module could not be started: {e}") from None
    if kind == K_READY:
        return payload
    proc.close()
    if kind == K_LOAD_FAILED:
        raise TsModuleError(f"{source.shown}: {payload.decode('utf-8', 'replace')}")
    raise TsModuleError(f"{source.shown}: the module host sent frame {kind} while loading")


def load_ts_module(
    path: str | os.PathLike[str], *, on_output: Callable[[str], None] | None = None
) -> TsModule:
    """Bundle, start and describe the TypeScript module at ``path`` (a module folder or an
    entry file).

    Raises ``FileNotFoundError`` if there is no module there and :class:`TsModuleError` if it
    cannot be bundled or loaded, or describes a module the server cannot host.

    Example::

        module = load_ts_module("examples/quickstart-chat-ts")
    """
    return load_ts_source(module_source(path), on_output=on_output)


def load_ts_source(
    source: ModuleSource,
    *,
    reserve: bool = True,
    on_output: Callable[[str], None] | None = None,
) -> TsModule:
    """:func:`load_ts_module` of a resolved :class:`~.bundle.ModuleSource`; ``reserve=False``
    keeps no Node process in reserve beyond the one that described it (for a module nobody
    closes, such as a published program: see :meth:`TsModule.spawn`).

    Example::

        module = load_ts_source(module_source("examples/quickstart-chat-ts"))
    """
    bundle = bundle_module(source)
    lines: list[str] = []
    sink: Callable[[str], Any] = on_output or lines.append
    proc = NodeProcess(bundle.path, source.shown, sink, node_executable())
    description = _ready(proc, source)
    try:
        module = TsModule(source, bundle, description)
    except BaseException:
        proc.close()
        raise
    module._spare = proc
    module._closed = not reserve  # no more spares are started (the one it has is handed out)
    return module

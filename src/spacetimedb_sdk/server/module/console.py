"""Module log lines: where a module's ``print`` and ``logging`` go while its code runs.

Upstream gives every database a log of its module's lines (Rust ``log::info!``, TypeScript
``console.log``), read with ``spacetime logs``.  Here the host binds a :class:`LogSink` (the
database's log) to each thread that runs module code (:func:`bind_sink`: the database thread,
procedure threads), and the runner marks the function running with :func:`function_scope`.
While a function runs, on that thread only:

* ``print`` (any write to ``sys.stdout``) becomes ``Info`` lines, one per text line, naming the
  file and line that printed; the text still reaches the real stdout too;
* ``logging`` records, as the logging configuration lets them through (Python's default passes
  ``WARNING`` and above; ``logging.getLogger(__name__).setLevel(logging.INFO)`` lets more
  through), become lines of their level (``CRITICAL``/``ERROR`` → ``Error``, ``WARNING`` →
  ``Warn``, ``INFO`` → ``Info``, ``DEBUG`` → ``Debug``, lower → ``Trace``) named after the
  logger, with any exception's traceback.  The server's own loggers (``spacetimedb_sdk.*``)
  are not module lines.

Both hooks are installed on first use and pass everything else through untouched (a proxy
around ``sys.stdout``, re-installed if something replaces ``sys.stdout``; a ``LogRecord``
factory wrapping the previous one), so code outside module functions sees no difference.
A runner for another language writes its module's lines to :func:`current_sink` itself.

Example::

    bind_sink(database_log)            # on the database thread
    with function_scope("send_message"):
        reducer(ctx, "hi")             # its print() lands in database_log
"""

from __future__ import annotations

import io
import logging
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType, TracebackType
from typing import Any, Protocol, TextIO

#: upstream's log levels, as ``spacetime logs`` reads them.
LEVELS = ("Error", "Warn", "Info", "Debug", "Trace", "Panic")
_OWN_LOGGERS = "spacetimedb_sdk"


@dataclass(frozen=True)
class LogRecord:
    """One module log line (upstream's ``database_logger::Record`` and its level).

    ``ts_micros`` is the wall-clock time in microseconds; ``trace`` (``Panic`` only) lists
    ``(module_name, func_name)`` frames, innermost first.

    Example::

        >>> LogRecord("Info", "hi", function="send_message").level
        'Info'
    """

    level: str
    message: str
    ts_micros: int = 0
    target: str | None = None
    filename: str | None = None
    line_number: int | None = None
    function: str | None = None
    trace: tuple[tuple[str | None, str | None], ...] | None = None


class LogSink(Protocol):
    """Where module log lines go (a database's log)."""

    def write(self, record: LogRecord) -> None:
        """Keep ``record`` (called from any thread)."""
        ...


def now_micros() -> int:
    """The wall clock in microseconds since the Unix epoch (a log line's ``ts``)."""
    return time.time_ns() // 1000


class _ThreadState(threading.local):
    sink: LogSink | None = None
    function: str | None = None
    partial: str = ""
    capturing: bool = False


_state = _ThreadState()
_install_lock = threading.Lock()


def bind_sink(sink: LogSink | None) -> None:
    """Make ``sink`` receive the module lines written on this thread (``None``: none)."""
    _state.sink = sink


def current_sink() -> LogSink | None:
    """The sink bound to this thread, if any."""
    return _state.sink


def current_function() -> str | None:
    """The module function running on this thread, if any."""
    return _state.function


@contextmanager
def function_scope(name: str) -> Iterator[None]:
    """Run a module function named ``name``: its ``print``/``logging`` become log lines.

    Example::

        with function_scope("init"):
            init(ctx)
    """
    if _state.sink is None:
        yield
        return
    _ensure_hooks()
    outer, _state.function = _state.function, name
    try:
        yield
    finally:
        _flush_partial()
        _state.function = outer


def log_exception(sink: LogSink, function: str, error: BaseException) -> None:
    """Write a module function's uncaught exception as upstream logs a trapped call: ``Panic``,
    at the innermost frame, with the stack (innermost first)."""
    frames = traceback.extract_tb(error.__traceback__)
    innermost = frames[-1] if frames else None
    sink.write(
        LogRecord(
            "Panic",
            f"{type(error).__name__}: {error}",
            now_micros(),
            filename=innermost.filename if innermost else None,
            line_number=innermost.lineno if innermost else None,
            function=function,
            trace=tuple((f.filename, f.name) for f in reversed(frames)),
        )
    )


# ---- the hooks ---------------------------------------------------------------------------------


def _ensure_hooks() -> None:
    if isinstance(sys.stdout, _StdoutProxy) and _factory_installed():
        return
    with _install_lock:
        if not isinstance(sys.stdout, _StdoutProxy):
            sys.stdout = _StdoutProxy(sys.stdout)
        if not _factory_installed():
            logging.setLogRecordFactory(_CapturingFactory(logging.getLogRecordFactory()))


def _factory_installed() -> bool:
    return isinstance(logging.getLogRecordFactory(), _CapturingFactory)


def _flush_partial() -> None:
    text, _state.partial = _state.partial, ""
    if text and _state.sink is not None:
        _emit_print(text, None)


def _emit_print(text: str, frame: FrameType | None) -> None:
    sink = _state.sink
    if sink is None:
        return
    sink.write(
        LogRecord(
            "Info",
            text,
            now_micros(),
            filename=frame.f_code.co_filename if frame is not None else None,
            line_number=frame.f_lineno if frame is not None else None,
            function=_state.function,
        )
    )


class _StdoutProxy(io.TextIOBase):
    """``sys.stdout`` that also turns the lines of running module functions into log lines."""

    def __init__(self, wrapped: TextIO) -> None:
        self._wrapped = wrapped

    def write(self, text: str) -> int:
        if _state.function is not None and _state.sink is not None and not _state.capturing:
            _state.capturing = True
            try:
                self._capture(text, sys._getframe(1))  # the frame that printed
            finally:
                _state.capturing = False
        return self._wrapped.write(text)

    def _capture(self, text: str, caller: FrameType) -> None:
        *lines, _state.partial = (_state.partial + text).split("\n")
        for line in lines:
            _emit_print(line, caller)

    def flush(self) -> None:
        self._wrapped.flush()

    def fileno(self) -> int:
        return self._wrapped.fileno()

    def isatty(self) -> bool:
        return self._wrapped.isatty()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return str(getattr(self._wrapped, "encoding", "utf-8"))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._wrapped, name)


def _level_of(levelno: int) -> str:
    if levelno >= logging.ERROR:
        return "Error"
    if levelno >= logging.WARNING:
        return "Warn"
    if levelno >= logging.INFO:
        return "Info"
    if levelno >= logging.DEBUG:
        return "Debug"
    return "Trace"


class _CapturingFactory:
    """A ``LogRecord`` factory that copies the records of running module functions."""

    def __init__(self, previous: Callable[..., logging.LogRecord]) -> None:
        self.previous = previous

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.previous(*args, **kwargs)
        sink = _state.sink
        if (
            sink is not None
            and _state.function is not None
            and not _state.capturing
            and not record.name.startswith(_OWN_LOGGERS)
        ):
            _state.capturing = True
            try:
                sink.write(self._line(record))
            finally:
                _state.capturing = False
        return record

    @staticmethod
    def _line(record: logging.LogRecord) -> LogRecord:
        message = record.getMessage()
        exc: tuple[type[BaseException], BaseException, TracebackType | None] | None = None
        if isinstance(record.exc_info, tuple) and record.exc_info[1] is not None:
            exc = record.exc_info
        if exc is not None:
            message += "\n" + "".join(traceback.format_exception(*exc)).rstrip("\n")
        return LogRecord(
            _level_of(record.levelno),
            message,
            int(record.created * 1_000_000),
            target=record.name,
            filename=record.pathname,
            line_number=record.lineno,
            function=_state.function,
        )

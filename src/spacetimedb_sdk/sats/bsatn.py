"""BSATN, the binary encoding of SATS values, with codecs compiled once per type.

:func:`codec_for` turns an :class:`AlgebraicType` into a :class:`Codec` whose
``read``/``write`` are Python functions generated for that type (runs of
fixed-size fields are one ``struct`` call, ``Array<U8>`` is a slice, numeric
arrays are one ``unpack_from``); nothing walks the type per value.  Codecs are
cached per ``(type, typespace, classes)``.  :func:`encode` and :func:`decode`
are the one-shot forms.

Values (the generic representation): ``Bool``→``bool``, integers→``int``,
floats→``float``, ``String``→``str``, ``Array<U8>``→``bytes``, other arrays→
``list``, products→``dict`` keyed by element name (unnamed element *i* →
``str(i)``; the unit ``()`` → ``{}``), sums→:class:`SumValue` (payload ``None``
for unit variants; unnamed variant *i* → tag ``str(i)``), ``Option<T>``→``None``
or the value (``Some(x)`` when ``T`` is itself an option), ``Result``→
``Ok``/``Err``, the special products→``Identity``, ``ConnectionId``,
``Timestamp``, ``TimeDuration``, ``uuid.UUID``, ``ScheduleAt``→
``ScheduleAt.Interval``/``ScheduleAt.Time``.  Encoding also accepts ``tuple``
for arrays, ``bytearray``/``memoryview`` for bytes, ``Some(x)`` for a plain
option and ``None`` for a unit.

Typed bindings (the ``classes`` contract).  ``classes`` maps a typespace index
``i`` to a user class used wherever ``Ref(i)`` occurs (the first bound index
of a chain of refs wins; a bound class takes precedence over the structural
Option/Result/special recognition):

- product type → any class; decoding calls ``cls(*fields)`` with the element
  values positionally in element order; encoding reads the attributes named by
  ``cls.__sats_fields__`` if the class defines it (one name per element, in
  order), else the element names.  Encoding requires ``isinstance(value, cls)``.
- plain enum (every variant a unit) → an ``enum.Enum`` subclass whose members,
  in definition order, are the variants in tag order.
- sum with payloads (or any sum) → a class with ``__sats_variants__``: a tuple of
  one class per variant, in tag order.  Decoding builds ``vcls(payload)``, or
  ``vcls()`` for a unit variant; encoding picks the tag from the value's class
  and reads the payload from its ``value`` attribute.

Speed: where the optional compiled extension is built (see :mod:`spacetimedb_sdk._speedups`),
decoding runs a compiled type program in C instead of the generated Python; results and
errors are the same either way (``SPACETIMEDB_SDK_NO_EXTENSIONS=1`` forces Python).
:meth:`Codec.split_rows`, :meth:`Codec.validate` and :meth:`Codec.validate_rows` check bytes
exactly as decoding would, without building values (lazy rows keep the bytes).

Errors: encoding raises :class:`BsatnEncodeError` (a ``ValueError``) naming the
type path, e.g. ``value 256 out of range for U8 (at n)``; decoding raises
:class:`BsatnDecodeError` naming the path and byte offset for truncated input,
trailing bytes, unknown tags, invalid UTF-8, bool bytes other than 0/1 and
length prefixes beyond the buffer.  Paths are relative to the value decoded:
``text``, ``[3].sender.__identity__`` (row 3 in :meth:`Codec.decode_rows`),
``some``, variant names; ``<root>`` is the value itself.

Example::

    >>> from spacetimedb_sdk.sats import AlgebraicType as T, bsatn
    >>> ty = T.product({"id": T.U64, "name": T.STRING})
    >>> bsatn.encode(ty, {"id": 1, "name": "Bob"}).hex()
    '010000000000000003000000426f62'
    >>> bsatn.codec_for(ty).decode_rows(bytes.fromhex("010000000000000003000000426f62" * 2))
    [{'id': 1, 'name': 'Bob'}, {'id': 1, 'name': 'Bob'}]
"""

from __future__ import annotations

import dataclasses
import enum
import gc
import struct
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from .. import _speedups
from ..errors import BsatnDecodeError, BsatnEncodeError
from . import _bsatn_ops
from . import _bsatn_ref as ref
from ._bsatn_gen import DecGen, EncGen, Fail, Program
from ._bsatn_skip import SkipGen, is_recursive
from .types import AlgebraicType, Typespace

_ext = _speedups.bsatn
_UNBUILT: Any = object()  # a codec's extension program before its first use
# What the extension raises for bytes that do not decode, and for values nested deeper than
# it recurses; classes nobody else raises (so never caught by mistake) when it is absent.
_Malformed: type[Exception] = _ext.Malformed if _ext is not None else Fail
_TooDeep: type[Exception] = (
    _ext.TooDeep if _ext is not None else type("_NoTooDeep", (Exception,), {})
)

Buffer = bytes | bytearray | memoryview


class Codec:
    """Encoder and decoder of one type, compiled once; get one with :func:`codec_for`.

    ``fixed_size`` is the encoded size when every value has the same size (an
    all-numeric product, say), else ``None``.

    Example::

        >>> c = codec_for(AlgebraicType.product({"x": AlgebraicType.I32, "y": AlgebraicType.I32}))
        >>> c.fixed_size, c.decode(c.encode({"x": 1, "y": -1}))
        (8, {'x': 1, 'y': -1})
    """

    __slots__ = (
        "_cprog", "_ctx", "_generic", "_pyprog", "_read", "_rows", "_skip", "_write",
        "fixed_size", "ty", "typespace",
    )  # fmt: skip

    def __init__(
        self,
        ty: AlgebraicType,
        typespace: Typespace | None,
        ctx: ref.Ctx,
        fns: tuple[Any, Any, Any],
        fixed_size: int | None,
        prog: Any = _UNBUILT,
        pyprog: Program | None = None,
    ) -> None:
        self.ty = ty
        self.typespace = typespace
        self._ctx = ctx
        self._read, self._rows, self._write = fns
        self.fixed_size = fixed_size
        # The extension's compiled program (None: the generated Python decodes), built when
        # first needed: many codecs only ever encode (reducer arguments).
        self._cprog = prog
        self._generic: Codec | None = None  # the same type without classes (Python checks)
        # The generated Python's namespace, and (valid, split) generated in it on first use
        # (see _bsatn_skip): most codecs never check bytes without decoding.
        self._pyprog = pyprog
        self._skip: tuple[Any, Any] | None = None

    def __repr__(self) -> str:
        return f"Codec({self.ty!r})"

    @property
    def _c_program(self) -> Any:
        prog = self._cprog
        if prog is _UNBUILT:
            prog = None
            if _ext is not None:
                prog = _ext.Program(*_bsatn_ops.build(self._ctx, self.ty))
            self._cprog = prog
        return prog

    @property
    def compiled(self) -> bool:
        """Whether this codec decodes with the compiled extension (see :mod:`.._speedups`).

        Example::

            >>> isinstance(codec_for(AlgebraicType.U8).compiled, bool)
            True
        """
        return self._c_program is not None

    # ---- encoding ----

    def encode(self, value: Any) -> bytes:
        """The BSATN bytes of ``value``; raises :class:`BsatnEncodeError`.

        Example::

            >>> codec_for(AlgebraicType.option(AlgebraicType.U16)).encode(258)
            b'\\x00\\x02\\x01'
        """
        out = bytearray()
        try:
            self._write(out, value)
        except Exception:  # the fast path only validates; the walker explains
            del out[:]
            self._slow_write(out, value)
        return bytes(out)

    def write(self, out: bytearray, value: Any) -> None:
        """Append the encoding of ``value`` to ``out`` (left unchanged on error).

        Example::

            >>> out = bytearray(b"hdr:")
            >>> codec_for(AlgebraicType.STRING).write(out, "hi")
            >>> bytes(out)
            b'hdr:\\x02\\x00\\x00\\x00hi'
        """
        start = len(out)
        try:
            self._write(out, value)
        except Exception:
            del out[start:]
            self._slow_write(out, value)

    def _slow_write(self, out: bytearray, value: Any) -> None:
        start = len(out)
        try:
            ref.encode_into(self._ctx, self.ty, value, out)
        except BaseException:
            del out[start:]
            raise

    # ---- decoding ----

    def decode(self, data: Buffer) -> Any:
        """Decode one value that fills ``data`` exactly; raises :class:`BsatnDecodeError`.

        Example::

            >>> i8s = codec_for(AlgebraicType.array(AlgebraicType.I8))
            >>> i8s.decode(bytes.fromhex("02000000ff01"))
            [-1, 1]
        """
        # Called once per row by the cache: no calls here that the common case can skip.
        buf = data if data.__class__ is bytes else _as_bytes(data)
        prog = self._cprog
        if prog is _UNBUILT:
            prog = self._c_program
        if prog is not None:
            try:
                return prog.decode(buf)
            except _TooDeep:
                pass  # the Python decoder below takes values nested this deep
            except Exception as e:
                raise self._diagnose_exact(e, buf) from None
        return self._decode_python(buf)

    def read(self, data: Buffer, offset: int) -> tuple[Any, int]:
        """Decode one value at ``offset``; returns ``(value, offset_after_it)``.

        Pass ``bytes``: other buffers are copied on every call.

        Example::

            >>> codec_for(AlgebraicType.U16).read(b"\\xff\\x2a\\x00\\xff", 1)
            (42, 3)
        """
        buf = _as_bytes(data)
        if not 0 <= offset <= len(buf):
            raise ValueError(f"offset {offset} is outside the buffer of {len(buf)} bytes")
        prog = self._c_program
        result: tuple[Any, int] = self._run(
            None if prog is None else lambda: prog.read(buf, offset),
            lambda: self._read(buf, offset),
            lambda: ref.read_value(self._ctx, self.ty, buf, offset),
        )
        return result

    def decode_rows(self, data: Buffer) -> list[Any]:
        """Decode back-to-back values filling ``data`` (a ``BsatnRowList``'s ``rows_data``).

        Error paths start with the row index, e.g. ``[3].sender.__identity__``.

        Example::

            >>> row = AlgebraicType.product({"id": AlgebraicType.U8, "ok": AlgebraicType.BOOL})
            >>> codec_for(row).decode_rows(b"\\x01\\x01\\x02\\x00")
            [{'id': 1, 'ok': True}, {'id': 2, 'ok': False}]
        """
        buf = _as_bytes(data)
        if self.fixed_size == 0 or not buf:
            return self._zero_size_rows(buf)
        prog = self._c_program
        with _gc_paused(len(buf) >= _PROMOTE_BYTES):
            rows: list[Any] = self._run(
                None if prog is None else lambda: prog.rows(buf),
                lambda: self._rows(buf),
                lambda: ref.decode_rows(self._ctx, self.ty, buf),
            )
        return rows

    def decode_each(self, rows: list[bytes]) -> list[Any]:
        """``[codec.decode(row) for row in rows]`` in one call (same values, same errors).

        Example::

            >>> codec_for(AlgebraicType.U16).decode_each([b"\\x01\\x00", b"\\x02\\x00"])
            [1, 2]
        """
        with _gc_paused(len(rows) >= _PROMOTE_ROWS):
            prog = self._c_program
            if prog is not None and rows.__class__ is list:
                try:
                    values: list[Any] = prog.decode_each(rows)
                    return values
                except Exception:
                    pass  # row by row below: the first failing row raises what decode() does
            return [self.decode(row) for row in rows]

    # ---- checking bytes without building values (lazy rows) ----

    def split_rows(self, data: Buffer) -> list[bytes]:
        """Cut back-to-back values (a ``rows_data``) into one ``bytes`` per value, by their type.

        Every value's bytes are checked exactly as :meth:`decode_rows` would check them, with
        the same errors, but no value is built (bound classes are not called).

        Example::

            >>> codec_for(AlgebraicType.STRING).split_rows(b"\\x01\\x00\\x00\\x00a\\x00\\x00\\x00\\x00")
            [b'\\x01\\x00\\x00\\x00a', b'\\x00\\x00\\x00\\x00']
        """
        buf = _as_bytes(data)
        if self.fixed_size == 0 or not buf:
            return self._zero_size_rows(buf)
        prog = self._c_program
        rows: list[bytes] = self._run(
            None if prog is None else lambda: prog.split(buf),
            lambda: self._without_classes()._checks()[1](buf),
            lambda: ref.decode_rows(self._ctx, self.ty, buf),
        )
        return rows

    def validate(self, data: Buffer) -> None:
        """Check that ``data`` is exactly one value, as :meth:`decode` would, building nothing.

        Raises the :class:`BsatnDecodeError` that :meth:`decode` raises for the same bytes.

        Example::

            >>> codec_for(AlgebraicType.BOOL).validate(b"\\x02")
            Traceback (most recent call last):
            ...
            spacetimedb_sdk.errors.BsatnDecodeError: invalid Bool byte 0x02 (must be 0 or 1) at offset 0 (at <root>)
        """
        buf = _as_bytes(data)
        prog = self._c_program
        if prog is not None:
            try:
                prog.check(buf)
                return
            except _TooDeep:
                pass
            except Exception as e:
                raise self._diagnose_exact(e, buf) from None
        self._without_classes()._validate_python(buf)

    def validate_rows(self, rows: list[bytes]) -> None:
        """:meth:`validate` every row (say, ``BsatnRowList.rows()``); the first bad row raises
        what :meth:`decode` raises for it.

        Example::

            >>> codec_for(AlgebraicType.U8).validate_rows([b"\\x01", b"\\x02"]) is None
            True
        """
        prog = self._c_program
        if prog is not None and rows.__class__ is list:
            try:
                prog.check_each(rows)
                return
            except (_TooDeep, _Malformed) as e:
                start = int(e.args[0]) if e.args else 0
            except Exception:
                start = 0  # a row that is not bytes: the Python checks below say so
            for row in rows[start:]:
                self.validate(row)
            return
        generic = self._without_classes()
        valid = generic._checks()[0]
        try:
            for row in rows:
                valid(row)
        except Exception:  # row by row: the first bad one raises what decode() raises
            for row in rows:
                generic._validate_python(_as_bytes(row))
            raise BsatnDecodeError("internal error: the checks rejected a row") from None

    @property
    def lazy_safe(self) -> bool:
        """Whether bytes that :meth:`validate` accepts always :meth:`decode`.

        True unless the type is recursive (deep values: the checks and the decoders nest
        differently, so their depth limits differ) or a bound class runs code of its own when
        built (a custom ``__init__`` or ``__post_init__`` could reject a value).  The client
        cache keeps rows undecoded only for such codecs.

        Example::

            >>> codec_for(AlgebraicType.product({"n": AlgebraicType.U32})).lazy_safe
            True
        """
        return not is_recursive(self.ty, self._ctx.typespace) and all(
            _plain_class(c) for c in self._ctx.classes.values()
        )

    def reader_at(self, offset: int) -> Callable[[bytes], Any]:
        """A function decoding the value at ``offset`` of bytes already validated.

        For reading one column of a row at a fixed offset (an index key) without decoding
        the row; it assumes the bytes are well-formed (checked by :meth:`validate`).

        Example::

            >>> codec_for(AlgebraicType.U16).reader_at(1)(b"\\x00\\x02\\x01")
            258
        """
        read = self._read

        def value_at(data: bytes) -> Any:
            return read(data, offset)[0]

        return value_at

    def _validate_python(self, buf: bytes) -> None:
        """:meth:`validate` by the generated Python checks; a failure is explained by decoding."""
        try:
            self._checks()[0](buf)
        except Exception:
            self._decode_python(buf)  # raises the precise error
            raise BsatnDecodeError("internal error: the checks rejected a value") from None

    def _checks(self) -> tuple[Any, Any]:
        """(valid, split): the generated Python checks (see :mod:`._bsatn_skip`)."""
        got = self._skip
        if got is None:
            with _lock:
                got = self._skip
                if got is None:
                    prog = self._pyprog or Program(self._ctx)
                    gen = SkipGen(prog)
                    names = (gen.validator(self.ty), gen.splitter(self.ty))
                    prog.flush()
                    got = self._skip = (prog.ns[names[0]], prog.ns[names[1]])
        return got

    def _without_classes(self) -> Codec:
        """This codec's type without bound classes: what the Python checks decode with, so that
        checking bytes never calls a class."""
        g = self._generic
        if g is None:
            g = self._generic = codec_for(self.ty, self.typespace)
        return g

    # ---- helpers ----

    def _decode_python(self, buf: bytes) -> Any:
        """:meth:`decode` by the generated Python only."""
        try:
            value, off = self._read(buf, 0)
        except Exception as e:
            raise self._diagnose(e, lambda: ref.read_value(self._ctx, self.ty, buf, 0)) from None
        if off != len(buf):
            ref.check_trailing(buf, off)
        return value

    def _zero_size_rows(self, buf: bytes) -> list[Any]:
        if buf:  # rows of a zero-size type cannot fill bytes: the walker says so
            ref.decode_rows(self._ctx, self.ty, buf)
        return []

    def _run(self, ext: Callable[[], Any] | None, python: Callable[[], Any], walk: Any) -> Any:
        """``ext()``, the extension's call, or ``python()`` where there is no extension or the
        value nests deeper than it recurses; either's failure is explained by ``walk``."""
        try:
            if ext is not None:
                try:
                    return ext()
                except _TooDeep:
                    pass
            return python()
        except Exception as e:
            raise self._diagnose(e, walk) from None

    def _diagnose_exact(self, error: Exception, buf: bytes) -> Exception:
        """:meth:`_diagnose` for a value that must fill ``buf``: the extension's one failure
        covers both a bad value and trailing bytes after a good one."""
        try:
            _, end = ref.read_value(self._ctx, self.ty, buf, 0)
        except BsatnDecodeError as precise:
            return precise
        if isinstance(error, _Malformed) and end != len(buf):
            try:
                ref.check_trailing(buf, end)
            except BsatnDecodeError as trailing:
                return trailing
        return self._diagnose(error, lambda: None)

    def _diagnose(self, error: Exception, walk: Any) -> Exception:
        """Re-run the reference walker to turn a fast-path failure into a precise error."""
        try:
            walk()
        except BsatnDecodeError as precise:
            return precise
        if isinstance(error, RecursionError):
            return BsatnDecodeError("value nested too deeply to decode")
        if isinstance(error, (Fail, struct.error, _Malformed)):
            return BsatnDecodeError(f"internal decoder error: {error!r}")
        # The bytes are well-formed, so a bound user class raised: let its error through.
        return error


#: Decoding at least this many bytes (or rows, for ``decode_each``) hands the new values to
#: the oldest generation of the cyclic GC (see :func:`_gc_paused`).
_PROMOTE_BYTES = 1 << 20
_PROMOTE_ROWS = 10_000


@contextmanager
def _gc_paused(promote: bool = False) -> Iterator[None]:
    """Building many rows would trigger many cyclic-GC passes over every live object, for
    nothing: decoded values hold no cycles.  Pausing the collector more than halves the time.

    With ``promote`` (a big batch: an initial subscription, a large query), the objects built
    are moved straight to the collector's oldest generation before it is switched back on
    (``gc.freeze()`` then ``gc.unfreeze()``, two list splices). Otherwise its next young
    collection would walk every one of them once more, which costs a third of the decoding.
    The objects of the caller's made just before go with them, so a reference cycle among
    those waits for the next full collection. Skipped when the program froze objects itself
    (unfreezing would release them).
    """
    paused = gc.isenabled()
    if paused:
        gc.disable()
    try:
        yield
    finally:
        if paused:
            if promote and not gc.get_freeze_count():
                gc.freeze()
                gc.unfreeze()
            gc.enable()


def _python_only(codec: Codec) -> Codec:
    """``codec`` without the extension's program: the generated Python decodes.  For the
    benchmarks and the differential tests, which compare the two in one process."""
    fns = (codec._read, codec._rows, codec._write)
    return Codec(codec.ty, codec.typespace, codec._ctx, fns, codec.fixed_size, None, codec._pyprog)


def _plain_class(cls: type) -> bool:
    """Whether building ``cls`` from decoded fields can never fail: an ``Enum`` (decoding
    picks a member), or a dataclass with the ``__init__`` that ``dataclasses`` wrote and no
    ``__post_init__`` (generated bindings and runtime row classes); for a sum class, every
    variant class."""
    if isinstance(cls, type) and issubclass(cls, enum.Enum):
        return True
    variants = cls.__dict__.get("__sats_variants__")
    if isinstance(variants, tuple):
        return all(_plain_class(v) for v in variants)
    if not dataclasses.is_dataclass(cls) or hasattr(cls, "__post_init__"):
        return False
    if type(cls) is not type or cls.__new__ is not object.__new__:
        return False
    code = getattr(cls.__init__, "__code__", None)
    return code is not None and code.co_filename == "<string>"  # written by dataclasses


def _as_bytes(data: Buffer) -> bytes:
    if data.__class__ is bytes:
        return data
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    raise TypeError(f"BSATN data must be bytes, bytearray or memoryview, not {type(data).__name__}")


# ---- compilation and caches ----------------------------------------------------------------

_lock = threading.RLock()
_programs: dict[tuple[Typespace | None, tuple[tuple[int, type], ...]], Program] = {}
_codecs: dict[tuple[AlgebraicType, Typespace | None, tuple[tuple[int, type], ...]], Codec] = {}
# By object identity, so hot calls skip hashing a whole typespace; entries hold strong
# references to the key objects, so an id cannot be reused while its entry exists.
_by_id: dict[tuple[int, int], tuple[AlgebraicType, Typespace | None, Codec]] = {}
_BY_ID_LIMIT = 4096


def codec_for(
    ty: AlgebraicType,
    typespace: Typespace | None = None,
    *,
    classes: Mapping[int, type] | None = None,
) -> Codec:
    """The compiled :class:`Codec` of ``ty`` (``Ref``s resolve through ``typespace``).

    Cached per ``(ty, typespace, classes)``.  ``classes`` binds typespace indices
    to user classes (see the module docstring for the contract).  Raises
    :class:`SchemaError` for a ``Ref`` without a typespace or out of range and
    ``TypeError`` for a class that does not fit its type.

    Example::

        >>> codec_for(AlgebraicType.array(AlgebraicType.U16)).decode(b"\\x01\\x00\\x00\\x00\\x02\\x01")
        [258]
    """
    if not classes:
        hit = _by_id.get((id(ty), id(typespace)))
        if hit is not None and hit[0] is ty and hit[1] is typespace:
            return hit[2]
    ckey = tuple(sorted(classes.items())) if classes else ()
    key = (ty, typespace, ckey)
    with _lock:
        codec = _codecs.get(key)
        if codec is None:
            codec = _codecs[key] = _compile(ty, typespace, ckey)
        if not classes:
            if len(_by_id) >= _BY_ID_LIMIT:
                _by_id.clear()
            _by_id[(id(ty), id(typespace))] = (ty, typespace, codec)
    return codec


def _compile(
    ty: AlgebraicType, typespace: Typespace | None, ckey: tuple[tuple[int, type], ...]
) -> Codec:
    pkey = (typespace, ckey)
    prog = _programs.get(pkey)
    if prog is None:
        prog = _programs[pkey] = Program(ref.Ctx(typespace, dict(ckey)))
    ctx = prog.ctx
    ctx.resolve(ty)  # a Ref without a typespace fails here, not at the first value
    try:
        dec = DecGen(prog)
        enc = EncGen(prog)
        names = (dec.reader(ty), dec.rows(ty), enc.writer(ty))
        fixed = dec.fixed(ty)
        prog.flush()
    except BaseException:
        del _programs[pkey]  # half-generated functions must not be reused
        raise
    fns = (prog.ns[names[0]], prog.ns[names[1]], prog.ns[names[2]])
    return Codec(ty, typespace, ctx, fns, fixed.size if fixed is not None else None, pyprog=prog)


def encode(ty: AlgebraicType, value: Any, typespace: Typespace | None = None) -> bytes:
    """The BSATN bytes of ``value`` of type ``ty``; raises :class:`BsatnEncodeError`.

    Example::

        >>> encode(AlgebraicType.option(AlgebraicType.U32), 5).hex()
        '0005000000'
    """
    return codec_for(ty, typespace).encode(value)


def decode(ty: AlgebraicType, data: Buffer, typespace: Typespace | None = None) -> Any:
    """Decode one value of type ``ty`` that fills ``data``; raises :class:`BsatnDecodeError`.

    Example::

        >>> decode(AlgebraicType.STRING, b"\\x03\\x00\\x00\\x00Bob")
        'Bob'
    """
    return codec_for(ty, typespace).decode(data)


__all__ = ["BsatnDecodeError", "BsatnEncodeError", "Codec", "codec_for", "decode", "encode"]

"""Python values for the special SATS types and for generic sums.

:class:`Identity`, :class:`ConnectionId`, :class:`Timestamp` and
:class:`TimeDuration` are immutable, hashable and ordered wrappers around an
``int`` (u256, u128, i64 µs, i64 µs).  Their text forms follow the server:
hex strings are **big-endian** while BSATN is little-endian.

Example::

    >>> Identity.from_hex("c200" + "00" * 27 + "0a11ce").to_bytes()[:3].hex()
    'ce110a'
    >>> Timestamp(1_700_000_000_000_000).to_datetime().year
    2023
"""

from __future__ import annotations

import datetime as _dt
import os
import time
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar, final

_T = TypeVar("_T")
_E = TypeVar("_E")

_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
_I64_MIN = -(1 << 63)
_I64_MAX = (1 << 63) - 1


class _HexInt:
    """An immutable unsigned integer of ``_BYTES`` bytes with big-endian hex text."""

    __slots__ = ("_value",)
    _BYTES: ClassVar[int]
    _value: int

    def __init__(self, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{type(self).__name__} takes an int, got {type(value).__name__}")
        if not 0 <= value < 1 << (8 * self._BYTES):
            raise ValueError(
                f"{type(self).__name__} value out of range for u{8 * self._BYTES}: {value}"
            )
        object.__setattr__(self, "_value", value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    @property
    def value(self) -> int:
        """The integer (``u256`` for Identity, ``u128`` for ConnectionId)."""
        return self._value

    def __int__(self) -> int:
        return self._value

    @classmethod
    def from_hex(cls: type[_H], text: str) -> _H:
        """Parse big-endian hex, with or without ``0x``; must be exactly the full width."""
        s = text.strip()
        if s[:2] in ("0x", "0X"):
            s = s[2:]
        if len(s) != 2 * cls._BYTES:
            raise ValueError(
                f"{cls.__name__} hex must have {2 * cls._BYTES} digits, got {len(s)}: {text!r}"
            )
        try:
            return cls(int(s, 16))
        except ValueError:
            raise ValueError(f"{cls.__name__}: invalid hex {text!r}") from None

    def to_hex(self) -> str:
        """Big-endian lowercase hex, full width, no ``0x`` (as the server prints it)."""
        return format(self._value, f"0{2 * self._BYTES}x")

    @classmethod
    def from_bytes(cls: type[_H], data: bytes) -> _H:
        """From the BSATN (little-endian) bytes."""
        if len(data) != cls._BYTES:
            raise ValueError(f"{cls.__name__} needs {cls._BYTES} bytes, got {len(data)}")
        return cls(int.from_bytes(data, "little"))

    def to_bytes(self) -> bytes:
        """The BSATN (little-endian) bytes."""
        return self._value.to_bytes(self._BYTES, "little")

    @classmethod
    def from_be_bytes(cls: type[_H], data: bytes) -> _H:
        """From big-endian bytes (the order of the hex form)."""
        if len(data) != cls._BYTES:
            raise ValueError(f"{cls.__name__} needs {cls._BYTES} bytes, got {len(data)}")
        return cls(int.from_bytes(data, "big"))

    def to_be_bytes(self) -> bytes:
        """The big-endian bytes (the order of the hex form).

        Example::

            >>> ConnectionId(1).to_be_bytes()[-1]
            1
        """
        return self._value.to_bytes(self._BYTES, "big")

    def __str__(self) -> str:
        return self.to_hex()

    def __repr__(self) -> str:
        return f"{type(self).__name__}('{self.to_hex()}')"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, type(self)) and type(other) is type(self):
            return self._value == other._value
        return NotImplemented

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._value))

    def __lt__(self, other: object) -> bool:
        if isinstance(other, type(self)) and type(other) is type(self):
            return self._value < other._value
        return NotImplemented

    def __le__(self, other: object) -> bool:
        if isinstance(other, type(self)) and type(other) is type(self):
            return self._value <= other._value
        return NotImplemented

    def __gt__(self, other: object) -> bool:
        if isinstance(other, type(self)) and type(other) is type(self):
            return self._value > other._value
        return NotImplemented

    def __ge__(self, other: object) -> bool:
        if isinstance(other, type(self)) and type(other) is type(self):
            return self._value >= other._value
        return NotImplemented

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self._value,))


_H = TypeVar("_H", bound=_HexInt)


@final
class Identity(_HexInt):
    """A user's identity: a ``u256``, shown as 64 big-endian hex digits (``c200…``).

    Example::

        >>> Identity.from_hex("0x" + "00" * 31 + "01") == Identity(1)
        True
    """

    __slots__ = ()
    _BYTES = 32
    ZERO: ClassVar[Identity]


@final
class ConnectionId(_HexInt):
    """One connection of a client: a ``u128``; all-zero means "none".

    Example::

        >>> ConnectionId.random().is_zero()
        False
    """

    __slots__ = ()
    _BYTES = 16
    ZERO: ClassVar[ConnectionId]

    @classmethod
    def random(cls) -> ConnectionId:
        """A random non-zero connection id.

        Example::

            >>> ConnectionId.random() != ConnectionId.ZERO
            True
        """
        while True:
            v = int.from_bytes(os.urandom(16), "little")
            if v:
                return cls(v)

    def is_zero(self) -> bool:
        """Whether this is the all-zero id, which means "no connection" (calls made over HTTP).

        Example::

            >>> ConnectionId.ZERO.is_zero(), ConnectionId(1).is_zero()
            (True, False)
        """
        return self._value == 0


Identity.ZERO = Identity(0)
ConnectionId.ZERO = ConnectionId(0)


class _Micros:
    """An immutable signed 64-bit count of microseconds."""

    __slots__ = ("_micros",)
    _micros: int

    def __init__(self, micros: int) -> None:
        if isinstance(micros, bool) or not isinstance(micros, int):
            raise TypeError(
                f"{type(self).__name__} takes int microseconds, got {type(micros).__name__}"
            )
        if not _I64_MIN <= micros <= _I64_MAX:
            raise ValueError(f"{type(self).__name__} out of i64 microsecond range: {micros}")
        object.__setattr__(self, "_micros", micros)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    @property
    def micros(self) -> int:
        """The integer count of microseconds.

        Example::

            >>> Timestamp(42).micros
            42
        """
        return self._micros

    def __int__(self) -> int:
        return self._micros

    def __eq__(self, other: object) -> bool:
        if isinstance(other, type(self)) and type(other) is type(self):
            return self._micros == other._micros
        return NotImplemented

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._micros))

    def __lt__(self, other: object) -> bool:
        if isinstance(other, type(self)) and type(other) is type(self):
            return self._micros < other._micros
        return NotImplemented

    def __le__(self, other: object) -> bool:
        if isinstance(other, type(self)) and type(other) is type(self):
            return self._micros <= other._micros
        return NotImplemented

    def __gt__(self, other: object) -> bool:
        if isinstance(other, type(self)) and type(other) is type(self):
            return self._micros > other._micros
        return NotImplemented

    def __ge__(self, other: object) -> bool:
        if isinstance(other, type(self)) and type(other) is type(self):
            return self._micros >= other._micros
        return NotImplemented

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self._micros,))


@final
class TimeDuration(_Micros):
    """A signed duration in microseconds.

    Example::

        >>> TimeDuration.from_timedelta(datetime.timedelta(seconds=1)).micros
        1000000
    """

    __slots__ = ()

    @classmethod
    def from_timedelta(cls, td: _dt.timedelta) -> TimeDuration:
        """From a ``datetime.timedelta`` (exact to the microsecond).

        Example::

            >>> TimeDuration.from_timedelta(datetime.timedelta(milliseconds=1))
            TimeDuration(micros=1000)
        """
        return cls(td // _dt.timedelta(microseconds=1))

    @classmethod
    def from_seconds(cls, seconds: float) -> TimeDuration:
        """From seconds, rounded to the nearest microsecond.

        Example::

            >>> TimeDuration.from_seconds(1.5)
            TimeDuration(micros=1500000)
        """
        return cls(round(seconds * 1_000_000))

    def to_timedelta(self) -> _dt.timedelta:
        """As a ``datetime.timedelta``.

        Example::

            >>> TimeDuration(1_500_000).to_timedelta()
            datetime.timedelta(seconds=1, microseconds=500000)
        """
        return _dt.timedelta(microseconds=self._micros)

    def total_seconds(self) -> float:
        """The duration in seconds, as a float.

        Example::

            >>> TimeDuration(2_500_000).total_seconds()
            2.5
        """
        return self._micros / 1_000_000

    def __add__(self, other: object) -> TimeDuration:
        if isinstance(other, TimeDuration):
            return TimeDuration(self._micros + other._micros)
        return NotImplemented

    def __sub__(self, other: object) -> TimeDuration:
        if isinstance(other, TimeDuration):
            return TimeDuration(self._micros - other._micros)
        return NotImplemented

    def __neg__(self) -> TimeDuration:
        return TimeDuration(-self._micros)

    def __repr__(self) -> str:
        return f"TimeDuration(micros={self._micros})"

    def __str__(self) -> str:
        sign = "-" if self._micros < 0 else "+"
        a = abs(self._micros)
        return f"{sign}{a // 1_000_000}.{a % 1_000_000:06d}"


@final
class Timestamp(_Micros):
    """A point in time: microseconds since the Unix epoch (UTC).

    Example::

        >>> Timestamp.from_datetime(datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)).micros
        1704067200000000
    """

    __slots__ = ()
    UNIX_EPOCH: ClassVar[Timestamp]

    @classmethod
    def now(cls) -> Timestamp:
        """The current time (the system clock, to the microsecond).

        Example::

            >>> Timestamp.now() > Timestamp.UNIX_EPOCH
            True
        """
        return cls(time.time_ns() // 1000)

    @classmethod
    def from_datetime(cls, dt: _dt.datetime) -> Timestamp:
        """From a datetime; a naive datetime is taken as UTC.

        Example::

            >>> Timestamp.from_datetime(datetime.datetime(1970, 1, 1, 0, 0, 1))
            Timestamp(micros=1000000)
        """
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=_dt.timezone.utc)
        return cls((dt - _EPOCH) // _dt.timedelta(microseconds=1))

    def to_datetime(self) -> _dt.datetime:
        """A UTC-aware datetime; raises ``OverflowError`` outside years 1..9999.

        Example::

            >>> Timestamp(0).to_datetime()
            datetime.datetime(1970, 1, 1, 0, 0, tzinfo=datetime.timezone.utc)
        """
        return _EPOCH + _dt.timedelta(microseconds=self._micros)

    def to_iso(self) -> str:
        """RFC 3339 with microseconds, e.g. ``2024-01-01T00:00:00.123000Z``.

        Example::

            >>> Timestamp(123_000).to_iso()
            '1970-01-01T00:00:00.123000Z'
        """
        # isoformat, not strftime: glibc's %Y does not pad years before 1000 to four digits.
        return self.to_datetime().replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"

    def since(self, earlier: Timestamp) -> TimeDuration:
        """The time from ``earlier`` to this timestamp (negative if ``earlier`` is later).

        Example::

            >>> Timestamp(3_000_000).since(Timestamp(1_000_000))
            TimeDuration(micros=2000000)
        """
        return TimeDuration(self._micros - earlier._micros)

    def __add__(self, other: object) -> Timestamp:
        if isinstance(other, TimeDuration):
            return Timestamp(self._micros + other.micros)
        return NotImplemented

    __radd__ = __add__

    def __sub__(self, other: object) -> Any:
        if isinstance(other, TimeDuration):
            return Timestamp(self._micros - other.micros)
        if isinstance(other, Timestamp):
            return TimeDuration(self._micros - other._micros)
        return NotImplemented

    def __repr__(self) -> str:
        return f"Timestamp(micros={self._micros})"

    def __str__(self) -> str:
        try:
            return self.to_iso()
        except OverflowError:
            return f"Timestamp({self._micros}µs)"


Timestamp.UNIX_EPOCH = Timestamp(0)


class ScheduleAt:
    """When a scheduled reducer runs: ``ScheduleAt.Interval(d)`` or ``ScheduleAt.Time(t)``.

    Example::

        >>> ScheduleAt.Interval(TimeDuration(1_000_000))
        ScheduleAt.Interval(duration=TimeDuration(micros=1000000))
    """

    __slots__ = ()

    Interval: ClassVar[type[_ScheduleInterval]]
    Time: ClassVar[type[_ScheduleTime]]


@dataclass(frozen=True, slots=True)
class _ScheduleInterval(ScheduleAt):
    duration: TimeDuration

    def __repr__(self) -> str:
        return f"ScheduleAt.Interval(duration={self.duration!r})"


@dataclass(frozen=True, slots=True)
class _ScheduleTime(ScheduleAt):
    time: Timestamp

    def __repr__(self) -> str:
        return f"ScheduleAt.Time(time={self.time!r})"


_ScheduleInterval.__name__ = _ScheduleInterval.__qualname__ = "ScheduleAt.Interval"
_ScheduleTime.__name__ = _ScheduleTime.__qualname__ = "ScheduleAt.Time"
ScheduleAt.Interval = _ScheduleInterval
ScheduleAt.Time = _ScheduleTime


@dataclass(frozen=True, slots=True)
class Ok(Generic[_T]):
    """The ``ok`` variant of a ``Result<T, E>``.

    Example::

        >>> Ok(7).value
        7
    """

    value: _T


@dataclass(frozen=True, slots=True)
class Err(Generic[_E]):
    """The ``err`` variant of a ``Result<T, E>``.

    Example::

        >>> Err("boom").error
        'boom'
    """

    error: _E


@dataclass(frozen=True, slots=True)
class Some(Generic[_T]):
    """Explicit ``some`` for the inner level of ``Option<Option<T>>`` (``Some(None)``).

    A plain ``Option<T>`` is ``T | None``; only nested options need this wrapper.

    Example::

        >>> Some(None) != None
        True
    """

    value: _T


@dataclass(frozen=True, slots=True)
class SumValue:
    """A value of a generic sum type: variant name and payload (``None`` for unit variants).

    Example::

        >>> SumValue("Circle", 2.5)
        SumValue(tag='Circle', value=2.5)
    """

    tag: str
    value: Any = None


__all__ = [
    "ConnectionId",
    "Err",
    "Identity",
    "Ok",
    "ScheduleAt",
    "Some",
    "SumValue",
    "TimeDuration",
    "Timestamp",
]

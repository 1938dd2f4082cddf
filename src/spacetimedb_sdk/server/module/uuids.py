"""``ctx.new_uuid_v4()`` and ``ctx.new_uuid_v7()``: UUIDs from the call's random generator.

Upstream's Rust and TypeScript contexts both offer these two (``new_uuid_v4``/``newUuidV4``,
``new_uuid_v7``/``newUuidV7``); Python takes Rust's snake-case names, which are already Python's
style, and returns :class:`uuid.UUID`, the value the SDK maps SpacetimeDB's ``Uuid`` type to.

- v4: 16 bytes from the context's PRNG with the version and variant bits set.
- v7: upstream's layout: 48 bits of Unix milliseconds from the *call's timestamp*, a 31-bit
  counter per context (starting at 0, wrapping) spread over bytes 7 and 9-11, and 31 random
  bits; so the UUIDs one call makes sort in the order it made them.

Example::

    >>> import random
    >>> from spacetimedb_sdk import Timestamp
    >>> str(uuid_v7(1, Timestamp(1_686_000_000_000), bytes(4)))
    '0000647e-5180-7000-8000-000200000000'
"""

from __future__ import annotations

import random
import uuid

from ...sats.values import Timestamp

_COUNTER_MASK = 0x7FFF_FFFF


def uuid_v4(random_bytes: bytes) -> uuid.UUID:
    """A version-4 UUID from 16 random bytes (only the version and variant bits change).

    Example::

        >>> str(uuid_v4(bytes(16)))
        '00000000-0000-4000-8000-000000000000'
    """
    if len(random_bytes) != 16:
        raise ValueError(f"a v4 UUID needs 16 random bytes, got {len(random_bytes)}")
    b = bytearray(random_bytes)
    b[6] = (b[6] & 0x0F) | 0x40
    b[8] = (b[8] & 0x3F) | 0x80
    return uuid.UUID(bytes=bytes(b))


def uuid_v7(counter: int, timestamp: Timestamp, random_bytes: bytes) -> uuid.UUID:
    """A version-7 UUID from a counter value, a timestamp and 4 random bytes (upstream layout)."""
    if timestamp.micros < 0:
        raise ValueError("a v7 UUID needs a timestamp after the Unix epoch")
    if len(random_bytes) != 4:
        raise ValueError(f"a v7 UUID needs 4 random bytes, got {len(random_bytes)}")
    millis = (timestamp.micros // 1000) & 0xFFFF_FFFF_FFFF
    counter &= _COUNTER_MASK
    b = bytearray(millis.to_bytes(6, "big") + bytes(10))
    b[7] = (counter >> 23) & 0xFF
    b[9] = (counter >> 15) & 0xFF
    b[10] = (counter >> 7) & 0xFF
    b[11] = (counter & 0x7F) << 1
    b[12] = random_bytes[0] & 0x7F
    b[13:16] = random_bytes[1:4]
    b[6] = 0x70 | (b[6] & 0x0F)
    b[8] = 0x80 | (b[8] & 0x3F)
    return uuid.UUID(bytes=bytes(b))


class UuidSource:
    """The per-context state behind ``new_uuid_v4``/``new_uuid_v7``: the v7 counter.

    Example::

        >>> src = UuidSource()
        >>> a = src.v7(random.Random(1), Timestamp(5_000))
        >>> b = src.v7(random.Random(1), Timestamp(5_000))
        >>> a < b
        True
    """

    __slots__ = ("_counter",)

    def __init__(self) -> None:
        self._counter = 0

    def v4(self, rng: random.Random) -> uuid.UUID:
        """A random v4 UUID drawn from ``rng``."""
        return uuid_v4(rng.randbytes(16))

    def v7(self, rng: random.Random, timestamp: Timestamp) -> uuid.UUID:
        """The next v7 UUID of this context at ``timestamp``."""
        counter = self._counter
        self._counter = (counter + 1) & _COUNTER_MASK
        return uuid_v7(counter, timestamp, rng.randbytes(4))

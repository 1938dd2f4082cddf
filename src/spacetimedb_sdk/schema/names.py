"""Case conversion of module names, exactly as the SpacetimeDB host canonicalizes them.

A 2.x module declares every table, column, reducer and type under its *source*
(accessor) name; the host derives the *canonical* name used on the wire and in SQL
from the module's ``CaseConversionPolicy`` (default ``SnakeCase``).  The host uses
the Rust crate ``convert_case`` 0.6 with its default word boundaries, which split
on ``_``, ``-`` and spaces (dropping them), between a lower-case and an upper-case
letter, between letters and digits in both directions, and before the last capital
of a run of capitals followed by a lower-case letter (``HTTPServer`` → ``HTTP``,
``Server``).  Digits therefore become words of their own: ``oneU8`` → ``one_u_8``.

Rules applied by the host under ``SnakeCase`` (``crates/schema/src/def/validate``):
tables, columns, reducers, procedures, views and parameters → snake_case; named
types → PascalCase; enum variants → camelCase.  Under ``None`` names stay as written.

Example::

    >>> to_snake_case("pkU32Two")
    'pk_u_32_two'
    >>> to_camel_case("BannedUntil"), to_pascal_case("person_2")
    ('bannedUntil', 'Person2')
"""

from __future__ import annotations

import enum

from ..sats.types import (
    AlgebraicType,
    ArrayType,
    ProductType,
    ProductTypeElement,
    SumType,
    SumTypeVariant,
    Typespace,
)

__all__ = [
    "CaseConversionPolicy",
    "canonicalize_type",
    "canonicalize_typespace",
    "split_words",
    "to_camel_case",
    "to_pascal_case",
    "to_snake_case",
]

_DELIMITERS = frozenset("_- ")


class CaseConversionPolicy(enum.Enum):
    """The v10 ``CaseConversionPolicy`` section (absent means ``SNAKE_CASE``).

    Example::

        >>> CaseConversionPolicy.SNAKE_CASE.convert("currentLevel2")
        'current_level_2'
    """

    NONE = "None"
    SNAKE_CASE = "SnakeCase"

    def convert(self, name: str) -> str:
        """Canonical name of a table, column, reducer, procedure, view or parameter.

        Example::

            >>> CaseConversionPolicy.SNAKE_CASE.convert("oneU8")
            'one_u_8'
            >>> CaseConversionPolicy.NONE.convert("oneU8")
            'oneU8'
        """
        return to_snake_case(name) if self is CaseConversionPolicy.SNAKE_CASE else name

    def convert_variant(self, name: str) -> str:
        """Canonical name of an enum variant.

        Example::

            >>> CaseConversionPolicy.SNAKE_CASE.convert_variant("BannedUntil")
            'bannedUntil'
        """
        return to_camel_case(name) if self is CaseConversionPolicy.SNAKE_CASE else name

    def convert_type(self, name: str) -> str:
        """Canonical name of a named type.

        Example::

            >>> CaseConversionPolicy.SNAKE_CASE.convert_type("person_2")
            'Person2'
        """
        return to_pascal_case(name) if self is CaseConversionPolicy.SNAKE_CASE else name


def _is_upper(c: str) -> bool:
    # A character is cased only if it has distinct upper and lower forms.
    return c.upper() != c.lower() and c == c.upper()


def _is_lower(c: str) -> bool:
    return c.upper() != c.lower() and c == c.lower()


def _is_digit(c: str) -> bool:
    return "0" <= c <= "9"


def _split_before(prev: str, cur: str) -> bool:
    """Whether a two-character boundary falls between ``prev`` and ``cur``."""
    if _is_lower(prev):
        return _is_upper(cur) or _is_digit(cur)
    if _is_upper(prev):
        return _is_digit(cur)
    if _is_digit(prev):
        return _is_upper(cur) or _is_lower(cur)
    return False


def split_words(name: str) -> list[str]:
    """Split an identifier into words with ``convert_case``'s default boundaries.

    Example::

        >>> split_words("HTTPServer2go")
        ['HTTP', 'Server', '2', 'go']
    """
    words: list[str] = []
    word: list[str] = []
    chars = list(name)
    for i, c in enumerate(chars):
        if c in _DELIMITERS:
            words.append("".join(word))
            word = []
            continue
        if i > 0:
            prev = chars[i - 1]
            acronym_end = (
                i + 1 < len(chars) and _is_upper(prev) and _is_upper(c) and _is_lower(chars[i + 1])
            )
            if _split_before(prev, c) or acronym_end:
                words.append("".join(word))
                word = []
        word.append(c)
    words.append("".join(word))
    return [w for w in words if w]


def _capitalize(word: str) -> str:
    return word[:1].upper() + word[1:].lower()


def to_snake_case(name: str) -> str:
    """``convert_case`` ``Case::Snake``: lower-case words joined by ``_``.

    Example::

        >>> to_snake_case("optionVecOptionI32")
        'option_vec_option_i_32'
    """
    return "_".join(w.lower() for w in split_words(name))


def to_camel_case(name: str) -> str:
    """``convert_case`` ``Case::Camel``: first word lower-case, the others capitalized.

    Example::

        >>> to_camel_case("EveryPrimitiveStruct")
        'everyPrimitiveStruct'
    """
    words = split_words(name)
    return "".join([w.lower() if i == 0 else _capitalize(w) for i, w in enumerate(words)])


def to_pascal_case(name: str) -> str:
    """``convert_case`` ``Case::Pascal``: every word capitalized, no delimiter.

    Example::

        >>> to_pascal_case("player_status")
        'PlayerStatus'
    """
    return "".join(_capitalize(w) for w in split_words(name))


# ---- typespace case conversion --------------------------------------------------------------


def canonicalize_typespace(ts: Typespace, policy: CaseConversionPolicy) -> Typespace:
    """Apply the host's case conversion to every field and variant name of ``ts``.

    Example::

        >>> ts = Typespace((AlgebraicType.product({"playerId": AlgebraicType.U32}),))
        >>> canonicalize_typespace(ts, CaseConversionPolicy.SNAKE_CASE).types[0].names()
        ['player_id']
    """
    if policy is CaseConversionPolicy.NONE:
        return ts
    return Typespace(tuple(canonicalize_type(t, policy) for t in ts.types))


def _is_special(ty: AlgebraicType) -> bool:
    if isinstance(ty, ProductType):
        return ty.special_kind() is not None
    if isinstance(ty, SumType):
        return ty.is_option() or ty.is_result() or ty.is_schedule_at()
    return False


def canonicalize_type(ty: AlgebraicType, policy: CaseConversionPolicy) -> AlgebraicType:
    """Apply the host's case conversion to the field and variant names inside one type.

    Like the host, a special type (Identity, Option, Result, ScheduleAt, ...) is left whole,
    including whatever it contains.

    Example::

        >>> t = AlgebraicType.product({"playerId": AlgebraicType.U32})
        >>> canonicalize_type(t, CaseConversionPolicy.SNAKE_CASE).names()
        ['player_id']
    """
    if _is_special(ty):
        return ty
    if isinstance(ty, ProductType):
        return ProductType(
            tuple(
                ProductTypeElement(
                    policy.convert(e.name) if e.name is not None else None,
                    canonicalize_type(e.algebraic_type, policy),
                )
                for e in ty.elements
            )
        )
    if isinstance(ty, SumType):
        return SumType(
            tuple(
                SumTypeVariant(
                    policy.convert_variant(v.name) if v.name is not None else None,
                    canonicalize_type(v.algebraic_type, policy),
                )
                for v in ty.variants
            )
        )
    if isinstance(ty, ArrayType):
        return ArrayType(canonicalize_type(ty.elem, policy))
    return ty

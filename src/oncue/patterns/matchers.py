"""The value tests of the pattern language, one frozen dataclass per comparison operator.

Each matcher answers ``test(value)`` for one *leaf* of an event (a JSON scalar). The semantics
follow "Comparison operators for use in event patterns in Amazon EventBridge" and event-ruler:

- exact strings, numbers, ``true``, ``false`` and ``null`` compare by :func:`value_key`;
- ``prefix``, ``suffix``, ``equals-ignore-case`` and ``wildcard`` only ever match strings;
- ``numeric`` only matches JSON numbers within ±5.0e9; ``cidr`` only matches IP strings;
- ``anything-but`` matches *every* value, of any type, except the ones it names — event-ruler
  "assume[s] they've matched unless we can prove they didn't", so ``{"anything-but": "x"}``
  matches the number ``5`` and ``null``;
- ``exists: true`` matches any leaf, ``null`` included (``exists: false`` is not a value test:
  it is the absence of every leaf at the path, see :class:`~oncue.patterns.compile.Condition`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TypeAlias

from oncue.patterns.values import Key, comparable, in_numeric_range, ip_to_int, is_number, value_key
from oncue.types import Json

__all__ = [
    "AnythingBut",
    "AnythingButIgnoreCase",
    "AnythingButPrefix",
    "AnythingButSuffix",
    "AnythingButWildcard",
    "Cidr",
    "EqualsIgnoreCase",
    "Exact",
    "Exists",
    "Matcher",
    "Numeric",
    "Prefix",
    "Suffix",
    "Wildcard",
    "wildcard_regex",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Exact:
    """An exact value: a string, a number, ``true``, ``false`` or ``null``."""

    key: Key

    def test(self, value: Json) -> bool:
        return value_key(value) == self.key


@dataclass(frozen=True, slots=True, kw_only=True)
class EqualsIgnoreCase:
    lowered: str

    def test(self, value: Json) -> bool:
        return type(value) is str and value.lower() == self.lowered


@dataclass(frozen=True, slots=True, kw_only=True)
class Prefix:
    """``prefix``, or ``prefix`` with ``equals-ignore-case`` (then ``text`` is lower-cased)."""

    text: str
    ignore_case: bool = False

    def test(self, value: Json) -> bool:
        if type(value) is not str:
            return False
        return (value.lower() if self.ignore_case else value).startswith(self.text)


@dataclass(frozen=True, slots=True, kw_only=True)
class Suffix:
    """``suffix``, or ``suffix`` with ``equals-ignore-case`` (then ``text`` is lower-cased)."""

    text: str
    ignore_case: bool = False

    def test(self, value: Json) -> bool:
        if type(value) is not str:
            return False
        return (value.lower() if self.ignore_case else value).endswith(self.text)


def wildcard_regex(text: str) -> re.Pattern[str]:
    """The anchored regular expression of an already validated wildcard value.

    ``*`` matches any run of characters (the empty run too), ``\\*`` a literal asterisk and
    ``\\\\`` a literal backslash (event-ruler's README, *Wildcard matching*).
    """
    parts: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\":
            parts.append(re.escape(text[i + 1]))
            i += 2
            continue
        parts.append(".*" if char == "*" else re.escape(char))
        i += 1
    return re.compile("".join(parts), re.DOTALL)


@dataclass(frozen=True, slots=True, kw_only=True)
class Wildcard:
    text: str
    regex: re.Pattern[str] = field(compare=False, hash=False, repr=False)

    def test(self, value: Json) -> bool:
        return type(value) is str and self.regex.fullmatch(value) is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class AnythingBut:
    """``anything-but`` a string, a number, or a list of only strings or only numbers."""

    keys: frozenset[Key]

    def test(self, value: Json) -> bool:
        return value_key(value) not in self.keys


@dataclass(frozen=True, slots=True, kw_only=True)
class AnythingButIgnoreCase:
    lowered: frozenset[str]

    def test(self, value: Json) -> bool:
        return type(value) is not str or value.lower() not in self.lowered


@dataclass(frozen=True, slots=True, kw_only=True)
class AnythingButPrefix:
    text: str

    def test(self, value: Json) -> bool:
        return type(value) is not str or not value.startswith(self.text)


@dataclass(frozen=True, slots=True, kw_only=True)
class AnythingButSuffix:
    text: str

    def test(self, value: Json) -> bool:
        return type(value) is not str or not value.endswith(self.text)


@dataclass(frozen=True, slots=True, kw_only=True)
class AnythingButWildcard:
    texts: tuple[str, ...]
    regexes: tuple[re.Pattern[str], ...] = field(compare=False, hash=False, repr=False)

    def test(self, value: Json) -> bool:
        if type(value) is not str:
            return True
        return not any(regex.fullmatch(value) for regex in self.regexes)


@dataclass(frozen=True, slots=True, kw_only=True)
class Numeric:
    """A closed range of comparables (``>`` and ``<`` are already turned into ``+1``/``-1``)."""

    low: int
    high: int

    def test(self, value: Json) -> bool:
        if not is_number(value) or not in_numeric_range(value):
            return False
        return self.low <= comparable(value) <= self.high


@dataclass(frozen=True, slots=True, kw_only=True)
class Cidr:
    """An IPv4 or IPv6 network as a closed range of integer addresses."""

    version: int
    low: int
    high: int

    def test(self, value: Json) -> bool:
        if type(value) is not str:
            return False
        address = ip_to_int(value)
        return (
            address is not None
            and address[0] == self.version
            and (self.low <= address[1] <= self.high)
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Exists:
    """``exists: true``: any leaf at the path."""

    def test(self, value: Json) -> bool:
        return True


Matcher: TypeAlias = (
    Exact
    | EqualsIgnoreCase
    | Prefix
    | Suffix
    | Wildcard
    | AnythingBut
    | AnythingButIgnoreCase
    | AnythingButPrefix
    | AnythingButSuffix
    | AnythingButWildcard
    | Numeric
    | Cidr
    | Exists
)

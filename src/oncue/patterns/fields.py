"""All the value tests leaving one state of the index on one field, indexed by kind.

This is the per-field part of event-ruler's design ("Matching with a Machine"): exact values
are one hash lookup, whatever their number; prefixes and suffixes are one lookup per distinct
length; numeric ranges and CIDR blocks are a stabbing query on an interval tree (a field with
only a few ranges scans them instead, which is cheaper at that size). Only the
operators that cannot be indexed that way (``wildcard`` and the ``anything-but`` family) are
tested one by one — event-ruler also keeps anything-buts in a list and documents wildcards as
its costly case.
"""

from __future__ import annotations

from bisect import insort
from typing import Final, Generic, TypeVar

from oncue.patterns.intervals import IntervalTree
from oncue.patterns.matchers import (
    AnythingBut,
    Cidr,
    EqualsIgnoreCase,
    Exact,
    Exists,
    Matcher,
    Numeric,
    Prefix,
    Suffix,
)
from oncue.patterns.values import Key, ip_to_int
from oncue.types import Json

__all__ = ["FieldMatcher"]

T = TypeVar("T")

#: Up to this many numeric ranges on one field are scanned in a list: cheaper than walking an
#: interval tree (and creating its generator) for the one or two ranges a state usually has.
_SCAN: Final = 8


class _Affixes(Generic[T]):
    """Prefixes (or suffixes) by text, with the sorted distinct lengths to try."""

    __slots__ = ("by_text", "lengths")

    def __init__(self) -> None:
        self.by_text: dict[str, list[T]] = {}
        self.lengths: list[int] = []

    def add(self, text: str, target: T) -> None:
        targets = self.by_text.get(text)
        if targets is None:
            self.by_text[text] = [target]
            if len(text) not in self.lengths:
                insort(self.lengths, len(text))
        else:
            targets.append(target)

    def prefixes_of(self, value: str, out: list[T]) -> None:
        size = len(value)
        for length in self.lengths:
            if length > size:
                return
            targets = self.by_text.get(value[:length])
            if targets:
                out.extend(targets)

    def suffixes_of(self, value: str, out: list[T]) -> None:
        size = len(value)
        for length in self.lengths:
            if length > size:
                return
            targets = self.by_text.get(value[size - length :])
            if targets:
                out.extend(targets)


class FieldMatcher(Generic[T]):
    """Maps a leaf value to the targets of every matcher it passes. Add-only."""

    __slots__ = (
        "_cidr",
        "_cidr_trees",
        "_numeric",
        "_numeric_tree",
        "anything_but",
        "exact",
        "exact_only",
        "exists",
        "lowered",
        "prefixes",
        "prefixes_ic",
        "slow",
        "strings",
        "suffixes",
        "suffixes_ic",
    )

    def __init__(self) -> None:
        self.exact: dict[Key, list[T]] = {}
        #: True while every matcher added is an exact value: then ``exact`` is the whole story.
        self.exact_only = True
        #: True once a matcher only strings can pass (affixes, equals-ignore-case, CIDR) is in.
        self.strings = False
        self.lowered: dict[str, list[T]] = {}
        self.prefixes: _Affixes[T] = _Affixes()
        self.prefixes_ic: _Affixes[T] = _Affixes()
        self.suffixes: _Affixes[T] = _Affixes()
        self.suffixes_ic: _Affixes[T] = _Affixes()
        self.exists: list[T] = []
        #: Plain ``anything-but`` values, tested by key with no call per matcher.
        self.anything_but: list[tuple[frozenset[Key], T]] = []
        self.slow: list[tuple[Matcher, T]] = []
        self._numeric: list[tuple[int, int, T]] = []
        self._numeric_tree: IntervalTree[T] | None = None
        self._cidr: dict[int, list[tuple[int, int, T]]] = {}
        self._cidr_trees: dict[int, IntervalTree[T]] | None = None

    def add(self, matcher: Matcher, target: T) -> None:
        if isinstance(matcher, Exact):
            self.exact.setdefault(matcher.key, []).append(target)
            return
        self.exact_only = False
        self.strings = self.strings or isinstance(matcher, (EqualsIgnoreCase, Prefix, Suffix, Cidr))
        if isinstance(matcher, EqualsIgnoreCase):
            self.lowered.setdefault(matcher.lowered, []).append(target)
        elif isinstance(matcher, Prefix):
            (self.prefixes_ic if matcher.ignore_case else self.prefixes).add(matcher.text, target)
        elif isinstance(matcher, Suffix):
            (self.suffixes_ic if matcher.ignore_case else self.suffixes).add(matcher.text, target)
        elif isinstance(matcher, Numeric):
            self._numeric.append((matcher.low, matcher.high, target))
            self._numeric_tree = None
        elif isinstance(matcher, Cidr):
            self._cidr.setdefault(matcher.version, []).append((matcher.low, matcher.high, target))
            self._cidr_trees = None
        elif isinstance(matcher, Exists):
            self.exists.append(target)
        elif isinstance(matcher, AnythingBut):
            self.anything_but.append((matcher.keys, target))
        else:
            self.slow.append((matcher, target))

    def targets(self, value: Json, key: Key, out: list[T]) -> None:
        """Append to ``out`` the target of every matcher ``value`` passes (``key`` is its
        :func:`~oncue.patterns.values.value_key`, computed once per leaf by the caller).

        Each kind is guarded by a test of its container, so a field pays little for the kinds
        it does not hold (this runs once per leaf a reached state tests).
        """
        if self.exact:
            hit = self.exact.get(key)
            if hit:
                out.extend(hit)
        if type(value) is str:
            if self.strings:
                self._strings(value, out)
        elif self._numeric and type(key) is int:
            # Only numbers within EventBridge's numeric range have an int key.
            numeric = self._numeric
            if len(numeric) <= _SCAN:
                for low, high, target in numeric:
                    if low <= key <= high:
                        out.append(target)
            else:
                tree = self._numeric_tree
                if tree is None:
                    tree = self._numeric_tree = IntervalTree(numeric)
                out.extend(tree.stab(key))
        if self.exists:
            out.extend(self.exists)
        if self.anything_but:
            for keys, target in self.anything_but:
                if key not in keys:
                    out.append(target)
        if self.slow:
            for matcher, target in self.slow:
                if matcher.test(value):
                    out.append(target)

    def _strings(self, value: str, out: list[T]) -> None:
        """The tests only strings can pass: affixes, equals-ignore-case, CIDR blocks."""
        prefixes = self.prefixes
        if prefixes.lengths:
            # prefixes_of, inline: a prefix is the most common test after exact values.
            by_text = prefixes.by_text
            size = len(value)
            for length in prefixes.lengths:
                if length > size:
                    break
                hit = by_text.get(value[:length])
                if hit:
                    out.extend(hit)
        if self.suffixes.lengths:
            self.suffixes.suffixes_of(value, out)
        if self.lowered or self.prefixes_ic.lengths or self.suffixes_ic.lengths:
            lowered = value.lower()
            hit = self.lowered.get(lowered)
            if hit:
                out.extend(hit)
            self.prefixes_ic.prefixes_of(lowered, out)
            self.suffixes_ic.suffixes_of(lowered, out)
        if self._cidr:
            self._stab_cidr(value, out)

    def _stab_cidr(self, value: str, out: list[T]) -> None:
        address = ip_to_int(value)
        if address is None:
            return
        trees = self._cidr_trees
        if trees is None:
            trees = self._cidr_trees = {
                version: IntervalTree(items) for version, items in self._cidr.items()
            }
        tree = trees.get(address[0])
        if tree is not None:
            out.extend(tree.stab(address[1]))

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
        # The other kinds are None until a matcher of the kind is added: an index holds one
        # field per (state, path), most hold one or two kinds, and empty containers for the
        # others would make up most of the index's memory.
        #: True once a string test other than a plain prefix is in (suffix, ignore-case, CIDR).
        self.strings = False
        self.lowered: dict[str, list[T]] | None = None
        self.prefixes: _Affixes[T] | None = None
        self.prefixes_ic: _Affixes[T] | None = None
        self.suffixes: _Affixes[T] | None = None
        self.suffixes_ic: _Affixes[T] | None = None
        self.exists: list[T] | None = None
        #: Plain ``anything-but`` values, tested by key with no call per matcher.
        self.anything_but: list[tuple[frozenset[Key], T]] | None = None
        self.slow: list[tuple[Matcher, T]] | None = None
        self._numeric: list[tuple[int, int, T]] | None = None
        self._numeric_tree: IntervalTree[T] | None = None
        self._cidr: dict[int, list[tuple[int, int, T]]] | None = None
        self._cidr_trees: dict[int, IntervalTree[T]] | None = None

    def add(self, matcher: Matcher, target: T) -> None:
        if isinstance(matcher, Exact):
            self.exact.setdefault(matcher.key, []).append(target)
            return
        self.exact_only = False
        if isinstance(matcher, Prefix) and not matcher.ignore_case:
            if self.prefixes is None:
                self.prefixes = _Affixes()
            self.prefixes.add(matcher.text, target)
            return
        if isinstance(matcher, (EqualsIgnoreCase, Prefix, Suffix, Cidr)):
            self.strings = True
        if isinstance(matcher, EqualsIgnoreCase):
            if self.lowered is None:
                self.lowered = {}
            self.lowered.setdefault(matcher.lowered, []).append(target)
        elif isinstance(matcher, Prefix):
            if self.prefixes_ic is None:
                self.prefixes_ic = _Affixes()
            self.prefixes_ic.add(matcher.text, target)
        elif isinstance(matcher, Suffix):
            if matcher.ignore_case:
                if self.suffixes_ic is None:
                    self.suffixes_ic = _Affixes()
                self.suffixes_ic.add(matcher.text, target)
            else:
                if self.suffixes is None:
                    self.suffixes = _Affixes()
                self.suffixes.add(matcher.text, target)
        elif isinstance(matcher, Numeric):
            if self._numeric is None:
                self._numeric = []
            self._numeric.append((matcher.low, matcher.high, target))
            self._numeric_tree = None
        elif isinstance(matcher, Cidr):
            if self._cidr is None:
                self._cidr = {}
            self._cidr.setdefault(matcher.version, []).append((matcher.low, matcher.high, target))
            self._cidr_trees = None
        elif isinstance(matcher, Exists):
            if self.exists is None:
                self.exists = []
            self.exists.append(target)
        elif isinstance(matcher, AnythingBut):
            if self.anything_but is None:
                self.anything_but = []
            self.anything_but.append((matcher.keys, target))
        else:
            if self.slow is None:
                self.slow = []
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
            prefixes = self.prefixes
            if prefixes is not None:
                # _Affixes.prefixes_of, inline: prefixes are the commonest test after exact
                # values.
                by_text = prefixes.by_text
                size = len(value)
                for length in prefixes.lengths:
                    if length > size:
                        break
                    hit = by_text.get(value[:length])
                    if hit:
                        out.extend(hit)
            if self.strings:
                self._strings(value, out)
        elif self._numeric is not None and type(key) is int:
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
        if self.exists is not None:
            out.extend(self.exists)
        if self.anything_but is not None:
            for keys, target in self.anything_but:
                if key not in keys:
                    out.append(target)
        if self.slow is not None:
            for matcher, target in self.slow:
                if matcher.test(value):
                    out.append(target)

    def _strings(self, value: str, out: list[T]) -> None:
        """The tests only strings can pass, but plain prefixes: suffixes, equals-ignore-case,
        affixes ignoring case, CIDR blocks."""
        if self.suffixes is not None:
            self.suffixes.suffixes_of(value, out)
        if self.lowered is not None or self.prefixes_ic is not None or self.suffixes_ic is not None:
            lowered = value.lower()
            if self.lowered is not None:
                hit = self.lowered.get(lowered)
                if hit:
                    out.extend(hit)
            if self.prefixes_ic is not None:
                self.prefixes_ic.prefixes_of(lowered, out)
            if self.suffixes_ic is not None:
                self.suffixes_ic.suffixes_of(lowered, out)
        if self._cidr is not None:
            self._stab_cidr(value, out)

    def _stab_cidr(self, value: str, out: list[T]) -> None:
        address = ip_to_int(value)
        if address is None:
            return
        trees = self._cidr_trees
        if trees is None:
            trees = self._cidr_trees = {
                version: IntervalTree(items) for version, items in (self._cidr or {}).items()
            }
        tree = trees.get(address[0])
        if tree is not None:
            out.extend(tree.stab(address[1]))

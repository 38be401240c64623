"""Flatten an event into (field path, value) leaves, remembering which array elements hold them.

A pattern names *leaves* of the event: ``{"detail": {"state": [...]}}`` tests the scalars at
the path ``detail.state``. Arrays are "crushed out" (event-ruler's README, *JSON Array
Matching*): every element of an array sits at its parent's path, so a field matches when any
element matches ("Arrays in Amazon EventBridge event patterns").

Each leaf carries its *trace*: for every array on the way down, (array number, element index).
Two leaves are *consistent* when they agree on the element of every array they share. A branch
matches only through mutually consistent leaves — event-ruler's ``rulesForJSONEvent``: it "will
refuse to recognize any match in which any two fields are within JSON objects that are in
different elements of the same array". So ``{"employees": {"first": ["Anna"], "last":
["Jones"]}}`` does not match Anna Smith and Peter Jones.

Objects and empty arrays are not leaves: ``exists`` "only works on the leaf nodes".
"""

from __future__ import annotations

import itertools
from collections.abc import Collection
from dataclasses import dataclass
from typing import TypeAlias

from oncue.patterns.values import Key, value_key
from oncue.types import Json

__all__ = [
    "KeyedLeaves",
    "Leaf",
    "PathTrie",
    "Trace",
    "collect",
    "collect_keyed",
    "flatten",
    "merge_traces",
    "path_trie",
]

#: ((array number, element index), ...) from the root down.
Trace: TypeAlias = tuple[tuple[int, int], ...]

#: Leaves grouped by path: path -> [(value, trace), ...].
Leaves: TypeAlias = dict[str, list[tuple[Json, Trace]]]
#: The same with each value's :func:`~oncue.patterns.values.value_key`.
KeyedLeaves: TypeAlias = dict[str, list[tuple[Json, Key, Trace]]]


@dataclass(frozen=True, slots=True, kw_only=True)
class Leaf:
    path: str
    value: Json
    trace: Trace = ()


def flatten(event: Json) -> tuple[Leaf, ...]:
    """Every leaf of ``event``, in document order."""
    return tuple(
        Leaf(path=path, value=value, trace=trace)
        for path, pairs in collect(event).items()
        for value, trace in pairs
    )


def collect(event: Json, wanted: Collection[str] | None = None) -> Leaves:
    """The leaves of ``event`` by path; with ``wanted``, only descend into paths it contains.

    ``wanted`` holds every path a pattern names *and all their dotted prefixes*, so that an
    index skips the parts of an event no rule looks at (event-ruler likewise only steps into
    fields its machine knows).
    """
    out: Leaves = {}
    counter = itertools.count()

    def walk_object(node: dict[str, Json], path: str | None, trace: Trace) -> None:
        for key, value in node.items():
            child = key if path is None else f"{path}.{key}"
            if wanted is not None and child not in wanted:
                continue
            if isinstance(value, dict):
                walk_object(value, child, trace)
            elif isinstance(value, list):
                walk_array(value, child, trace)
            else:
                pairs = out.get(child)
                if pairs is None:
                    out[child] = [(value, trace)]
                else:
                    pairs.append((value, trace))

    def walk_array(node: list[Json], path: str, trace: Trace) -> None:
        number = next(counter)
        for index, value in enumerate(node):
            element_trace = (*trace, (number, index))
            if isinstance(value, dict):
                walk_object(value, path, element_trace)
            elif isinstance(value, list):
                walk_array(value, path, element_trace)
            else:
                out.setdefault(path, []).append((value, element_trace))

    if isinstance(event, dict):
        walk_object(event, None, ())
    return out


class PathTrie:
    """The paths an index looks at, keyed by what an event key may hold at each level.

    A node maps an event key to ``(full path, child node)``. Because a key may itself contain
    dots (``{"a.b": 1}`` sits at the path ``a.b``, see :mod:`.compile`), the root holds every
    wanted path, and the node of ``a`` holds ``b`` and ``b.c`` when ``a.b.c`` is wanted.
    """

    __slots__ = ("children",)

    def __init__(self) -> None:
        self.children: dict[str, tuple[str, PathTrie]] = {}


def path_trie(paths: Collection[str]) -> PathTrie:
    """The trie of ``paths`` and all their dotted prefixes."""
    wanted: set[str] = set()
    for path in paths:
        wanted.update(path[:i] for i, char in enumerate(path) if char == ".")
        wanted.add(path)
    nodes = {path: PathTrie() for path in wanted}
    root = PathTrie()
    for path in wanted:
        root.children[path] = (path, nodes[path])
        for i, char in enumerate(path):
            if char == "." and path[:i] in nodes:
                nodes[path[:i]].children[path[i + 1 :]] = (path, nodes[path])
    return root


def collect_keyed(event: Json, trie: PathTrie) -> KeyedLeaves:
    """:func:`collect` for an index: only the paths of ``trie``, values with their keys.

    The walk looks up the trie's keys in the event rather than the other way round, so the
    parts of an event no rule names cost nothing. (This is the hot path of matching; it is
    written for speed, with the leaf case inlined.)
    """
    out: KeyedLeaves = {}
    counter = itertools.count()

    def walk(value: Json, path: str, node: PathTrie, trace: Trace) -> None:
        if isinstance(value, dict):
            if len(node.children) <= len(value):
                for key, (child_path, child) in node.children.items():
                    if key in value:
                        walk(value[key], child_path, child, trace)
            else:
                for key, child_value in value.items():
                    entry = node.children.get(key)
                    if entry is not None:
                        walk(child_value, entry[0], entry[1], trace)
        elif isinstance(value, list):
            number = next(counter)
            for index, element in enumerate(value):
                walk(element, path, node, (*trace, (number, index)))
        else:
            value_id: Key = value if type(value) is str else value_key(value)
            pairs = out.get(path)
            if pairs is None:
                out[path] = [(value, value_id, trace)]
            else:
                pairs.append((value, value_id, trace))

    if isinstance(event, dict):
        for key, (child_path, child) in trie.children.items():
            if key in event:
                walk(event[key], child_path, child, ())
    return out


def merge_traces(left: Trace, right: Trace) -> Trace | None:
    """The union of two consistent traces, or None when they pick different elements."""
    if not right:
        return left
    if not left:
        return right
    chosen = dict(left)
    merged = list(left)
    for array, index in right:
        seen = chosen.get(array)
        if seen is None:
            chosen[array] = index
            merged.append((array, index))
        elif seen != index:
            return None
    return tuple(sorted(merged))

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

Three walks find leaves: :func:`collect` finds them all (the reference matcher's view);
:func:`leaves_at` finds those at one path, touching only the keys on the way (the index asks
path by path); :func:`leaves_in` finds those at a set of paths in one walk (for an index state
that tests many paths). The last two number arrays by where they sit, so that leaves found by
separate calls on one event compare. :func:`plain_leaf` is :func:`leaves_at`'s common case, one
leaf under plain objects, with nothing allocated.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Final, TypeAlias

from oncue.patterns.values import Key, value_key
from oncue.types import Json

__all__ = [
    "NOT_PLAIN",
    "NO_LEAF",
    "KeyedLeaf",
    "Leaf",
    "PathPlan",
    "PathTrie",
    "Trace",
    "collect",
    "flatten",
    "leaves_at",
    "leaves_in",
    "merge_traces",
    "path_plan",
    "path_trie",
    "plain_leaf",
]

#: ((array number, element index), ...) from the root down.
Trace: TypeAlias = tuple[tuple[int, int], ...]

#: Leaves grouped by path: path -> [(value, trace), ...].
Leaves: TypeAlias = dict[str, list[tuple[Json, Trace]]]


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


def collect(event: Json) -> Leaves:
    """Every leaf of ``event`` grouped by path (what the reference matcher searches)."""
    out: Leaves = {}
    counter = itertools.count()

    def walk_object(node: dict[str, Json], path: str | None, trace: Trace) -> None:
        for key, value in node.items():
            child = key if path is None else f"{path}.{key}"
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


#: One leaf for the index: (value, its value key, trace).
KeyedLeaf: TypeAlias = tuple[Json, Key, Trace]

_MISSING: Final = object()


@dataclass(frozen=True, slots=True, kw_only=True)
class PathPlan:
    """How to find the leaves at one field path without walking the rest of the event.

    ``steps[i]`` lists the event keys that may follow once ``i`` segments of the path are
    consumed, each with the number of segments consumed after it: because a key may itself hold
    dots (``{"a.b": 1}`` sits at the path ``a.b``, see :mod:`.compile`), the path ``a.b.c``
    tries ``a``, ``a.b`` and ``a.b.c`` at the top, ``b`` and ``b.c`` under ``a``, and so on.
    """

    path: str
    size: int
    steps: tuple[tuple[tuple[str, int], ...], ...]
    #: Per segment but the last: (the segment, the dotted keys that could stand for it and
    #: more). When none of those is in the event, the plain descent of :func:`leaves_at` holds.
    descent: tuple[tuple[str, tuple[str, ...]], ...] = ()
    #: The last segment.
    last: str = ""
    #: :func:`plain_leaf` for this path (see :func:`_reader`).
    read: Callable[[Json], object] = field(compare=False, repr=False)


def path_plan(path: str) -> PathPlan:
    """The :class:`PathPlan` of a dotted field path (built once per path an index uses)."""
    segments = path.split(".")
    size = len(segments)
    steps = tuple(
        tuple((".".join(segments[i:j]), j) for j in range(i + 1, size + 1)) for i in range(size)
    )
    descent = tuple((segments[i], tuple(key for key, _ in steps[i][1:])) for i in range(size - 1))
    return PathPlan(
        path=path,
        size=size,
        steps=steps,
        descent=descent,
        last=segments[-1],
        read=_reader(segments, descent),
    )


#: What :func:`plain_leaf` returns when there is no leaf at the path.
NO_LEAF: Final = object()
#: What :func:`plain_leaf` returns when the path crosses an array or a key holding dots: the
#: leaves are then :func:`leaves_at`'s to find.
NOT_PLAIN: Final = object()


def plain_leaf(event: Json, plan: PathPlan) -> object:
    """The one leaf of ``event`` at ``plan.path`` when plain objects lead to it, else
    :data:`NO_LEAF` or :data:`NOT_PLAIN`: :func:`leaves_at`'s common case, with no list or
    tuple built (it runs for every content test of a matching event)."""
    return plan.read(event)


def _reader(
    segments: list[str], descent: tuple[tuple[str, tuple[str, ...]], ...]
) -> Callable[[Json], object]:
    """:func:`plain_leaf` for one path. Paths of up to three segments (nearly every path of
    a real pattern) get the descent written out: the interpreter's loop over the steps would
    cost more than the few dict lookups they make. At each level the keys that could hold
    the rest of the path with its dots (see :class:`PathPlan`) send the event to the general
    walk."""
    last = segments[-1]
    if len(segments) == 1:

        def read1(event: Json) -> object:
            if type(event) is not dict:
                return NO_LEAF
            value = event.get(last, NO_LEAF)
            return value if type(value) is str else _leaf(value)

        return read1
    if len(segments) == 2:
        first = segments[0]
        (whole,) = descent[0][1]

        def read2(event: Json) -> object:
            if type(event) is not dict:
                return NO_LEAF
            if whole in event:
                return NOT_PLAIN
            node = event.get(first)
            if type(node) is not dict:
                return NOT_PLAIN if isinstance(node, (dict, list)) else NO_LEAF
            value = node.get(last, NO_LEAF)
            return value if type(value) is str else _leaf(value)

        return read2
    if len(segments) == 3:
        first, second = segments[0], segments[1]
        top_pair, top_whole = descent[0][1]
        (inner_whole,) = descent[1][1]

        def read3(event: Json) -> object:
            if type(event) is not dict:
                return NO_LEAF
            if top_pair in event or top_whole in event:
                return NOT_PLAIN
            node = event.get(first)
            if type(node) is not dict:
                return NOT_PLAIN if isinstance(node, (dict, list)) else NO_LEAF
            if inner_whole in node:
                return NOT_PLAIN
            node = node.get(second)
            if type(node) is not dict:
                return NOT_PLAIN if isinstance(node, (dict, list)) else NO_LEAF
            value = node.get(last, NO_LEAF)
            return value if type(value) is str else _leaf(value)

        return read3

    def read(event: Json) -> object:
        if type(event) is not dict:
            return NO_LEAF
        node: Json = event
        for segment, dotted in descent:
            for key in dotted:
                if key in node:
                    return NOT_PLAIN
            node = node.get(segment)
            if type(node) is not dict:
                return NOT_PLAIN if isinstance(node, (dict, list)) else NO_LEAF
        return _leaf(node.get(last, NO_LEAF))

    return read


def _leaf(value: object) -> object:
    """What :func:`plain_leaf` makes of the value under the last segment (not a string)."""
    if value is NO_LEAF:
        return value
    if isinstance(value, dict):
        return NO_LEAF  # objects are not leaves
    if isinstance(value, list):
        return NOT_PLAIN
    return value


def leaves_at(event: Json, plan: PathPlan, arrays: dict[object, int]) -> list[KeyedLeaf]:
    """The leaves of ``event`` at ``plan.path`` with their value keys, as :func:`collect` finds
    them, touching only the keys on the way there (event-ruler likewise only steps into fields
    its machine knows). This is the hot path of :class:`~oncue.patterns.index.RuleIndex`.

    ``arrays`` numbers the arrays of one event across calls, so that the traces of leaves found
    at different paths compare (see :func:`merge_traces`). An array is named by the keys that
    lead to it and its nesting, not by the order of a walk: two arrays reached by the same keys
    sit under different elements of a common array, so their leaves already disagree there and
    sharing a number cannot make inconsistent leaves look consistent.
    """
    if type(event) is not dict:
        return _leaves_at(event, plan, arrays)
    # The common case first: plain objects all the way down to one scalar, and no key holding
    # a dot that could stand for several segments. Anything else takes the general walk.
    node: Json = event
    for segment, dotted in plan.descent:
        for key in dotted:
            if key in node:
                return _leaves_at(event, plan, arrays)
        node = node.get(segment)
        if type(node) is not dict:
            if isinstance(node, (dict, list)):
                return _leaves_at(event, plan, arrays)
            return []  # absent, or a scalar with no fields under it
    value = node.get(plan.last, _MISSING)
    kind = type(value)
    if kind is str:
        return [(value, value, ())]
    if value is _MISSING or kind is dict:
        return []  # objects are not leaves
    if isinstance(value, (dict, list)):
        return _leaves_at(event, plan, arrays)
    return [(value, value_key(value), ())]


def _leaves_at(event: Json, plan: PathPlan, arrays: dict[object, int]) -> list[KeyedLeaf]:
    """:func:`leaves_at` by the general walk: arrays, and keys holding dots."""
    out: list[KeyedLeaf] = []
    if not isinstance(event, dict):
        return out
    size = plan.size
    steps = plan.steps
    # Objects still to step into: (object, segments consumed, route, trace). A route is a
    # linked list of the keys taken, built as we go because only arrays need it.
    pending: list[tuple[dict[str, Json], int, object, Trace]] = [(event, 0, None, ())]
    while pending:
        node, consumed, route, trace = pending.pop()
        for key, after in steps[consumed]:
            value = node.get(key, _MISSING)
            if value is _MISSING:
                continue
            kind = type(value)
            if kind is str:
                if after == size:
                    out.append((value, value, trace))
            elif kind is dict or isinstance(value, dict):
                if after < size:
                    pending.append((value, after, (route, key), trace))
            elif kind is list or isinstance(value, list):
                _array(value, after, (route, key), trace, size, arrays, pending, out)
            elif after == size:
                out.append((value, value_key(value), trace))
    return out


def _array(
    array: list[Json],
    consumed: int,
    route: object,
    trace: Trace,
    size: int,
    arrays: dict[object, int],
    pending: list[tuple[dict[str, Json], int, object, Trace]],
    out: list[KeyedLeaf],
) -> None:
    """Every element of an array sits at the array's path ("crushed out")."""
    number = arrays.get(route)
    if number is None:
        number = arrays[route] = len(arrays)
    inner = (route, None)
    for index, element in enumerate(array):
        element_trace = (*trace, (number, index))
        if isinstance(element, dict):
            if consumed < size:
                pending.append((element, consumed, inner, element_trace))
        elif isinstance(element, list):
            _array(element, consumed, inner, element_trace, size, arrays, pending, out)
        elif consumed == size:
            out.append((element, value_key(element), element_trace))


class PathTrie:
    """Every path an index uses, keyed by what an event key may hold at each level.

    A node maps an event key to ``(full path, child node)``. Because a key may itself contain
    dots, the root holds every wanted path, and the node of ``a`` holds ``b`` and ``b.c`` when
    ``a.b.c`` is wanted (the same alternatives as :class:`PathPlan`, for all paths at once).
    """

    __slots__ = ("children",)

    def __init__(self) -> None:
        self.children: dict[str, tuple[str, PathTrie]] = {}


def path_trie(paths: Iterable[str]) -> PathTrie:
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


def leaves_in(event: Json, trie: PathTrie, arrays: dict[object, int]) -> dict[str, list[KeyedLeaf]]:
    """The leaves of ``event`` at every path of ``trie`` (prefixes included), by path.

    For a state that tests more paths than the event has leaves: one walk of the parts of the
    event some rule names, rather than one :func:`leaves_at` per path. The walk looks up the
    trie's keys in the event or the event's keys in the trie, whichever are fewer. Arrays are
    numbered in ``arrays`` exactly as :func:`leaves_at` numbers them, so leaves from both
    compare.
    """
    out: dict[str, list[KeyedLeaf]] = {}

    def walk(value: Json, path: str, node: PathTrie, route: object, trace: Trace) -> None:
        if isinstance(value, dict):
            children = node.children
            if len(children) <= len(value):
                present = [
                    (key, value[key], entry) for key, entry in children.items() if key in value
                ]
            else:
                present = [
                    (key, child, children[key]) for key, child in value.items() if key in children
                ]
            for key, child, (child_path, child_node) in present:
                if type(child) is str:  # a string leaf, inline: the common case
                    found = out.get(child_path)
                    if found is None:
                        out[child_path] = [(child, child, trace)]
                    else:
                        found.append((child, child, trace))
                else:
                    walk(child, child_path, child_node, (route, key), trace)
        elif isinstance(value, list):
            number = arrays.get(route)
            if number is None:
                number = arrays[route] = len(arrays)
            inner = (route, None)
            for index, element in enumerate(value):
                walk(element, path, node, inner, (*trace, (number, index)))
        else:
            leaf = (value, value if type(value) is str else value_key(value), trace)
            pairs = out.get(path)
            if pairs is None:
                out[path] = [leaf]
            else:
                pairs.append(leaf)

    if isinstance(event, dict):
        walk(event, "", trie, None, ())
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

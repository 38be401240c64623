"""The rule index of a bus: which of many rules match an event, at a cost that barely grows
with the number of rules.

This follows event-ruler's ``Machine`` ("the time it takes to match Events doesn't depend on
the number of Rules"): every branch of every rule is a path through a shared automaton of
*states*. A state has, per field path, a :class:`~oncue.patterns.fields.FieldMatcher` that maps
a leaf value to the next states in a few hash lookups (exact values, prefixes, suffixes) or an
interval-tree query (numeric ranges, CIDR blocks). Matching starts at the root, steps on the
event's leaves, and collects the rules of every state it reaches. Branches that share their
first conditions share states, so an event only pays for the partial matches it really makes.

An event is never flattened up front. A state asks for the leaves at each path it tests, and
those are found by stepping down that path alone (:func:`~oncue.patterns.flatten.leaves_at`)
and kept for the rest of the match; the parts of the event no reached state names are never
walked. A *wide* state, one testing many paths, instead has the event flattened once over the
paths of the index (:func:`~oncue.patterns.flatten.leaves_in`) and walks the smaller side, so
no event pays for every path of thousands of rules.

Most EventBridge rules pin ``source`` and ``detail-type`` to exact values. A branch that does
(see :func:`_envelope_keys`) is entered through one lookup of the pair, so the event's first
step costs one tuple and one dict lookup however many rules and envelopes there are; other
branches start at the root. An event whose ``source`` or ``detail-type`` is an array or not a
string finds its pairs leaf by leaf, with the same array consistency as any other field. The
state after an envelope is usually *flat*: its children are final, so the event's leaves at
its few paths are read directly and the rules they reach collected, with no stack or traces.

Conditions are inserted in a fixed order — exact-only conditions first, then other value
tests, then those allowing absence, each group by path — so the most selective, most often
shared tests come first. Array consistency (see :mod:`.flatten`) travels with each step as the
trace of the leaves used so far, exactly as event-ruler's ``ACFinder`` carries array membership.

Adding a rule extends the automaton in place. Removing or replacing one marks it stale; the
next match rebuilds it from the compiled patterns — rule changes are rare next to events, and a
rebuild keeps the automaton free of the garbage event-ruler warns ``deleteRule()`` can leave.
"""

from __future__ import annotations

from typing import Final

from oncue.patterns.compile import Condition, Pattern
from oncue.patterns.fields import FieldMatcher
from oncue.patterns.flatten import (
    NO_LEAF,
    NOT_PLAIN,
    KeyedLeaf,
    PathPlan,
    PathTrie,
    Trace,
    leaves_at,
    leaves_in,
    merge_traces,
    path_plan,
    path_trie,
)
from oncue.patterns.matchers import Exact, Matcher
from oncue.patterns.values import Key, value_key
from oncue.types import Json

__all__ = ["RuleIndex"]

_ChildKey = tuple[str, frozenset[Matcher], bool]
#: What a state tests on one path: (path, how to find its leaves, the value tests).
_Lookup = tuple[str, PathPlan, "FieldMatcher[_State]"]

#: A state testing more paths than this has the whole event flattened (only the paths some
#: rule names) and walks the smaller side, event or state; below it, leaves are found path by
#: path. Either way no event pays for every path of a wide state.
_WIDE: int = 8  # not Final: tests lower it to run every state the wide way

_DETAIL_TYPE: Final = "detail-type"
_SOURCE: Final = "source"
_ENVELOPE: Final = frozenset({_DETAIL_TYPE, _SOURCE})
#: A branch naming more (detail-type, source) pairs than this starts at the root instead.
_MAX_ENVELOPE_KEYS: Final = 64
_ABSENT: Final = object()
_DETAIL_TYPE_PLAN: Final = path_plan(_DETAIL_TYPE)
_SOURCE_PLAN: Final = path_plan(_SOURCE)


class _State:
    __slots__ = ("absent", "by_path", "children", "flat", "lookups", "parent", "rules")

    def __init__(self, parent: _State | None = None) -> None:
        self.lookups: list[_Lookup] = []
        self.by_path: dict[str, _Lookup] = {}
        self.absent: list[tuple[str, PathPlan, list[_State]]] = []
        self.rules: set[str] = set()
        self.children: dict[_ChildKey, _State] = {}
        self.parent = parent
        #: True while no condition here allows absence and every child is final (has no
        #: conditions of its own): then a match only collects the rules of the children the
        #: event's leaves reach, and array traces cannot matter (the state is entered with
        #: none, and nothing follows).
        self.flat = True

    def step(self, condition: Condition, plan: PathPlan) -> _State:
        """The state after ``condition``, created (and indexed) on first use."""
        key = (condition.path, frozenset(condition.matchers), condition.absent_ok)
        child = self.children.get(key)
        if child is None:
            if self.parent is not None and not (self.lookups or self.absent):
                self.parent.flat = False  # this state stops being final
            child = self.children[key] = _State(self)
            if condition.absent_ok:
                self.flat = False
            if condition.matchers:
                lookup = self.by_path.get(condition.path)
                if lookup is None:
                    lookup = self.by_path[condition.path] = (condition.path, plan, FieldMatcher())
                    self.lookups.append(lookup)
                for matcher in condition.matchers:
                    lookup[2].add(matcher, child)
            if condition.absent_ok:
                for path, _, targets in self.absent:
                    if path == condition.path:
                        targets.append(child)
                        break
                else:
                    self.absent.append((condition.path, plan, [child]))
        return child


def _order(condition: Condition) -> tuple[int, str]:
    if condition.absent_ok:
        return 2, condition.path
    if all(isinstance(matcher, Exact) for matcher in condition.matchers):
        return 0, condition.path
    return 1, condition.path


def _envelope_keys(branch: tuple[Condition, ...]) -> list[tuple[Key, Key]] | None:
    """The (detail-type, source) keys under which a branch enters the index, or None when it
    does not pin both to exact values (then it starts at the root like any other).

    Nearly every EventBridge rule names its source and detail-type, so an event's first step
    is one lookup of the pair instead of two states visited. A branch naming several values
    of each is entered under every pair, up to :data:`_MAX_ENVELOPE_KEYS` pairs.
    """
    found: dict[str, list[Key]] = {}
    for condition in branch:
        if condition.path in _ENVELOPE:
            if condition.absent_ok or not all(
                isinstance(matcher, Exact) for matcher in condition.matchers
            ):
                return None
            found[condition.path] = [
                matcher.key for matcher in condition.matchers if isinstance(matcher, Exact)
            ]
    if len(found) < len(_ENVELOPE):
        return None
    detail_types, sources = found[_DETAIL_TYPE], found[_SOURCE]
    if len(detail_types) * len(sources) > _MAX_ENVELOPE_KEYS:
        return None
    return [(detail_type, source) for detail_type in detail_types for source in sources]


def _visit_flat(event: Json, state: _State, arrays: dict[object, int], result: set[str]) -> None:
    """Collect the rules of the children of a flat state that ``event`` reaches (see
    :attr:`_State.flat`): the common envelope state, a few content tests away from its rules."""
    for _, plan, field in state.lookups:
        value = plan.read(event)  # plain_leaf(event, plan)
        if value is NO_LEAF:
            continue
        if value is NOT_PLAIN:
            for leaf, key, _ in leaves_at(event, plan, arrays):
                _collect(field, leaf, key, result)
            continue
        # _collect, inline: this is the hot path of an event meeting its rules' envelope.
        if field.exact_only:
            targets = field.exact.get(value if type(value) is str else value_key(value))
            if not targets:
                continue
        else:
            targets = []
            field.targets(value, value if type(value) is str else value_key(value), targets)
        for target in targets:
            result.update(target.rules)


def _collect(field: FieldMatcher[_State], value: Json, key: Key, result: set[str]) -> None:
    """Add to ``result`` the rules of the final states ``value`` reaches through ``field``."""
    if field.exact_only:
        targets = field.exact.get(key)
        if not targets:
            return
    else:
        targets = []
        field.targets(value, key, targets)
    for target in targets:
        result.update(target.rules)


class RuleIndex:
    """Many compiled patterns under rule ids; ``match(event)`` returns the ids that match.

    A pure, single-threaded structure: callers that share one across threads lock around it.
    """

    __slots__ = ("_envelope", "_patterns", "_plans", "_stale", "_start", "_trie")

    def __init__(self) -> None:
        self._patterns: dict[str, Pattern] = {}
        self._start = _State()
        #: (detail-type key, source key) -> the state after both: see :func:`_envelope_keys`.
        self._envelope: dict[tuple[Key, Key], _State] = {}
        self._plans: dict[str, PathPlan] = {}
        self._trie: PathTrie | None = None
        self._stale = False

    def __len__(self) -> int:
        return len(self._patterns)

    def __contains__(self, rule_id: object) -> bool:
        return rule_id in self._patterns

    def add(self, rule_id: str, compiled: Pattern) -> None:
        """Add a rule, or replace the pattern of an existing rule id."""
        if rule_id in self._patterns:
            self._stale = True
        self._patterns[rule_id] = compiled
        if not self._stale:
            self._insert(rule_id, compiled)

    def remove(self, rule_id: str) -> None:
        """Remove a rule; KeyError if there is no rule with this id."""
        del self._patterns[rule_id]
        self._stale = True

    def match(self, event: Json) -> set[str]:
        """The ids of every rule whose pattern matches ``event`` (parsed JSON)."""
        if self._stale:
            self._rebuild()
        result: set[str] = set()
        arrays: dict[object, int] = {}
        if self._envelope and type(event) is dict:
            detail_type = event.get(_DETAIL_TYPE, _ABSENT)
            source = event.get(_SOURCE, _ABSENT)
            if type(detail_type) is str and type(source) is str:
                state = self._envelope.get((detail_type, source))
                if state is not None:
                    if state.rules:
                        result.update(state.rules)
                    if state.flat and len(state.lookups) <= _WIDE:
                        _visit_flat(event, state, arrays, result)
                    elif state.lookups or state.absent:
                        self._walk(event, [(state, ())], result, arrays)
            elif detail_type is not _ABSENT and source is not _ABSENT:
                stack = self._envelope_states(event, arrays)
                if stack:
                    self._walk(event, stack, result, arrays)
        start = self._start
        if start.lookups or start.absent or start.rules:
            self._walk(event, [(start, ())], result, arrays)
        return result

    def _envelope_states(
        self, event: Json, arrays: dict[object, int]
    ) -> list[tuple[_State, Trace]]:
        """The envelope states of an event whose source or detail-type is not a plain string:
        arrays (any element may match, consistently with the other leaves) and other scalars."""
        envelope = self._envelope
        stack: list[tuple[_State, Trace]] = []
        sources = leaves_at(event, _SOURCE_PLAN, arrays)
        for _, detail_type, detail_trace in leaves_at(event, _DETAIL_TYPE_PLAN, arrays):
            for _, source, source_trace in sources:
                state = envelope.get((detail_type, source))
                if state is None:
                    continue
                trace = merge_traces(detail_trace, source_trace)
                if trace is not None and (state, trace) not in stack:
                    stack.append((state, trace))
        return stack

    def _walk(
        self,
        event: Json,
        stack: list[tuple[_State, Trace]],
        result: set[str],
        arrays: dict[object, int],
    ) -> None:
        # Leaves are found path by path as the states reached ask for them, so an event costs
        # what its partial matches cost, whatever the number of rules and paths.
        leaves: dict[str, list[KeyedLeaf]] = {}
        complete = False  # whether ``leaves`` holds every leaf at every path of the index
        push = stack.append
        # The states a walk starts from (the root, envelope states) are no state's children,
        # so nothing can push them again.
        seen: set[tuple[_State, Trace]] = set()
        top_level = type(event) is dict
        while stack:
            state, trace = stack.pop()
            if state.rules:
                result.update(state.rules)
            lookups = state.lookups
            if len(lookups) > _WIDE:
                if not complete:
                    for path, pairs in leaves_in(event, self._path_trie(), arrays).items():
                        leaves.setdefault(path, pairs)
                    complete = True
                if len(leaves) < len(lookups):
                    by_path = state.by_path
                    lookups = [by_path[path] for path in leaves if path in by_path]
            for path, plan, field in lookups:
                if top_level and plan.size == 1 and not trace and field.exact_only:
                    # A top-level field under an exact test (source, detail-type, ...): when it
                    # holds a string, one lookup in the event and one in the field suffice.
                    value = event.get(path)
                    if type(value) is str:
                        targets = field.exact.get(value)
                        if targets:
                            for target in targets:
                                if target.lookups or target.absent:
                                    push((target, ()))
                                else:  # a final state: no need to visit it
                                    result.update(target.rules)
                        continue
                found = leaves.get(path)
                if found is None:
                    if complete:
                        continue
                    found = leaves[path] = leaves_at(event, plan, arrays)
                pairs = found
                if not pairs:
                    continue
                exact_only = field.exact_only
                if not trace and len(pairs) == 1 and not pairs[0][2]:
                    # One plain leaf, no arrays on the way: the common case. Its targets are
                    # children of a state popped once with this empty trace (a child belongs
                    # to one field of one state), so they need no ``seen`` check.
                    if exact_only:
                        targets = field.exact.get(pairs[0][1])
                        if not targets:
                            continue
                    else:
                        value, key, _ = pairs[0]
                        targets = []
                        field.targets(value, key, targets)
                        if len(targets) > 1:
                            # Two matchers of one condition share their target.
                            targets = list(dict.fromkeys(targets))
                    for target in targets:
                        if target.lookups or target.absent:
                            push((target, ()))
                        else:  # a final state: no need to visit it
                            result.update(target.rules)
                    continue
                for value, key, leaf_trace in pairs:
                    if exact_only:
                        targets = field.exact.get(key)
                        if not targets:
                            continue
                    else:
                        targets = []
                        field.targets(value, key, targets)
                        if not targets:
                            continue
                    if leaf_trace:
                        merged = merge_traces(trace, leaf_trace)
                        if merged is None:
                            continue
                    else:
                        merged = trace
                    for target in targets:
                        if not (target.lookups or target.absent):
                            # A final state: its rules match whatever the trace, so it needs
                            # no visit (nor de-duplication: ``result`` is a set).
                            result.update(target.rules)
                            continue
                        token = (target, merged)
                        if token not in seen:
                            seen.add(token)
                            push(token)
            for path, plan, absent_targets in state.absent:
                present = leaves.get(path)
                if present is None and not complete:
                    present = leaves[path] = leaves_at(event, plan, arrays)
                if present:
                    continue
                for target in absent_targets:
                    token = (target, trace)
                    if token not in seen:
                        seen.add(token)
                        push(token)

    def _path_trie(self) -> PathTrie:
        if self._trie is None:
            self._trie = path_trie(self._plans)
        return self._trie

    def _insert(self, rule_id: str, compiled: Pattern) -> None:
        for branch in compiled.branches:
            conditions = sorted(branch, key=_order)
            keys = _envelope_keys(branch)
            if keys is None:
                self._insert_from(self._start, conditions, rule_id)
                continue
            rest = [condition for condition in conditions if condition.path not in _ENVELOPE]
            for key in keys:
                state = self._envelope.get(key)
                if state is None:
                    state = self._envelope[key] = _State()
                self._insert_from(state, rest, rule_id)

    def _insert_from(self, state: _State, conditions: list[Condition], rule_id: str) -> None:
        for condition in conditions:
            plan = self._plans.get(condition.path)
            if plan is None:
                plan = self._plans[condition.path] = path_plan(condition.path)
                self._trie = None
            state = state.step(condition, plan)
        state.rules.add(rule_id)

    def _rebuild(self) -> None:
        self._start = _State()
        self._envelope = {}
        self._plans = {}
        self._trie = None
        self._stale = False
        for rule_id, compiled in self._patterns.items():
            self._insert(rule_id, compiled)

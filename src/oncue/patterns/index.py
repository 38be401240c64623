"""The rule index of a bus: which of many rules match an event, at a cost that barely grows
with the number of rules.

This follows event-ruler's ``Machine`` ("the time it takes to match Events doesn't depend on
the number of Rules"): every branch of every rule is a path through a shared automaton of
*states*. A state has, per field path, a :class:`~oncue.patterns.fields.FieldMatcher` that maps
a leaf value to the next states in a few hash lookups (exact values, prefixes, suffixes) or an
interval-tree query (numeric ranges, CIDR blocks). Matching starts at the root, steps on the
event's leaves, and collects the rules of every state it reaches. Branches that share their
first conditions share states, so an event only pays for the partial matches it really makes.

Conditions are inserted in a fixed order — exact-only conditions first, then other value
tests, then those allowing absence, each group by path — so the most selective, most often
shared tests come first. Array consistency (see :mod:`.flatten`) travels with each step as the
trace of the leaves used so far, exactly as event-ruler's ``ACFinder`` carries array membership.

Adding a rule extends the automaton in place. Removing or replacing one marks it stale; the
next match rebuilds it from the compiled patterns — rule changes are rare next to events, and a
rebuild keeps the automaton free of the garbage event-ruler warns ``deleteRule()`` can leave.
"""

from __future__ import annotations

from oncue.patterns.compile import Condition, Pattern
from oncue.patterns.fields import FieldMatcher
from oncue.patterns.flatten import PathTrie, Trace, collect_keyed, merge_traces, path_trie
from oncue.patterns.matchers import Exact, Matcher
from oncue.types import Json

__all__ = ["RuleIndex"]

_ChildKey = tuple[str, frozenset[Matcher], bool]


class _State:
    __slots__ = ("absent", "children", "fields", "rules")

    def __init__(self) -> None:
        self.fields: dict[str, FieldMatcher[_State]] = {}
        self.absent: dict[str, list[_State]] = {}
        self.rules: set[str] = set()
        self.children: dict[_ChildKey, _State] = {}

    def step(self, condition: Condition) -> _State:
        """The state after ``condition``, created (and indexed) on first use."""
        key = (condition.path, frozenset(condition.matchers), condition.absent_ok)
        child = self.children.get(key)
        if child is None:
            child = self.children[key] = _State()
            if condition.matchers:
                field = self.fields.get(condition.path)
                if field is None:
                    field = self.fields[condition.path] = FieldMatcher()
                for matcher in condition.matchers:
                    field.add(matcher, child)
            if condition.absent_ok:
                self.absent.setdefault(condition.path, []).append(child)
        return child


def _order(condition: Condition) -> tuple[int, str]:
    if condition.absent_ok:
        return 2, condition.path
    if all(isinstance(matcher, Exact) for matcher in condition.matchers):
        return 0, condition.path
    return 1, condition.path


class RuleIndex:
    """Many compiled patterns under rule ids; ``match(event)`` returns the ids that match.

    A pure, single-threaded structure: callers that share one across threads lock around it.
    """

    __slots__ = ("_paths", "_patterns", "_stale", "_start", "_trie")

    def __init__(self) -> None:
        self._patterns: dict[str, Pattern] = {}
        self._start = _State()
        self._paths: set[str] = set()
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
        if self._trie is None:
            self._trie = path_trie(self._paths)
        leaves = collect_keyed(event, self._trie)
        result: set[str] = set()
        stack: list[tuple[_State, Trace]] = [(self._start, ())]
        seen: set[tuple[_State, Trace]] = set()
        while stack:
            state, trace = stack.pop()
            if state.rules:
                result.update(state.rules)
            for path, field in state.fields.items():
                pairs = leaves.get(path)
                if not pairs:
                    continue
                exact_only = field.exact_only
                for value, key, leaf_trace in pairs:
                    if exact_only:  # the common case, one lookup
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
                        token = (target, merged)
                        if token not in seen:
                            seen.add(token)
                            stack.append(token)
            if not state.absent:
                continue
            for path, absent_targets in state.absent.items():
                if path in leaves:
                    continue
                for target in absent_targets:
                    token = (target, trace)
                    if token not in seen:
                        seen.add(token)
                        stack.append(token)
        return result

    def _insert(self, rule_id: str, compiled: Pattern) -> None:
        for branch in compiled.branches:
            state = self._start
            for condition in sorted(branch, key=_order):
                if condition.path not in self._paths:
                    self._paths.add(condition.path)
                    self._trie = None
                state = state.step(condition)
            state.rules.add(rule_id)

    def _rebuild(self) -> None:
        self._start = _State()
        self._paths = set()
        self._trie = None
        self._stale = False
        for rule_id, compiled in self._patterns.items():
            self._insert(rule_id, compiled)

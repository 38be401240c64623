"""The reference matcher: the definition of a match, written to be obviously right, not fast.

A pattern matches an event when some branch matches. A branch matches when every condition can
be satisfied at once: each condition either picks a leaf at its path whose value passes one of
its matchers, or — if it allows absence (``{"exists": false}``) — finds no leaf at its path in
the whole event; and all picked leaves are mutually consistent (see :mod:`.flatten`). The search
below tries every choice; :class:`~oncue.patterns.index.RuleIndex` must agree with it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from oncue.patterns.compile import Condition, Pattern, compile_pattern
from oncue.patterns.flatten import Leaves, Trace, collect, merge_traces
from oncue.types import Json

__all__ = ["matches"]


def matches(pattern: Pattern | str | Mapping[str, Json], event: Json) -> bool:
    """Whether ``event`` (parsed JSON) matches ``pattern`` (compiled, or compiled here)."""
    compiled = pattern if isinstance(pattern, Pattern) else compile_pattern(pattern)
    leaves = collect(event)
    return any(_satisfiable(branch, leaves, ()) for branch in compiled.branches)


def _satisfiable(conditions: Sequence[Condition], leaves: Leaves, trace: Trace) -> bool:
    if not conditions:
        return True
    condition, rest = conditions[0], conditions[1:]
    candidates = leaves.get(condition.path, [])
    if not candidates and condition.absent_ok:
        return _satisfiable(rest, leaves, trace)
    for value, leaf_trace in candidates:
        if not condition.test(value):
            continue
        merged = merge_traces(trace, leaf_trace)
        if merged is not None and _satisfiable(rest, leaves, merged):
            return True
    return False

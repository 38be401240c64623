"""Compile an event pattern once: parse, validate with EventBridge's rules, normalise.

The compiled :class:`Pattern` is a disjunction of *branches*; a branch is a conjunction of
:class:`Condition` s, one per field path. ``$or`` is expanded into branches here, the way
event-ruler's ``JsonRuleCompiler`` forks one field map per ``$or`` alternative, so matchers
never see ``$or``. Field paths join nested keys with ``.`` — as in event-ruler, the pattern
``{"a": {"b": [1]}}`` and ``{"a.b": [1]}`` compile to the same path ("Caveat: Compiled rules
and JSON keys with dots"); when one branch names the same path twice the later one wins, as a
map put does there.

Validation follows "Event pattern syntax" and "Comparison operators for use in event patterns
in Amazon EventBridge"; the reasons are worded like event-ruler's (EventBridge's engine), so a
message reads like EventBridge's ``InvalidEventPatternException``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, NoReturn

from oncue.patterns.matchers import Exact, Exists, Matcher
from oncue.patterns.operators import invalid, parse_operator
from oncue.patterns.values import value_key
from oncue.types import Json

__all__ = [
    "MAX_BRANCHES",
    "MAX_PATTERN_LENGTH",
    "Condition",
    "Pattern",
    "compile_pattern",
]

#: PutRule's ``EventPattern`` length constraint (API reference: "Maximum length of 4096").
MAX_PATTERN_LENGTH: Final = 4096
#: How many ``$or`` combinations one pattern may expand to. EventBridge rejects patterns whose
#: ``$or`` combinations are too many without documenting the figure; this bound keeps one rule
#: from costing more than a thousand plain rules.
MAX_BRANCHES: Final = 1000

_OR: Final = "$or"
#: Operator names that cannot be field names inside ``$or`` (event-ruler's
#: ``RESERVED_FIELD_NAMES_IN_OR_RELATIONSHIP``).
_RESERVED_IN_OR: Final = frozenset(
    {
        "anything-but",
        "cidr",
        "equals-ignore-case",
        "exists",
        "numeric",
        "prefix",
        "suffix",
        "wildcard",
    }
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Condition:
    """One field of a branch: some leaf at ``path`` passes one of ``matchers``, or — when
    ``absent_ok`` (the pattern said ``{"exists": false}``) — the event has no leaf there."""

    path: str
    matchers: tuple[Matcher, ...]
    absent_ok: bool = False

    def test(self, value: Json) -> bool:
        return any(matcher.test(value) for matcher in self.matchers)


@dataclass(frozen=True, slots=True, kw_only=True)
class Pattern:
    """A compiled, immutable event pattern."""

    source: Json
    branches: tuple[tuple[Condition, ...], ...]


def compile_pattern(pattern: str | Mapping[str, Json]) -> Pattern:
    """Validate and compile an event pattern given as JSON text or as a parsed mapping."""
    if isinstance(pattern, str):
        if len(pattern) > MAX_PATTERN_LENGTH:
            invalid(f"Event pattern is longer than {MAX_PATTERN_LENGTH} characters")
        document = _parse_json(pattern)
    else:
        document = pattern
    if not isinstance(document, Mapping):
        invalid("Filter is not an object")
    branches = _parse_object(document, (), [{}], in_or=False)
    compiled = tuple(tuple(branch.values()) for branch in branches)
    return Pattern(source=document, branches=compiled)


def _reject_constant(name: str) -> NoReturn:
    invalid(f"Invalid JSON: {name} is not a JSON number")


def _parse_json(text: str) -> Json:
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as error:
        invalid(f"Invalid JSON: {error.msg} at line {error.lineno}, column {error.colno}")


_Branch = dict[str, Condition]


def _parse_object(
    obj: Mapping[str, Json], path: tuple[str, ...], branches: list[_Branch], *, in_or: bool
) -> list[_Branch]:
    if not obj:
        invalid("Empty objects are not allowed", ".".join(path))
    for key, value in obj.items():
        if not isinstance(key, str):
            invalid(f"Field names must be strings, not {key!r}", ".".join(path))
        if key == _OR:
            branches = _parse_or(value, path, branches)
            continue
        field_path = ".".join((*path, key))
        if in_or and key in _RESERVED_IN_OR:
            invalid(f"{key} is a reserved field name which cannot be used inside $or", field_path)
        if isinstance(value, Mapping):
            branches = _parse_object(value, (*path, key), branches, in_or=in_or)
        elif isinstance(value, list | tuple):
            condition = _parse_values(field_path, value)
            for branch in branches:
                branch[field_path] = condition
        else:
            invalid("Value must be an object or an array", field_path)
    return branches


def _parse_or(value: Json, path: tuple[str, ...], branches: list[_Branch]) -> list[_Branch]:
    here = ".".join((*path, _OR))
    if not isinstance(value, list | tuple):
        invalid("It must be an Array followed with $or.", here)
    if len(value) < 2:
        invalid("There must have at least 2 Objects in $or relationship.", here)
    result: list[_Branch] = []
    for alternative in value:
        if not isinstance(alternative, Mapping):
            invalid("Only JSON object is allowed in array of $or relationship.", here)
        copies = [dict(branch) for branch in branches]
        result.extend(_parse_object(alternative, path, copies, in_or=True))
        if len(result) > MAX_BRANCHES:
            invalid(f"The $or combinations of the pattern exceed {MAX_BRANCHES}", here)
    return result


def _parse_values(path: str, values: list[Json] | tuple[Json, ...]) -> Condition:
    if not values:
        invalid("Empty arrays are not allowed", path)
    matchers: dict[Matcher, None] = {}  # a dict keeps the order and drops duplicates
    absent_ok = False
    for value in values:
        if isinstance(value, Mapping):
            parsed = parse_operator(path, value)
            if parsed is None:
                absent_ok = True
            else:
                matchers[parsed] = None
        elif isinstance(value, str | int | float) or value is None:
            if isinstance(value, float) and not math.isfinite(
                value
            ):  # NaN and infinities are not JSON
                invalid("Match value must be String, number, true, false, or null", path)
            matchers[Exact(key=value_key(value))] = None
        else:
            invalid("Match value must be String, number, true, false, or null", path)
    if any(isinstance(matcher, Exists) for matcher in matchers):
        matchers = {Exists(): None}  # exists:true subsumes every other value test
    return Condition(path=path, matchers=tuple(matchers), absent_ok=absent_ok)

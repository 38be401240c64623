"""Choice rules: checked and compiled once into a tree of closures, evaluated per execution.

Implements "Choice Rules (JSONPath)" of the AWS "Choice workflow state" page:

- a comparison names a ``Variable`` (a reference path: ``$.x``, ``$$.Execution.Id`` or a
  workflow variable ``$name``) and exactly one operator; the ``...Path`` form of an operator
  compares with the value at a second reference path instead of a literal;
- ``And``/``Or`` take a non-empty array of nested rules, ``Not`` one nested rule; only
  top-level rules carry ``Next``;
- a value of the wrong type simply makes the comparison false (``StringEquals`` on a number,
  a numeric comparison on ``true``, a timestamp comparison on a string that is not an RFC 3339
  timestamp); a ``Variable`` (or ``...Path``) that selects nothing is a ``States.Runtime``
  failure, except for ``IsPresent``, which tests exactly that.

Rules of the JSONata query language (``Condition``) are checked and kept raw: see
:class:`JsonataChoiceRule`.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Final

from oncue.asl.evaluation import PathNotFound, ReferenceTarget, Scope, StatesFailure
from oncue.asl.fields import SCHEMA_VALIDATION_FAILED, child, is_jsonata_expression, problem
from oncue.asl.model import ChoiceRule
from oncue.asl.paths import compile_reference_path
from oncue.errors import Problem
from oncue.types import Json

__all__ = [
    "COMPARISON_OPERATORS",
    "TYPE_TEST_OPERATORS",
    "CompiledChoiceRule",
    "JsonataChoiceRule",
    "compile_choice_rule",
    "compile_jsonata_choice_rule",
    "parse_timestamp",
]

Test = Callable[[Scope], bool]

# "Timestamps must conform to RFC3339 profile ISO 8601, with the further restrictions that an
# uppercase T must separate the date and time portions, and an uppercase Z must denote that a
# numeric time zone offset is not present" (Choice workflow state). fromisoformat accepts
# more than that (lowercase t, a space, no offset), so the shape is checked here first.
_TIMESTAMP = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:(Z)|([+-])(\d{2}):(\d{2}))"
)


def parse_timestamp(value: Json) -> datetime | None:
    """The instant an RFC 3339 timestamp names, or None when ``value`` is not one."""
    if not isinstance(value, str):
        return None
    match = _TIMESTAMP.fullmatch(value)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = match.groups()
    if zulu:
        tz = UTC
    else:
        if int(off_h) > 23 or int(off_m) > 59:
            return None
        offset = timedelta(hours=int(off_h), minutes=int(off_m))
        tz = timezone(-offset if sign == "-" else offset)
    # Digits past microseconds cannot be represented; they are truncated.
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        return datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), micro, tz
        )
    except ValueError:  # 2024-02-30, hour 25, ...
        return None


class _Mismatch:
    """Marks a value of the wrong type for an operator family."""


_MISMATCH: Final = _Mismatch()


def _as_string(value: Json) -> Any:
    return value if isinstance(value, str) else _MISMATCH


def _as_number(value: Json) -> Any:
    # True is not a number in JSON, even though Python's bool is an int.
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    return _MISMATCH


def _as_boolean(value: Json) -> Any:
    return value if isinstance(value, bool) else _MISMATCH


def _as_timestamp(value: Json) -> Any:
    parsed = parse_timestamp(value)
    return _MISMATCH if parsed is None else parsed


@dataclass(frozen=True, slots=True, kw_only=True)
class _Family:
    noun: str
    coerce: Callable[[Json], Any]


_STRING = _Family(noun="a string", coerce=_as_string)
_NUMERIC = _Family(noun="a number", coerce=_as_number)
_BOOLEAN = _Family(noun="a boolean", coerce=_as_boolean)
_TIMESTAMP_FAMILY = _Family(noun="an RFC 3339 timestamp", coerce=_as_timestamp)

#: Comparison operators: name -> (operand type, comparison). Each also has a ``...Path`` form.
COMPARISON_OPERATORS: Final[Mapping[str, tuple[_Family, Callable[[Any, Any], bool]]]] = {
    "StringEquals": (_STRING, operator.eq),
    "StringLessThan": (_STRING, operator.lt),
    "StringGreaterThan": (_STRING, operator.gt),
    "StringLessThanEquals": (_STRING, operator.le),
    "StringGreaterThanEquals": (_STRING, operator.ge),
    "NumericEquals": (_NUMERIC, operator.eq),
    "NumericLessThan": (_NUMERIC, operator.lt),
    "NumericGreaterThan": (_NUMERIC, operator.gt),
    "NumericLessThanEquals": (_NUMERIC, operator.le),
    "NumericGreaterThanEquals": (_NUMERIC, operator.ge),
    "BooleanEquals": (_BOOLEAN, operator.eq),
    "TimestampEquals": (_TIMESTAMP_FAMILY, operator.eq),
    "TimestampLessThan": (_TIMESTAMP_FAMILY, operator.lt),
    "TimestampGreaterThan": (_TIMESTAMP_FAMILY, operator.gt),
    "TimestampLessThanEquals": (_TIMESTAMP_FAMILY, operator.le),
    "TimestampGreaterThanEquals": (_TIMESTAMP_FAMILY, operator.ge),
}

#: Type tests: name -> predicate on the value at ``Variable`` (the operand is true or false).
TYPE_TEST_OPERATORS: Final[Mapping[str, Callable[[Json], bool]]] = {
    "IsNull": lambda value: value is None,
    "IsNumeric": lambda value: _as_number(value) is not _MISMATCH,
    "IsString": lambda value: isinstance(value, str),
    "IsBoolean": lambda value: isinstance(value, bool),
    "IsTimestamp": lambda value: parse_timestamp(value) is not None,
}

_PATH_OPERATORS: Final = {f"{name}Path": name for name in COMPARISON_OPERATORS}
_OPERATORS: Final = frozenset(
    {*COMPARISON_OPERATORS, *_PATH_OPERATORS, *TYPE_TEST_OPERATORS, "IsPresent", "StringMatches"}
)
_COMBINATORS: Final = frozenset({"And", "Or", "Not"})


@dataclass(frozen=True, slots=True, kw_only=True)
class CompiledChoiceRule:
    """A JSONPath choice rule. ``assign`` is a top-level rule's raw ``Assign`` (variables)."""

    next: str | None
    test: Test
    assign: Mapping[str, Json] | None = None

    def matches(self, scope: Scope) -> bool:
        return self.test(scope)


@dataclass(frozen=True, slots=True, kw_only=True)
class JsonataChoiceRule:
    """A JSONata choice rule, kept raw until the JSONata evaluator exists.

    A literal boolean ``Condition`` is decided here; an expression raises
    ``States.QueryEvaluationError`` when evaluated.
    """

    next: str | None
    condition: Json
    assign: Mapping[str, Json] | None = None
    output: Json = None

    def matches(self, scope: Scope) -> bool:
        if isinstance(self.condition, bool):
            return self.condition
        raise StatesFailure(
            "States.QueryEvaluationError",
            f"JSONata expressions are not evaluated by this version: {self.condition}",
        )


def _read(path: ReferenceTarget, scope: Scope) -> Json:
    try:
        return path.evaluate(scope)
    except PathNotFound:
        raise StatesFailure(
            "States.Runtime",
            f"Invalid path '{path.source}': The choice state's condition path references "
            "an invalid value.",
        ) from None


def _wildcard(pattern: str) -> re.Pattern[str]:
    """StringMatches: ``*`` matches any run of characters; ``\\*`` and ``\\\\`` are literals.

    Written by hand because fnmatch also gives ``?`` and ``[...]`` meanings AWS does not.
    A backslash before any other character stands for itself.
    """
    parts: list[str] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern) and pattern[index + 1] in "*\\":
            parts.append(re.escape(pattern[index + 1]))
            index += 2
            continue
        parts.append(".*" if char == "*" else re.escape(char))
        index += 1
    return re.compile("".join(parts), re.DOTALL)


def _reference(
    text: Json, pointer: str, field: str, problems: list[Problem]
) -> ReferenceTarget | None:
    if not isinstance(text, str):
        problems.append(
            problem(
                pointer,
                SCHEMA_VALIDATION_FAILED,
                f"The value for the field '{field}' must be a string (a reference path)",
            )
        )
        return None
    try:
        return compile_reference_path(text)
    except ValueError as error:
        problems.append(
            problem(
                pointer,
                SCHEMA_VALIDATION_FAILED,
                f"The value for the field '{field}' must be a valid reference path: {error}",
            )
        )
        return None


def _comparison(
    name: str, operand: Json, variable: ReferenceTarget, pointer: str, problems: list[Problem]
) -> Test | None:
    """Compile one operator applied to ``variable``; None (with a problem) when malformed."""
    if name == "IsPresent" or name in TYPE_TEST_OPERATORS:
        if not isinstance(operand, bool):
            problems.append(
                problem(
                    pointer,
                    SCHEMA_VALIDATION_FAILED,
                    f"The value for the field '{name}' must be a boolean",
                )
            )
            return None
        expected = operand
        if name == "IsPresent":

            def is_present(scope: Scope) -> bool:
                try:
                    variable.evaluate(scope)
                except PathNotFound:
                    return not expected
                return expected

            return is_present
        predicate = TYPE_TEST_OPERATORS[name]
        return lambda scope: predicate(_read(variable, scope)) == expected

    if name == "StringMatches":
        if not isinstance(operand, str):
            problems.append(
                problem(
                    pointer,
                    SCHEMA_VALIDATION_FAILED,
                    "The value for the field 'StringMatches' must be a string",
                )
            )
            return None
        regex = _wildcard(operand)
        return lambda scope: (
            isinstance(value := _read(variable, scope), str) and regex.fullmatch(value) is not None
        )

    if name in _PATH_OPERATORS:
        family, relation = COMPARISON_OPERATORS[_PATH_OPERATORS[name]]
        other = _reference(operand, pointer, name, problems)
        if other is None:
            return None
        coerce = family.coerce

        def compare_paths(scope: Scope) -> bool:
            left = coerce(_read(variable, scope))
            right = coerce(_read(other, scope))
            return left is not _MISMATCH and right is not _MISMATCH and bool(relation(left, right))

        return compare_paths

    family, relation = COMPARISON_OPERATORS[name]
    literal = family.coerce(operand)
    if literal is _MISMATCH:
        problems.append(
            problem(
                pointer,
                SCHEMA_VALIDATION_FAILED,
                f"The value for the field '{name}' must be {family.noun}",
            )
        )
        return None
    coerce = family.coerce

    def compare(scope: Scope) -> bool:
        value = coerce(_read(variable, scope))
        return value is not _MISMATCH and bool(relation(value, literal))

    return compare


def _compile(
    raw: Json, pointer: str, top_level: bool, problems: list[Problem]
) -> tuple[Test, str | None, Mapping[str, Json] | None] | None:
    if not isinstance(raw, dict):
        problems.append(
            problem(pointer, SCHEMA_VALIDATION_FAILED, "A choice rule must be an object")
        )
        return None
    before = len(problems)
    allowed = _OPERATORS | _COMBINATORS | {"Variable", "Comment"}
    if top_level:
        allowed = allowed | {"Next", "Assign"}
    for key in raw:
        if key in allowed:
            continue
        if key in ("Next", "Assign"):
            message = f"Field '{key}' is only allowed in a top-level choice rule"
        else:
            message = f"Field '{key}' is not supported in a choice rule"
        problems.append(problem(child(pointer, key), SCHEMA_VALIDATION_FAILED, message))

    next_state: str | None = None
    assign: Mapping[str, Json] | None = None
    if top_level:
        if "Next" not in raw:
            problems.append(
                problem(
                    pointer,
                    SCHEMA_VALIDATION_FAILED,
                    "A top-level choice rule requires the field 'Next'",
                )
            )
        elif not isinstance(raw["Next"], str):
            problems.append(
                problem(
                    child(pointer, "Next"),
                    SCHEMA_VALIDATION_FAILED,
                    "The value for the field 'Next' must be a string",
                )
            )
        else:
            next_state = raw["Next"]
        if "Assign" in raw:
            if isinstance(raw["Assign"], dict):
                assign = raw["Assign"]
            else:
                problems.append(
                    problem(
                        child(pointer, "Assign"),
                        SCHEMA_VALIDATION_FAILED,
                        "The value for the field 'Assign' must be an object",
                    )
                )
    if "Comment" in raw and not isinstance(raw["Comment"], str):
        problems.append(
            problem(
                child(pointer, "Comment"),
                SCHEMA_VALIDATION_FAILED,
                "The value for the field 'Comment' must be a string",
            )
        )

    operators = [key for key in raw if key in _OPERATORS or key in _COMBINATORS]
    if len(operators) != 1:
        found = ", ".join(operators) if operators else "none"
        problems.append(
            problem(
                pointer,
                SCHEMA_VALIDATION_FAILED,
                "A choice rule must have exactly one comparison operator or one of And, Or, "
                f"Not (found: {found})",
            )
        )
        return None
    name = operators[0]
    test: Test | None = None
    if name in _COMBINATORS:
        if "Variable" in raw:
            problems.append(
                problem(
                    child(pointer, "Variable"),
                    SCHEMA_VALIDATION_FAILED,
                    f"Field 'Variable' is not allowed in a rule using '{name}'",
                )
            )
        test = _combinator(name, raw[name], child(pointer, name), problems)
    elif "Variable" not in raw:
        problems.append(
            problem(
                pointer,
                SCHEMA_VALIDATION_FAILED,
                f"A choice rule using '{name}' requires the field 'Variable'",
            )
        )
    else:
        variable = _reference(raw["Variable"], child(pointer, "Variable"), "Variable", problems)
        if variable is not None:
            test = _comparison(name, raw[name], variable, child(pointer, name), problems)
    if test is None or len(problems) > before:
        return None
    return test, next_state, assign


def _combinator(name: str, operand: Json, pointer: str, problems: list[Problem]) -> Test | None:
    if name == "Not":
        inner = _compile(operand, pointer, False, problems)
        if inner is None:
            return None
        negated = inner[0]
        return lambda scope: not negated(scope)
    if not isinstance(operand, list) or not operand:
        problems.append(
            problem(
                pointer,
                SCHEMA_VALIDATION_FAILED,
                f"The value for the field '{name}' must be a non-empty array of rules",
            )
        )
        return None
    compiled = [
        _compile(rule, child(pointer, i), False, problems) for i, rule in enumerate(operand)
    ]
    tests = tuple(item[0] for item in compiled if item is not None)
    if len(tests) != len(compiled):
        return None
    # all()/any() short-circuit like the AWS evaluation: a later rule's invalid path only
    # fails the state when it is actually reached.
    if name == "And":
        return lambda scope: all(test(scope) for test in tests)
    return lambda scope: any(test(scope) for test in tests)


def compile_choice_rule(
    raw: Mapping[str, Json], *, pointer: str, top_level: bool, problems: list[Problem]
) -> ChoiceRule | None:
    """Check a JSONPath choice rule and compile it; on a fault, append problems, return None.

    ``Next`` is checked for shape only: whether it names a state is the validator's concern.
    """
    compiled = _compile(raw, pointer, top_level, problems)
    if compiled is None:
        return None
    test, next_state, assign = compiled
    return CompiledChoiceRule(next=next_state, test=test, assign=assign)


_JSONATA_RULE_FIELDS: Final = frozenset({"Condition", "Next", "Assign", "Output", "Comment"})


def compile_jsonata_choice_rule(
    raw: Json, *, pointer: str, problems: list[Problem]
) -> ChoiceRule | None:
    """Check a JSONata choice rule ("Choice Rules (JSONata)": Condition and Next)."""
    if not isinstance(raw, dict):
        problems.append(
            problem(pointer, SCHEMA_VALIDATION_FAILED, "A choice rule must be an object")
        )
        return None
    before = len(problems)
    for key in raw:
        if key not in _JSONATA_RULE_FIELDS:
            problems.append(
                problem(
                    child(pointer, key),
                    SCHEMA_VALIDATION_FAILED,
                    f"Field '{key}' is not supported in a JSONata choice rule",
                )
            )
    for field in ("Condition", "Next"):
        if field not in raw:
            problems.append(
                problem(
                    pointer,
                    SCHEMA_VALIDATION_FAILED,
                    f"A JSONata choice rule requires the field '{field}'",
                )
            )
    condition = raw.get("Condition")
    if "Condition" in raw and not (isinstance(condition, bool) or is_jsonata_expression(condition)):
        problems.append(
            problem(
                child(pointer, "Condition"),
                SCHEMA_VALIDATION_FAILED,
                "The value for the field 'Condition' must be a boolean or a JSONata "
                "expression '{% ... %}'",
            )
        )
    next_state = raw.get("Next")
    if "Next" in raw and not isinstance(next_state, str):
        problems.append(
            problem(
                child(pointer, "Next"),
                SCHEMA_VALIDATION_FAILED,
                "The value for the field 'Next' must be a string",
            )
        )
    assign = raw.get("Assign")
    if "Assign" in raw and not isinstance(assign, dict):
        problems.append(
            problem(
                child(pointer, "Assign"),
                SCHEMA_VALIDATION_FAILED,
                "The value for the field 'Assign' must be an object",
            )
        )
    if len(problems) > before:
        return None
    return JsonataChoiceRule(
        next=next_state, condition=condition, assign=assign, output=raw.get("Output")
    )

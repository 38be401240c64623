"""Choice rule operators: their tables, operand types and compiled comparisons.

Implements the comparison operators of "Choice Rules (JSONPath)" in the AWS "Choice workflow
state" page: the ``String...``, ``Numeric...``, ``Boolean...`` and ``Timestamp...`` comparisons
and their ``...Path`` forms, ``StringMatches``, the type tests (``IsNull``, ``IsNumeric``, ...)
and ``IsPresent``. A value of the wrong type simply makes a comparison false; a ``Variable``
(or ``...Path``) that selects nothing is a ``States.Runtime`` failure, except for
``IsPresent``, which tests exactly that. Combining rules (``And``/``Or``/``Not``) is
:mod:`oncue.asl.choice`'s concern.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Final

from oncue.asl.evaluation import PathNotFound, ReferenceTarget, Scope, StatesFailure
from oncue.asl.fields import SCHEMA_VALIDATION_FAILED, problem
from oncue.asl.paths import compile_reference_path
from oncue.errors import Problem
from oncue.types import Json

__all__ = [
    "COMPARISON_OPERATORS",
    "OPERATORS",
    "TYPE_TEST_OPERATORS",
    "Test",
    "compile_comparison",
    "compile_reference",
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
OPERATORS: Final = frozenset(
    {*COMPARISON_OPERATORS, *_PATH_OPERATORS, *TYPE_TEST_OPERATORS, "IsPresent", "StringMatches"}
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


def compile_reference(
    text: Json, pointer: str, field: str, problems: list[Problem]
) -> ReferenceTarget | None:
    """Compile the reference path in ``field``; None (with a problem) when malformed."""
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


def compile_comparison(
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
        other = compile_reference(operand, pointer, name, problems)
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

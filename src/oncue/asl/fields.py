"""The field tables of the Amazon States Language, as data.

Every table here is read straight off the AWS documentation ("Amazon States Language",
"Common state fields" and each state type's page): which fields a state type allows, what
JSON type each one holds, which are required, and which belong to only one query language.
The validator walks these tables instead of hard-coding a branch per field, so adding a
field is a one-line change here.

The diagnostic codes are the ones ``ValidateStateMachineDefinition`` documents
(``ValidateStateMachineDefinitionDiagnostic``); a problem's message starts with the code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal, TypeAlias

from oncue.errors import Problem
from oncue.types import Json

__all__ = [
    "BODY_FIELDS",
    "CATCHER_FIELDS",
    "DUPLICATE_STATE_NAME",
    "EXPRESSION_CAPABLE_FIELDS",
    "INVALID_RESOURCE",
    "INVALID_STATE_NAME",
    "JSONATA_ONLY_FIELDS",
    "JSONPATH_ONLY_FIELDS",
    "MAX_SECONDS",
    "MAX_STATE_NAME_LENGTH",
    "MISSING_END_STATE",
    "MISSING_TRANSITION_TARGET",
    "NEXT_OR_END_TYPES",
    "PROCESSOR_FIELDS",
    "REQUIRED_FIELDS",
    "RETRIER_FIELDS",
    "SCHEMA_VALIDATION_FAILED",
    "STATE_FIELDS",
    "TOP_LEVEL_FIELDS",
    "UNSUPPORTED_FIELDS",
    "Kind",
    "child",
    "is_jsonata_expression",
    "kind_matches",
    "kind_name",
    "problem",
]

# Diagnostic codes from the ValidateStateMachineDefinitionDiagnostic reference.
SCHEMA_VALIDATION_FAILED: Final = "SCHEMA_VALIDATION_FAILED"
INVALID_RESOURCE: Final = "INVALID_RESOURCE"
MISSING_END_STATE: Final = "MISSING_END_STATE"
DUPLICATE_STATE_NAME: Final = "DUPLICATE_STATE_NAME"
INVALID_STATE_NAME: Final = "INVALID_STATE_NAME"
MISSING_TRANSITION_TARGET: Final = "MISSING_TRANSITION_TARGET"

#: "State names ... must be less than or equal to 80 Unicode characters" (ASL, States).
MAX_STATE_NAME_LENGTH: Final = 80
#: The largest value AWS accepts for the seconds and counts of Task, Wait and Retry fields.
MAX_SECONDS: Final = 99_999_999

#: The JSON type a field holds. ``path`` is a string or ``null`` (``InputPath``,
#: ``OutputPath`` and ``ResultPath`` give ``null`` a meaning of its own).
Kind: TypeAlias = Literal[
    "string", "integer", "number", "boolean", "object", "array", "path", "any"
]

_COMMON: Final[Mapping[str, Kind]] = {
    "Type": "string",
    "Comment": "string",
    "QueryLanguage": "string",
}
_IO: Final[Mapping[str, Kind]] = {"InputPath": "path", "OutputPath": "path"}
_TRANSITION: Final[Mapping[str, Kind]] = {"Next": "string", "End": "boolean"}
# Assign (variables) works in both query languages; Output is JSONata's result shaping.
_VARIABLES: Final[Mapping[str, Kind]] = {"Assign": "object", "Output": "any"}
_RESULT: Final[Mapping[str, Kind]] = {
    "ResultPath": "path",
    "ResultSelector": "object",
}
_ERRORS: Final[Mapping[str, Kind]] = {"Retry": "array", "Catch": "array"}

#: Allowed fields per state type, and the JSON type of each.
STATE_FIELDS: Final[Mapping[str, Mapping[str, Kind]]] = {
    "Pass": {
        **_COMMON,
        **_IO,
        **_TRANSITION,
        **_VARIABLES,
        "Parameters": "object",
        "Result": "any",
        "ResultPath": "path",
    },
    "Task": {
        **_COMMON,
        **_IO,
        **_TRANSITION,
        **_VARIABLES,
        **_RESULT,
        **_ERRORS,
        "Resource": "string",
        "Parameters": "object",
        "Arguments": "any",
        "TimeoutSeconds": "integer",
        "TimeoutSecondsPath": "string",
        "HeartbeatSeconds": "integer",
        "HeartbeatSecondsPath": "string",
        "Credentials": "object",
    },
    "Choice": {
        **_COMMON,
        **_IO,
        **_VARIABLES,
        "Choices": "array",
        "Default": "string",
    },
    "Wait": {
        **_COMMON,
        **_IO,
        **_TRANSITION,
        **_VARIABLES,
        "Seconds": "integer",
        "Timestamp": "string",
        "SecondsPath": "string",
        "TimestampPath": "string",
    },
    "Succeed": {**_COMMON, **_IO, "Output": "any"},
    # "The Fail state only allows the use of Type and Comment fields from the set of
    # common state fields" (Fail workflow state).
    "Fail": {
        **_COMMON,
        "Error": "string",
        "ErrorPath": "string",
        "Cause": "string",
        "CausePath": "string",
    },
    "Parallel": {
        **_COMMON,
        **_IO,
        **_TRANSITION,
        **_VARIABLES,
        **_RESULT,
        **_ERRORS,
        "Branches": "array",
        "Parameters": "object",
        "Arguments": "any",
    },
    "Map": {
        **_COMMON,
        **_IO,
        **_TRANSITION,
        **_VARIABLES,
        **_RESULT,
        **_ERRORS,
        "ItemProcessor": "object",
        "Iterator": "object",
        "ItemsPath": "string",
        "Items": "any",
        "ItemSelector": "object",
        "Parameters": "object",
        "MaxConcurrency": "integer",
        "MaxConcurrencyPath": "string",
        "ToleratedFailureCount": "integer",
        "ToleratedFailureCountPath": "string",
        "ToleratedFailurePercentage": "number",
        "ToleratedFailurePercentagePath": "string",
    },
}

#: Fields AWS defines that oncue does not run: the Distributed Map's data sources and sinks.
UNSUPPORTED_FIELDS: Final[Mapping[str, frozenset[str]]] = {
    "Map": frozenset({"ItemReader", "ItemBatcher", "ResultWriter", "Label"}),
}

REQUIRED_FIELDS: Final[Mapping[str, frozenset[str]]] = {
    "Task": frozenset({"Resource"}),
    "Choice": frozenset({"Choices"}),
    "Parallel": frozenset({"Branches"}),
}

#: State types that must carry exactly one of ``Next`` and ``End``.
NEXT_OR_END_TYPES: Final = frozenset({"Pass", "Task", "Wait", "Parallel", "Map"})

#: "JSONata states do not have Parameters": the JSONPath-only fields ("Transforming data
#: with JSONata" lists the five I/O fields; each state page marks the rest "JSONPath only").
JSONPATH_ONLY_FIELDS: Final = frozenset(
    {
        "InputPath",
        "OutputPath",
        "Parameters",
        "ResultSelector",
        "ResultPath",
        "Result",
        "ItemsPath",
        "TimeoutSecondsPath",
        "HeartbeatSecondsPath",
        "SecondsPath",
        "TimestampPath",
        "ErrorPath",
        "CausePath",
        "MaxConcurrencyPath",
        "ToleratedFailureCountPath",
        "ToleratedFailurePercentagePath",
    }
)
JSONATA_ONLY_FIELDS: Final = frozenset({"Arguments", "Output", "Items"})

#: Fields that a JSONata state may give as a ``{% ... %}`` expression instead of a literal.
EXPRESSION_CAPABLE_FIELDS: Final = frozenset(
    {
        "TimeoutSeconds",
        "HeartbeatSeconds",
        "Seconds",
        "Timestamp",
        "MaxConcurrency",
        "ToleratedFailureCount",
        "ToleratedFailurePercentage",
        "Error",
        "Cause",
    }
)

TOP_LEVEL_FIELDS: Final[Mapping[str, Kind]] = {
    "StartAt": "string",
    "States": "object",
    "Comment": "string",
    "Version": "string",
    "TimeoutSeconds": "integer",
    "QueryLanguage": "string",
}
#: A Parallel branch.
BODY_FIELDS: Final[Mapping[str, Kind]] = {
    "StartAt": "string",
    "States": "object",
    "Comment": "string",
}
#: A Map's ItemProcessor (or the older Iterator).
PROCESSOR_FIELDS: Final[Mapping[str, Kind]] = {**BODY_FIELDS, "ProcessorConfig": "object"}

RETRIER_FIELDS: Final[Mapping[str, Kind]] = {
    "ErrorEquals": "array",
    "IntervalSeconds": "integer",
    "MaxAttempts": "integer",
    "BackoffRate": "number",
    "MaxDelaySeconds": "integer",
    "JitterStrategy": "string",
    "Comment": "string",
}
CATCHER_FIELDS: Final[Mapping[str, Kind]] = {
    "ErrorEquals": "array",
    "Next": "string",
    "ResultPath": "path",
    "Comment": "string",
    "Output": "any",
    "Assign": "object",
}

_KIND_NAMES: Final[Mapping[Kind, str]] = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "object": "an object",
    "array": "an array",
    "path": "a string or null",
    "any": "any JSON value",
}


def kind_matches(kind: Kind, value: Json) -> bool:
    """Whether ``value`` has the JSON type ``kind`` (a bool is never a number in JSON)."""
    if kind == "string":
        return isinstance(value, str)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "object":
        return isinstance(value, dict)
    if kind == "array":
        return isinstance(value, list)
    if kind == "path":
        return value is None or isinstance(value, str)
    return True


def kind_name(kind: Kind) -> str:
    return _KIND_NAMES[kind]


def is_jsonata_expression(value: Json) -> bool:
    """A JSONata expression is a string written ``{% ... %}`` ("Transforming data"): it must
    start with ``{%`` and end with ``%}``, with nothing before or after them."""
    return (
        isinstance(value, str)
        and len(value) >= 4
        and value.startswith("{%")
        and value.endswith("%}")
    )


def child(pointer: str, *tokens: str | int) -> str:
    """Extend an RFC 6901 JSON pointer, escaping ``~`` and ``/`` in each token."""
    for token in tokens:
        text = str(token).replace("~", "~0").replace("/", "~1")
        pointer = f"{pointer}/{text}"
    return pointer


def problem(pointer: str, code: str, message: str) -> Problem:
    return Problem(pointer=pointer, message=f"{code}: {message}")

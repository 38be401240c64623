"""Read a state machine definition written as JSON or YAML into plain JSON values.

JSON is tried first, with the standard library, because its errors carry an exact line and
column; YAML (PyYAML's safe loader) comes second, since every JSON document is also YAML but
YAML's messages about JSON are vaguer. Whatever fails becomes a :class:`DefinitionError`
whose message starts with the diagnostic code AWS uses for unparsable definitions
(``INVALID_JSON_DESCRIPTION``; ``MISSING_DESCRIPTION`` for an empty one).

Reading files is the caller's business (``oncue.app.load_definition_file``): this module,
like the rest of ``oncue.asl``, does no I/O.
"""

from __future__ import annotations

import json
import math
from typing import Any, NoReturn

import yaml

from oncue.asl.fields import child
from oncue.errors import DefinitionError, Problem
from oncue.types import Json

__all__ = ["load_definition"]


class _JsonLikeLoader(yaml.SafeLoader):
    """The safe loader without YAML 1.1's implicit timestamps.

    An unquoted ``Timestamp: 2016-03-14T01:59:00Z`` must stay the string the Wait state and
    the Choice rules expect, not become a Python ``datetime`` that JSON cannot hold.
    """


_JsonLikeLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _fail(message: str, source: str | None) -> NoReturn:
    raise DefinitionError([Problem(pointer="", message=message)], source=source)


def _reject_constant(name: str) -> NoReturn:
    # json.loads accepts NaN and Infinity, which are not JSON.
    raise ValueError(f"{name} is not a JSON value")


def _non_json(value: Any, pointer: str, problems: list[Problem]) -> None:
    """Report what YAML can express but JSON cannot: non-string keys, dates, sets, NaN."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                problems.append(
                    Problem(
                        pointer=pointer,
                        message=f"INVALID_JSON_DESCRIPTION: object key {key!r} is not a string",
                    )
                )
                continue
            _non_json(item, child(pointer, key), problems)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _non_json(item, child(pointer, index), problems)
    elif isinstance(value, float) and not math.isfinite(value):
        problems.append(
            Problem(pointer=pointer, message=f"INVALID_JSON_DESCRIPTION: {value} is not JSON")
        )
    elif value is not None and not isinstance(value, str | int | float | bool):
        problems.append(
            Problem(
                pointer=pointer,
                message=f"INVALID_JSON_DESCRIPTION: a {type(value).__name__} value is not JSON",
            )
        )


def _parse_yaml(text: str, json_error: json.JSONDecodeError, source: str | None) -> Json:
    try:
        return yaml.load(text, Loader=_JsonLikeLoader)
    except yaml.YAMLError as yaml_error:
        # Text that starts like JSON was meant as JSON: its error is the precise one.
        if text.lstrip()[:1] in ("{", "["):
            line, column, reason = json_error.lineno, json_error.colno, json_error.msg
        else:
            mark = getattr(yaml_error, "problem_mark", None)
            line = mark.line + 1 if mark is not None else 1
            column = mark.column + 1 if mark is not None else 1
            reason = str(getattr(yaml_error, "problem", None) or yaml_error)
        _fail(
            f"INVALID_JSON_DESCRIPTION: invalid JSON/YAML at line {line} column {column}: {reason}",
            source,
        )


def load_definition(text: str | bytes, *, source: str | None = None) -> dict[str, Json]:
    """Parse a definition; raise :class:`DefinitionError` unless it is a JSON object."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            _fail(f"INVALID_JSON_DESCRIPTION: the definition is not UTF-8: {error.reason}", source)
    if not text.strip():
        _fail("MISSING_DESCRIPTION: the definition is empty", source)
    value: Json
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except ValueError as error:
        if not isinstance(error, json.JSONDecodeError):  # NaN or Infinity
            _fail(f"INVALID_JSON_DESCRIPTION: {error}", source)
        value = _parse_yaml(text, error, source)
        problems: list[Problem] = []
        _non_json(value, "", problems)
        if problems:
            raise DefinitionError(problems, source=source) from None
    if not isinstance(value, dict):
        kind = "null" if value is None else type(value).__name__
        _fail(
            f"INVALID_JSON_DESCRIPTION: the definition must be a JSON object, not {kind}",
            source,
        )
    return value

"""Validate a state machine definition the way CreateStateMachine does, and build the model.

:func:`parse_definition` checks everything Step Functions checks when a state machine is
created (the "Amazon States Language" specification and each state type's page) and reports
*every* problem at once, each with an RFC 6901 pointer such as
``/States/Notify/Retry/0/BackoffRate`` and a message that starts with the diagnostic code
``ValidateStateMachineDefinition`` would give (``SCHEMA_VALIDATION_FAILED``,
``MISSING_TRANSITION_TARGET``, ``DUPLICATE_STATE_NAME``, ...). Only a definition without
problems becomes a :class:`~oncue.asl.model.StateMachine`, with every path, template and
choice rule compiled, so the interpreter never parses anything.

The field tables live in :mod:`oncue.asl.fields`, the shared checks in
:mod:`oncue.asl.checker` and the per-state checks in :mod:`oncue.asl.validate_states`.
"""

from __future__ import annotations

from collections.abc import Mapping

from oncue.asl.checker import Checker
from oncue.asl.fields import MAX_SECONDS, SCHEMA_VALIDATION_FAILED, TOP_LEVEL_FIELDS, problem
from oncue.asl.loader import load_definition
from oncue.asl.model import StateMachine
from oncue.asl.validate_jsonata import check_scopes
from oncue.asl.validate_states import parse_body
from oncue.errors import DefinitionError, Problem
from oncue.types import Json

__all__ = ["parse_definition", "validate_definition"]

#: ValidateStateMachineDefinition's code for definitions nested past what can be checked.
_TOO_DEEPLY_NESTED = "TOO_DEEPLY_NESTED"


def parse_definition(
    raw: Mapping[str, Json] | str | bytes, *, source: str | None = None
) -> StateMachine:
    """Validate a definition (a parsed mapping, or JSON/YAML text) and build its model.

    Raises :class:`DefinitionError` listing every problem; never raises anything else.
    """
    if isinstance(raw, str | bytes):
        raw = load_definition(raw, source=source)
    problems: list[Problem] = []
    try:
        machine = _build(raw, problems)
    except RecursionError:
        # Parallel in Map in Parallel ... or And in And in And ... past Python's stack.
        problems.append(
            problem("", _TOO_DEEPLY_NESTED, "The definition is nested too deeply to check")
        )
        machine = None
    if problems or machine is None:
        raise DefinitionError(problems, source=source)
    return machine


def validate_definition(raw: Mapping[str, Json] | str | bytes) -> list[Problem]:
    """Every problem in a definition (an empty list when it is valid); never raises."""
    try:
        parse_definition(raw)
    except DefinitionError as error:
        return list(error.problems)
    return []


def _build(raw: Json, problems: list[Problem]) -> StateMachine | None:
    if not isinstance(raw, Mapping):
        problems.append(
            problem("", SCHEMA_VALIDATION_FAILED, "The definition must be a JSON object")
        )
        return None
    language = raw.get("QueryLanguage", "JSONPath")
    checker = Checker(problems)
    # The top level may name either language; states default to it ("QueryLanguage").
    if language == "JSONata":
        checker.language = "JSONata"
    elif language != "JSONPath" and isinstance(language, str):
        checker.schema(
            "/QueryLanguage",
            "The value for the field 'QueryLanguage' must be JSONPath or JSONata",
        )
    body = parse_body(checker, dict(raw), "", table=TOP_LEVEL_FIELDS, owner="the state machine")
    check_scopes(checker, raw)
    timeout = raw.get("TimeoutSeconds")
    if (
        isinstance(timeout, int)
        and not isinstance(timeout, bool)
        and not 1 <= timeout <= MAX_SECONDS
    ):
        checker.schema(
            "/TimeoutSeconds",
            f"The value for the field 'TimeoutSeconds' must be between 1 and {MAX_SECONDS}",
        )
        return None
    version = raw.get("Version", "1.0")
    if body is None or problems:
        return None
    return StateMachine(
        start_at=body.start_at,
        states=body.states,
        query_language=checker.language,
        comment=body.comment,
        timeout_seconds=timeout,
        version=version,
        raw=raw,
    )

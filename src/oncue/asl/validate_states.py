"""Check each state of a definition and build its model; check each body's transitions.

One builder per state type, after the shared checks of :func:`parse_state` (the field table,
the query language, ``Next``/``End``). :func:`parse_body` checks a set of states with a start
(the top level, a Parallel branch, a Map's ItemProcessor): state names, transition targets,
reachability and the presence of a terminal state. The sections of the AWS documentation
each check implements are named next to it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Final

from oncue.asl.checker import Checker
from oncue.asl.choice import compile_choice_rule, compile_jsonata_choice_rule, parse_timestamp
from oncue.asl.evaluation import Expression
from oncue.asl.fields import (
    BODY_FIELDS,
    DUPLICATE_STATE_NAME,
    INVALID_RESOURCE,
    INVALID_STATE_NAME,
    MAX_SECONDS,
    MAX_STATE_NAME_LENGTH,
    MISSING_END_STATE,
    MISSING_TRANSITION_TARGET,
    NEXT_OR_END_TYPES,
    PROCESSOR_FIELDS,
    REQUIRED_FIELDS,
    STATE_FIELDS,
    UNSUPPORTED_FIELDS,
    Kind,
    child,
    is_jsonata_expression,
)
from oncue.asl.intrinsics import compile_intrinsic
from oncue.asl.model import (
    BodyLike,
    ChoiceRule,
    ChoiceState,
    FailState,
    MapState,
    ParallelState,
    PassState,
    QueryLanguage,
    State,
    SucceedState,
    TaskState,
    WaitState,
)
from oncue.types import Json

__all__ = ["Body", "parse_body", "parse_state"]

# "arn:partition:service:region:account-id:resource"; region and account may be empty, as
# in the optimized integrations ("arn:aws:states:::lambda:invoke").
_ARN: Final = re.compile(r"arn:[^:\s]+:[^:\s]+:[^:\s]*:[^:\s]*:\S+")
# "ErrorPath / CausePath ... can also be specified using an intrinsic function that returns a
# string. These intrinsics are: ..." (Fail workflow state).
_FAIL_INTRINSICS: Final = frozenset(
    {
        "States.Format",
        "States.JsonToString",
        "States.ArrayGetItem",
        "States.Base64Encode",
        "States.Base64Decode",
        "States.Hash",
        "States.UUID",
    }
)
_LANGUAGES: Final = ("JSONPath", "JSONata")


@dataclass(frozen=True, slots=True, kw_only=True)
class Body:
    start_at: str
    states: Mapping[str, State]
    comment: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class _Ctx:
    """What every builder receives: the raw state, its well-typed fields and where it is."""

    checker: Checker
    raw: Mapping[str, Json]
    good: Mapping[str, Json]
    pointer: str
    language: QueryLanguage
    common: Mapping[str, Json]


# -- bodies -----------------------------------------------------------------------------


def parse_body(
    checker: Checker, raw: Json, pointer: str, *, table: Mapping[str, Kind], owner: str
) -> Body | None:
    """Check ``StartAt`` + ``States`` and every state in them; None when anything is wrong."""
    if not isinstance(raw, dict):
        checker.schema(pointer, f"{owner[0].upper()}{owner[1:]} must be an object")
        return None
    mark = checker.mark()
    good = checker.fields(raw, table, pointer, owner=owner)
    for key in ("StartAt", "States"):
        if key not in raw:
            checker.schema(pointer, f"The field '{key}' is required in {owner}")
    raw_states = good.get("States")
    if raw_states == {}:
        checker.schema(child(pointer, "States"), "'States' must contain at least one state")
    states: dict[str, State] = {}
    for name, raw_state in (raw_states or {}).items():
        at = child(pointer, "States", name)
        _check_name(checker, name, at)
        state = parse_state(checker, name, raw_state, at)
        if state is not None:
            states[name] = state
    if raw_states:
        _check_graph(checker, good.get("StartAt"), raw_states, pointer)
    start_at = good.get("StartAt")
    if not checker.clean_since(mark) or not isinstance(start_at, str):
        return None
    return Body(start_at=start_at, states=states, comment=good.get("Comment"))


def _check_name(checker: Checker, name: str, pointer: str) -> None:
    if not name or len(name) > MAX_STATE_NAME_LENGTH:
        checker.report(
            pointer,
            INVALID_STATE_NAME,
            f"State names must be 1 to {MAX_STATE_NAME_LENGTH} characters long; "
            f"this one has {len(name)}",
        )
    # State names are unique across the whole state machine, Parallel branches and Map
    # processors included, because history events and the context object name states only.
    if name in checker.names:
        checker.report(
            pointer,
            DUPLICATE_STATE_NAME,
            f"Duplicate State name: {name} (also at {checker.names[name]})",
        )
    else:
        checker.names[name] = pointer


def _targets(raw: Json, pointer: str) -> Iterator[tuple[str, str]]:
    """Every (state name, pointer) a raw state can transition to, whatever its shape."""
    if not isinstance(raw, dict):
        return
    for key in ("Next", "Default"):
        if isinstance(raw.get(key), str):
            yield raw[key], child(pointer, key)
    for key in ("Choices", "Catch"):
        items = raw.get(key)
        if isinstance(items, list):
            for index, item in enumerate(items):
                if isinstance(item, dict) and isinstance(item.get("Next"), str):
                    yield item["Next"], child(pointer, key, index, "Next")


def _check_graph(
    checker: Checker, start_at: Json, raw_states: Mapping[str, Json], pointer: str
) -> None:
    """ "A transition can only target a state in the same States object; every state must be
    reachable; a body needs a terminal state" (Amazon States Language, Transitions)."""
    edges: dict[str, list[str]] = {}
    for name, raw in raw_states.items():
        edges[name] = []
        for target, at in _targets(raw, child(pointer, "States", name)):
            if target in raw_states:
                edges[name].append(target)
            else:
                checker.report(at, MISSING_TRANSITION_TARGET, f"Missing 'Next' target: {target}")
    if isinstance(start_at, str):
        if start_at not in raw_states:
            checker.report(
                child(pointer, "StartAt"),
                MISSING_TRANSITION_TARGET,
                f"Missing 'StartAt' target: {start_at}",
            )
        else:
            seen = {start_at}
            todo = [start_at]
            while todo:
                for target in edges[todo.pop()]:
                    if target not in seen:
                        seen.add(target)
                        todo.append(target)
            for name in raw_states:
                if name not in seen:
                    checker.report(
                        child(pointer, "States", name),
                        MISSING_TRANSITION_TARGET,
                        f'State "{name}" is not reachable.',
                    )
    if not any(_is_terminal(raw) for raw in raw_states.values()):
        checker.report(pointer, MISSING_END_STATE, "Workflow has no terminal state")


def _is_terminal(raw: Json) -> bool:
    return isinstance(raw, dict) and (
        raw.get("Type") in ("Succeed", "Fail") or raw.get("End") is True
    )


# -- states -----------------------------------------------------------------------------


def parse_state(checker: Checker, name: str, raw: Json, pointer: str) -> State | None:
    """Check one state and build its model; None (with problems reported) when invalid."""
    if not isinstance(raw, dict):
        checker.schema(pointer, "A state must be an object")
        return None
    kind = raw.get("Type")
    if "Type" not in raw:
        checker.schema(pointer, "The field 'Type' is required")
        return None
    if not isinstance(kind, str) or kind not in STATE_FIELDS:
        checker.schema(child(pointer, "Type"), f"Unknown state type: {kind}")
        return None
    mark = checker.mark()
    language = _language(checker, raw, pointer)
    good = checker.fields(
        raw,
        STATE_FIELDS[kind],
        pointer,
        owner=f"state type '{kind}'",
        language=language,
        unsupported=UNSUPPORTED_FIELDS.get(kind, frozenset()),
    )
    for key in sorted(REQUIRED_FIELDS.get(kind, ())):
        if key not in raw:
            checker.schema(pointer, f"The field '{key}' is required by state type '{kind}'")
    if kind in NEXT_OR_END_TYPES:
        _check_next_end(checker, raw, good, pointer)
    output = good.get("Output")
    common: dict[str, Json] = {
        "name": name,
        "comment": good.get("Comment"),
        "next": good.get("Next"),
        "end": good.get("End") is True,
        "query_language": language,
        "input_path": checker.io_path(good, "InputPath", pointer),
        "output_path": checker.io_path(good, "OutputPath", pointer),
        "assign": good.get("Assign"),
        "output": output,
    }
    ctx = _Ctx(
        checker=checker, raw=raw, good=good, pointer=pointer, language=language, common=common
    )
    state = _BUILDERS[kind](ctx)
    return state if checker.clean_since(mark) else None


def _language(checker: Checker, raw: Mapping[str, Json], pointer: str) -> QueryLanguage:
    """A state's QueryLanguage; it defaults to the top level's ("QueryLanguage" field)."""
    value = raw.get("QueryLanguage", checker.language)
    if value not in _LANGUAGES:
        checker.schema(
            child(pointer, "QueryLanguage"),
            "The value for the field 'QueryLanguage' must be JSONPath or JSONata",
        )
        return checker.language
    # "If the top-level QueryLanguage is JSONata, states cannot choose JSONPath."
    if checker.language == "JSONata" and value == "JSONPath":
        checker.schema(
            child(pointer, "QueryLanguage"),
            "A state cannot use JSONPath when the state machine's QueryLanguage is JSONata",
        )
    return "JSONata" if value == "JSONata" else "JSONPath"


def _check_next_end(
    checker: Checker, raw: Mapping[str, Json], good: Mapping[str, Json], pointer: str
) -> None:
    if "End" in good and good["End"] is not True:
        checker.schema(child(pointer, "End"), "The value for the field 'End' must be true")
    if "Next" in raw and "End" in raw:
        checker.schema(pointer, "Only one of 'Next' and 'End' may be specified")
    elif "Next" not in raw and "End" not in raw:
        checker.schema(pointer, "Exactly one of 'Next' and 'End' is required")


def _jsonata_value(ctx: _Ctx, key: str, *, kinds: tuple[type, ...], noun: str) -> Json:
    """A JSONata-only field that holds a literal of ``kinds`` or a ``{% %}`` expression."""
    value = ctx.good.get(key)
    if key in ctx.good and not (isinstance(value, kinds) or is_jsonata_expression(value)):
        ctx.checker.schema(
            child(ctx.pointer, key),
            f"The value for the field '{key}' must be {noun} or a JSONata expression",
        )
    return value


def _pass(ctx: _Ctx) -> State:
    return PassState(
        **ctx.common,
        parameters=ctx.checker.template(ctx.good, "Parameters", ctx.pointer),
        result=ctx.good.get("Result"),
        has_result="Result" in ctx.good,
        result_path=ctx.checker.result_path(ctx.good, "ResultPath", ctx.pointer),
    )


def _seconds(ctx: _Ctx, key: str) -> tuple[int | None, Expression | None]:
    """TimeoutSeconds / HeartbeatSeconds and their ``Path`` forms (Task workflow state)."""
    ctx.checker.exclusive(ctx.raw, ctx.pointer, key, f"{key}Path")
    value = ctx.checker.integer(ctx.good, key, ctx.pointer, low=1, high=MAX_SECONDS)
    return value, ctx.checker.optional_reference(ctx.good, f"{key}Path", ctx.pointer)


def _task(ctx: _Ctx) -> State:
    checker, good, pointer = ctx.checker, ctx.good, ctx.pointer
    resource = good.get("Resource")
    if isinstance(resource, str) and not _ARN.fullmatch(resource):
        checker.report(
            child(pointer, "Resource"),
            INVALID_RESOURCE,
            f"The value for the field 'Resource' must be an ARN, not {resource!r}",
        )
    timeout, timeout_path = _seconds(ctx, "TimeoutSeconds")
    heartbeat, heartbeat_path = _seconds(ctx, "HeartbeatSeconds")
    if timeout is not None and heartbeat is not None and heartbeat >= timeout:
        checker.schema(
            child(pointer, "HeartbeatSeconds"),
            "The value for the field 'HeartbeatSeconds' must be smaller than 'TimeoutSeconds'",
        )
    return TaskState(
        **ctx.common,
        resource=resource if isinstance(resource, str) else "",
        parameters=checker.template(good, "Parameters", pointer),
        result_selector=checker.template(good, "ResultSelector", pointer),
        result_path=checker.result_path(good, "ResultPath", pointer),
        timeout_seconds=timeout,
        timeout_seconds_path=timeout_path,
        heartbeat_seconds=heartbeat,
        heartbeat_seconds_path=heartbeat_path,
        retry=checker.retriers(good, pointer),
        catch=checker.catchers(good, pointer, ctx.language),
        arguments=_jsonata_value(ctx, "Arguments", kinds=(dict,), noun="an object"),
    )


def _choice(ctx: _Ctx) -> State:
    raw_rules = ctx.good.get("Choices")
    at = child(ctx.pointer, "Choices")
    rules: list[ChoiceRule] = []
    if isinstance(raw_rules, list) and not raw_rules:
        ctx.checker.schema(at, "'Choices' must contain at least one rule")
    for index, raw_rule in enumerate(raw_rules or ()):
        rule_at = child(at, index)
        rule: ChoiceRule | None
        if ctx.language == "JSONata":
            rule = compile_jsonata_choice_rule(
                raw_rule, pointer=rule_at, problems=ctx.checker.problems
            )
        else:
            rule = compile_choice_rule(
                raw_rule, pointer=rule_at, top_level=True, problems=ctx.checker.problems
            )
        if rule is not None:
            rules.append(rule)
    return ChoiceState(**ctx.common, choices=tuple(rules), default=ctx.good.get("Default"))


def _wait(ctx: _Ctx) -> State:
    checker, good, pointer = ctx.checker, ctx.good, ctx.pointer
    keys = ("Seconds", "Timestamp", "SecondsPath", "TimestampPath")
    if sum(key in ctx.raw for key in keys) != 1:
        checker.schema(
            pointer,
            "Exactly one of 'Seconds', 'Timestamp', 'SecondsPath', 'TimestampPath' is required",
        )
    timestamp = good.get("Timestamp")
    if (
        isinstance(timestamp, str)
        and not is_jsonata_expression(timestamp)
        and parse_timestamp(timestamp) is None
    ):
        checker.schema(
            child(pointer, "Timestamp"),
            "The value for the field 'Timestamp' must be an RFC 3339 timestamp with an "
            f"uppercase T and Z, such as 2016-03-14T01:59:00Z, not {timestamp!r}",
        )
    return WaitState(
        **ctx.common,
        seconds=checker.integer(good, "Seconds", pointer, low=0, high=MAX_SECONDS),
        timestamp=timestamp if isinstance(timestamp, str) else None,
        seconds_path=checker.optional_reference(good, "SecondsPath", pointer),
        timestamp_path=checker.optional_reference(good, "TimestampPath", pointer),
    )


def _succeed(ctx: _Ctx) -> State:
    return SucceedState(**ctx.common)


def _fail_path(ctx: _Ctx, key: str) -> Expression | None:
    text = ctx.good.get(key)
    if not isinstance(text, str):
        return None
    at = child(ctx.pointer, key)
    if not text.lstrip().startswith("States."):
        return ctx.checker.reference(text, at, key)
    function = text.split("(", 1)[0].strip()
    if function not in _FAIL_INTRINSICS:
        allowed = ", ".join(sorted(_FAIL_INTRINSICS))
        ctx.checker.schema(at, f"'{key}' may only use the intrinsic functions {allowed}")
        return None
    try:
        return compile_intrinsic(text)
    except ValueError as error:
        ctx.checker.schema(at, f"The value for the field '{key}' is not valid: {error}")
        return None


def _fail(ctx: _Ctx) -> State:
    ctx.checker.exclusive(ctx.raw, ctx.pointer, "Error", "ErrorPath")
    ctx.checker.exclusive(ctx.raw, ctx.pointer, "Cause", "CausePath")
    return FailState(
        **ctx.common,
        error=ctx.good.get("Error"),
        cause=ctx.good.get("Cause"),
        error_path=_fail_path(ctx, "ErrorPath"),
        cause_path=_fail_path(ctx, "CausePath"),
    )


def _parallel(ctx: _Ctx) -> State:
    checker, good, pointer = ctx.checker, ctx.good, ctx.pointer
    raw_branches = good.get("Branches")
    at = child(pointer, "Branches")
    if isinstance(raw_branches, list) and not raw_branches:
        checker.schema(at, "'Branches' must contain at least one branch")
    branches: list[BodyLike] = []
    for index, raw_branch in enumerate(raw_branches or ()):
        body = parse_body(
            checker, raw_branch, child(at, index), table=BODY_FIELDS, owner="a branch"
        )
        if body is not None:
            branches.append(_body_like(body, checker))
    return ParallelState(
        **ctx.common,
        branches=tuple(branches),
        parameters=checker.template(good, "Parameters", pointer),
        result_selector=checker.template(good, "ResultSelector", pointer),
        result_path=checker.result_path(good, "ResultPath", pointer),
        retry=checker.retriers(good, pointer),
        catch=checker.catchers(good, pointer, ctx.language),
        arguments=_jsonata_value(ctx, "Arguments", kinds=(dict,), noun="an object"),
    )


def _body_like(body: Body, checker: Checker) -> BodyLike:
    return BodyLike(
        start_at=body.start_at,
        states=body.states,
        query_language=checker.language,
        comment=body.comment,
    )


def _processor(ctx: _Ctx) -> BodyLike | None:
    """ItemProcessor, or the deprecated Iterator (Map state in Inline mode)."""
    checker, raw = ctx.checker, ctx.raw
    if "ItemProcessor" in raw and "Iterator" in raw:
        checker.schema(ctx.pointer, "Only one of 'ItemProcessor' and 'Iterator' may be specified")
        return None
    key = "Iterator" if "Iterator" in raw else "ItemProcessor"
    if key not in raw:
        checker.schema(ctx.pointer, "The field 'ItemProcessor' is required by state type 'Map'")
        return None
    processor = ctx.good.get(key)
    if processor is None:  # wrong type, already reported
        return None
    at = child(ctx.pointer, key)
    config = processor.get("ProcessorConfig")
    if isinstance(config, dict):
        config_at = child(at, "ProcessorConfig")
        for name in config:
            if name not in ("Mode", "ExecutionType"):
                checker.schema(child(config_at, name), f"Field '{name}' is not supported")
        # A DISTRIBUTED Map whose items come from its input (no ItemReader, ResultWriter or
        # ItemBatcher, which the state's field table rejects) runs here like an inline one:
        # same results, same Retry/Catch and tolerated-failure rules, iterations recorded as
        # MapIteration* events rather than as a child Map Run.
        mode = config.get("Mode", "INLINE")
        if mode not in ("INLINE", "DISTRIBUTED"):
            checker.schema(
                child(config_at, "Mode"), "The value for 'Mode' must be INLINE or DISTRIBUTED"
            )
        execution_type = config.get("ExecutionType")
        if execution_type is not None and mode != "DISTRIBUTED":
            checker.schema(
                child(config_at, "ExecutionType"),
                "Field 'ExecutionType' is only allowed when 'Mode' is DISTRIBUTED",
            )
        elif execution_type is not None and execution_type not in ("STANDARD", "EXPRESS"):
            checker.schema(
                child(config_at, "ExecutionType"),
                "The value for 'ExecutionType' must be STANDARD or EXPRESS",
            )
    body = parse_body(checker, processor, at, table=PROCESSOR_FIELDS, owner=f"'{key}'")
    return None if body is None else _body_like(body, checker)


def _map(ctx: _Ctx) -> State:
    checker, raw, good, pointer = ctx.checker, ctx.raw, ctx.good, ctx.pointer
    processor = _processor(ctx)
    checker.exclusive(raw, pointer, "ItemSelector", "Parameters")
    checker.exclusive(raw, pointer, "MaxConcurrency", "MaxConcurrencyPath")
    checker.exclusive(raw, pointer, "ToleratedFailureCount", "ToleratedFailureCountPath")
    checker.exclusive(raw, pointer, "ToleratedFailurePercentage", "ToleratedFailurePercentagePath")
    percentage = good.get("ToleratedFailurePercentage")
    if isinstance(percentage, int | float) and not 0 <= percentage <= 100:
        checker.schema(
            child(pointer, "ToleratedFailurePercentage"),
            "The value for the field 'ToleratedFailurePercentage' must be between 0 and 100",
        )
    selector_key = "Parameters" if "Parameters" in raw else "ItemSelector"
    if ctx.language == "JSONata":
        items_path = None
    elif "ItemsPath" in good:
        items_path = checker.optional_reference(good, "ItemsPath", pointer)
    else:
        items_path = checker.reference("$", pointer, "ItemsPath")
    return MapState(
        **ctx.common,
        item_processor=processor or BodyLike(start_at="", states={}),
        items_path=items_path,
        # A JSONata ItemSelector holds expressions, not ``.$`` fields: it is read from the
        # raw definition by the JSONata evaluator, not compiled as a JSONPath template.
        item_selector=None
        if ctx.language == "JSONata"
        else checker.template(good, selector_key, pointer),
        result_selector=checker.template(good, "ResultSelector", pointer),
        result_path=checker.result_path(good, "ResultPath", pointer),
        max_concurrency=checker.integer(good, "MaxConcurrency", pointer, low=0, high=MAX_SECONDS)
        or 0,
        max_concurrency_path=checker.optional_reference(good, "MaxConcurrencyPath", pointer),
        tolerated_failure_count=checker.integer(
            good, "ToleratedFailureCount", pointer, low=0, high=MAX_SECONDS
        ),
        tolerated_failure_count_path=checker.optional_reference(
            good, "ToleratedFailureCountPath", pointer
        ),
        tolerated_failure_percentage=float(percentage)
        if isinstance(percentage, int | float)
        else None,
        tolerated_failure_percentage_path=checker.optional_reference(
            good, "ToleratedFailurePercentagePath", pointer
        ),
        retry=checker.retriers(good, pointer),
        catch=checker.catchers(good, pointer, ctx.language),
        items=_jsonata_value(ctx, "Items", kinds=(list,), noun="an array"),
    )


_BUILDERS: Final[Mapping[str, Callable[[_Ctx], State]]] = {
    "Pass": _pass,
    "Task": _task,
    "Choice": _choice,
    "Wait": _wait,
    "Succeed": _succeed,
    "Fail": _fail,
    "Parallel": _parallel,
    "Map": _map,
}

"""Builders of the states that hold no other states: Pass, Task, Choice, Wait, Succeed, Fail.

Each builder receives a :class:`StateContext` after the shared checks of
:func:`oncue.asl.validate_states.parse_state` (the field table, the query language,
``Next``/``End``), checks what is particular to its state type and returns the state's model.
The sections of the AWS documentation each check implements are named next to it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Final

from oncue.asl.checker import Checker
from oncue.asl.choice import (
    CompiledChoiceRule,
    JsonataChoiceRule,
    compile_choice_rule,
    compile_jsonata_choice_rule,
    parse_timestamp,
)
from oncue.asl.evaluation import Expression
from oncue.asl.fields import INVALID_RESOURCE, MAX_SECONDS, child, is_jsonata_expression
from oncue.asl.intrinsics import compile_intrinsic
from oncue.asl.jsonata_template import JsonataTemplate
from oncue.asl.model import (
    ChoiceRule,
    ChoiceState,
    FailState,
    PassState,
    QueryLanguage,
    State,
    SucceedState,
    TaskState,
    WaitState,
)
from oncue.asl.validate_jsonata import compile_assign, compile_value
from oncue.types import Json

__all__ = [
    "StateContext",
    "build_choice",
    "build_fail",
    "build_pass",
    "build_succeed",
    "build_task",
    "build_wait",
    "jsonata_value",
]

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


@dataclass(frozen=True, slots=True, kw_only=True)
class StateContext:
    """What every builder receives: the raw state, its well-typed fields and where it is."""

    checker: Checker
    raw: Mapping[str, Json]
    good: Mapping[str, Json]
    pointer: str
    language: QueryLanguage
    common: Mapping[str, Json]


def jsonata_value(
    ctx: StateContext, key: str, *, kinds: tuple[type, ...], noun: str
) -> JsonataTemplate | None:
    """A JSONata-only field that holds a literal of ``kinds`` or a ``{% %}`` expression."""
    if key not in ctx.good:
        return None
    value = ctx.good[key]
    if not (isinstance(value, kinds) or is_jsonata_expression(value)):
        ctx.checker.schema(
            child(ctx.pointer, key),
            f"The value for the field '{key}' must be {noun} or a JSONata expression",
        )
        return None
    return compile_value(ctx.checker, value, child(ctx.pointer, key))


def build_pass(ctx: StateContext) -> State:
    return PassState(
        **ctx.common,
        parameters=ctx.checker.template(ctx.good, "Parameters", ctx.pointer),
        result=ctx.good.get("Result"),
        has_result="Result" in ctx.good,
        result_path=ctx.checker.result_path(ctx.good, "ResultPath", ctx.pointer),
    )


def _seconds(ctx: StateContext, key: str) -> tuple[int | None, Expression | None]:
    """TimeoutSeconds / HeartbeatSeconds and their ``Path`` forms (Task workflow state)."""
    ctx.checker.exclusive(ctx.raw, ctx.pointer, key, f"{key}Path")
    value = ctx.checker.integer(ctx.good, key, ctx.pointer, low=1, high=MAX_SECONDS)
    return value, ctx.checker.optional_reference(ctx.good, f"{key}Path", ctx.pointer)


def build_task(ctx: StateContext) -> State:
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
        arguments=jsonata_value(ctx, "Arguments", kinds=(dict,), noun="an object"),
    )


def build_choice(ctx: StateContext) -> State:
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
            rules.append(_rule_extras(ctx, rule, raw_rule, rule_at))
    return ChoiceState(**ctx.common, choices=tuple(rules), default=ctx.good.get("Default"))


def _rule_extras(ctx: StateContext, rule: ChoiceRule, raw: Json, pointer: str) -> ChoiceRule:
    """Compile a rule's Assign (both languages), Condition and Output (JSONata)."""
    assert isinstance(raw, dict)
    assign = compile_assign(ctx.checker, raw.get("Assign"), child(pointer, "Assign"), ctx.language)
    if isinstance(rule, JsonataChoiceRule):
        condition = raw["Condition"]
        compiled: JsonataTemplate | bool | None = (
            condition
            if isinstance(condition, bool)
            else compile_value(ctx.checker, condition, child(pointer, "Condition"))
        )
        output = (
            compile_value(ctx.checker, raw["Output"], child(pointer, "Output"))
            if "Output" in raw
            else None
        )
        return replace(
            rule, condition=True if compiled is None else compiled, assign=assign, output=output
        )
    assert isinstance(rule, CompiledChoiceRule)
    return replace(rule, assign=assign)


def build_wait(ctx: StateContext) -> State:
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


def build_succeed(ctx: StateContext) -> State:
    return SucceedState(**ctx.common)


def _fail_path(ctx: StateContext, key: str) -> Expression | None:
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


def build_fail(ctx: StateContext) -> State:
    ctx.checker.exclusive(ctx.raw, ctx.pointer, "Error", "ErrorPath")
    ctx.checker.exclusive(ctx.raw, ctx.pointer, "Cause", "CausePath")
    return FailState(
        **ctx.common,
        error=ctx.good.get("Error"),
        cause=ctx.good.get("Cause"),
        error_path=_fail_path(ctx, "ErrorPath"),
        cause_path=_fail_path(ctx, "CausePath"),
    )

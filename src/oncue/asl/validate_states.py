"""Check each state of a definition and build its model; check each body of states.

:func:`parse_state` makes the checks every state shares (the field table, the query language,
``Next``/``End``), then calls its type's builder: Parallel and Map are built here, because their
branches and processors are bodies parsed recursively by :func:`parse_body`; the other types
are built in :mod:`oncue.asl.validate_leaf_states`. :func:`parse_body` checks a set of states
with a start (the top level, a Parallel branch, a Map's ItemProcessor) and leaves the graph
checks (state names, transition targets, reachability, a terminal state) to
:mod:`oncue.asl.validate_graph`. The sections of the AWS documentation each check implements
are named next to it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from oncue.asl.checker import Checker
from oncue.asl.fields import (
    BODY_FIELDS,
    EXPRESSION_CAPABLE_FIELDS,
    MAX_SECONDS,
    NEXT_OR_END_TYPES,
    PROCESSOR_FIELDS,
    REQUIRED_FIELDS,
    STATE_FIELDS,
    UNSUPPORTED_FIELDS,
    Kind,
    child,
    is_jsonata_expression,
)
from oncue.asl.jsonata_template import JsonataTemplate
from oncue.asl.model import BodyLike, MapState, ParallelState, QueryLanguage, State
from oncue.asl.validate_graph import check_graph, check_state_name
from oncue.asl.validate_jsonata import compile_assign, compile_field, compile_value
from oncue.asl.validate_leaf_states import (
    StateContext,
    build_choice,
    build_fail,
    build_pass,
    build_succeed,
    build_task,
    build_wait,
    jsonata_value,
)
from oncue.types import Json

__all__ = ["Body", "parse_body", "parse_state"]

_LANGUAGES: Final = ("JSONPath", "JSONata")


@dataclass(frozen=True, slots=True, kw_only=True)
class Body:
    start_at: str
    states: Mapping[str, State]
    comment: str | None


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
        check_state_name(checker, name, at)
        state = parse_state(checker, name, raw_state, at)
        if state is not None:
            states[name] = state
    if raw_states:
        check_graph(checker, good.get("StartAt"), raw_states, pointer)
    start_at = good.get("StartAt")
    if not checker.clean_since(mark) or not isinstance(start_at, str):
        return None
    return Body(start_at=start_at, states=states, comment=good.get("Comment"))


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
    expressions: dict[str, JsonataTemplate] = {}
    if language == "JSONata":
        for key in sorted(EXPRESSION_CAPABLE_FIELDS & set(good)):
            if is_jsonata_expression(good[key]):
                template = compile_value(checker, good[key], child(pointer, key))
                if template is not None:
                    expressions[key] = template
    common: dict[str, Json] = {
        "name": name,
        "comment": good.get("Comment"),
        "next": good.get("Next"),
        "end": good.get("End") is True,
        "query_language": language,
        "input_path": checker.io_path(good, "InputPath", pointer),
        "output_path": checker.io_path(good, "OutputPath", pointer),
        "assign": compile_assign(checker, good.get("Assign"), child(pointer, "Assign"), language),
        "output": compile_field(checker, good, "Output", pointer),
        "expressions": expressions,
    }
    ctx = StateContext(
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


def _parallel(ctx: StateContext) -> State:
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
        arguments=jsonata_value(ctx, "Arguments", kinds=(dict,), noun="an object"),
    )


def _body_like(body: Body, checker: Checker) -> BodyLike:
    return BodyLike(
        start_at=body.start_at,
        states=body.states,
        query_language=checker.language,
        comment=body.comment,
    )


def _processor(ctx: StateContext) -> BodyLike | None:
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


def _map(ctx: StateContext) -> State:
    checker, raw, good, pointer = ctx.checker, ctx.raw, ctx.good, ctx.pointer
    processor = _processor(ctx)
    config = raw.get("ItemProcessor", raw.get("Iterator"))
    config = config.get("ProcessorConfig") if isinstance(config, dict) else None
    distributed = isinstance(config, dict) and config.get("Mode") == "DISTRIBUTED"
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
        items=jsonata_value(ctx, "Items", kinds=(list,), noun="an array"),
        jsonata_item_selector=compile_field(checker, good, "ItemSelector", pointer)
        if ctx.language == "JSONata"
        else None,
        distributed=distributed,
    )


_BUILDERS: Final[Mapping[str, Callable[[StateContext], State]]] = {
    "Pass": build_pass,
    "Task": build_task,
    "Choice": build_choice,
    "Wait": build_wait,
    "Succeed": build_succeed,
    "Fail": build_fail,
    "Parallel": _parallel,
    "Map": _map,
}

"""Hypothesis properties of JSONata definitions with variables, run by the pure interpreter.

The definitions mix every state type in JSONata mode (Arguments, Output, Assign, Items,
ItemSelector, Condition, expression-valued Seconds/TimeoutSeconds/MaxConcurrency, Catch with
Output and Assign), with expressions that succeed, fail, return nothing or run away. Whatever
the input and the task results:

1. a definition that validates never makes the interpreter raise, and every run ends with
   exactly one terminal event, ids consecutive;
2. the same inputs and seed give the same history ($now, $random and $uuid included);
3. a snapshot taken between any two steps changes nothing.
"""

from __future__ import annotations

import copy
import itertools
from typing import Any

import orjson
from asl_strategies import TERMINAL, inputs, outcome_lists, run  # beside this file
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from interpreter_support import LAMBDA

from oncue.asl.frames import ExecutionState
from oncue.asl.model import StateMachine
from oncue.asl.snapshot import dump_state, load_state
from oncue.asl.validate import validate_definition

_UNIQUE = itertools.count()
#: Values an expression may produce: good ones, errors, undefined and a runaway loop.
EXPRESSIONS = [
    "{% $states.input %}",
    "{% $states.input.a %}",
    "{% $states.input.n * 2 %}",
    "{% $count($states.input.arr) %}",
    "{% $states.context.State.Name %}",
    "{% $now() %}",
    "{% $random() %}",
    "{% $uuid() %}",
    "{% $exists($v0) ? $v0 : 'none' %}",
    "{% $missing %}",
    "{% $states.input.a + 1 %}",
    "{% ($f := function($n){ 1 + $f($n + 1) }; $f(0)) %}",
]
CONDITIONS = [
    "{% $states.input.n > 3 %}",
    "{% $exists($v0) %}",
    "{% $states.input.a %}",
    True,
    False,
]
NUMBERS = ["{% $states.input.n %}", "{% 1 %}", "{% $states.input.a %}"]
ITEMS = ["{% $states.input.arr %}", "{% [1, 2] %}", "{% $states.input.a %}", [1, "x"]]


def _value(draw: st.DrawFn) -> Any:
    return draw(st.sampled_from(EXPRESSIONS) | st.sampled_from([1, "text", None, {"k": [1]}]))


def _assign(draw: st.DrawFn, state: dict[str, Any], depth: int) -> None:
    if draw(st.booleans()):
        names = draw(st.lists(st.sampled_from(["a", "b"]), unique=True, min_size=1, max_size=2))
        state["Assign"] = {f"v{depth}{name}": _value(draw) for name in names}
        if depth == 0 and draw(st.booleans()):
            state["Assign"]["v0"] = _value(draw)


def _errors(draw: st.DrawFn, state: dict[str, Any], nxt: str | None, depth: int) -> None:
    if draw(st.booleans()):
        state["Retry"] = [{"ErrorEquals": ["States.ALL"], "MaxAttempts": draw(st.integers(0, 2))}]
    if nxt is not None and draw(st.booleans()):
        catcher: dict[str, Any] = {"ErrorEquals": ["States.ALL"], "Next": nxt}
        if draw(st.booleans()):
            catcher["Output"] = draw(st.sampled_from(["{% $states.errorOutput %}", {"e": 1}]))
        _assign(draw, catcher, depth)
        state["Catch"] = [catcher]


@st.composite
def jsonata_bodies(draw: st.DrawFn, depth: int = 0) -> dict[str, Any]:
    count = draw(st.integers(1, 4))
    names = [f"J{depth}_{i}" for i in range(count)]
    kinds = ["Pass", "Choice", "Wait", "Task", "Fail", "Succeed"]
    if depth < 2:
        kinds += ["Parallel", "Map"]
    states: dict[str, Any] = {}
    for i, name in enumerate(names):
        nxt = names[i + 1] if i + 1 < count else None
        kind = draw(st.sampled_from(kinds))
        if nxt is None and kind == "Choice":
            kind = "Pass"
        if nxt is not None and kind in ("Fail", "Succeed"):
            kind = "Pass"
        state: dict[str, Any] = {"Type": kind}
        if kind in ("Pass", "Task", "Parallel", "Map", "Wait", "Succeed") and draw(st.booleans()):
            state["Output"] = _value(draw)
        if kind in ("Pass", "Task", "Parallel", "Map", "Wait", "Choice"):
            _assign(draw, state, depth)
        if kind == "Choice":
            rule: dict[str, Any] = {"Condition": draw(st.sampled_from(CONDITIONS)), "Next": nxt}
            _assign(draw, rule, depth)
            state["Choices"] = [rule]
            if draw(st.booleans()):
                state["Default"] = nxt
        elif kind == "Wait":
            state["Seconds"] = draw(st.sampled_from([0, 5, *NUMBERS]))
        elif kind == "Task":
            state["Resource"] = LAMBDA
            if draw(st.booleans()):
                state["Arguments"] = {"x": _value(draw)}
            if draw(st.booleans()):
                state["TimeoutSeconds"] = draw(st.sampled_from([10, *NUMBERS]))
            _errors(draw, state, nxt, depth)
        elif kind == "Fail":
            state["Error"] = draw(st.sampled_from(["Boom", "{% 'E' & $string($states.input.n) %}"]))
        elif kind == "Parallel":
            state["Branches"] = [draw(jsonata_bodies(depth + 1)) for _ in range(2)]
            if draw(st.booleans()):
                state["Arguments"] = draw(st.sampled_from([*EXPRESSIONS, {"x": 1}]))
            _errors(draw, state, nxt, depth)
        elif kind == "Map":
            state["Items"] = draw(st.sampled_from(ITEMS))
            state["ItemProcessor"] = draw(jsonata_bodies(depth + 1))
            if draw(st.booleans()):
                state["ItemSelector"] = {"i": "{% $states.context.Map.Item.Index %}"}
            if draw(st.booleans()):
                state["MaxConcurrency"] = draw(st.sampled_from([1, *NUMBERS]))
            _errors(draw, state, nxt, depth)
        if kind not in ("Choice", "Fail", "Succeed"):
            state["End" if nxt is None else "Next"] = True if nxt is None else nxt
        states[name] = state
    prefix = next(_UNIQUE)
    renamed = {f"{n}_{prefix}": s for n, s in states.items()}
    for state in renamed.values():
        for field in ("Next", "Default"):
            if field in state:
                state[field] = f"{state[field]}_{prefix}"
        for item in [*state.get("Choices", []), *state.get("Catch", [])]:
            item["Next"] = f"{item['Next']}_{prefix}"
    body: dict[str, Any] = {"StartAt": f"{names[0]}_{prefix}", "States": renamed}
    if depth == 0:
        body["QueryLanguage"] = "JSONata"
    return body


_SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_SETTINGS
@given(definition=jsonata_bodies(), data=inputs, outcomes=outcome_lists)
def test_a_valid_jsonata_definition_never_raises(
    definition: dict[str, Any], data: Any, outcomes: list[Any]
) -> None:
    assert validate_definition(definition) == []
    history = run(definition, data, outcomes)
    terminal = [event for event in history if event["type"] in TERMINAL]
    assert len(terminal) == 1 and history[-1] is terminal[0]
    assert [event["id"] for event in history] == list(range(1, len(history) + 1))


def _reload(state: ExecutionState) -> ExecutionState:
    machine = state.root.body
    assert isinstance(machine, StateMachine)
    return load_state(machine, orjson.loads(orjson.dumps(dump_state(state))))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(definition=jsonata_bodies(), data=inputs, outcomes=outcome_lists)
def test_same_inputs_same_history_and_snapshots_change_nothing(
    definition: dict[str, Any], data: Any, outcomes: list[Any]
) -> None:
    first = run(copy.deepcopy(definition), copy.deepcopy(data), list(outcomes))
    second = run(copy.deepcopy(definition), copy.deepcopy(data), list(outcomes), _reload)
    assert first == second

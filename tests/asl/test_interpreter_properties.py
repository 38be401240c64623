"""Hypothesis properties of the pure interpreter.

1. A definition that validates never makes the interpreter raise a Python exception,
   whatever the input and whatever its tasks return or raise, and every run ends with
   exactly one terminal history event.
2. The same definition, input, seed and events give the same history, byte for byte.
"""

from __future__ import annotations

import copy
import heapq
import itertools
from datetime import datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from interpreter_support import INFO, LAMBDA, T0  # beside this file (pytest puts it on sys.path)

from oncue.asl.commands import (
    ArmTimer,
    CancelTimer,
    Event,
    RunTask,
    TaskFailed,
    TaskSucceeded,
    TimerFired,
)
from oncue.asl.interpreter import Interpreter
from oncue.asl.validate import parse_definition, validate_definition

TERMINAL = {"ExecutionSucceeded", "ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted"}

PATHS = ["$", "$.a", "$.b.c", "$.missing", "$.arr", "$.arr[0]", "$.arr[*]", "$$.State.Name"]
REFS = ["$", "$.r", "$.a.x", "$.b.c", "$.new.deep"]
DYNAMIC = [*PATHS, "States.Format('{}', $.a)", "States.ArrayLength($.arr)", "States.UUID()"]
ERRORS = ["E1", "E2", "States.ALL", "States.TaskFailed", "States.Timeout"]

_UNIQUE = itertools.count()
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=3),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(["a", "b", "c", "arr"]), children, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def templates(draw: st.DrawFn) -> dict[str, Any]:
    keys = draw(st.lists(st.sampled_from(["x", "y", "z"]), unique=True, max_size=2))
    template: dict[str, Any] = {}
    for key in keys:
        if draw(st.booleans()):
            template[key + ".$"] = draw(st.sampled_from(DYNAMIC))
        else:
            template[key] = draw(json_values)
    return template


def _common(draw: st.DrawFn, state: dict[str, Any]) -> None:
    if draw(st.booleans()):
        state["InputPath"] = draw(st.sampled_from([*PATHS, None]))
    if draw(st.booleans()):
        state["OutputPath"] = draw(st.sampled_from([*PATHS, None]))


def _result_fields(draw: st.DrawFn, state: dict[str, Any]) -> None:
    if draw(st.booleans()):
        state["ResultPath"] = draw(st.sampled_from([*REFS, None]))
    if draw(st.booleans()):
        state["ResultSelector"] = draw(templates())


def _errors(draw: st.DrawFn, state: dict[str, Any], next_name: str | None) -> None:
    if draw(st.booleans()):
        state["Retry"] = [
            {
                "ErrorEquals": [draw(st.sampled_from(ERRORS[:2] + ERRORS[3:]))],
                "MaxAttempts": draw(st.integers(0, 2)),
                "IntervalSeconds": draw(st.integers(1, 3)),
                "JitterStrategy": draw(st.sampled_from(["FULL", "NONE"])),
            }
        ]
    if next_name is not None and draw(st.booleans()):
        state["Catch"] = [{"ErrorEquals": ["States.ALL"], "Next": next_name}]


@st.composite
def bodies(draw: st.DrawFn, depth: int = 0) -> dict[str, Any]:
    count = draw(st.integers(1, 4))
    names = [f"S{depth}_{i}" for i in range(count)]
    states: dict[str, Any] = {}
    kinds = ["Pass", "Choice", "Wait", "Task", "Fail", "Succeed"]
    if depth < 2:
        kinds += ["Parallel", "Map"]
    for i, name in enumerate(names):
        nxt = names[i + 1] if i + 1 < count else None
        kind = draw(st.sampled_from(kinds))
        if nxt is None and kind == "Choice":
            kind = "Pass"
        if nxt is not None and kind in ("Fail", "Succeed"):
            kind = "Pass"  # a terminal state in the middle would leave the rest unreachable
        state: dict[str, Any] = {"Type": kind}
        if kind == "Pass":
            _common(draw, state)
            if draw(st.booleans()):
                state["Parameters"] = draw(templates())
            if draw(st.booleans()):
                state["ResultPath"] = draw(st.sampled_from([*REFS, None]))
        elif kind == "Choice":
            state["Choices"] = [
                {
                    "Variable": draw(st.sampled_from(["$.a", "$.n", "$.missing"])),
                    draw(st.sampled_from(["NumericGreaterThan", "StringEquals", "IsPresent"])): (
                        draw(st.sampled_from([1, "x", True]))
                    ),
                    "Next": nxt,
                }
            ]
            if draw(st.booleans()):
                state["Default"] = nxt
            # a rule's operand type must fit the operator
            rule = state["Choices"][0]
            if "NumericGreaterThan" in rule:
                rule["NumericGreaterThan"] = 1
            elif "StringEquals" in rule:
                rule["StringEquals"] = "x"
            else:
                rule["IsPresent"] = True
        elif kind == "Wait":
            _common(draw, state)
            if draw(st.booleans()):
                state["Seconds"] = draw(st.integers(0, 100))
            else:
                state["SecondsPath"] = draw(st.sampled_from(["$.n", "$.a"]))
        elif kind == "Task":
            _common(draw, state)
            state["Resource"] = LAMBDA
            if draw(st.booleans()):
                state["Parameters"] = draw(templates())
            if draw(st.booleans()):
                state["TimeoutSeconds"] = draw(st.integers(1, 50))
            _result_fields(draw, state)
            _errors(draw, state, nxt)
        elif kind == "Fail":
            state["Error"] = "Boom"
        elif kind == "Succeed":
            _common(draw, state)
        elif kind == "Parallel":
            _common(draw, state)
            state["Branches"] = [draw(bodies(depth + 1)) for _ in range(draw(st.integers(1, 2)))]
            _result_fields(draw, state)
            _errors(draw, state, nxt)
        else:
            _common(draw, state)
            state["ItemsPath"] = draw(st.sampled_from(["$.arr", "$.a", "$"]))
            state["ItemProcessor"] = draw(bodies(depth + 1))
            if draw(st.booleans()):
                state["MaxConcurrency"] = draw(st.integers(0, 2))
            if draw(st.booleans()):
                state["ToleratedFailureCount"] = draw(st.integers(0, 1))
            _result_fields(draw, state)
            _errors(draw, state, nxt)
        if kind not in ("Choice", "Fail", "Succeed"):
            if nxt is None:
                state["End"] = True
            else:
                state["Next"] = nxt
        states[name] = state
    # Rename per nesting so state names stay unique across the whole definition.
    prefix = next(_UNIQUE)
    renamed = {f"{n}_{prefix}": s for n, s in states.items()}
    for state in renamed.values():
        for field in ("Next", "Default"):
            if field in state:
                state[field] = f"{state[field]}_{prefix}"
        for rule in state.get("Choices", []):
            rule["Next"] = f"{rule['Next']}_{prefix}"
        for catcher in state.get("Catch", []):
            catcher["Next"] = f"{catcher['Next']}_{prefix}"
    return {"StartAt": f"{names[0]}_{prefix}", "States": renamed}


def run(definition: dict[str, Any], data: Any, outcomes: list[Any]) -> list[dict[str, Any]]:
    """Drive the interpreter: tasks answer from ``outcomes`` in order, timers in due order."""
    interpreter = Interpreter(parse_definition(definition))
    now = T0
    step = interpreter.start(INFO, data, now=now, seed=7)
    history = list(step.history)
    state = step.state
    timers: list[tuple[datetime, int, str]] = []
    cancelled: set[str] = set()
    tasks: list[str] = []
    answers = iter(outcomes)
    seq = 0
    for _ in range(10_000):
        for command in step.commands:
            if isinstance(command, RunTask):
                tasks.append(command.task_id)
            elif isinstance(command, ArmTimer):
                seq += 1
                heapq.heappush(timers, (command.due, seq, command.timer_id))
            elif isinstance(command, CancelTimer):
                cancelled.add(command.timer_id)
        if state.finished:
            break
        event: Event
        if tasks:
            task_id = tasks.pop(0)
            answer = next(answers, None)
            if isinstance(answer, str):
                event = TaskFailed(task_id=task_id, error=answer, cause="because")
            else:
                event = TaskSucceeded(task_id=task_id, output=answer)
        else:
            while timers and timers[0][2] in cancelled:
                heapq.heappop(timers)
            if not timers:
                # A running execution that awaits neither a task nor a timer is stuck.
                raise AssertionError(f"stalled with nothing pending: {state.pending}")
            due, _, timer_id = heapq.heappop(timers)
            now = max(now, due)
            event = TimerFired(timer_id=timer_id)
        step = interpreter.step(state, event, now=now)
        history.extend(step.history)
    return history


outcome_lists = st.lists(st.sampled_from(["E1", "E2", "States.Timeout"]) | json_values, max_size=12)
inputs = st.fixed_dictionaries(
    {},
    optional={
        "a": json_values,
        "b": st.fixed_dictionaries({"c": json_values}),
        "arr": st.lists(json_values, max_size=3),
        "n": st.integers(-2, 50),
    },
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(definition=bodies(), data=inputs, outcomes=outcome_lists)
def test_a_valid_definition_never_raises(
    definition: dict[str, Any], data: Any, outcomes: list[Any]
) -> None:
    assert validate_definition(definition) == []
    history = run(definition, data, outcomes)
    terminal = [event for event in history if event["type"] in TERMINAL]
    assert len(terminal) == 1
    assert history[-1] is terminal[0]
    assert [event["id"] for event in history] == list(range(1, len(history) + 1))
    assert all(0 <= event["previousEventId"] < event["id"] for event in history)


@settings(max_examples=75, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(definition=bodies(), data=inputs, outcomes=outcome_lists)
def test_same_inputs_same_history(
    definition: dict[str, Any], data: Any, outcomes: list[Any]
) -> None:
    first = run(copy.deepcopy(definition), copy.deepcopy(data), list(outcomes))
    second = run(copy.deepcopy(definition), copy.deepcopy(data), list(outcomes))
    assert first == second


def test_the_driver_above_reaches_terminal_events() -> None:
    """Guard for the properties: the harness really runs executions to the end."""
    definition = {
        "StartAt": "T",
        "States": {
            "T": {"Type": "Task", "Resource": LAMBDA, "Next": "W"},
            "W": {"Type": "Wait", "Seconds": 5, "End": True},
        },
    }
    history = run(definition, {}, [{"ok": 1}])
    assert history[-1]["type"] == "ExecutionSucceeded"
    stamps = [e["timestamp"] for e in history]
    assert stamps[-1] > stamps[0]
    assert timedelta(seconds=5) == datetime.fromisoformat(stamps[-1]) - datetime.fromisoformat(
        stamps[0]
    )

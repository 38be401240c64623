"""Hypothesis strategies for ASL definitions, inputs and task outcomes, and a driver.

Shared by the interpreter's property tests: :func:`bodies` draws valid definitions (every
state type, nested Parallel and Map, Retry and Catch), :data:`inputs` execution inputs and
:data:`outcome_lists` what the tasks answer, in order. :class:`Harness` drives an execution
to its end: tasks answer from the outcomes, timers fire in due order, the clock jumps.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from datetime import datetime
from typing import Any

from hypothesis import strategies as st
from interpreter_support import INFO, LAMBDA, T0  # beside this file (pytest puts it on sys.path)

from oncue.asl.commands import (
    ArmTimer,
    CancelTimer,
    Event,
    Redrive,
    RunTask,
    TaskFailed,
    TaskSucceeded,
    TimerFired,
)
from oncue.asl.frames import ExecutionState
from oncue.asl.interpreter import Interpreter, Step
from oncue.asl.validate import parse_definition

__all__ = ["TERMINAL", "Harness", "bodies", "inputs", "json_values", "outcome_lists", "run"]

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


class Harness:
    """Drives one execution; ``reload`` (if given) replaces the state after every step."""

    def __init__(
        self,
        definition: dict[str, Any],
        outcomes: list[Any],
        reload: Callable[[ExecutionState], ExecutionState] | None = None,
    ) -> None:
        self.interpreter = Interpreter(parse_definition(definition))
        self.reload = reload
        self.now = T0
        self.history: list[dict[str, Any]] = []
        self.timers: list[tuple[datetime, int, str]] = []
        self.cancelled: set[str] = set()
        self.tasks: list[str] = []
        self.answers = iter(outcomes)
        self.seq = 0
        self.state: ExecutionState | None = None

    def _take(self, step: Step) -> None:
        self.history.extend(step.history)
        for command in step.commands:
            if isinstance(command, RunTask):
                self.tasks.append(command.task_id)
            elif isinstance(command, ArmTimer):
                self.seq += 1
                heapq.heappush(self.timers, (command.due, self.seq, command.timer_id))
            elif isinstance(command, CancelTimer):
                self.cancelled.add(command.timer_id)
        self.state = step.state if self.reload is None else self.reload(step.state)

    def start(self, data: Any) -> None:
        self._take(self.interpreter.start(INFO, data, now=self.now, seed=7))

    def send(self, event: Event) -> Step:
        assert self.state is not None
        step = self.interpreter.step(self.state, event, now=self.now)
        self._take(step)
        return step

    def redrive(self) -> Step:
        """RedriveExecution; what the failed attempt still awaited is forgotten."""
        self.tasks.clear()
        self.timers.clear()
        return self.send(Redrive())

    def run_to_end(self) -> None:
        for _ in range(10_000):
            assert self.state is not None
            if self.state.finished:
                return
            event: Event
            if self.tasks:
                task_id = self.tasks.pop(0)
                answer = next(self.answers, None)
                if isinstance(answer, str):
                    event = TaskFailed(task_id=task_id, error=answer, cause="because")
                else:
                    event = TaskSucceeded(task_id=task_id, output=answer)
            else:
                while self.timers and self.timers[0][2] in self.cancelled:
                    heapq.heappop(self.timers)
                if not self.timers:
                    # A running execution that awaits neither a task nor a timer is stuck.
                    raise AssertionError(f"stalled with nothing pending: {self.state.pending}")
                due, _, timer_id = heapq.heappop(self.timers)
                self.now = max(self.now, due)
                event = TimerFired(timer_id=timer_id)
            self.send(event)
        raise AssertionError("the execution did not end")


def run(
    definition: dict[str, Any],
    data: Any,
    outcomes: list[Any],
    reload: Callable[[ExecutionState], ExecutionState] | None = None,
) -> list[dict[str, Any]]:
    """Drive the interpreter: tasks answer from ``outcomes`` in order, timers in due order."""
    harness = Harness(definition, outcomes, reload)
    harness.start(data)
    harness.run_to_end()
    return harness.history


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

"""Snapshots: an execution state dumped to JSON and loaded back behaves exactly the same.

Every case runs two executions side by side with the same events: one keeps its state in
memory, the other dumps, encodes (orjson), decodes and loads its state after every step, as
a durable driver does. Histories, commands and final results must be identical.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import orjson
import pytest
from asl_strategies import TERMINAL, Harness, bodies, inputs, outcome_lists
from hypothesis import HealthCheck, given, settings
from interpreter_support import INFO, LAMBDA, T0

from oncue.asl.commands import (
    ArmTimer,
    Event,
    RunTask,
    TaskFailed,
    TaskHeartbeat,
    TaskSucceeded,
    TimerFired,
)
from oncue.asl.frames import ExecutionState, Frame
from oncue.asl.interpreter import Interpreter, Step
from oncue.asl.model import MapState, ParallelState, StateMachine
from oncue.asl.snapshot import dump_state, load_state
from oncue.asl.validate import parse_definition
from oncue.errors import StoreError


def roundtrip(state: ExecutionState) -> ExecutionState:
    machine = state.root.body
    assert isinstance(machine, StateMachine)
    return load_state(machine, orjson.loads(orjson.dumps(dump_state(state))))


class Twins:
    """The same execution twice: in memory, and reloaded from a snapshot after every step."""

    def __init__(self, definition: dict[str, Any], data: Any = None) -> None:
        self.machine = parse_definition(definition)
        self.interpreter = Interpreter(self.machine)
        first = self.interpreter.start(INFO, {} if data is None else data, now=T0, seed=5)
        second = self.interpreter.start(INFO, {} if data is None else data, now=T0, seed=5)
        self.now = T0
        self.memory = first.state
        self.stored = roundtrip(second.state)
        assert first.commands == second.commands and first.history == second.history
        self.last = first

    def send(self, event: Event, after: float = 0) -> Step:
        self.now += timedelta(seconds=after)
        first = self.interpreter.step(self.memory, event, now=self.now)
        second = self.interpreter.step(self.stored, event, now=self.now)
        assert first.history == second.history
        assert first.commands == second.commands
        self.stored = roundtrip(second.state)
        assert dump_state(self.stored) == dump_state(self.memory)
        self.last = first
        return first

    def only(self, kind: type) -> list[Any]:
        return [c for c in self.last.commands if isinstance(c, kind)]


def check_tree(state: ExecutionState) -> None:
    """The identity relations a loaded state must keep."""
    assert state.frames.get("", state.root) is state.root
    for key, frame in state.frames.items():
        assert frame.key == key and not frame.closed
        if frame.parent is not None:
            assert frame.parent.children[frame.index] is frame
    stack = [state.root]
    while stack:
        frame = stack.pop()
        for kept in (frame.children, frame.unfinished):
            for index, child in kept.items():
                assert child.parent is frame and child.index == index
                stack.append(child)


def json_only(value: Any) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and json_only(v) for k, v in value.items())
    if isinstance(value, list):
        return all(json_only(v) for v in value)
    return value is None or isinstance(value, (str, int, float, bool))


def task(**fields: Any) -> dict[str, Any]:
    return {"Type": "Task", "Resource": LAMBDA, "End": True, **fields}


PARALLEL = {
    "StartAt": "P",
    "States": {
        "P": {
            "Type": "Parallel",
            "End": True,
            "Branches": [
                {"StartAt": "T", "States": {"T": task()}},
                {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 10, "End": True}}},
            ],
        }
    },
}


def test_mid_parallel() -> None:
    twins = Twins(PARALLEL, {"x": 1})
    (run,) = twins.only(RunTask)
    (timer,) = twins.only(ArmTimer)
    state = twins.stored
    check_tree(state)
    assert json_only(dump_state(state))
    parallel = state.root.body.states["P"]
    assert isinstance(parallel, ParallelState)
    assert [c.body for c in state.root.children.values()] == list(parallel.branches)
    pairs = zip(state.root.children.values(), parallel.branches, strict=True)
    assert all(child.body is branch for child, branch in pairs)
    assert state.frames[state.pending[run.task_id].frame].state == "T"
    twins.send(TaskSucceeded(task_id=run.task_id, output="done"))
    twins.send(TimerFired(timer_id=timer.timer_id), after=10)
    assert twins.stored.status == "SUCCEEDED"
    assert twins.stored.output == ["done", {"x": 1}]


def test_mid_map_with_max_concurrency() -> None:
    definition = {
        "StartAt": "M",
        "States": {
            "M": {
                "Type": "Map",
                "MaxConcurrency": 2,
                "ItemProcessor": {"StartAt": "T", "States": {"T": task()}},
                "End": True,
            }
        },
    }
    twins = Twins(definition, [1, 2, 3, 4])
    running = twins.only(RunTask)
    assert [r.payload for r in running] == [1, 2]
    twins.send(TaskSucceeded(task_id=running.pop(0).task_id, output=10))
    running += twins.only(RunTask)
    state = twins.stored
    check_tree(state)
    progress = state.root.map
    assert progress is not None and progress.next_index == 3 and progress.results[0] == 10
    machine_map = state.root.body.states["M"]
    assert isinstance(machine_map, MapState)
    assert all(c.body is machine_map.item_processor for c in state.root.children.values())
    while running:
        run = running.pop(0)
        twins.send(TaskSucceeded(task_id=run.task_id, output=run.payload * 10))
        running += twins.only(RunTask)
    assert twins.stored.status == "SUCCEEDED" and twins.stored.output == [10, 20, 30, 40]


def test_waiting_on_a_task_token_with_heartbeat() -> None:
    definition = {
        "StartAt": "T",
        "States": {
            "T": task(
                Resource="arn:aws:states:::lambda:invoke.waitForTaskToken",
                Parameters={"FunctionName": "f", "Payload": {"token.$": "$$.Task.Token"}},
                HeartbeatSeconds=10,
                TimeoutSeconds=100,
            )
        },
    }
    twins = Twins(definition)
    (run,) = twins.only(RunTask)
    frame = twins.stored.root
    assert frame.token == run.token and frame.heartbeat == 10 and frame.task_id == run.task_id
    assert len(frame.timers) == 2
    twins.send(TaskHeartbeat(task_id=run.task_id), after=8)
    (beat,) = twins.only(ArmTimer)
    assert beat.due == T0 + timedelta(seconds=18)
    twins.send(TimerFired(timer_id=beat.timer_id), after=10)
    assert twins.stored.error == "States.HeartbeatTimeout"


def test_waiting_on_a_retry() -> None:
    definition = {
        "StartAt": "T",
        "States": {"T": task(Retry=[{"ErrorEquals": ["E"], "MaxAttempts": 2}])},
    }
    twins = Twins(definition)
    (run,) = twins.only(RunTask)
    twins.send(TaskFailed(task_id=run.task_id, error="E", cause="c"))
    (timer,) = twins.only(ArmTimer)
    root = twins.stored.root
    assert root.wait == "retry" and root.retries == [1] and root.retry_count == 1
    twins.send(TimerFired(timer_id=timer.timer_id), after=1)
    (again,) = twins.only(RunTask)
    assert again.attempt == 1
    twins.send(TaskSucceeded(task_id=again.task_id, output=3))
    assert twins.stored.output == 3


def test_a_finished_state_keeps_what_a_redrive_needs() -> None:
    twins = Twins(PARALLEL, {"x": 1})
    (run,) = twins.only(RunTask)
    twins.send(TaskFailed(task_id=run.task_id, error="E", cause="c"))
    state = twins.stored
    assert state.status == "FAILED" and state.frames == {} and state.pending == {}
    assert sorted(state.root.unfinished) == [0, 1]
    assert [c.state for c in state.root.unfinished.values()] == ["T", "W"]
    check_tree(state)


def test_a_dump_does_not_share_what_the_interpreter_changes() -> None:
    definition = {"StartAt": "T", "States": {"T": task(Retry=[{"ErrorEquals": ["E"]}])}}
    interpreter = Interpreter(parse_definition(definition))
    step = interpreter.start(INFO, {}, now=T0, seed=1)
    dumped = dump_state(step.state)
    before = copy.deepcopy(dumped)
    (run,) = [c for c in step.commands if isinstance(c, RunTask)]
    interpreter.step(step.state, TaskFailed(task_id=run.task_id, error="E", cause=""), now=T0)
    assert dumped == before
    loaded = load_state(interpreter.machine, dumped)
    interpreter.step(loaded, TaskFailed(task_id=run.task_id, error="E", cause=""), now=T0)
    assert dumped == before


def _started() -> tuple[StateMachine, dict[str, Any]]:
    machine = parse_definition(PARALLEL)
    step = Interpreter(machine).start(INFO, {}, now=T0, seed=1)
    return machine, orjson.loads(orjson.dumps(dump_state(step.state)))


@pytest.mark.parametrize("version", [None, 0, 2, "1"])
def test_unknown_versions_are_refused(version: Any) -> None:
    machine, data = _started()
    data["v"] = version
    with pytest.raises(StoreError, match="format version"):
        load_state(machine, data)


def test_corrupt_data_is_a_store_error() -> None:
    machine, data = _started()
    with pytest.raises(StoreError, match="corrupt"):
        load_state(machine, [])  # type: ignore[arg-type]
    cases: list[Any] = []
    damages: list[Callable[[dict[str, Any]], object]] = [
        lambda d: d["root"]["children"][0].update(body=["Nope", 0]),
        lambda d: d["root"]["children"][0].update(body=[["P"], 0]),
        lambda d: d.pop("root"),
        lambda d: d.pop("seed"),
        lambda d: d["root"].pop("key"),
        lambda d: d.update(frames=["", "nowhere"]),
        lambda d: d["pending"].update({"x": ["nowhere", "task"]}),
        lambda d: d["pending"].update({"x": ["", "party"]}),
        lambda d: d["info"].pop("execution_arn"),
        lambda d: d.update(pending=[1]),
    ]
    for damage in damages:
        broken = copy.deepcopy(data)
        damage(broken)
        cases.append(broken)
    for broken in cases:
        with pytest.raises(StoreError):
            load_state(machine, broken)


def test_missing_fields_take_their_defaults_and_unknown_ones_are_ignored() -> None:
    machine, data = _started()
    child = data["root"]["children"][0]
    del child["heartbeat"], child["retries"], data["turns"], data["root"]["unfinished"]
    child["added_later"] = {"x": 1}
    data["added_later"] = True
    state = load_state(machine, data)
    frame = state.root.children[0]
    assert frame.heartbeat is None and frame.retries == [] and state.turns == 0
    check_tree(state)


def test_a_body_outside_the_machine_cannot_be_stored() -> None:
    machine, _ = _started()
    other = parse_definition(PARALLEL)
    step = Interpreter(machine).start(INFO, {}, now=T0, seed=1)
    step.state.root.children[0].body = other.states["P"].branches[0]  # type: ignore[union-attr]
    with pytest.raises(StoreError, match="not in its state machine"):
        dump_state(step.state)


def test_children_keep_their_order() -> None:
    twins = Twins(PARALLEL)
    root = twins.stored.root
    assert list(root.children) == [0, 1]
    assert isinstance(root.children[1], Frame)


# --- the property: snapshots between every step change nothing --------------------------


def _outcome(harness: Harness) -> tuple[Any, ...]:
    state = harness.state
    assert state is not None
    return state.status, state.output, state.error, state.cause, state.info.redrive_count


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(definition=bodies(), data=inputs, outcomes=outcome_lists)
def test_a_snapshot_between_every_step_changes_nothing(
    definition: dict[str, Any], data: Any, outcomes: list[Any]
) -> None:
    """Also across a redrive: the property covers state kept for redrives too."""
    plain = Harness(copy.deepcopy(definition), list(outcomes))
    stored = Harness(copy.deepcopy(definition), list(outcomes), reload=roundtrip)
    for harness in (plain, stored):
        harness.start(copy.deepcopy(data))
        harness.run_to_end()
    assert plain.history == stored.history
    assert _outcome(plain) == _outcome(stored)
    assert plain.state is not None
    if plain.state.status == "SUCCEEDED":
        return
    for harness in (plain, stored):
        harness.redrive()
        harness.run_to_end()
    assert plain.history == stored.history
    assert _outcome(plain) == _outcome(stored)
    ids = [event["id"] for event in plain.history]
    assert ids == list(range(1, len(ids) + 1))
    assert [e["type"] for e in plain.history if e["type"] in TERMINAL][-1] == (
        plain.history[-1]["type"]
    )

"""The interpreter driven event by event: commands out, events in, no runner in between."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from interpreter_support import INFO, LAMBDA, T0  # beside this file (pytest puts it on sys.path)

from oncue.asl.commands import (
    ArmTimer,
    CancelTask,
    CancelTimer,
    RunTask,
    Stop,
    TaskFailed,
    TaskHeartbeat,
    TaskStarted,
    TaskSubmitted,
    TaskSucceeded,
    TimerFired,
)
from oncue.asl.interpreter import Interpreter, Step
from oncue.asl.validate import parse_definition


def start(definition: dict[str, Any], data: Any = None, seed: int = 1) -> Step:
    return Interpreter(parse_definition(definition)).start(
        INFO, {} if data is None else data, now=T0, seed=seed
    )


def only(commands: list[Any], kind: type) -> list[Any]:
    return [c for c in commands if isinstance(c, kind)]


def task_machine(**task: Any) -> dict[str, Any]:
    return {
        "StartAt": "T",
        "States": {"T": {"Type": "Task", "Resource": LAMBDA, "End": True, **task}},
    }


def test_a_task_is_a_command_and_its_result_ends_the_execution() -> None:
    step = start(task_machine(), {"x": 1})
    (run,) = only(step.commands, RunTask)
    assert run.payload == {"x": 1} and run.attempt == 0 and run.token is None
    assert [e["type"] for e in step.history][-2:] == [
        "LambdaFunctionScheduled",
        "LambdaFunctionStarted",
    ]
    interp = Interpreter(parse_definition(task_machine()))
    step2 = interp.step(step.state, TaskSucceeded(task_id=run.task_id, output=5), now=T0)
    assert step2.state.status == "SUCCEEDED" and step2.state.output == 5
    assert [e["type"] for e in step2.history] == [
        "LambdaFunctionSucceeded",
        "TaskStateExited",
        "ExecutionSucceeded",
    ]


def test_late_and_duplicate_reports_are_ignored() -> None:
    interp = Interpreter(parse_definition(task_machine(TimeoutSeconds=5)))
    step = interp.start(INFO, {}, now=T0, seed=1)
    (run,) = only(step.commands, RunTask)
    (timer,) = only(step.commands, ArmTimer)
    assert timer.due == T0 + timedelta(seconds=5)
    timed_out = interp.step(step.state, TimerFired(timer_id=timer.timer_id), now=timer.due)
    assert timed_out.state.status == "FAILED" and timed_out.state.error == "States.Timeout"
    assert only(timed_out.commands, CancelTask) == [CancelTask(task_id=run.task_id)]
    late = interp.step(timed_out.state, TaskSucceeded(task_id=run.task_id, output=1), now=T0)
    assert late.history == [] and late.commands == []
    again = interp.step(late.state, TimerFired(timer_id=timer.timer_id), now=T0)
    assert again.history == []


def test_a_result_cancels_the_task_timeout_timer() -> None:
    interp = Interpreter(parse_definition(task_machine(TimeoutSeconds=5, HeartbeatSeconds=2)))
    step = interp.start(INFO, {}, now=T0, seed=1)
    (run,) = only(step.commands, RunTask)
    armed = {c.timer_id for c in only(step.commands, ArmTimer)}
    assert len(armed) == 2
    done = interp.step(step.state, TaskSucceeded(task_id=run.task_id, output={}), now=T0)
    assert {c.timer_id for c in only(done.commands, CancelTimer)} == armed


def test_heartbeats_push_the_heartbeat_timeout_back() -> None:
    interp = Interpreter(parse_definition(task_machine(TimeoutSeconds=100, HeartbeatSeconds=10)))
    step = interp.start(INFO, {}, now=T0, seed=1)
    (run,) = only(step.commands, RunTask)
    beat_at = T0 + timedelta(seconds=8)
    beat = interp.step(step.state, TaskHeartbeat(task_id=run.task_id), now=beat_at)
    (new_timer,) = only(beat.commands, ArmTimer)
    assert new_timer.due == beat_at + timedelta(seconds=10)
    assert len(only(beat.commands, CancelTimer)) == 1
    fired = interp.step(beat.state, TimerFired(timer_id=new_timer.timer_id), now=new_timer.due)
    assert fired.state.error == "States.HeartbeatTimeout"
    assert fired.history[0]["type"] == "LambdaFunctionTimedOut"


def test_wait_for_task_token_records_submission_then_callback() -> None:
    definition = task_machine(
        Resource="arn:aws:states:::lambda:invoke.waitForTaskToken",
        Parameters={"FunctionName": "f", "Payload": {"token.$": "$$.Task.Token"}},
    )
    interp = Interpreter(parse_definition(definition))
    step = interp.start(INFO, {}, now=T0, seed=3)
    (run,) = only(step.commands, RunTask)
    assert run.token and run.payload["Payload"]["token"] == run.token
    sub = interp.step(step.state, TaskSubmitted(task_id=run.task_id, output={"ok": 1}), now=T0)
    assert [e["type"] for e in sub.history] == ["TaskSubmitted"]
    assert sub.history[0]["taskSubmittedEventDetails"]["resource"] == "invoke.waitForTaskToken"
    done = interp.step(sub.state, TaskSucceeded(task_id=run.task_id, output="yes"), now=T0)
    assert done.state.output == "yes"


def test_tokens_come_from_the_seed() -> None:
    definition = task_machine(
        Resource="arn:aws:states:::lambda:invoke.waitForTaskToken", Parameters={"FunctionName": "f"}
    )

    def token(seed: int) -> str:
        return str(only(start(definition, seed=seed).commands, RunTask)[0].token)

    assert token(1) == token(1)
    assert token(1) != token(2)


def test_activity_started_is_recorded_when_a_worker_takes_it() -> None:
    activity = "arn:aws:states:us-east-1:123456789012:activity:cook"
    interp = Interpreter(parse_definition(task_machine(Resource=activity)))
    step = interp.start(INFO, {}, now=T0, seed=1)
    (run,) = only(step.commands, RunTask)
    assert run.token
    assert step.history[-1]["type"] == "ActivityScheduled"
    taken = interp.step(step.state, TaskStarted(task_id=run.task_id, worker_name="w1"), now=T0)
    assert taken.history[0]["activityStartedEventDetails"] == {"workerName": "w1"}
    failed = interp.step(
        taken.state, TaskFailed(task_id=run.task_id, error="Burnt", cause="too hot"), now=T0
    )
    assert failed.history[0]["type"] == "ActivityFailed"
    assert failed.state.error == "Burnt"


def test_stop_aborts_and_cancels_outstanding_work() -> None:
    definition = {
        "StartAt": "P",
        "States": {
            "P": {
                "Type": "Parallel",
                "End": True,
                "Branches": [
                    {
                        "StartAt": "T",
                        "States": {"T": {"Type": "Task", "Resource": LAMBDA, "End": True}},
                    },
                    {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 60, "End": True}}},
                ],
            }
        },
    }
    interp = Interpreter(parse_definition(definition))
    step = interp.start(INFO, {}, now=T0, seed=1)
    (run,) = only(step.commands, RunTask)
    (timer,) = only(step.commands, ArmTimer)
    stopped = interp.step(step.state, Stop(error="Ops", cause="by hand"), now=T0)
    assert stopped.state.status == "ABORTED"
    assert CancelTask(task_id=run.task_id) in stopped.commands
    assert CancelTimer(timer_id=timer.timer_id) in stopped.commands
    assert stopped.history[-1]["type"] == "ExecutionAborted"
    assert stopped.history[-1]["executionAbortedEventDetails"] == {
        "error": "Ops",
        "cause": "by hand",
    }
    assert stopped.state.pending == {}


def test_execution_timeout() -> None:
    definition = {
        "TimeoutSeconds": 30,
        "StartAt": "W",
        "States": {"W": {"Type": "Wait", "Seconds": 60, "End": True}},
    }
    interp = Interpreter(parse_definition(definition))
    step = interp.start(INFO, {}, now=T0, seed=1)
    first = min(only(step.commands, ArmTimer), key=lambda t: t.due)
    assert first.due == T0 + timedelta(seconds=30)
    out = interp.step(step.state, TimerFired(timer_id=first.timer_id), now=first.due)
    assert out.state.status == "TIMED_OUT"
    assert out.history[-1]["type"] == "ExecutionTimedOut"
    assert out.history[-1]["executionTimedOutEventDetails"]["error"] == "States.Timeout"


def test_map_respects_max_concurrency() -> None:
    definition = {
        "StartAt": "M",
        "States": {
            "M": {
                "Type": "Map",
                "MaxConcurrency": 2,
                "ItemProcessor": {
                    "StartAt": "T",
                    "States": {"T": {"Type": "Task", "Resource": LAMBDA, "End": True}},
                },
                "End": True,
            }
        },
    }
    interp = Interpreter(parse_definition(definition))
    step = interp.start(INFO, [1, 2, 3, 4, 5], now=T0, seed=1)
    running = only(step.commands, RunTask)
    assert [r.payload for r in running] == [1, 2]
    state = step.state
    results = []
    while running:
        run = running.pop(0)
        step = interp.step(
            state, TaskSucceeded(task_id=run.task_id, output=run.payload * 10), now=T0
        )
        state = step.state
        running += only(step.commands, RunTask)
        results.append(run.payload)
        assert len(state.pending) <= 2
    assert state.status == "SUCCEEDED" and state.output == [10, 20, 30, 40, 50]


def test_a_long_chain_of_parallel_states_does_not_recurse() -> None:
    n = 1500
    states: dict[str, dict[str, Any]] = {
        f"P{i}": {
            "Type": "Parallel",
            "Branches": [{"StartAt": "X", "States": {"X": {"Type": "Pass", "End": True}}}],
            "OutputPath": "$[0]",
            **({"Next": f"P{i + 1}"} if i + 1 < n else {"End": True}),
        }
        for i in range(n)
    }
    # Branch state names must be unique across the definition.
    for i, state in enumerate(states.values()):
        state["Branches"][0] = {
            "StartAt": f"X{i}",
            "States": {f"X{i}": {"Type": "Pass", "End": True}},
        }
    step = start({"StartAt": "P0", "States": states}, {"v": 1})
    assert step.state.status == "SUCCEEDED" and step.state.output == {"v": 1}


def test_a_retry_schedules_a_new_attempt_with_backoff() -> None:
    definition = task_machine(
        Retry=[{"ErrorEquals": ["E"], "IntervalSeconds": 3, "BackoffRate": 2.0, "MaxAttempts": 2}]
    )
    interp = Interpreter(parse_definition(definition))
    step = interp.start(INFO, {}, now=T0, seed=1)
    state = step.state
    delays = []
    for _ in range(2):
        (run,) = only(step.commands, RunTask)
        step = interp.step(state, TaskFailed(task_id=run.task_id, error="E", cause="c"), now=T0)
        (timer,) = only(step.commands, ArmTimer)
        delays.append((timer.due - T0).total_seconds())
        step = interp.step(state, TimerFired(timer_id=timer.timer_id), now=T0)
        assert only(step.commands, RunTask)[0].attempt == len(delays)
    assert delays == [3.0, 6.0]
    (run,) = only(step.commands, RunTask)
    final = interp.step(state, TaskFailed(task_id=run.task_id, error="E", cause="c"), now=T0)
    assert final.state.status == "FAILED" and final.state.error == "E"

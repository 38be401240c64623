"""RedriveExecution at the interpreter level: what runs again, what does not, the history.

AWS "Restarting state machine executions with redrive in Step Functions": a FAILED, ABORTED
or TIMED_OUT execution continues from the unsuccessful step with the same input; successful
steps are not rerun; inside a Parallel or an inline Map only the branches and iterations
that failed or were aborted run again; the execution's TimeoutSeconds starts again.

Each run here stores and reloads its state through a snapshot after every step, as the
durable engine does, so what a redrive needs is shown to survive persistence too.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import orjson
from interpreter_support import INFO, LAMBDA, T0

from oncue.asl.commands import (
    ArmTimer,
    CancelTimer,
    Event,
    Redrive,
    RunTask,
    Stop,
    TaskFailed,
    TaskSucceeded,
    TimerFired,
)
from oncue.asl.interpreter import Interpreter, Step
from oncue.asl.redrive import can_redrive, redrive_refusal
from oncue.asl.snapshot import dump_state, load_state
from oncue.asl.validate import parse_definition


class Run:
    """One execution, its state reloaded from a JSON snapshot after every step."""

    def __init__(self, definition: dict[str, Any], data: Any = None) -> None:
        self.interpreter = Interpreter(parse_definition(definition))
        step = self.interpreter.start(INFO, {} if data is None else data, now=T0, seed=3)
        self.history = list(step.history)
        self._keep(step)

    def _keep(self, step: Step) -> None:
        self.last = step
        data = orjson.loads(orjson.dumps(dump_state(step.state)))
        self.state = load_state(self.interpreter.machine, data)

    def send(self, event: Event, at: datetime = T0) -> Step:
        step = self.interpreter.step(self.state, event, now=at)
        self.history.extend(step.history)
        self._keep(step)
        return step

    def status(self) -> str:
        return self.state.status

    def error(self) -> str | None:
        return self.state.error

    def tasks(self) -> list[RunTask]:
        return [c for c in self.last.commands if isinstance(c, RunTask)]

    def timers(self) -> list[ArmTimer]:
        return [c for c in self.last.commands if isinstance(c, ArmTimer)]


def types(events: list[dict[str, Any]]) -> list[str]:
    return [event["type"] for event in events]


def entered(events: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    """(name, input) of every state entered."""
    return [
        (e["stateEnteredEventDetails"]["name"], json.loads(e["stateEnteredEventDetails"]["input"]))
        for e in events
        if e["type"].endswith("StateEntered")
    ]


def task(**fields: Any) -> dict[str, Any]:
    return {"Type": "Task", "Resource": LAMBDA, "End": True, **fields}


def assert_redriven(run: Run, step: Step, count: int) -> None:
    """The shared shape: ExecutionRedriven right after the terminal event, ids go on."""
    first = step.history[0]
    previous = run.history[len(run.history) - len(step.history) - 1]
    assert previous["type"] in ("ExecutionFailed", "ExecutionAborted", "ExecutionTimedOut")
    assert first["type"] == "ExecutionRedriven"
    assert first["id"] == previous["id"] + 1 and first["previousEventId"] == previous["id"]
    assert first["executionRedrivenEventDetails"] == {"redriveCount": count}
    assert [e["id"] for e in run.history] == list(range(1, len(run.history) + 1))
    assert run.state.info.redrive_count == count
    assert run.state.context_base["Execution"]["RedriveCount"] == count


def test_a_failed_top_level_task_runs_again_with_its_input_and_fresh_retries() -> None:
    definition = {
        "StartAt": "Prepare",
        "States": {
            "Prepare": {"Type": "Pass", "Result": {"order": 7}, "Next": "Charge"},
            "Charge": {
                "Type": "Task",
                "Resource": LAMBDA,
                "Retry": [{"ErrorEquals": ["Declined"], "MaxAttempts": 1}],
                "ResultPath": "$.charged",
                "Next": "Report",
            },
            "Report": {
                "Type": "Pass",
                "Parameters": {
                    "charged.$": "$.charged",
                    "redrives.$": "$$.Execution.RedriveCount",
                    "at.$": "$$.Execution.RedriveTime",
                },
                "End": True,
            },
        },
    }
    run = Run(definition, {"ignored": True})
    (first,) = run.tasks()
    run.send(TaskFailed(task_id=first.task_id, error="Declined", cause="card"))
    (backoff,) = run.timers()
    run.send(TimerFired(timer_id=backoff.timer_id), at=T0 + timedelta(seconds=1))
    (second,) = run.tasks()
    assert second.attempt == 1
    run.send(TaskFailed(task_id=second.task_id, error="Declined", cause="card"))
    assert run.status() == "FAILED" and run.error() == "Declined"
    assert can_redrive(run.state) and redrive_refusal(run.state) is None

    later = T0 + timedelta(hours=1)
    step = run.send(Redrive(), at=later)
    assert_redriven(run, step, 1)
    assert run.status() == "RUNNING" and run.error() is None
    assert types(step.history) == [
        "ExecutionRedriven",
        "TaskStateEntered",
        "LambdaFunctionScheduled",
        "LambdaFunctionStarted",
    ]
    assert entered(step.history) == [("Charge", {"order": 7})]  # Prepare is not run again
    (again,) = run.tasks()
    assert again.payload == {"order": 7} and again.attempt == 0

    # The retry counters start again: the first failure is retried once more.
    run.send(TaskFailed(task_id=again.task_id, error="Declined", cause="card"), at=later)
    (backoff,) = run.timers()
    run.send(TimerFired(timer_id=backoff.timer_id), at=later + timedelta(seconds=1))
    (last,) = run.tasks()
    assert last.attempt == 1
    run.send(TaskSucceeded(task_id=last.task_id, output="ok"), at=later)
    assert run.status() == "SUCCEEDED"
    assert run.state.output == {
        "charged": "ok",
        "redrives": 1,
        "at": "2025-01-01T01:00:00.000Z",
    }
    assert types(run.history).count("PassStateEntered") == 2  # Prepare once, Report once


PARALLEL = {
    "StartAt": "Fan",
    "States": {
        "Fan": {
            "Type": "Parallel",
            "End": True,
            "Branches": [
                {
                    "StartAt": "Notify",
                    "States": {
                        "Notify": {"Type": "Pass", "Result": "n", "Next": "Send"},
                        "Send": task(),
                    },
                },
                {"StartAt": "Cook", "States": {"Cook": task()}},
                {
                    "StartAt": "Pause",
                    "States": {"Pause": {"Type": "Wait", "Seconds": 100, "End": True}},
                },
            ],
        }
    },
}


def test_inside_a_parallel_only_the_failed_and_aborted_branches_run_again() -> None:
    run = Run(PARALLEL, {"id": 1})
    send, cook = run.tasks()
    assert (send.payload, cook.payload) == ("n", {"id": 1})
    run.send(TaskSucceeded(task_id=cook.task_id, output="cooked"))
    run.send(TaskFailed(task_id=send.task_id, error="Down", cause="smtp"))
    assert run.status() == "FAILED"
    assert types(run.last.history) == [
        "LambdaFunctionFailed",
        "WaitStateAborted",
        "ParallelStateFailed",
        "ExecutionFailed",
    ]

    at = T0 + timedelta(minutes=5)
    step = run.send(Redrive(), at=at)
    assert_redriven(run, step, 1)
    assert types(step.history) == [
        "ExecutionRedriven",
        "ParallelStateEntered",
        "ParallelStateStarted",
        "TaskStateEntered",
        "LambdaFunctionScheduled",
        "LambdaFunctionStarted",
        "WaitStateEntered",
    ]
    # The failed branch resumes at the state that failed (Notify succeeded), with its input;
    # the aborted Wait runs again in full; the branch that succeeded does not run.
    assert entered(step.history) == [("Fan", {"id": 1}), ("Send", "n"), ("Pause", {"id": 1})]
    (resend,) = run.tasks()
    (pause,) = run.timers()
    assert pause.due == at + timedelta(seconds=100)
    run.send(TaskSucceeded(task_id=resend.task_id, output="sent"), at=at)
    run.send(TimerFired(timer_id=pause.timer_id), at=pause.due)
    assert run.status() == "SUCCEEDED"
    assert run.state.output == ["sent", "cooked", {"id": 1}]
    assert types(run.history)[-3:] == [
        "ParallelStateSucceeded",
        "ParallelStateExited",
        "ExecutionSucceeded",
    ]


MAP = {
    "StartAt": "Each",
    "States": {
        "Each": {
            "Type": "Map",
            "MaxConcurrency": 2,
            "ItemProcessor": {
                "StartAt": "Double",
                "States": {
                    "Double": {"Type": "Pass", "Parameters": {"n.$": "$"}, "Next": "Work"},
                    "Work": task(),
                },
            },
            "End": True,
        }
    },
}


def test_inside_a_map_only_unsuccessful_iterations_run_again() -> None:
    run = Run(MAP, [1, 2, 3, 4])
    one, two = run.tasks()
    run.send(TaskSucceeded(task_id=one.task_id, output=10))
    (three,) = run.tasks()
    run.send(TaskFailed(task_id=two.task_id, error="Busy", cause="later"))
    assert run.status() == "FAILED"
    assert "MapIterationAborted" in types(run.last.history)
    assert three.payload == {"n": 3}

    step = run.send(Redrive())
    assert_redriven(run, step, 1)
    assert types(step.history) == [
        "ExecutionRedriven",
        "MapStateEntered",
        "MapStateStarted",
        "MapIterationStarted",
        "TaskStateEntered",
        "LambdaFunctionScheduled",
        "LambdaFunctionStarted",
        "MapIterationStarted",
        "TaskStateEntered",
        "LambdaFunctionScheduled",
        "LambdaFunctionStarted",
    ]
    started = [e["mapIterationStartedEventDetails"] for e in step.history[3:8:4]]
    assert started == [{"name": "Each", "index": 1}, {"name": "Each", "index": 2}]
    # Iteration 0 succeeded and is not run; 1 and 2 resume at Work, MaxConcurrency still 2.
    assert [t.payload for t in run.tasks()] == [{"n": 2}, {"n": 3}]
    running = run.tasks()
    outputs = []
    while running:
        task_command = running.pop(0)
        outputs.append(task_command.payload)
        run.send(TaskSucceeded(task_id=task_command.task_id, output=task_command.payload["n"] * 10))
        running += run.tasks()
    assert outputs == [{"n": 2}, {"n": 3}, {"n": 4}]  # 4 never started before: it starts now
    assert run.status() == "SUCCEEDED" and run.state.output == [10, 20, 30, 40]


def test_a_map_redrive_reruns_tolerated_failures_too() -> None:
    definition = {
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "ToleratedFailureCount": 1,
                "ItemProcessor": {"StartAt": "Work", "States": {"Work": task()}},
                "End": True,
            }
        },
    }
    run = Run(definition, ["a", "b", "c"])
    a, b, c = run.tasks()
    run.send(TaskFailed(task_id=a.task_id, error="E", cause=None))
    run.send(TaskSucceeded(task_id=b.task_id, output="B"))
    run.send(TaskFailed(task_id=c.task_id, error="E", cause=None))
    assert run.state.error == "States.ExceedToleratedFailureThreshold"
    run.send(Redrive())
    assert [t.payload for t in run.tasks()] == ["a", "c"]
    a, c = run.tasks()
    run.send(TaskFailed(task_id=a.task_id, error="E", cause="still"))  # tolerated: one failure
    run.send(TaskSucceeded(task_id=c.task_id, output="C"))
    assert run.status() == "SUCCEEDED"
    assert run.state.output == [{"Error": "E", "Cause": "still"}, "B", "C"]


def test_after_stop_the_aborted_wait_runs_again() -> None:
    definition = {
        "StartAt": "Hold",
        "States": {
            "Hold": {"Type": "Wait", "Seconds": 60, "Next": "Done"},
            "Done": {"Type": "Pass", "End": True},
        },
    }
    run = Run(definition, {"k": "v"})
    (timer,) = run.timers()
    run.send(Stop(error="Ops", cause="by hand"), at=T0 + timedelta(seconds=10))
    assert run.status() == "ABORTED"
    assert types(run.last.history) == ["WaitStateAborted", "ExecutionAborted"]
    stale = run.send(TimerFired(timer_id=timer.timer_id), at=T0 + timedelta(seconds=60))
    assert stale.history == [] and run.status() == "ABORTED"

    at = T0 + timedelta(minutes=10)
    step = run.send(Redrive(), at=at)
    assert_redriven(run, step, 1)
    assert types(step.history) == ["ExecutionRedriven", "WaitStateEntered"]
    assert entered(step.history) == [("Hold", {"k": "v"})]
    (wait,) = run.timers()
    assert wait.due == at + timedelta(seconds=60)
    run.send(TimerFired(timer_id=wait.timer_id), at=wait.due)
    assert run.status() == "SUCCEEDED" and run.state.output == {"k": "v"}


def test_after_an_execution_timeout_the_timeout_starts_again() -> None:
    definition = {"TimeoutSeconds": 30, "StartAt": "Slow", "States": {"Slow": task()}}
    run = Run(definition, {"q": 1})
    (first,) = run.tasks()
    (deadline,) = run.timers()
    run.send(TimerFired(timer_id=deadline.timer_id), at=deadline.due)
    assert run.status() == "TIMED_OUT"
    assert types(run.last.history) == ["TaskStateAborted", "ExecutionTimedOut"]

    at = T0 + timedelta(hours=2)
    step = run.send(Redrive(), at=at)
    assert_redriven(run, step, 1)
    assert types(step.history) == [
        "ExecutionRedriven",
        "TaskStateEntered",
        "LambdaFunctionScheduled",
        "LambdaFunctionStarted",
    ]
    (again,) = run.tasks()
    (new_deadline,) = run.timers()
    assert new_deadline.due == at + timedelta(seconds=30)
    assert again.payload == {"q": 1} and again.task_id != first.task_id
    late = run.send(TaskSucceeded(task_id=first.task_id, output="old"), at=at)
    assert late.history == []  # the first attempt's task is not awaited any more
    done = run.send(TaskSucceeded(task_id=again.task_id, output="new"), at=at)
    assert run.status() == "SUCCEEDED" and run.state.output == "new"
    assert CancelTimer(timer_id=new_deadline.timer_id) in done.commands


def test_a_second_redrive_counts_two() -> None:
    run = Run({"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Nope"}}})
    assert run.status() == "FAILED"
    first = run.send(Redrive())
    assert types(first.history) == ["ExecutionRedriven", "FailStateEntered", "ExecutionFailed"]
    second = run.send(Redrive())
    assert_redriven(run, second, 2)
    assert run.status() == "FAILED"


def test_redrive_is_refused_while_running_and_after_success() -> None:
    run = Run({"StartAt": "T", "States": {"T": task()}})
    assert not can_redrive(run.state)
    assert redrive_refusal(run.state) == (
        "the execution is RUNNING; only FAILED, ABORTED and TIMED_OUT executions can be redriven"
    )
    before = dump_state(run.state)
    refused = run.interpreter.step(run.state, Redrive(), now=T0)
    assert refused.history == [] and refused.commands == []
    assert dump_state(run.state) == before
    (work,) = run.tasks()
    run.send(TaskSucceeded(task_id=work.task_id, output=1))
    assert run.status() == "SUCCEEDED" and not can_redrive(run.state)
    before = dump_state(run.state)
    refused = run.interpreter.step(run.state, Redrive(), now=T0)
    assert refused.history == [] and refused.commands == []
    assert dump_state(run.state) == before
    assert run.state.info.redrive_count == 0


def test_nested_parallel_in_a_map_resumes_only_the_failed_inner_branch() -> None:
    definition = {
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "ItemProcessor": {
                    "StartAt": "Both",
                    "States": {
                        "Both": {
                            "Type": "Parallel",
                            "End": True,
                            "Branches": [
                                {"StartAt": "Left", "States": {"Left": task()}},
                                {"StartAt": "Right", "States": {"Right": task()}},
                            ],
                        }
                    },
                },
                "End": True,
            }
        },
    }
    run = Run(definition, [1, 2])
    l1, r1, l2, r2 = run.tasks()
    for command in (l1, r1, l2):
        run.send(TaskSucceeded(task_id=command.task_id, output=f"{command.payload}"))
    run.send(TaskFailed(task_id=r2.task_id, error="E", cause=None))
    assert run.status() == "FAILED"
    step = run.send(Redrive())
    assert entered(step.history) == [("Each", [1, 2]), ("Both", 2), ("Right", 2)]
    (right,) = run.tasks()
    run.send(TaskSucceeded(task_id=right.task_id, output="R2"))
    assert run.state.output == [["1", "1"], ["2", "R2"]]

"""What goes into the interpreter (events) and what comes out of it (commands).

The interpreter never performs I/O: it asks its driver to run a task, arm or cancel a timer,
or cancel a task whose result is no longer wanted, and the driver reports back with events.
Every event carries an id chosen by the interpreter (``task_id``, ``timer_id``) so a late or
duplicated report for something no longer awaited is recognised and ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TypeAlias

from oncue.types import Json

__all__ = [
    "ArmTimer",
    "CancelTask",
    "CancelTimer",
    "Command",
    "Event",
    "ExecutionInfo",
    "Redrive",
    "RunTask",
    "Start",
    "Stop",
    "TaskFailed",
    "TaskHeartbeat",
    "TaskStarted",
    "TaskSubmitted",
    "TaskSucceeded",
    "TimerFired",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionInfo:
    """Who the execution is: the values the context object's Execution/StateMachine carry."""

    execution_arn: str
    name: str
    state_machine_arn: str
    state_machine_name: str
    role_arn: str
    region: str
    account: str
    redrive_count: int = 0

    @classmethod
    def named(
        cls, execution: str, state_machine: str, *, region: str, account: str
    ) -> ExecutionInfo:
        """The ARNs Step Functions gives an execution of a state machine, by their names."""
        prefix = f"arn:aws:states:{region}:{account}"
        return cls(
            execution_arn=f"{prefix}:execution:{state_machine}:{execution}",
            name=execution,
            state_machine_arn=f"{prefix}:stateMachine:{state_machine}",
            state_machine_name=state_machine,
            role_arn=f"arn:aws:iam::{account}:role/oncue-execution",
            region=region,
            account=account,
        )


# --- events: driver -> interpreter -------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Start:
    """Begin the execution with this input."""

    input: Json


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskStarted:
    """A worker picked the task up (activities); other tasks start when scheduled."""

    task_id: str
    worker_name: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskSubmitted:
    """A ``.waitForTaskToken`` / ``.sync`` task was handed over; its result comes later."""

    task_id: str
    output: Json


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskSucceeded:
    task_id: str
    output: Json


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskFailed:
    task_id: str
    error: str | None
    cause: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskHeartbeat:
    task_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TimerFired:
    timer_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Stop:
    """StopExecution: abort with an optional error and cause."""

    error: str | None = None
    cause: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Redrive:
    """RedriveExecution: resume a FAILED, ABORTED or TIMED_OUT execution where it stopped.

    The interpreter ignores it for an execution in any other status (see
    :func:`oncue.asl.redrive.can_redrive`); the driver answers the API error itself.
    """


Event: TypeAlias = (
    Start
    | TaskStarted
    | TaskSubmitted
    | TaskSucceeded
    | TaskFailed
    | TaskHeartbeat
    | TimerFired
    | Stop
    | Redrive
)


# --- commands: interpreter -> driver -----------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class RunTask:
    """Invoke a Task state's resource.

    ``resource`` is the Task's Resource ARN; ``payload`` is the effective input (after
    InputPath and Parameters). ``token`` is set for ``.waitForTaskToken`` tasks and
    activities. ``attempt`` counts retries (0 first), and with ``task_id`` makes the
    idempotency key a handler can deduplicate on: delivery to handlers is at least once.
    """

    task_id: str
    resource: str
    payload: Json
    state_name: str
    attempt: int
    token: str | None = None
    timeout_seconds: int | None = None
    heartbeat_seconds: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelTask:
    task_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ArmTimer:
    timer_id: str
    due: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelTimer:
    timer_id: str


Command: TypeAlias = RunTask | CancelTask | ArmTimer | CancelTimer

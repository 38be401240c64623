"""The rows a store keeps, as plain frozen records.

Times are seconds since the epoch (floats, UTC) so every backend stores and compares them the
same way; JSON documents (inputs, outputs, execution state, history) are kept as text, encoded
once by the engine, so a store never interprets them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")

__all__ = [
    "ActivityRecord",
    "ActivityTask",
    "ExecutionRecord",
    "ExecutionUpdate",
    "Message",
    "NewTask",
    "OutboxEntry",
    "Page",
    "StateMachineRecord",
    "TaskClaim",
    "TokenRecord",
    "VersionRecord",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class StateMachineRecord:
    arn: str
    name: str
    definition: str
    role_arn: str
    type: str = "STANDARD"
    description: str = ""
    revision_id: str = ""
    creation_date: float = 0.0
    update_date: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class VersionRecord:
    """A published, immutable version of a state machine (``...:stateMachine:NAME:N``)."""

    arn: str
    state_machine_arn: str
    version: int
    definition: str
    role_arn: str
    description: str = ""
    revision_id: str = ""
    creation_date: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionRecord:
    arn: str
    name: str
    state_machine_arn: str
    #: The definition the execution runs, frozen at its start (see the definitions table).
    revision_id: str
    status: str
    input: str
    start_date: float
    version_arn: str | None = None
    output: str | None = None
    error: str | None = None
    cause: str | None = None
    stop_date: float | None = None
    redrive_count: int = 0
    redrive_date: float | None = None
    #: A child execution started with ``states:startExecution`` knows its parent task.
    parent_arn: str | None = None
    parent_task: str | None = None
    parent_pattern: str | None = None
    trace_header: str | None = None
    #: Bumped by every transition; a write that expects an older version fails (fencing).
    version: int = 0
    #: The interpreter's snapshot (JSON text); None before the first transition.
    state: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionUpdate:
    """What a transition changes on an execution row."""

    arn: str
    expected_version: int
    status: str
    state: str
    output: str | None = None
    error: str | None = None
    cause: str | None = None
    stop_date: float | None = None
    redrive_count: int = 0
    redrive_date: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """An event waiting to be applied to one execution (its inbox)."""

    id: int
    execution_arn: str
    body: str


@dataclass(frozen=True, slots=True, kw_only=True)
class NewTask:
    """A task to hand to a handler or an activity worker.

    ``target`` is the handler name or the activity ARN; with ``owner`` set the task is created
    already leased to that worker (the one that scheduled it runs it at once).
    """

    execution_arn: str
    task_id: str
    kind: str
    target: str
    resource: str
    payload: str
    state_name: str
    attempt: int
    token: str | None = None
    owner: str | None = None
    lease_until: float | None = None
    heartbeat_seconds: int | None = None
    timeout_seconds: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskClaim:
    """A task a worker holds a lease on."""

    execution_arn: str
    task_id: str
    kind: str
    target: str
    resource: str
    payload: str
    state_name: str
    attempt: int
    token: str | None
    lease_until: float
    #: The execution's trace header (oncue.tracing): its handler runs in that trace.
    trace_header: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ActivityTask:
    token: str
    input: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenRecord:
    token: str
    execution_arn: str
    task_id: str
    open: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class ActivityRecord:
    arn: str
    name: str
    creation_date: float


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboxEntry:
    """An event an execution published (``events:putEvents``), waiting for the bus."""

    id: int
    event_id: str
    execution_arn: str
    entry: str
    created: float
    #: The publishing execution's traceparent (oncue.tracing).
    trace: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Page(Generic[T]):
    items: list[T]
    next_token: str | None = None

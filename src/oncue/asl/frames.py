"""The running state of one execution: a tree of frames.

A *frame* is one run of a set of states: the top level, one branch of a Parallel state, or
one iteration of a Map state. It knows its current state, that state's raw input, what it is
waiting for (a task, a timer, a retry back-off, or its children) and the id of its last
history event, which is the ``previousEventId`` of its next one.

A frame that fails or is aborted is not thrown away: its parent keeps it in ``unfinished``
(and the root frame keeps its own state and input when the execution ends), so a redrive
(:mod:`oncue.asl.redrive`) can resume exactly the branches and iterations that did not
succeed. Entering a new state forgets what the previous one kept.

Everything in a frame except ``parent``, ``body`` and the child frames is plain data (JSON
values, strings, numbers); :mod:`oncue.asl.snapshot` stores and reloads the whole tree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from oncue.asl.commands import ExecutionInfo
from oncue.asl.model import BodyLike
from oncue.types import Json

__all__ = ["ExecutionState", "ExecutionStatus", "Frame", "MapProgress", "Pending"]

ExecutionStatus = Literal["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"]


@dataclass(slots=True, kw_only=True)
class MapProgress:
    """Bookkeeping of a running inline Map state."""

    items: list[Json]
    effective: Json
    limit: int
    tolerated_count: int | None
    tolerated_percentage: float | None
    next_index: int = 0
    results: list[Json] = field(default_factory=list)
    failed: int = 0
    pumping: bool = False
    #: Iterations a redrive runs again, largest index first (popped from the end).
    redo: list[int] = field(default_factory=list)


@dataclass(slots=True, kw_only=True)
class Frame:
    key: str
    body: BodyLike
    parent: Frame | None = None
    #: Branch or iteration index within the parent state.
    index: int = 0
    state: str | None = None
    input: Json = None
    #: The effective input kept while waiting (Wait's OutputPath, a Parallel's branch input).
    effective: Json = None
    entered_event: int = 0
    entered_time: str = ""
    last_event: int = 0
    retries: list[int] = field(default_factory=list)
    retry_count: int = 0
    wait: Literal["task", "timer", "retry", "children"] | None = None
    task_id: str | None = None
    token: str | None = None
    #: HeartbeatSeconds resolved when the task was scheduled (a heartbeat re-arms it).
    heartbeat: int | None = None
    timers: list[str] = field(default_factory=list)
    #: Running branches or iterations, by index.
    children: dict[int, Frame] = field(default_factory=dict)
    #: Branches or iterations that failed or were aborted, kept (closed, with the state and
    #: input they stopped at) so a redrive can resume them. Emptied when a state is entered.
    unfinished: dict[int, Frame] = field(default_factory=dict)
    #: A Parallel state's branch outputs (in branch order) while or after it runs.
    results: list[Json] = field(default_factory=list)
    remaining: int = 0
    map: MapProgress | None = None
    closed: bool = False
    #: This frame's own variable scope (name -> value) and each value's size in bytes
    #: (:mod:`oncue.asl.variables`); enclosing scopes are read through ``parent``.
    variables: dict[str, Json] = field(default_factory=dict)
    variable_sizes: dict[str, int] = field(default_factory=dict)
    #: A Distributed Map iteration: the enclosing scopes are not visible.
    isolated: bool = False


@dataclass(frozen=True, slots=True)
class Pending:
    """What an outstanding task or timer id belongs to."""

    frame: str
    purpose: Literal["task", "wait", "retry", "timeout", "heartbeat", "execution"]


@dataclass(slots=True, kw_only=True)
class ExecutionState:
    info: ExecutionInfo
    seed: int
    input: Json
    start_time: str
    root: Frame
    status: ExecutionStatus = "RUNNING"
    output: Json = None
    error: str | None = None
    cause: str | None = None
    last_event_id: int = 0
    #: Counter behind every task, timer and frame id, and the per-step random seed.
    seq: int = 0
    turns: int = 0
    pending: dict[str, Pending] = field(default_factory=dict)
    frames: dict[str, Frame] = field(default_factory=dict)
    #: The shared, read-only parts of the context object.
    context_base: dict[str, Any] = field(default_factory=dict)
    #: Bytes of the variables held by the open frames (the 10 MiB execution limit).
    variable_bytes: int = 0

    @property
    def finished(self) -> bool:
        return self.status != "RUNNING"

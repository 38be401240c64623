"""The ASL interpreter: ``step(state, event, now) -> Step(state, commands, history)``.

Rules / theory of operation
---------------------------
* Pure: no I/O, no clock, no randomness of its own, no threads. The caller passes ``now``
  with every event and a ``seed`` at start; every random draw (task tokens, States.UUID,
  States.MathRandom, retry jitter) comes from a generator seeded with (seed, turn number),
  so the same events at the same times give the same history, byte for byte.
* One call runs as far as it can: a chain of Pass and Choice states finishes within a single
  ``step``; the call returns when every running frame waits for something outside (a task
  result, a timer) or the execution has finished.
* It owns the state it is given: ``step`` mutates and returns it (a driver reloads state
  from its store for each event, and tests that replay copy it first). Values flowing through
  states are never mutated: every transformation builds a new value.
* Everything that happens is recorded in history, in AWS's GetExecutionHistory shape; every
  outward effect is a command (run a task, arm or cancel a timer, cancel a task).
* Outstanding task and timer ids live in ``state.pending``. An event whose id is no longer
  pending (a late task result after a timeout, a duplicate delivery) is ignored: delivery
  to the interpreter may be at least once.
* Input and output processing follows AWS "Processing input and output in Step Functions":
  InputPath -> Parameters -> (task) -> ResultSelector -> ResultPath -> OutputPath.
* A JSONata state (``QueryLanguage``) uses Arguments and Output instead
  (:mod:`oncue.asl.jsonata_states`); its expressions were parsed at validation and read
  ``$states``. A failing expression records ``EvaluationFailed`` and fails the state with
  ``States.QueryEvaluationError``.
* Workflow variables live in frames: each frame is a scope and reads its enclosing frames'
  (:mod:`oncue.asl.variables`). Every expression of a state reads the values of the moment
  it was entered; ``Assign`` takes effect in ``exit_state``, recorded in ``*StateExited``.
* Errors follow AWS "Handling errors in Step Functions workflows": a failing state consults
  its Retry, then its Catch; an unhandled error fails its frame, a failed branch or iteration
  fails its Parallel or Map state, and a failed top-level frame fails the execution.
* A finished execution keeps where it stopped (the failed state and its input, the branches
  and iterations that did not succeed), so a ``Redrive`` event resumes it there
  (:mod:`oncue.asl.redrive`). Any other event for a finished execution, and a ``Redrive``
  for one that cannot be redriven, changes nothing.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from oncue.asl import failures, jsonata_states, lifecycle, redrive
from oncue.asl.commands import (
    ArmTimer,
    CancelTimer,
    Command,
    Event,
    ExecutionInfo,
    Redrive,
    Start,
    Stop,
    TaskFailed,
    TaskHeartbeat,
    TaskStarted,
    TaskSubmitted,
    TaskSucceeded,
    TimerFired,
)
from oncue.asl.evaluation import Expression, ReferenceTarget, Scope, StatesFailure
from oncue.asl.frames import ExecutionState, Frame, Pending
from oncue.asl.history import EventLog, format_time
from oncue.asl.jsonutil import dumps
from oncue.asl.model import State, StateMachine
from oncue.asl.variables import assigned_details, store, visible
from oncue.types import MAX_PAYLOAD_BYTES, Json

__all__ = ["Interpreter", "Step"]

_Transition = tuple[str, Json] | None
_NOT_FOUND_DETAIL = "Invalid path '{path}' : No results for path: {path}"


@dataclass(frozen=True, slots=True)
class Step:
    """The result of one interpreter step."""

    state: ExecutionState
    commands: list[Command] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)


def payload_too_large(text: str) -> bool:
    # A UTF-8 character takes at most 4 bytes: most payloads are decided without encoding.
    if len(text) * 4 <= MAX_PAYLOAD_BYTES:
        return False
    return len(text.encode("utf-8")) > MAX_PAYLOAD_BYTES


class Interpreter:
    """Runs one validated state machine. Holds no per-execution data; safe to share."""

    def __init__(self, machine: StateMachine) -> None:
        self.machine = machine

    def start(self, info: ExecutionInfo, input: Json, *, now: datetime, seed: int) -> Step:
        start_time = format_time(now)
        root = Frame(key="", body=self.machine)
        state = ExecutionState(info=info, seed=seed, input=input, start_time=start_time, root=root)
        state.frames[""] = root
        state.context_base = {
            "Execution": {
                "Id": info.execution_arn,
                "Input": input,
                "Name": info.name,
                "RoleArn": info.role_arn,
                "StartTime": start_time,
                "RedriveCount": info.redrive_count,
            },
            "StateMachine": {"Id": info.state_machine_arn, "Name": info.state_machine_name},
        }
        return self.step(state, Start(input=input), now=now)

    def step(self, state: ExecutionState, event: Event, *, now: datetime) -> Step:
        if isinstance(event, Redrive):
            if not redrive.can_redrive(state):
                return Step(state=state)
        elif state.finished:
            return Step(state=state)
        turn = _Turn(self.machine, state, now)
        turn.handle(event)
        state.last_event_id = turn.log.last_id
        return Step(state=state, commands=turn.commands, history=turn.log.events)


class _Turn:
    """The work of one step. Parallel and Map handling lives in :mod:`oncue.asl.branches`."""

    def __init__(self, machine: StateMachine, state: ExecutionState, now: datetime) -> None:
        self.machine = machine
        self.s = state
        self.now = now
        self.now_text = format_time(now)
        self.log = EventLog(state.last_event_id, now)
        self.commands: list[Command] = []
        self._rng: random.Random | None = None
        self.queue: deque[Callable[[], None]] = deque()
        state.turns += 1

    # --- plumbing ----------------------------------------------------------------------

    @property
    def rng(self) -> random.Random:
        if self._rng is None:
            self._rng = random.Random(f"{self.s.seed}:{self.s.turns}")
        return self._rng

    def new_id(self, prefix: str) -> str:
        self.s.seq += 1
        return f"{prefix}-{self.s.seq}"

    def emit(self, frame: Frame, event_type: str, details: dict[str, object] | None = None) -> int:
        frame.last_event = self.log.add(event_type, frame.last_event, details)
        return frame.last_event

    def arm(self, frame: Frame, purpose: str, due: datetime) -> str:
        timer_id = self.new_id("timer")
        self.s.pending[timer_id] = Pending(frame.key, purpose)  # type: ignore[arg-type]
        frame.timers.append(timer_id)
        self.commands.append(ArmTimer(timer_id=timer_id, due=due))
        return timer_id

    def disarm(self, frame: Frame) -> None:
        for timer_id in frame.timers:
            if self.s.pending.pop(timer_id, None) is not None:
                self.commands.append(CancelTimer(timer_id=timer_id))
        frame.timers.clear()

    def context(self, frame: Frame, extra: dict[str, object] | None = None) -> dict[str, object]:
        ctx: dict[str, object] = dict(self.s.context_base)
        ctx["State"] = {
            "EnteredTime": frame.entered_time,
            "Name": frame.state,
            "RetryCount": frame.retry_count,
        }
        if frame.token is not None:
            ctx["Task"] = {"Token": frame.token}
        if extra:
            ctx.update(extra)
        return ctx

    def evaluate(
        self, expr: Expression, data: Json, frame: Frame, extra: dict[str, object] | None = None
    ) -> Json:
        return expr.evaluate(self.scope(data, frame, extra))

    def scope(self, data: Json, frame: Frame, extra: dict[str, object] | None = None) -> Scope:
        """What a JSONPath expression of ``frame``'s state sees (``$``, ``$$``, variables)."""
        return Scope(
            input=data, context=self.context(frame, extra), variables=visible(frame), rng=self.rng
        )

    def select(self, path: Expression | None, data: Json, frame: Frame) -> Json:
        """InputPath / OutputPath: None (``null``) gives ``{}``."""
        if path is None:
            return {}
        if path.source == "$":
            return data
        try:
            return self.evaluate(path, data, frame)
        except StatesFailure:
            raise
        except LookupError as exc:  # PathNotFound and friends
            raise StatesFailure(
                "States.Runtime", _NOT_FOUND_DETAIL.format(path=path.source)
            ) from exc

    def place(self, path: ReferenceTarget | None, document: Json, result: Json) -> Json:
        """ResultPath: None (``null``) discards the result and keeps the input."""
        if path is None:
            return document
        if path.source == "$":
            return result
        return path.assign(document, result)

    def runtime_cause(self, frame: Frame, detail: str) -> str:
        if detail.startswith("An error occurred while executing the state"):
            return detail
        return (
            f"An error occurred while executing the state '{frame.state}' "
            f"(entered at the event id #{frame.entered_event}). {detail}"
        )

    # --- events --------------------------------------------------------------------------

    def handle(self, event: Event) -> None:
        self.dispatch(event)
        while self.queue:
            self.queue.popleft()()

    def dispatch(self, event: Event) -> None:
        from oncue.asl import tasks

        if isinstance(event, Start):
            self.begin(event.input)
        elif isinstance(event, TimerFired):
            self.on_timer(event.timer_id)
        elif isinstance(event, Redrive):
            redrive.redrive(self)
        elif isinstance(event, Stop):
            lifecycle.end_execution(
                self, "ABORTED", "ExecutionAborted", error=event.error, cause=event.cause
            )
        elif isinstance(
            event, (TaskSucceeded, TaskFailed, TaskSubmitted, TaskStarted, TaskHeartbeat)
        ):
            pending = self.s.pending.get(event.task_id)
            if pending is None or pending.purpose != "task":
                return  # late or duplicate report: nothing awaits it any more
            tasks.on_task_event(self, self.s.frames[pending.frame], event)

    def begin(self, input: Json) -> None:
        root = self.s.root
        text = dumps(input)
        root.last_event = self.log.add(
            "ExecutionStarted",
            0,
            {"input": text, "inputDetails": {"truncated": False}, "roleArn": self.s.info.role_arn},
        )
        if self.machine.timeout_seconds is not None:
            self.arm(root, "execution", self.now + timedelta(seconds=self.machine.timeout_seconds))
        self.drive(root, self.machine.start_at, input)

    def on_timer(self, timer_id: str) -> None:
        from oncue.asl import tasks

        pending = self.s.pending.pop(timer_id, None)
        if pending is None:
            return
        frame = self.s.frames.get(pending.frame)
        if frame is None or frame.closed:
            return
        if timer_id in frame.timers:
            frame.timers.remove(timer_id)
        if pending.purpose == "execution":
            lifecycle.end_execution(
                self,
                "TIMED_OUT",
                "ExecutionTimedOut",
                error="States.Timeout",
                cause="The execution has exceeded its TimeoutSeconds.",
            )
        elif pending.purpose == "wait":
            from oncue.asl import simple

            frame.wait = None
            self.continue_after(frame, simple.finish_wait(self, frame))
        elif pending.purpose == "retry":
            frame.wait = None
            self.continue_after(frame, self.run_state(frame))
        else:  # a task's timeout or heartbeat timeout
            tasks.on_task_timeout(self, frame, pending.purpose)

    # --- driving a frame -----------------------------------------------------------------

    def state_of(self, frame: Frame) -> State:
        assert frame.state is not None
        return frame.body.states[frame.state]

    def continue_after(self, frame: Frame, transition: _Transition) -> None:
        """Resume ``frame`` at ``transition`` once the current work is done.

        Continuations go through the turn's queue rather than the Python stack, so a chain
        of Parallel states or a Map of thousands of items never recurses deeply.
        """
        if transition is not None:
            self.later(frame, *transition)

    def later(self, frame: Frame, name: str, data: Json) -> None:
        self.queue.append(lambda: self.drive(frame, name, data))

    def later_call(self, frame: Frame, work: Callable[[], None]) -> None:
        self.queue.append(lambda: None if frame.closed else work())

    def drive(self, frame: Frame, name: str, data: Json) -> None:
        """Enter ``name`` and keep going until the frame waits, ends or fails."""
        transition: _Transition = (name, data)
        while transition is not None and not frame.closed:
            name, data = transition
            self.enter(frame, name, data)
            transition = self.run_state(frame)

    def enter(self, frame: Frame, name: str, data: Json, *, resuming: bool = False) -> None:
        """Record ``{Type}StateEntered``; retry counters start again from zero.

        Entering a state forgets what the previous one kept for a redrive (branch results,
        Map progress, unfinished children), unless a redrive is ``resuming`` this one.
        """
        state = frame.body.states[name]
        frame.state = name
        frame.input = data
        frame.retries = [0] * len(getattr(state, "retry", ()))
        frame.retry_count = 0
        frame.token = None
        frame.task_id = None
        if not resuming:
            frame.effective = None
            frame.map = None
            if frame.results:
                frame.results = []  # a new list: the old one may be part of an output
            if frame.unfinished:
                frame.unfinished = {}
        frame.entered_time = self.now_text
        frame.entered_event = self.emit(
            frame,
            state.type + "StateEntered",
            {"name": name, "input": dumps(data), "inputDetails": {"truncated": False}},
        )

    def run_state(self, frame: Frame) -> _Transition:
        state = self.state_of(frame)
        try:
            if state.query_language == "JSONata" and state.type in _JSONATA_TYPES:
                return getattr(jsonata_states, "run_" + state.type.lower())(self, frame, state)  # type: ignore[no-any-return]
            return _handlers()[state.type](self, frame, state)
        except StatesFailure as failure:
            return self.fail(frame, failure)

    def fail(self, frame: Frame, failure: StatesFailure) -> _Transition:
        """A state failed evaluating something (see :func:`oncue.asl.failures.fail`)."""
        return failures.fail(self, frame, failure)

    def finish_with_result(self, frame: Frame, result: Json) -> _Transition:
        """Task, Parallel and Map: ResultSelector -> ResultPath -> OutputPath, then exit."""
        state = self.state_of(frame)
        try:
            if state.query_language == "JSONata":
                output, assigned = jsonata_states.result_output(self, frame, state, result)
                return self.exit_state(frame, output, assigned=assigned)
            selector = getattr(state, "result_selector", None)
            if selector is not None:
                result = self.evaluate(selector, result, frame)
            # Assign's ``$`` is the result after ResultSelector, before ResultPath.
            assigned = jsonata_states.evaluate_assign(self, frame, state.assign, None, result)
            combined = self.place(getattr(state, "result_path", None), frame.input, result)
            output = self.select(state.output_path, combined, frame)
        except StatesFailure as failure:
            return self.fail(frame, failure)
        return self.exit_state(frame, output, assigned=assigned)

    def exit_state(
        self,
        frame: Frame,
        output: Json,
        next_name: str | None = None,
        *,
        assigned: Mapping[str, Json] | None = None,
    ) -> _Transition:
        """Store ``assigned`` variables, record ``*StateExited`` and move on (or end the frame).

        ``next_name`` overrides the state's Next (a Choice state picks its own).
        """
        state = self.state_of(frame)
        text = dumps(output)
        if payload_too_large(text):
            return self.fail_state(
                frame,
                "States.DataLimitExceeded",
                f"The state/task '{frame.state}' returned a result with a size exceeding "
                f"the maximum number of bytes service limit.",
            )
        details: dict[str, object] = {
            "name": frame.state,
            "output": text,
            "outputDetails": {"truncated": False},
        }
        if assigned is not None:
            try:
                texts = store(self.s, frame, assigned, frame.state or "")
                details.update(assigned_details(texts))
            except StatesFailure as failure:
                return self.fail_state(frame, failure.error, failure.cause)
        self.emit(frame, state.type + "StateExited", details)
        target = next_name or state.next
        if target is not None:
            return (target, output)
        lifecycle.frame_succeeded(self, frame, output)
        return None

    # --- failure -------------------------------------------------------------------------

    def fail_state(self, frame: Frame, error: str, cause: str | None) -> _Transition:
        """The current state failed: Retry, then Catch, then fail the frame."""
        return failures.fail_state(self, frame, error, cause)


_StateHandler = Callable[["_Turn", Frame, Any], _Transition]
#: State types whose JSONata form has its own handler in :mod:`oncue.asl.jsonata_states`.
_JSONATA_TYPES = frozenset({"Pass", "Choice", "Wait", "Succeed", "Fail"})

_HANDLERS: dict[str, _StateHandler] = {}


def _handlers() -> dict[str, _StateHandler]:
    """State type -> handler (the handler modules import this one, so bind on first use)."""
    if not _HANDLERS:
        from oncue.asl import branches, simple, tasks

        _HANDLERS.update(
            Pass=simple.run_pass,
            Choice=simple.run_choice,
            Wait=simple.run_wait,
            Succeed=simple.run_succeed,
            Fail=simple.run_fail,
            Task=tasks.run_task,
            Parallel=branches.run_parallel,
            Map=branches.run_map,
        )
    return _HANDLERS

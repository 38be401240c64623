"""Task states: schedule the resource, then react to its result, failure or timeout.

History per resource kind follows AWS (see :mod:`oncue.asl.resources`): a Lambda ARN used
directly records LambdaFunctionScheduled/Started/Succeeded|Failed|TimedOut with the effective
input; a service integration records TaskScheduled (with ``parameters``), TaskStarted, an
optional TaskSubmitted (``.waitForTaskToken``, ``.sync``) and TaskSucceeded|Failed|TimedOut;
an activity records ActivityScheduled, ActivityStarted when a worker takes it, and so on.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from oncue.asl import jsonata_states
from oncue.asl.commands import (
    CancelTask,
    CancelTimer,
    RunTask,
    TaskFailed,
    TaskHeartbeat,
    TaskStarted,
    TaskSubmitted,
    TaskSucceeded,
)
from oncue.asl.evaluation import Expression, StatesFailure
from oncue.asl.frames import Pending
from oncue.asl.interpreter import payload_too_large
from oncue.asl.jsonutil import dumps
from oncue.asl.model import TaskState
from oncue.asl.resources import ResourceRef, parse_resource
from oncue.types import Json

if TYPE_CHECKING:
    from oncue.asl.frames import Frame
    from oncue.asl.interpreter import _Transition, _Turn

__all__ = ["on_task_event", "on_task_timeout", "run_task"]

_NO_TRUNCATION = {"truncated": False}


def run_task(turn: _Turn, frame: Frame, state: TaskState) -> _Transition:
    ref = parse_resource(state.resource)
    if ref is None:
        raise StatesFailure("States.Runtime", f"'{state.resource}' is not a valid Resource ARN")
    frame.token = _new_token(turn) if ref.needs_token else None
    if state.query_language == "JSONata":
        # The token exists before Arguments are evaluated: $states.context.Task.Token.
        effective, timeout, heartbeat = jsonata_states.task_settings(turn, frame, state)
    else:
        effective, timeout, heartbeat = _jsonpath_settings(turn, frame, state)
    text = dumps(effective)
    if payload_too_large(text):
        raise StatesFailure(
            "States.DataLimitExceeded",
            f"The state '{frame.state}' has an input with a size exceeding the maximum number "
            f"of bytes service limit.",
        )
    task_id = turn.new_id("task")
    _record_scheduled(turn, frame, ref, text, timeout, heartbeat)
    turn.commands.append(
        RunTask(
            task_id=task_id,
            resource=state.resource,
            payload=effective,
            state_name=frame.state or "",
            attempt=frame.retry_count,
            token=frame.token,
            timeout_seconds=timeout,
            heartbeat_seconds=heartbeat,
        )
    )
    turn.s.pending[task_id] = Pending(frame.key, "task")
    frame.task_id = task_id
    frame.heartbeat = heartbeat
    frame.wait = "task"
    if timeout is not None:
        turn.arm(frame, "timeout", turn.now + timedelta(seconds=timeout))
    if heartbeat is not None:
        turn.arm(frame, "heartbeat", turn.now + timedelta(seconds=heartbeat))
    return None


def _jsonpath_settings(
    turn: _Turn, frame: Frame, state: TaskState
) -> tuple[Json, int | None, int | None]:
    effective = turn.select(state.input_path, frame.input, frame)
    timeout = state.timeout_seconds
    if state.timeout_seconds_path is not None:
        timeout = _positive_int(turn, frame, state.timeout_seconds_path, effective, "Timeout")
    heartbeat = state.heartbeat_seconds
    if state.heartbeat_seconds_path is not None:
        heartbeat = _positive_int(turn, frame, state.heartbeat_seconds_path, effective, "Heartbeat")
    if state.parameters is not None:
        effective = turn.evaluate(state.parameters, effective, frame)
    return effective, timeout, heartbeat


def _new_token(turn: _Turn) -> str:
    return f"{turn.rng.getrandbits(256):064x}"


def _positive_int(turn: _Turn, frame: Frame, path: Expression, data: Json, what: str) -> int:
    try:
        value = turn.evaluate(path, data, frame)
    except LookupError:
        value = None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise StatesFailure(
            "States.Runtime",
            f"The {what}SecondsPath parameter does not reference a valid positive integer "
            f"value: {path.source}",
        )
    return value


def _record_scheduled(
    turn: _Turn, frame: Frame, ref: ResourceRef, text: str, timeout: int | None, beat: int | None
) -> None:
    if ref.kind == "service":
        details: dict[str, object] = {
            "resourceType": ref.service,
            "resource": ref.action,
            "region": turn.s.info.region,
            "parameters": text,
        }
    else:
        details = {"resource": ref.arn, "input": text, "inputDetails": _NO_TRUNCATION}
    if timeout is not None:
        details["timeoutInSeconds"] = timeout
    if beat is not None and ref.kind != "lambda":
        details["heartbeatInSeconds"] = beat
    turn.emit(frame, ref.event("scheduled"), details)
    if ref.kind == "lambda":
        turn.emit(frame, ref.event("started"))
    elif ref.kind == "service":
        turn.emit(frame, ref.event("started"), _service(ref))


def _service(ref: ResourceRef) -> dict[str, object]:
    return {"resourceType": ref.service, "resource": ref.action}


def _ref(turn: _Turn, frame: Frame) -> ResourceRef:
    state = turn.state_of(frame)
    assert isinstance(state, TaskState)
    ref = parse_resource(state.resource)
    assert ref is not None
    return ref


def _finish(turn: _Turn, frame: Frame) -> None:
    if frame.task_id is not None:
        turn.s.pending.pop(frame.task_id, None)
    frame.task_id = None
    frame.wait = None
    turn.disarm(frame)


def on_task_event(
    turn: _Turn,
    frame: Frame,
    event: TaskStarted | TaskSubmitted | TaskSucceeded | TaskFailed | TaskHeartbeat,
) -> None:
    ref = _ref(turn, frame)
    if isinstance(event, TaskStarted):
        if ref.kind == "activity":
            turn.emit(frame, ref.event("started"), {"workerName": event.worker_name or ""})
    elif isinstance(event, TaskHeartbeat):
        _rearm_heartbeat(turn, frame)
    elif isinstance(event, TaskSubmitted):
        if ref.kind == "service":
            details = _service(ref)
            details.update(output=dumps(event.output), outputDetails=_NO_TRUNCATION)
            turn.emit(frame, ref.event("submitted"), details)
    elif isinstance(event, TaskFailed):
        _finish(turn, frame)
        _record_failure(turn, frame, ref, "failed", event.error, event.cause)
        turn.continue_after(
            frame, turn.fail_state(frame, event.error or "States.TaskFailed", event.cause)
        )
    else:
        _finish(turn, frame)
        turn.continue_after(frame, _succeeded(turn, frame, ref, event.output))


def _succeeded(turn: _Turn, frame: Frame, ref: ResourceRef, output: Json) -> _Transition:
    text = dumps(output)
    if payload_too_large(text):
        error, cause = (
            "States.DataLimitExceeded",
            f"The state/task '{frame.state}' returned a result with a size exceeding the "
            f"maximum number of bytes service limit.",
        )
        _record_failure(turn, frame, ref, "failed", error, cause)
        return turn.fail_state(frame, error, cause)
    details = _service(ref) if ref.kind == "service" else {}
    details.update(output=text, outputDetails=_NO_TRUNCATION)
    turn.emit(frame, ref.event("succeeded"), details)
    return turn.finish_with_result(frame, output)


def _record_failure(
    turn: _Turn, frame: Frame, ref: ResourceRef, phase: str, error: str | None, cause: str | None
) -> None:
    details = _service(ref) if ref.kind == "service" else {}
    if error is not None:
        details["error"] = error
    if cause is not None:
        details["cause"] = cause
    turn.emit(frame, ref.event(phase), details)


def _rearm_heartbeat(turn: _Turn, frame: Frame) -> None:
    """SendTaskHeartbeat: the heartbeat timeout starts again from now."""
    for timer_id in list(frame.timers):
        pending = turn.s.pending.get(timer_id)
        if pending is not None and pending.purpose == "heartbeat":
            del turn.s.pending[timer_id]
            frame.timers.remove(timer_id)
            turn.commands.append(CancelTimer(timer_id=timer_id))
    if frame.heartbeat is not None:
        turn.arm(frame, "heartbeat", turn.now + timedelta(seconds=frame.heartbeat))


def on_task_timeout(turn: _Turn, frame: Frame, purpose: str) -> None:
    """A task's TimeoutSeconds or HeartbeatSeconds ran out before its result arrived."""
    if frame.task_id is None:
        return
    ref = _ref(turn, frame)
    task_id = frame.task_id
    _finish(turn, frame)
    turn.commands.append(CancelTask(task_id=task_id))
    error = "States.Timeout" if purpose == "timeout" else "States.HeartbeatTimeout"
    _record_failure(turn, frame, ref, "timed_out", error, None)
    turn.continue_after(frame, turn.fail_state(frame, error, None))

"""A state that failed: its Retry, then its Catch, then the failure of its frame.

AWS "Handling errors in Step Functions workflows": the first Retrier whose ErrorEquals names
the error runs the state again after its back-off, while it has attempts left; otherwise the
first matching Catcher moves on to its Next with the error output (``{"Error", "Cause"}``)
placed by its ResultPath (JSONPath) or shaped by its Output (JSONata, default the error
output), its Assign applied; otherwise the frame fails with the error.

A JSONata expression that fails records ``EvaluationFailed`` (``evaluationFailedEventDetails``:
``error``, ``cause``, ``location`` -- the field -- and ``state``) before any of this.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Final

from oncue.asl import jsonata_states, lifecycle
from oncue.asl.evaluation import StatesFailure
from oncue.asl.retry import backoff_seconds, find_catcher, find_retrier
from oncue.asl.variables import store
from oncue.types import Json

if TYPE_CHECKING:
    from oncue.asl.frames import Frame
    from oncue.asl.interpreter import _Transition, _Turn

__all__ = ["fail", "fail_state", "record_evaluation_failure"]

#: Errors whose cause names the state and the event that entered it.
_PREFIXED_ERRORS: Final = frozenset({"States.Runtime", "States.QueryEvaluationError"})


def record_evaluation_failure(
    turn: _Turn, frame: Frame, failure: StatesFailure, cause: str | None = None
) -> None:
    """``EvaluationFailed`` in ``frame``'s events, if ``failure`` is a JSONata expression's.

    ``frame`` is the frame of the failing state; a Map iteration whose ItemSelector failed
    records it in the iteration's events, naming the Map state.
    """
    if isinstance(failure, jsonata_states.QueryFailure):
        owner = frame if frame.state is not None or frame.parent is None else frame.parent
        turn.emit(
            frame,
            "EvaluationFailed",
            {
                "error": failure.error,
                "cause": cause if cause is not None else turn.runtime_cause(owner, failure.cause),
                "location": failure.location,
                "state": owner.state,
            },
        )


def fail(turn: _Turn, frame: Frame, failure: StatesFailure) -> _Transition:
    """A state failed evaluating something: record an expression's failure, then fail."""
    record_evaluation_failure(turn, frame, failure)
    return fail_state(turn, frame, failure.error, failure.cause)


def fail_state(turn: _Turn, frame: Frame, error: str, cause: str | None) -> _Transition:
    """The current state failed: Retry, then Catch, then fail the frame."""
    state = turn.state_of(frame)
    if error in _PREFIXED_ERRORS and cause is not None:
        cause = turn.runtime_cause(frame, cause)
    retriers = getattr(state, "retry", ())
    index = find_retrier(retriers, error)
    if index is not None and frame.retries[index] < retriers[index].max_attempts:
        frame.retries[index] += 1
        frame.retry_count += 1
        delay = backoff_seconds(retriers[index], frame.retries[index], turn.rng)
        frame.wait = "retry"
        turn.arm(frame, "retry", turn.now + timedelta(seconds=delay))
        return None
    catcher = find_catcher(getattr(state, "catch", ()), error)
    if catcher is None:
        lifecycle.frame_failed(turn, frame, error, cause)
        return None
    error_output: dict[str, Json] = {"Error": error}
    if cause is not None:
        error_output["Cause"] = cause
    try:
        if state.query_language == "JSONata":
            output, assigned = jsonata_states.catcher_output(turn, frame, catcher, error_output)
        else:
            # A JSONPath Catcher's Assign reads the error output as ``$``.
            assigned = jsonata_states.evaluate_assign(
                turn, frame, catcher.assign, None, error_output
            )
            output = turn.place(catcher.result_path, frame.input, error_output)
        if assigned is not None:
            store(turn.s, frame, assigned, frame.state or "")
    except StatesFailure as failure:
        record_evaluation_failure(turn, frame, failure)
        lifecycle.frame_failed(turn, frame, failure.error, turn.runtime_cause(frame, failure.cause))
        return None
    return (catcher.next, output)

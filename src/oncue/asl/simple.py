"""The states that need nothing from outside: Pass, Choice, Wait, Succeed and Fail.

Each handler takes the turn, the frame and the state, and returns the transition
(next state name and its input), or None when the frame now waits or has ended. A failure
raised as :class:`StatesFailure` is routed to Retry/Catch by the caller.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from oncue.asl import jsonata_states, lifecycle
from oncue.asl.evaluation import Expression, StatesFailure
from oncue.asl.jsonata_states import evaluate_assign
from oncue.asl.jsonutil import dumps
from oncue.asl.model import ChoiceState, FailState, PassState, SucceedState, WaitState
from oncue.types import Json

if TYPE_CHECKING:
    from oncue.asl.frames import Frame
    from oncue.asl.interpreter import _Transition, _Turn

__all__ = [
    "finish_wait",
    "parse_timestamp",
    "run_choice",
    "run_fail",
    "run_pass",
    "run_succeed",
    "run_wait",
]


def run_pass(turn: _Turn, frame: Frame, state: PassState) -> _Transition:
    # AWS "Pass workflow state": InputPath -> Parameters -> Result -> ResultPath -> OutputPath.
    effective = turn.select(state.input_path, frame.input, frame)
    if state.parameters is not None:
        effective = turn.evaluate(state.parameters, effective, frame)
    result = state.result if state.has_result else effective
    assigned = evaluate_assign(turn, frame, state.assign, None, result)
    output = turn.place(state.result_path, frame.input, result)
    return turn.exit_state(frame, turn.select(state.output_path, output, frame), assigned=assigned)


def run_choice(turn: _Turn, frame: Frame, state: ChoiceState) -> _Transition:
    # AWS "Choice workflow state": rules are tried in order; the first match wins; with no
    # match and no Default the state fails with States.NoChoiceMatched.
    effective = turn.select(state.input_path, frame.input, frame)
    scope = turn.scope(effective, frame)
    rule = next((rule for rule in state.choices if rule.matches(scope)), None)
    # A matching rule's Assign replaces the state's ("Choice Rules": Assign).
    assign = getattr(rule, "assign", None) or state.assign
    target = rule.next if rule is not None else state.default
    if target is None:
        raise StatesFailure(
            "States.NoChoiceMatched",
            f"No Matches! The state '{frame.state}' has no rule that matches its input "
            f"and no Default.",
        )
    assigned = evaluate_assign(turn, frame, assign, None, effective)
    output = turn.select(state.output_path, effective, frame)
    return turn.exit_state(frame, output, target, assigned=assigned)


def run_wait(turn: _Turn, frame: Frame, state: WaitState) -> _Transition:
    effective = turn.select(state.input_path, frame.input, frame)
    due = _due(turn, frame, state, effective)
    frame.effective = effective
    if due <= turn.now:
        return finish_wait(turn, frame)
    frame.wait = "timer"
    turn.arm(frame, "wait", due)
    return None


def finish_wait(turn: _Turn, frame: Frame) -> _Transition:
    """A Wait state's time has come: Assign, OutputPath or Output, then exit."""
    state = turn.state_of(frame)
    assert isinstance(state, WaitState)
    try:
        if state.query_language == "JSONata":
            return jsonata_states.wait_exit(turn, frame, state)
        assigned = evaluate_assign(turn, frame, state.assign, None, frame.effective)
        output = turn.select(state.output_path, frame.effective, frame)
    except StatesFailure as failure:
        return turn.fail(frame, failure)
    return turn.exit_state(frame, output, assigned=assigned)


def _due(turn: _Turn, frame: Frame, state: WaitState, effective: Json) -> datetime:
    if state.seconds is not None:
        return turn.now + timedelta(seconds=state.seconds)
    if state.timestamp is not None:
        return parse_timestamp(state.timestamp)
    if state.seconds_path is not None:
        seconds = _read(turn, frame, state.seconds_path, effective)
        if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 0:
            raise StatesFailure(
                "States.Runtime",
                f"The SecondsPath parameter does not reference a valid non-negative integer "
                f"value: {seconds!r}",
            )
        return turn.now + timedelta(seconds=seconds)
    assert state.timestamp_path is not None
    value = _read(turn, frame, state.timestamp_path, effective)
    try:
        if not isinstance(value, str):
            raise ValueError(value)
        return parse_timestamp(value)
    except ValueError:
        raise StatesFailure(
            "States.Runtime",
            f"The TimestampPath parameter does not reference a valid ISO-8601 extended offset "
            f"date-time format string: {value!r}",
        ) from None


def _read(turn: _Turn, frame: Frame, path: Expression, data: Json) -> Json:
    try:
        return turn.evaluate(path, data, frame)
    except LookupError:
        raise StatesFailure(
            "States.Runtime", f"Invalid path '{path.source}' : No results for path: {path.source}"
        ) from None


def parse_timestamp(text: str) -> datetime:
    """An RFC 3339 timestamp (``2016-03-14T01:59:00Z``, offsets and fractions allowed)."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"timestamp without a time zone: {text}")
    return moment.astimezone(UTC)


def run_succeed(turn: _Turn, frame: Frame, state: SucceedState) -> _Transition:
    effective = turn.select(state.input_path, frame.input, frame)
    return turn.exit_state(frame, turn.select(state.output_path, effective, frame))


def run_fail(turn: _Turn, frame: Frame, state: FailState) -> _Transition:
    # AWS "Fail workflow state": Error/Cause, or ErrorPath/CausePath (paths or intrinsics)
    # evaluated against the state input. A Fail state has no Retry or Catch of its own.
    error = state.error
    cause = state.cause
    if state.error_path is not None:
        error = _as_text(_read(turn, frame, state.error_path, frame.input))
    if state.cause_path is not None:
        cause = _as_text(_read(turn, frame, state.cause_path, frame.input))
    lifecycle.frame_failed(turn, frame, error, cause)
    return None


def _as_text(value: Json) -> str:
    return value if isinstance(value, str) else dumps(value)

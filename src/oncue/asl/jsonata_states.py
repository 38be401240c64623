"""The states of the JSONata query language, and ``Assign`` in both query languages.

AWS "Transforming data with JSONata in Step Functions" replaces the five JSONPath fields with
two: ``Arguments`` (what a Task, or a Parallel state's branches, receive; the state input
when absent) and ``Output`` (the state output; when absent, the task/branches/iterations
result for Task, Parallel and Map, the state input otherwise). Every expression sees
``$states``:

* ``$states.input`` -- the state's input, always the original one;
* ``$states.result`` -- the Task, Parallel or Map result, in ``Output`` and ``Assign`` once
  it succeeded;
* ``$states.errorOutput`` -- ``{"Error", "Cause"}``, in a Catcher's ``Output`` and ``Assign``
  (whose ``Output`` defaults to it);
* ``$states.context`` -- the context object.

A failing expression fails the state with ``States.QueryEvaluationError`` (Retry and Catch
apply) after an ``EvaluationFailed`` event naming the state and the field
(:class:`QueryFailure` carries the field to :meth:`oncue.asl.interpreter._Turn.fail`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from oncue.asl.evaluation import Scope, StatesFailure
from oncue.asl.jsonata_eval import QUERY_EVALUATION_ERROR, Bindings
from oncue.asl.jsonata_template import JsonataTemplate
from oncue.asl.jsonutil import dumps
from oncue.asl.model import (
    Catcher,
    ChoiceState,
    FailState,
    MapState,
    PassState,
    State,
    SucceedState,
    TaskState,
    WaitState,
)
from oncue.asl.variables import Assignment, visible
from oncue.types import Json

if TYPE_CHECKING:
    from oncue.asl.frames import Frame
    from oncue.asl.interpreter import _Transition, _Turn

__all__ = [
    "QueryFailure",
    "bindings",
    "catcher_output",
    "evaluate",
    "evaluate_assign",
    "map_settings",
    "number",
    "result_output",
    "run_choice",
    "run_fail",
    "run_pass",
    "run_succeed",
    "run_wait",
    "task_settings",
    "wait_exit",
]

_ABSENT: Any = object()


class QueryFailure(StatesFailure):
    """A JSONata expression failed; ``location`` is the field that holds it."""

    def __init__(self, cause: str, location: str) -> None:
        super().__init__(QUERY_EVALUATION_ERROR, cause)
        self.location = location


def bindings(
    turn: _Turn,
    frame: Frame,
    input: Json,
    *,
    result: Json = _ABSENT,
    error_output: Json = _ABSENT,
    extra: dict[str, object] | None = None,
) -> Bindings:
    states: dict[str, Json] = {"input": input, "context": turn.context(frame, extra)}
    if result is not _ABSENT:
        states["result"] = result
    if error_output is not _ABSENT:
        states["errorOutput"] = error_output
    return Bindings(states=states, variables=visible(frame), now=turn.now, rng=turn.rng)


def evaluate(template: JsonataTemplate, field: str, scope: Bindings) -> Json:
    try:
        return template.evaluate(scope, field)
    except QueryFailure:
        raise
    except StatesFailure as failure:
        raise QueryFailure(failure.cause, field) from None


def evaluate_assign(
    turn: _Turn, frame: Frame, assign: Assignment | None, scope: Bindings | None, dollar: Json
) -> dict[str, Json] | None:
    """An Assign's values (read with the variables as they were at state entry), or None."""
    if assign is None:
        return None
    if assign.jsonata is not None:
        assert scope is not None
        return dict(evaluate(assign.jsonata, "Assign", scope))
    return assign.evaluate_jsonpath(
        Scope(input=dollar, context=turn.context(frame), variables=visible(frame), rng=turn.rng)
    )


def _output(template: JsonataTemplate | None, scope: Bindings, default: Json) -> Json:
    return default if template is None else evaluate(template, "Output", scope)


# --- states without a task ---------------------------------------------------------------


def run_pass(turn: _Turn, frame: Frame, state: PassState) -> _Transition:
    scope = bindings(turn, frame, frame.input)
    assigned = evaluate_assign(turn, frame, state.assign, scope, None)
    return turn.exit_state(frame, _output(state.output, scope, frame.input), assigned=assigned)


def run_succeed(turn: _Turn, frame: Frame, state: SucceedState) -> _Transition:
    scope = bindings(turn, frame, frame.input)
    return turn.exit_state(frame, _output(state.output, scope, frame.input))


def run_choice(turn: _Turn, frame: Frame, state: ChoiceState) -> _Transition:
    # "Choice Rules (JSONata)": the first rule whose Condition is true wins; a rule's own
    # Assign and Output replace the state's.
    scope = bindings(turn, frame, frame.input)
    for rule in state.choices:
        try:
            holds = rule.holds(scope)  # type: ignore[attr-defined]
        except QueryFailure:
            raise
        except StatesFailure as failure:
            raise QueryFailure(failure.cause, "Condition") from None
        if holds:
            assign = rule.assign or state.assign  # type: ignore[attr-defined]
            output = rule.output or state.output  # type: ignore[attr-defined]
            assigned = evaluate_assign(turn, frame, assign, scope, None)
            target = rule.next
            break
    else:
        if state.default is None:
            raise StatesFailure(
                "States.NoChoiceMatched",
                f"No Matches! The state '{frame.state}' has no rule that matches its input "
                f"and no Default.",
            )
        assigned = evaluate_assign(turn, frame, state.assign, scope, None)
        output, target = state.output, state.default
    return turn.exit_state(frame, _output(output, scope, frame.input), target, assigned=assigned)


def run_wait(turn: _Turn, frame: Frame, state: WaitState) -> _Transition:
    from oncue.asl.simple import parse_timestamp

    scope = bindings(turn, frame, frame.input)
    due: datetime
    if "Seconds" in state.expressions:
        seconds = number(state.expressions["Seconds"], "Seconds", scope, low=0)
        due = turn.now + timedelta(seconds=seconds)
    elif "Timestamp" in state.expressions:
        text = evaluate(state.expressions["Timestamp"], "Timestamp", scope)
        try:
            if not isinstance(text, str):
                raise ValueError(text)
            due = parse_timestamp(text)
        except ValueError:
            raise QueryFailure(
                f"The field 'Timestamp' must be an ISO-8601 extended offset date-time "
                f"format string, not {dumps(text)}",
                "Timestamp",
            ) from None
    elif state.seconds is not None:
        due = turn.now + timedelta(seconds=state.seconds)
    else:
        assert state.timestamp is not None
        due = parse_timestamp(state.timestamp)
    frame.effective = frame.input
    if due <= turn.now:
        return wait_exit(turn, frame, state)
    frame.wait = "timer"
    turn.arm(frame, "wait", due)
    return None


def wait_exit(turn: _Turn, frame: Frame, state: WaitState) -> _Transition:
    scope = bindings(turn, frame, frame.input)
    assigned = evaluate_assign(turn, frame, state.assign, scope, None)
    return turn.exit_state(frame, _output(state.output, scope, frame.input), assigned=assigned)


def run_fail(turn: _Turn, frame: Frame, state: FailState) -> _Transition:
    from oncue.asl import lifecycle

    scope = bindings(turn, frame, frame.input)
    error, cause = state.error, state.cause
    if "Error" in state.expressions:
        error = _text(evaluate(state.expressions["Error"], "Error", scope))
    if "Cause" in state.expressions:
        cause = _text(evaluate(state.expressions["Cause"], "Cause", scope))
    lifecycle.frame_failed(turn, frame, error, cause)
    return None


def _text(value: Json) -> str:
    return value if isinstance(value, str) else dumps(value)


def number(
    template: JsonataTemplate, field: str, scope: Bindings, *, low: int, integer: bool = True
) -> int | float:
    """An expression-valued count or duration: a number (an integer unless said) >= ``low``."""
    value = evaluate(template, field, scope)
    valid = isinstance(value, int) if integer else isinstance(value, int | float)
    if isinstance(value, bool) or not valid or value < low:
        kind = "an integer" if integer else "a number"
        raise QueryFailure(
            f"The field '{field}' must be {kind} of at least {low}, not {dumps(value)}", field
        )
    return value if isinstance(value, int) else float(value)


# --- Task, Parallel, Map -------------------------------------------------------------------


def task_settings(
    turn: _Turn, frame: Frame, state: TaskState
) -> tuple[Json, int | None, int | None]:
    """A JSONata Task's payload (Arguments), TimeoutSeconds and HeartbeatSeconds."""
    scope = bindings(turn, frame, frame.input)
    timeout, heartbeat = state.timeout_seconds, state.heartbeat_seconds
    if "TimeoutSeconds" in state.expressions:
        timeout = int(number(state.expressions["TimeoutSeconds"], "TimeoutSeconds", scope, low=1))
    if "HeartbeatSeconds" in state.expressions:
        heartbeat = int(
            number(state.expressions["HeartbeatSeconds"], "HeartbeatSeconds", scope, low=1)
        )
    payload = frame.input
    if state.arguments is not None:
        payload = evaluate(state.arguments, "Arguments", scope)
    return payload, timeout, heartbeat


def map_settings(
    turn: _Turn, frame: Frame, state: MapState
) -> tuple[Json, int, int | None, float | None]:
    """A JSONata Map's items, MaxConcurrency and tolerated failure count and percentage."""
    scope = bindings(turn, frame, frame.input)
    items = frame.input if state.items is None else evaluate(state.items, "Items", scope)
    if not isinstance(items, list):
        raise QueryFailure(
            f"The field 'Items' must evaluate to a JSON array, not {dumps(items)}", "Items"
        )
    exprs = state.expressions
    limit = state.max_concurrency
    if "MaxConcurrency" in exprs:
        limit = int(number(exprs["MaxConcurrency"], "MaxConcurrency", scope, low=0))
    count = state.tolerated_failure_count
    if "ToleratedFailureCount" in exprs:
        count = int(number(exprs["ToleratedFailureCount"], "ToleratedFailureCount", scope, low=0))
    percentage = state.tolerated_failure_percentage
    if "ToleratedFailurePercentage" in exprs:
        key = "ToleratedFailurePercentage"
        percentage = float(number(exprs[key], key, scope, low=0, integer=False))
        if percentage > 100:
            raise QueryFailure(f"The field '{key}' must be between 0 and 100", key)
    return items, limit, count, percentage


def result_output(
    turn: _Turn, frame: Frame, state: State, result: Json
) -> tuple[Json, dict[str, Json] | None]:
    """A JSONata Task, Parallel or Map state's output and assignments, once it has a result."""
    scope = bindings(turn, frame, frame.input, result=result)
    assigned = evaluate_assign(turn, frame, state.assign, scope, None)
    return _output(state.output, scope, result), assigned


def catcher_output(
    turn: _Turn, frame: Frame, catcher: Catcher, error_output: dict[str, Json]
) -> tuple[Json, dict[str, Json] | None]:
    """A JSONata Catcher's Output (default: the error output) and assignments."""
    scope = bindings(turn, frame, frame.input, error_output=error_output)
    assigned = evaluate_assign(turn, frame, catcher.assign, scope, None)
    return _output(catcher.output, scope, error_output), assigned

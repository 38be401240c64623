"""Parallel and inline Map states: child frames, their results, their failures.

AWS "Parallel workflow state": every branch gets the effective input; the state's result is
the array of branch outputs in branch order; if any branch fails, the other branches are
stopped and the Parallel state fails with the branch's error (its own Retry/Catch apply).

AWS "Map workflow state" (inline mode): one iteration per item of ItemsPath, each getting the
item (or ItemSelector's result, where ``$$.Map.Item.Index``/``Value`` are visible), at most
MaxConcurrency at a time (0: no limit). Results keep item order. An iteration that fails
fails the Map state unless ToleratedFailureCount/Percentage allow it; past the threshold the
error is ``States.ExceedToleratedFailureThreshold``.

Branches start in index order, each running until it must wait. Children are started and
parents resumed through the turn's work queue, so nesting and long chains never deepen the
Python stack.

A branch or iteration that fails or is aborted is kept in its parent's ``unfinished``; the
outputs of those that succeeded stay in the results. AWS "RedriveExecution": "For workflows
that include an Inline Map or Parallel state, RedriveExecution reschedules and redrives only
the iterations and branches that failed or aborted" -- :func:`resume_parallel` and
:func:`resume_map` do that, each resumed child continuing from the state where it stopped.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from oncue.asl import failures, jsonata_states, lifecycle
from oncue.asl.evaluation import Expression, StatesFailure
from oncue.asl.frames import MapProgress
from oncue.asl.model import MapState, ParallelState
from oncue.types import Json

if TYPE_CHECKING:
    from oncue.asl.frames import Frame
    from oncue.asl.interpreter import _Transition, _Turn

__all__ = [
    "abort_child",
    "child_failed",
    "child_succeeded",
    "resume_map",
    "resume_parallel",
    "run_map",
    "run_parallel",
]


# --- Parallel ----------------------------------------------------------------------------


def run_parallel(turn: _Turn, frame: Frame, state: ParallelState) -> _Transition:
    # A run (first or a retry) starts every branch: forget what an earlier attempt kept.
    frame.results, frame.unfinished = [], {}
    if state.query_language == "JSONata":
        effective = frame.input
        if state.arguments is not None:
            scope = jsonata_states.bindings(turn, frame, frame.input)
            effective = jsonata_states.evaluate(state.arguments, "Arguments", scope)
    else:
        effective = turn.select(state.input_path, frame.input, frame)
        if state.parameters is not None:
            effective = turn.evaluate(state.parameters, effective, frame)
    turn.emit(frame, "ParallelStateStarted")
    frame.wait = "children"
    frame.effective = effective  # a redrive starts a branch that never ran with it
    frame.results = [None] * len(state.branches)
    frame.remaining = len(state.branches)
    for index, branch in enumerate(state.branches):
        child = lifecycle.new_child(turn, frame, index, branch)
        turn.later(child, branch.start_at, effective)
    return None


def _finish_parallel(turn: _Turn, frame: Frame, state: ParallelState) -> _Transition:
    frame.wait = None
    turn.emit(frame, "ParallelStateSucceeded")
    return turn.finish_with_result(frame, frame.results)


def resume_parallel(turn: _Turn, frame: Frame, state: ParallelState) -> _Transition:
    """Redrive: run again only the branches that failed or were aborted."""
    from oncue.asl import redrive

    turn.emit(frame, "ParallelStateStarted")
    frame.wait = "children"
    kept, frame.unfinished = frame.unfinished, {}
    frame.remaining = len(kept)
    if not kept:  # every branch succeeded; what failed came after them
        return _finish_parallel(turn, frame, state)
    for index in sorted(kept):
        child = _reopen(turn, frame, kept[index])
        if child.state is None:  # stopped before it started
            turn.later(child, state.branches[index].start_at, frame.effective)
        else:
            turn.later_call(child, partial(redrive.resume_frame, turn, child))
    return None


def _reopen(turn: _Turn, parent: Frame, child: Frame) -> Frame:
    """A kept child runs again, under its old key, its events following the parent's."""
    child.closed = False
    turn.s.variable_bytes += sum(child.variable_sizes.values())
    child.wait = None
    child.task_id = None
    child.last_event = parent.last_event
    turn.s.frames[child.key] = child
    parent.children[child.index] = child
    return child


# --- Map ---------------------------------------------------------------------------------


def run_map(turn: _Turn, frame: Frame, state: MapState) -> _Transition:
    frame.map, frame.unfinished = None, {}  # as for Parallel: every iteration runs
    if state.query_language == "JSONata":
        values, limit, count, percentage = jsonata_states.map_settings(turn, frame, state)
        return _start_map(turn, frame, state, values, frame.input, limit, count, percentage)
    effective = turn.select(state.input_path, frame.input, frame)
    items: Json = effective
    if state.items_path is not None and state.items_path.source != "$":
        try:
            items = turn.evaluate(state.items_path, effective, frame)
        except LookupError:
            items = None
    if not isinstance(items, list):
        source = state.items_path.source if state.items_path is not None else "$"
        raise StatesFailure(
            "States.Runtime",
            f"Invalid path '{source}': The value at the path is not an array: "
            f"{type(items).__name__ if items is not None else 'nothing found'}",
        )
    limit = state.max_concurrency
    if state.max_concurrency_path is not None:
        limit = int(_number(turn, frame, state.max_concurrency_path, effective, integer=True))
    count = state.tolerated_failure_count
    if state.tolerated_failure_count_path is not None:
        count = int(_number(turn, frame, state.tolerated_failure_count_path, effective, True))
    percentage = state.tolerated_failure_percentage
    if state.tolerated_failure_percentage_path is not None:
        percentage = _number(turn, frame, state.tolerated_failure_percentage_path, effective, False)
        if percentage > 100:
            raise StatesFailure(
                "States.Runtime", "ToleratedFailurePercentage must be between 0 and 100"
            )
    return _start_map(turn, frame, state, items, effective, limit, count, percentage)


def _start_map(
    turn: _Turn,
    frame: Frame,
    state: MapState,
    items: list[Json],
    effective: Json,
    limit: int,
    count: int | None,
    percentage: float | None,
) -> _Transition:
    turn.emit(frame, "MapStateStarted", {"length": len(items)})
    frame.wait = "children"
    frame.map = MapProgress(
        items=items,
        effective=effective,
        limit=limit,
        tolerated_count=count,
        tolerated_percentage=percentage,
        results=[None] * len(items),
    )
    return _pump(turn, frame, state)


def _number(turn: _Turn, frame: Frame, path: Expression, data: Json, integer: bool) -> float:
    try:
        value = turn.evaluate(path, data, frame)
    except LookupError:
        value = None
    valid = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not valid or value < 0:
        kind = "non-negative integer" if integer else "non-negative number"
        raise StatesFailure(
            "States.Runtime",
            f"The value at '{path.source}' is not a valid {kind}: {value!r}",
        )
    return float(value)


def resume_map(turn: _Turn, frame: Frame, state: MapState) -> _Transition:
    """Redrive: run again the iterations that failed or were aborted, then those never run.

    The tolerated failure threshold counts the failures of this attempt only: an iteration
    that fails again counts, one that now succeeds no longer does.
    """
    progress = frame.map
    assert progress is not None
    turn.emit(frame, "MapStateStarted", {"length": len(progress.items)})
    frame.wait = "children"
    progress.failed = 0
    progress.redo = sorted(frame.unfinished, reverse=True)
    return _pump(turn, frame, state)


def _pump(turn: _Turn, frame: Frame, state: MapState) -> _Transition:
    """Start iterations while the concurrency limit allows; finish when all are done.

    Iterations a redrive runs again come first (they have lower indexes than any never
    started), so iterations still start in index order.
    """
    progress = frame.map
    assert progress is not None
    total = len(progress.items)
    while (progress.redo or progress.next_index < total) and (
        progress.limit == 0 or len(frame.children) < progress.limit
    ):
        if progress.redo:
            kept = frame.unfinished.pop(progress.redo.pop())
            child = _reopen(turn, frame, kept)
            if child.state is not None:
                turn.later_call(child, partial(_resume_iteration, turn, frame, child))
                continue
        else:
            index = progress.next_index
            progress.next_index += 1
            child = lifecycle.new_child(turn, frame, index, state.item_processor)
            child.isolated = state.distributed
        turn.later_call(child, partial(_start_iteration, turn, frame, child, state))
    if frame.children or progress.redo or progress.next_index < total:
        return None
    frame.wait = None
    # The progress stays until the next state is entered: should ResultSelector, ResultPath
    # or OutputPath fail now, a redrive does not run the iterations again.
    turn.emit(frame, "MapStateSucceeded")
    return turn.finish_with_result(frame, progress.results)


def _resume_iteration(turn: _Turn, frame: Frame, child: Frame) -> None:
    from oncue.asl import redrive

    turn.emit(child, "MapIterationStarted", {"name": frame.state, "index": child.index})
    redrive.resume_frame(turn, child)


def _start_iteration(turn: _Turn, frame: Frame, child: Frame, state: MapState) -> None:
    progress = frame.map
    assert progress is not None
    index = child.index
    turn.emit(child, "MapIterationStarted", {"name": frame.state, "index": index})
    item = progress.items[index]
    data: Json = item
    extra: dict[str, object] = {"Map": {"Item": {"Index": index, "Value": item}}}
    try:
        if state.jsonata_item_selector is not None:
            scope = jsonata_states.bindings(turn, frame, progress.effective, extra=extra)
            data = jsonata_states.evaluate(state.jsonata_item_selector, "ItemSelector", scope)
        elif state.item_selector is not None:
            data = turn.evaluate(state.item_selector, progress.effective, frame, extra)
    except StatesFailure as failure:
        cause = turn.runtime_cause(frame, failure.cause)
        failures.record_evaluation_failure(turn, child, failure, cause)
        lifecycle.frame_failed(turn, child, failure.error, cause)
        return
    turn.drive(child, state.item_processor.start_at, data)


def _threshold_exceeded(progress: MapProgress) -> bool:
    if progress.tolerated_count is None and progress.tolerated_percentage is None:
        return progress.failed > 0
    total = len(progress.items)
    if progress.tolerated_count is not None and progress.failed > progress.tolerated_count:
        return True
    pct = progress.tolerated_percentage
    return pct is not None and total > 0 and progress.failed * 100.0 / total > pct


# --- children finishing ------------------------------------------------------------------


def child_succeeded(turn: _Turn, parent: Frame, child: Frame, output: Json) -> None:
    state = turn.state_of(parent)
    parent.children.pop(child.index, None)
    if isinstance(state, MapState):
        turn.emit(child, "MapIterationSucceeded", {"name": parent.state, "index": child.index})
        parent.last_event = child.last_event
        assert parent.map is not None
        parent.map.results[child.index] = output
        turn.continue_after(parent, _pump(turn, parent, state))
        return
    assert isinstance(state, ParallelState)
    parent.last_event = child.last_event
    parent.results[child.index] = output
    parent.remaining -= 1
    if parent.remaining == 0:
        turn.continue_after(parent, _finish_parallel(turn, parent, state))


def child_failed(
    turn: _Turn, parent: Frame, child: Frame, error: str | None, cause: str | None
) -> None:
    state = turn.state_of(parent)
    parent.children.pop(child.index, None)
    parent.unfinished[child.index] = child  # where it stopped, for a redrive
    if isinstance(state, MapState):
        progress = parent.map
        assert progress is not None
        turn.emit(child, "MapIterationFailed", {"name": parent.state, "index": child.index})
        parent.last_event = child.last_event
        progress.failed += 1
        failure: dict[str, Json] = {"Error": error, "Cause": cause}
        progress.results[child.index] = failure
        if not _threshold_exceeded(progress):
            turn.continue_after(parent, _pump(turn, parent, state))
            return
        if progress.tolerated_count is not None or progress.tolerated_percentage is not None:
            error = "States.ExceedToleratedFailureThreshold"
            cause = "The specified tolerated failure threshold was exceeded"
        _abort_children(turn, parent)
        turn.emit(parent, "MapStateFailed")
    else:
        parent.last_event = child.last_event
        _abort_children(turn, parent)
        turn.emit(parent, "ParallelStateFailed")
    parent.wait = None
    turn.continue_after(parent, turn.fail_state(parent, error or "States.BranchFailed", cause))


def _abort_children(turn: _Turn, parent: Frame) -> None:
    for child in list(parent.children.values()):
        abort_child(turn, parent, child)
    parent.unfinished.update(parent.children)  # where they stopped, for a redrive
    parent.children.clear()


def abort_child(turn: _Turn, parent: Frame, child: Frame) -> None:
    started = child.state is not None
    lifecycle.abort(turn, child)
    if started and isinstance(turn.state_of(parent), MapState):
        turn.emit(child, "MapIterationAborted", {"name": parent.state, "index": child.index})

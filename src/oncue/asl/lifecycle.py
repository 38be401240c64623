"""How frames begin and end, and how the execution ends.

A frame that succeeds or fails hands its result to its parent (a Parallel or Map state, see
:mod:`oncue.asl.branches`); the top-level frame ends the execution. An execution that ends
for any reason (success, failure, StopExecution, its own TimeoutSeconds) cancels every task
and timer still outstanding, so a driver never runs work nobody waits for.

Failed and aborted frames are closed but kept by their parent (``Frame.unfinished``), and the
root frame keeps its state and input: that is where a redrive resumes
(:mod:`oncue.asl.redrive`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from oncue.asl.commands import CancelTask, CancelTimer
from oncue.asl.frames import ExecutionStatus, Frame
from oncue.asl.jsonutil import dumps
from oncue.asl.model import BodyLike
from oncue.types import Json

if TYPE_CHECKING:
    from oncue.asl.interpreter import _Turn

__all__ = ["abort", "end_execution", "frame_failed", "frame_succeeded", "new_child"]


def new_child(turn: _Turn, parent: Frame, index: int, body: BodyLike) -> Frame:
    child = Frame(
        key=f"{parent.key}/{parent.state}#{turn.new_id('f')}[{index}]",
        body=body,
        parent=parent,
        index=index,
        last_event=parent.last_event,
    )
    turn.s.frames[child.key] = child
    parent.children[index] = child
    return child


def _close(turn: _Turn, frame: Frame) -> None:
    # A closed scope's variables no longer count (a redrive reopening it counts them again).
    turn.s.variable_bytes -= sum(frame.variable_sizes.values())
    frame.closed = True
    frame.wait = None
    turn.disarm(frame)
    turn.s.frames.pop(frame.key, None)


def frame_succeeded(turn: _Turn, frame: Frame, output: Json) -> None:
    from oncue.asl import branches

    if frame.parent is None:
        end_execution(turn, "SUCCEEDED", "ExecutionSucceeded", output=output)
        return
    _close(turn, frame)
    branches.child_succeeded(turn, frame.parent, frame, output)


def frame_failed(turn: _Turn, frame: Frame, error: str | None, cause: str | None) -> None:
    from oncue.asl import branches

    if frame.parent is None:
        end_execution(turn, "FAILED", "ExecutionFailed", error=error, cause=cause)
        return
    _close(turn, frame)
    branches.child_failed(turn, frame.parent, frame, error, cause)


def abort(turn: _Turn, frame: Frame) -> None:
    """Stop a frame that is still running: cancel its work, record what was aborted."""
    from oncue.asl import branches

    if frame.closed:
        return
    for child in list(frame.children.values()):
        branches.abort_child(turn, frame, child)
    frame.unfinished.update(frame.children)  # where they stopped, for a redrive
    frame.children.clear()
    if frame.task_id is not None and turn.s.pending.pop(frame.task_id, None) is not None:
        turn.commands.append(CancelTask(task_id=frame.task_id))
    if frame.state is not None and frame.wait is not None:
        turn.emit(frame, turn.state_of(frame).type + "StateAborted")
    _close(turn, frame)


def end_execution(
    turn: _Turn,
    status: ExecutionStatus,
    event_type: str,
    *,
    output: Json = None,
    error: str | None = None,
    cause: str | None = None,
) -> None:
    """Finish the execution: abort what still runs, cancel what is pending, record the end.

    A state still in progress (the execution was stopped or timed out) records
    ``{Type}StateAborted`` before the execution's own event.
    """
    state = turn.s
    root = state.root
    if root.wait is not None:
        abort(turn, root)
    for key, pending in list(state.pending.items()):
        del state.pending[key]
        if pending.purpose == "task":
            turn.commands.append(CancelTask(task_id=key))
        else:
            turn.commands.append(CancelTimer(timer_id=key))
    root.closed = True
    root.timers.clear()
    state.frames.clear()
    if status == "SUCCEEDED":
        # Nothing to redrive: forget what the last state kept for one.
        root.effective, root.map, root.results, root.unfinished = None, None, [], {}
    state.status, state.output, state.error, state.cause = status, output, error, cause
    details: dict[str, object] = {}
    if status == "SUCCEEDED":
        details = {"output": dumps(output), "outputDetails": {"truncated": False}}
    if error is not None:
        details["error"] = error
    if cause is not None:
        details["cause"] = cause
    turn.log.add(event_type, root.last_event, details)

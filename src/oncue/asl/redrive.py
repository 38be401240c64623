"""RedriveExecution: resume a FAILED, ABORTED or TIMED_OUT execution where it stopped.

AWS "Restarting state machine executions with redrive in Step Functions":

* Only an execution that did not succeed can be redriven: FAILED, ABORTED or TIMED_OUT.
* "Step Functions continues the failed execution from the unsuccessful step and uses the same
  input. Step Functions preserves the results and execution history of the successful steps,
  which are not rerun": the state that failed (or was stopped) is entered again with the
  input it had. Inside an Inline Map or a Parallel state only the iterations and branches
  that failed or were aborted run again (see :mod:`oncue.asl.branches`), each from the state
  where it stopped; the Map or Parallel state itself is entered again around them.
* "the state machine level timeout, if defined, is reset to 0": TimeoutSeconds counts again
  from the redrive.
* The history continues with consecutive ids: ``ExecutionRedriven`` (its ``redriveCount``
  is the number of redrives so far, this one included), then the states entered again.
  A state entered again starts its retry counters from zero.
* AWS "Context object": ``$$.Execution.RedriveCount`` counts the redrives, and
  ``$$.Execution.RedriveTime`` "is only available if you've redriven an execution".

Everything a redrive needs is kept in the execution state itself (see
:mod:`oncue.asl.frames`), so it survives :mod:`oncue.asl.snapshot`.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING

from oncue.asl import branches
from oncue.asl.frames import ExecutionState, Frame
from oncue.asl.model import MapState, ParallelState

if TYPE_CHECKING:
    from oncue.asl.interpreter import _Turn

__all__ = ["REDRIVABLE", "can_redrive", "redrive", "redrive_refusal", "resume_frame"]

#: The statuses RedriveExecution accepts (AWS API reference, RedriveExecution).
REDRIVABLE = frozenset({"FAILED", "ABORTED", "TIMED_OUT"})


def redrive_refusal(state: ExecutionState) -> str | None:
    """Why ``state`` cannot be redriven, or None.

    A clause that completes "... cannot be redriven: <reason>" in the API's
    ExecutionNotRedrivable message.
    """
    if state.status not in REDRIVABLE:
        return (
            f"the execution is {state.status}; only FAILED, ABORTED and TIMED_OUT "
            f"executions can be redriven"
        )
    if state.root.state is None:
        return "the execution ended before it entered any state"
    return None


def can_redrive(state: ExecutionState) -> bool:
    return redrive_refusal(state) is None


def redrive(turn: _Turn) -> None:
    """Start the execution again where it stopped (the caller checked :func:`can_redrive`)."""
    s = turn.s
    count = s.info.redrive_count + 1
    s.info = replace(s.info, redrive_count=count)
    # New dictionaries, never an update in place: snapshots may share the old ones.
    execution = {**s.context_base.get("Execution", {}), "RedriveCount": count}
    execution["RedriveTime"] = turn.now_text
    s.context_base = {**s.context_base, "Execution": execution}
    s.status = "RUNNING"
    s.output = s.error = s.cause = None
    root = s.root
    root.closed = False
    root.wait = None
    s.frames[root.key] = root
    root.last_event = turn.log.add("ExecutionRedriven", turn.log.last_id, {"redriveCount": count})
    if turn.machine.timeout_seconds is not None:
        turn.arm(root, "execution", turn.now + timedelta(seconds=turn.machine.timeout_seconds))
    resume_frame(turn, root)


def resume_frame(turn: _Turn, frame: Frame) -> None:
    """Enter again the state ``frame`` stopped at, with the input it had then.

    A Parallel or Map state whose children ran resumes only its unfinished children; any
    other state (or one that failed before its children started) runs again from scratch.
    """
    name = frame.state
    assert name is not None
    state = frame.body.states[name]
    if isinstance(state, ParallelState) and len(frame.results) == len(state.branches):
        turn.enter(frame, name, frame.input, resuming=True)
        turn.continue_after(frame, branches.resume_parallel(turn, frame, state))
    elif isinstance(state, MapState) and frame.map is not None:
        turn.enter(frame, name, frame.input, resuming=True)
        turn.continue_after(frame, branches.resume_map(turn, frame, state))
    else:
        turn.drive(frame, name, frame.input)

"""Applying inbox messages to executions: load -> step -> persist, in the caller's transaction.

Everything that happens to an execution arrives as a message in its inbox (start, task
result, timer fired, callback, stop, redrive). :meth:`Transitioner.advance` takes a batch of
messages, feeds each to the interpreter, and writes back in the same transaction the new
execution state (fenced by its version), one history row per execution, and the effects of the
commands: timers, tasks (leased at once to the calling worker when it has the handler),
task tokens, outbox entries, child executions and the result a finished child owes its
parent. Because it all commits together, a crash between any two instructions leaves either
the old state with its message still in the inbox, or the new state with the message gone.

Internal integrations (child executions, putEvents) and tasks no handler can serve produce
their result events at once; those are applied in the same loop, so a chain of them costs one
transaction.
"""

from __future__ import annotations

import logging
import secrets
from collections import OrderedDict, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from oncue.asl.commands import (
    ArmTimer,
    CancelTask,
    CancelTimer,
    Command,
    Event,
    ExecutionInfo,
    RunTask,
    Start,
    Stop,
    TaskFailed,
    TaskSubmitted,
    TaskSucceeded,
    TimerFired,
)
from oncue.asl.frames import ExecutionState
from oncue.asl.interpreter import Interpreter
from oncue.asl.jsonutil import dumps, loads
from oncue.asl.resources import parse_resource
from oncue.asl.snapshot import dump_state, load_state
from oncue.asl.validate import parse_definition
from oncue.engine import integrations
from oncue.engine.codec import decode_event, encode_event
from oncue.engine.invoke import Handler, resolve_handler
from oncue.engine.starting import start_in_tx
from oncue.errors import OncueError, StoreError
from oncue.store.bus_sql import BusTx
from oncue.store.records import ExecutionRecord, ExecutionUpdate, NewTask, TaskClaim
from oncue.store.sql import Tx
from oncue.tracing import execution_trace
from oncue.types import Json

__all__ = ["Completion", "Machines", "Outcome", "Transitioner"]

log = logging.getLogger("oncue.engine")

#: Cached execution states (by ARN), saving a snapshot load on every transition.
STATE_CACHE_SIZE = 20_000


@dataclass(frozen=True, slots=True)
class Completion:
    """A task result reported by the worker that ran it."""

    execution_arn: str
    task_id: str
    event: Event


@dataclass(slots=True)
class Outcome:
    #: Tasks leased to the calling worker: run them now.
    run: list[TaskClaim] = field(default_factory=list)
    #: Tasks created with no lease, for other workers or activity pollers.
    unclaimed: int = 0
    activities: set[str] = field(default_factory=set)
    finished: list[str] = field(default_factory=list)
    transitions: int = 0
    messages: int = 0
    #: Events written to the outbox (an execution's putEvents): the bus relays them.
    outbox: int = 0


class Machines:
    """Parsed definitions by revision id (definitions are immutable, so cache forever)."""

    def __init__(self) -> None:
        self._interpreters: dict[str, Interpreter] = {}

    def get(self, tx: Tx, revision_id: str) -> Interpreter:
        interpreter = self._interpreters.get(revision_id)
        if interpreter is None:
            text = tx.get_definition(revision_id)
            if text is None:
                raise StoreError(f"the definition revision {revision_id} is missing")
            interpreter = Interpreter(parse_definition(text))
            self._interpreters[revision_id] = interpreter
        return interpreter


class Transitioner:
    def __init__(
        self,
        *,
        handlers: Mapping[str, Handler],
        owner: str | None = None,
        lease_seconds: float = 30.0,
        strict: bool = True,
        machines: Machines | None = None,
        served: frozenset[str] | None = None,
    ) -> None:
        self.handlers = handlers
        #: The state machines (ARNs) whose executions this worker advances and whose tasks
        #: it runs (None: all). Executions of others advance here only through an API call
        #: (:meth:`advance` with ``only``); their tasks are left for their own workers.
        self.served = served
        self.served_arns = None if served is None else sorted(served)
        #: The worker that runs tasks it schedules (None: leave every task for claiming).
        self.owner = owner
        #: False while the worker shuts down: its tasks are left for other workers to claim.
        self.leasing = True
        self.lease_seconds = lease_seconds
        #: Fail a task at once when no handler here can serve it (one-process apps).
        self.strict = strict
        self.machines = machines or Machines()
        self._states: OrderedDict[str, tuple[int, ExecutionState]] = OrderedDict()

    # --- entry points ------------------------------------------------------------------

    def complete(self, tx: Tx, completions: Sequence[Completion]) -> set[tuple[str, str]]:
        """Record task results, each only if this worker still holds the task's lease;
        the (execution ARN, task id) of those recorded."""
        if not completions:
            return set()
        kept = tx.finish_tasks([(c.execution_arn, c.task_id) for c in completions], self.owner)
        tx.add_messages(
            (c.execution_arn, encode_event(c.event))
            for c, ok in zip(completions, kept, strict=True)
            if ok
        )
        return {(c.execution_arn, c.task_id) for c, ok in zip(completions, kept, strict=True) if ok}

    def advance(
        self, tx: Tx, now: datetime, *, only: Sequence[str] | None = None, limit: int = 500
    ) -> Outcome:
        """Apply pending messages (all, or those of ``only``) and due timers."""
        try:
            return self._advance(tx, now, only, limit)
        except BaseException:
            # The transaction rolls back: cached states may hold changes that never happened.
            self._states.clear()
            raise

    def forget(self) -> None:
        self._states.clear()

    def serves(self, state_machine_arn: str) -> bool:
        return self.served is None or state_machine_arn in self.served

    # --- the batch -----------------------------------------------------------------------

    def _advance(self, tx: Tx, now: datetime, only: Sequence[str] | None, limit: int) -> Outcome:
        out = Outcome()
        stamp = now.timestamp()
        if only is None:
            due = tx.due_timers(stamp, limit, self.served_arns)
            if due:
                tx.add_messages((arn, encode_event(TimerFired(timer_id=t))) for arn, t in due)
                tx.delete_timers(due)
        # New messages (a child's first Start, a finished child's result) may arrive while a
        # batch runs; take them in rounds, bounded, so one transaction stays short.
        for _ in range(4):
            messages = (
                tx.take_messages(limit, self.served_arns) if only is None else tx.messages_for(only)
            )
            if not messages:
                break
            out.messages += len(messages)
            grouped: dict[str, list[str]] = {}
            for message in messages:
                grouped.setdefault(message.execution_arn, []).append(message.body)
            tx.delete_messages(m.id for m in messages)
            records = tx.get_executions(list(grouped))
            for arn, bodies in grouped.items():
                record = records.get(arn)
                if record is not None:
                    self._isolated(tx, now, record, bodies, out)
            if only is not None:
                break
        return out

    def _isolated(
        self, tx: Tx, now: datetime, record: ExecutionRecord, bodies: list[str], out: Outcome
    ) -> None:
        """One execution's transition, in a savepoint: a defect that makes it raise fails
        that execution (States.Runtime, with the reason) instead of every batch after it."""
        try:
            with tx.savepoint():
                self._execution(tx, now, record, [decode_event(b) for b in bodies], out)
        except tx.driver_errors:
            raise  # the database itself is in trouble: the whole batch must roll back
        except Exception as error:
            log.exception("execution %s failed inside the engine", record.arn)
            self._states.pop(record.arn, None)
            self._fail_internally(tx, now, record, f"{type(error).__name__}: {error}")
            out.finished.append(record.arn)

    def _fail_internally(self, tx: Tx, now: datetime, record: ExecutionRecord, reason: str) -> None:
        last = tx.last_history_id(record.arn)
        error, cause = "States.Runtime", f"oncue could not run this execution: {reason}"
        event: dict[str, object] = {
            "timestamp": now.isoformat(),
            "type": "ExecutionFailed",
            "id": last + 1,
            "previousEventId": last,
            "executionFailedEventDetails": {"error": error, "cause": cause},
        }
        tx.fail_execution(record.arn, error, cause, now.timestamp())
        tx.append_history([(record.arn, last + 1, last + 1, dumps([event]))])
        tx.delete_execution_work(record.arn)

    def _load(self, interpreter: Interpreter, record: ExecutionRecord) -> ExecutionState | None:
        cached = self._states.get(record.arn)
        if cached is not None and cached[0] == record.version:
            self._states.move_to_end(record.arn)
            return cached[1]
        if record.state is None:
            return None
        document = loads(record.state)
        if not isinstance(document, dict):
            raise StoreError(f"the stored state of {record.arn} is corrupt")
        return load_state(interpreter.machine, document)

    def _execution(
        self, tx: Tx, now: datetime, record: ExecutionRecord, events: list[Event], out: Outcome
    ) -> None:
        interpreter = self.machines.get(tx, record.revision_id)
        state = self._load(interpreter, record)
        queue: deque[Event] = deque(events)
        history: list[dict[str, Any]] = []
        effects = _Effects(self, tx, now, record, out)
        while queue:
            event = queue.popleft()
            if state is None:
                if not isinstance(event, Start):
                    continue  # nothing to apply a stray message to before the start
                info = ExecutionInfo.named(
                    record.name,
                    record.state_machine_arn.rsplit(":", 1)[1],
                    region=record.state_machine_arn.split(":")[3],
                    account=record.state_machine_arn.split(":")[4],
                )
                step = interpreter.start(info, event.input, now=now, seed=secrets.randbits(62))
            elif isinstance(event, Start):
                continue  # a duplicate start
            else:
                step = interpreter.step(state, event, now=now)
            state = step.state
            history.extend(step.history)
            for command in step.commands:
                queue.extend(effects.apply(command, state))
        if state is None or not history:
            return
        out.transitions += sum(1 for h in history if str(h["type"]).endswith("StateEntered"))
        finished = state.finished
        update = ExecutionUpdate(
            arn=record.arn,
            expected_version=record.version,
            status=state.status,
            state=dumps(dump_state(state)),
            output=dumps(state.output) if state.status == "SUCCEEDED" else None,
            error=state.error,
            cause=state.cause,
            stop_date=now.timestamp() if finished else None,
            redrive_count=state.info.redrive_count,
            redrive_date=record.redrive_date,
        )
        tx.fence_executions([update])
        tx.append_history([(record.arn, history[0]["id"], history[-1]["id"], dumps(history))])
        self._states[record.arn] = (record.version + 1, state)
        if len(self._states) > STATE_CACHE_SIZE:
            self._states.popitem(last=False)
        if finished:
            tx.delete_execution_work(record.arn)
            out.finished.append(record.arn)
            self._states.pop(record.arn, None)
            if record.parent_arn is not None:
                child = tx.get_execution(record.arn)
                assert child is not None
                result = integrations.child_result(child)
                if result is not None:
                    tx.add_messages([(record.parent_arn, encode_event(result))])


class _Effects:
    """Carries out one execution's commands inside the transaction."""

    def __init__(
        self, owner: Transitioner, tx: Tx, now: datetime, record: ExecutionRecord, out: Outcome
    ) -> None:
        self.t = owner
        self.tx = tx
        self.now = now
        self.record = record
        self.out = out

    def apply(self, command: Command, state: ExecutionState) -> list[Event]:
        arn = self.record.arn
        if isinstance(command, ArmTimer):
            self.tx.add_timers([(arn, command.timer_id, command.due.timestamp())])
        elif isinstance(command, CancelTimer):
            self.tx.delete_timers([(arn, command.timer_id)])
        elif isinstance(command, CancelTask):
            self.tx.cancel_tasks([(arn, command.task_id)])
            child = self.tx.running_child(arn, command.task_id)
            if child is not None:
                # Stopping a parent stops the child it waits on (.sync), as on AWS.
                stop = Stop(error="States.Aborted", cause="The parent execution stopped.")
                self.tx.add_messages([(child, encode_event(stop))])
        elif isinstance(command, RunTask):
            return self._run(command, state)
        return []

    def _run(self, command: RunTask, state: ExecutionState) -> list[Event]:
        arn = self.record.arn
        if command.token is not None:
            self.tx.add_tokens([(command.token, arn, command.task_id)])
        ref = parse_resource(command.resource)
        if ref is not None and integrations.is_internal(ref):
            if ref.service == "events":
                buses = BusTx(self.tx)
                stored, response = integrations.put_events(
                    command,
                    ref,
                    self.now,
                    self.record,
                    lambda bus: buses.get_bus(bus) is not None,
                )
                stamp = self.now.timestamp()
                trace = execution_trace(arn, self.record.trace_header).traceparent()
                self.tx.add_outbox(((eid, arn, entry, stamp) for eid, entry in stored), trace=trace)
                self.out.outbox += len(stored)
                return [response]
            return self._start_child(command, ref.pattern)
        info = state.info
        resolved = resolve_handler(
            command.resource, command.payload, self.t.handlers, info.region, info.account
        )
        activity = ref is not None and ref.kind == "activity"
        if resolved.missing is not None and activity:
            # No handler in this process: the task waits for GetActivityTask.
            self._task(command, "activity", command.resource, None)
            self.out.activities.add(command.resource)
            return []
        served = self.t.serves(self.record.state_machine_arn)
        if resolved.missing is not None and self.t.strict and served:
            # A one-process app knows every handler it has: fail now, as Lambda would.
            missing = resolved.missing
            return [TaskFailed(task_id=command.task_id, error=missing.error, cause=missing.cause)]
        target = resolved.name or command.resource
        # A task of a state machine served elsewhere is left for that machine's workers, and
        # every task while this worker shuts down.
        leased = served and target in self.t.handlers and self.t.owner and self.t.leasing
        owner = self.t.owner if leased else None
        self._task(command, "handler", target, owner)
        return []

    def _task(self, command: RunTask, kind: str, target: str, owner: str | None) -> None:
        until = self.now.timestamp() + self.t.lease_seconds if owner is not None else None
        task = NewTask(
            execution_arn=self.record.arn,
            task_id=command.task_id,
            kind=kind,
            target=target,
            resource=command.resource,
            payload=dumps(command.payload),
            state_name=command.state_name,
            attempt=command.attempt,
            token=command.token,
            owner=owner,
            lease_until=until,
        )
        self.tx.add_tasks([task], self.now.timestamp())
        if owner is not None and until is not None:
            self.out.run.append(
                TaskClaim(
                    execution_arn=task.execution_arn,
                    task_id=task.task_id,
                    kind=kind,
                    target=target,
                    resource=task.resource,
                    payload=task.payload,
                    state_name=task.state_name,
                    attempt=task.attempt,
                    token=task.token,
                    lease_until=until,
                    trace_header=self.record.trace_header,
                )
            )
        else:
            self.out.unclaimed += 1

    def _start_child(self, command: RunTask, pattern: str | None) -> list[Event]:
        request = integrations.child_request(command)
        if isinstance(request, TaskFailed):
            return [request]
        try:
            child = start_in_tx(
                self.tx,
                request.state_machine_arn,
                request.input,
                request.name,
                now=self.now,
                parent=(self.record.arn, command.task_id, pattern or ""),
                # A child joins its parent's trace, the parent execution as its parent span.
                trace_header=execution_trace(
                    self.record.arn, self.record.trace_header
                ).traceparent(),
            )
        except OncueError as error:
            # AWS reports a failed API call of an integration as Service.ExceptionName.
            name = getattr(error, "aws_name", type(error).__name__)
            suffix = "" if name.endswith("Exception") else "Exception"
            failure = TaskFailed(
                task_id=command.task_id, error=f"StepFunctions.{name}{suffix}", cause=str(error)
            )
            return [failure]
        response: Json = {
            "ExecutionArn": child.arn,
            "StartDate": integrations.epoch_millis(child.start_date),
        }
        if pattern is None:
            return [TaskSucceeded(task_id=command.task_id, output=response)]
        return [TaskSubmitted(task_id=command.task_id, output=response)]

"""The Step Functions API over a store: executions, callbacks and activity tasks.

Each operation is one transaction. Operations that change an execution (start, stop,
redrive, SendTask*, GetActivityTask) append the message to its inbox and apply it in the
same transaction, so the caller sees the new state at once and no worker needs to be running
for the transition itself; tasks it schedules wait in the store for a worker. Responses have
the Step Functions JSON shape (camelCase keys, timestamps as epoch seconds).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from oncue.asl.commands import (
    Event,
    Redrive,
    Stop,
    TaskFailed,
    TaskHeartbeat,
    TaskStarted,
    TaskSucceeded,
)
from oncue.asl.jsonutil import loads
from oncue.asl.redrive import redrive_refusal
from oncue.asl.snapshot import load_state
from oncue.engine import definitions
from oncue.engine.clock import Clock, SystemClock
from oncue.engine.codec import encode_event
from oncue.engine.history_pages import history_page
from oncue.engine.naming import (
    decode_page_token,
    encode_page_token,
    parse_arn,
)
from oncue.engine.starting import payload_text, start_in_tx
from oncue.engine.transitions import Outcome, Transitioner
from oncue.errors import (
    ExecutionNotFound,
    ExecutionNotRedrivable,
    InvalidInput,
    InvalidToken,
    TaskDoesNotExist,
    TaskTimedOut,
)
from oncue.store.base import Store
from oncue.store.records import ExecutionRecord
from oncue.store.sql import Tx
from oncue.types import DEFAULT_ACCOUNT, DEFAULT_REGION, Json

__all__ = ["STATUSES", "Control"]

STATUSES = ("RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE")
_TOKEN = re.compile(r"^[0-9a-f]{64}$")
#: Executions can be redriven for 14 days after they stop (AWS "Redriving executions").
REDRIVE_WINDOW_SECONDS = 14 * 24 * 3600


def _describe(record: ExecutionRecord) -> dict[str, Json]:
    response: dict[str, Json] = {
        "executionArn": record.arn,
        "stateMachineArn": record.state_machine_arn,
        "name": record.name,
        "status": record.status,
        "startDate": record.start_date,
        "input": record.input,
        "inputDetails": {"included": True},
        "redriveCount": record.redrive_count,
    }
    if record.version_arn is not None:
        response["stateMachineVersionArn"] = record.version_arn
    if record.stop_date is not None:
        response["stopDate"] = record.stop_date
    if record.status == "SUCCEEDED":
        response["output"] = record.output
        response["outputDetails"] = {"included": True}
    if record.error is not None:
        response["error"] = record.error
    if record.cause is not None:
        response["cause"] = record.cause
    if record.redrive_date is not None:
        response["redriveDate"] = record.redrive_date
    if record.trace_header is not None:
        response["traceHeader"] = record.trace_header
    if record.parent_arn is not None:
        # Not in AWS's response: the link from a child back to the execution that started it.
        response["parentExecutionArn"] = record.parent_arn
    return response


class Control:
    """The API of one store. ``listener`` hears about every transition an operation ran."""

    def __init__(
        self,
        store: Store,
        *,
        transitioner: Transitioner | None = None,
        clock: Clock | None = None,
        region: str = DEFAULT_REGION,
        account: str = DEFAULT_ACCOUNT,
        listener: Callable[[Outcome], None] | None = None,
    ) -> None:
        self.store = store
        self.transitioner = transitioner or Transitioner(handlers={}, strict=False)
        self.clock = clock or SystemClock()
        self.region = region
        self.account = account
        self.listener = listener
        self._local = threading.local()

    @contextmanager
    def _writing(self) -> Iterator[Tx]:
        """A write transaction; the listener hears of its transitions once it committed."""
        outcomes: list[Outcome] = []
        self._local.outcomes = outcomes
        with self.store.transaction() as tx:
            yield tx
        if self.listener is not None:
            for outcome in outcomes:
                self.listener(outcome)

    def _advance(self, tx: Tx, arn: str) -> None:
        outcome = self.transitioner.advance(tx, self.clock.now(), only=[arn])
        outcomes: list[Outcome] | None = getattr(self._local, "outcomes", None)
        if outcomes is not None:
            outcomes.append(outcome)

    # --- state machines and activities -------------------------------------------------

    def create_state_machine(
        self, name: str, definition: str | dict[str, Json], **kw: Any
    ) -> dict[str, Json]:
        with self.store.transaction() as tx:
            return definitions.create_state_machine(
                tx,
                name=name,
                definition=definition,
                now=self.clock.now(),
                region=self.region,
                account=self.account,
                **kw,
            )

    def update_state_machine(self, arn: str, **kw: Any) -> dict[str, Json]:
        with self.store.transaction() as tx:
            return definitions.update_state_machine(tx, arn=arn, now=self.clock.now(), **kw)

    def publish_state_machine_version(self, arn: str, description: str = "") -> dict[str, Json]:
        with self.store.transaction() as tx:
            return definitions.publish_version(
                tx, arn=arn, now=self.clock.now(), description=description
            )

    def describe_state_machine(self, arn: str) -> dict[str, Json]:
        with self.store.read() as tx:
            return definitions.describe_state_machine(tx, arn)

    def list_state_machines(self, **kw: Any) -> dict[str, Json]:
        with self.store.read() as tx:
            return definitions.list_state_machines(tx, **kw)

    def list_state_machine_versions(
        self, arn: str, max_results: int = 100, next_token: str | None = None
    ) -> dict[str, Json]:
        with self.store.read() as tx:
            return definitions.list_state_machine_versions(
                tx, arn, max_results=max_results, next_token=next_token
            )

    def delete_state_machine(self, arn: str) -> dict[str, Json]:
        with self.store.transaction() as tx:
            return definitions.delete_state_machine(tx, arn)

    def create_activity(self, name: str) -> dict[str, Json]:
        with self.store.transaction() as tx:
            return definitions.create_activity(
                tx, name=name, now=self.clock.now(), region=self.region, account=self.account
            )

    def describe_activity(self, arn: str) -> dict[str, Json]:
        with self.store.read() as tx:
            return definitions.describe_activity(tx, arn)

    def list_activities(self, **kw: Any) -> dict[str, Json]:
        with self.store.read() as tx:
            return definitions.list_activities(tx, **kw)

    def delete_activity(self, arn: str) -> dict[str, Json]:
        with self.store.transaction() as tx:
            return definitions.delete_activity(tx, arn)

    # --- executions --------------------------------------------------------------------

    def start_execution(
        self,
        state_machine_arn: str,
        input: str | None = None,
        name: str | None = None,
        trace_header: str | None = None,
    ) -> dict[str, Json]:
        text = payload_text(input, "execution input", text=True)
        with self._writing() as tx:
            record = start_in_tx(
                tx, state_machine_arn, text, name, now=self.clock.now(), trace_header=trace_header
            )
            if record.state is None and record.version == 0:
                self._advance(tx, record.arn)
        return {"executionArn": record.arn, "startDate": record.start_date}

    def _execution(self, tx: Tx, arn: str) -> ExecutionRecord:
        parse_arn(arn, "execution")
        record = tx.get_execution(arn)
        if record is None:
            raise ExecutionNotFound(f"Execution Does Not Exist: '{arn}'")
        return record

    def describe_execution(self, arn: str) -> dict[str, Json]:
        with self.store.read() as tx:
            return _describe(self._execution(tx, arn))

    def describe_state_machine_for_execution(self, arn: str) -> dict[str, Json]:
        with self.store.read() as tx:
            return definitions.describe_state_machine_for_execution(tx, self._execution(tx, arn))

    def list_executions(
        self,
        state_machine_arn: str | None = None,
        status_filter: str | None = None,
        max_results: int = 100,
        next_token: str | None = None,
        started_after: float | None = None,
        started_before: float | None = None,
    ) -> dict[str, Json]:
        if status_filter is not None and status_filter not in STATUSES:
            raise InvalidInput(
                f"Invalid statusFilter {status_filter!r}: expected one of {', '.join(STATUSES)}"
            )
        limit = max(1, min(max_results or 100, 1000))
        before = decode_page_token(next_token) if next_token else None
        cursor = (float(before[0]), str(before[1])) if isinstance(before, list) else None
        with self.store.read() as tx:
            machine_arn = version_arn = None
            if state_machine_arn is not None:
                # A version ARN lists that version's executions only (AWS ListExecutions).
                machine_arn, _, version_arn = definitions.resolve_definition(tx, state_machine_arn)
            rows = tx.list_executions(
                state_machine_arn=machine_arn,
                status=status_filter,
                started_after=started_after,
                started_before=started_before,
                before=cursor,
                limit=limit + 1,
                version_arn=version_arn,
            )
        page = rows[:limit]
        response: dict[str, Json] = {
            "executions": [
                {
                    "executionArn": r.arn,
                    "stateMachineArn": r.state_machine_arn,
                    "name": r.name,
                    "status": r.status,
                    "startDate": r.start_date,
                    **({"stopDate": r.stop_date} if r.stop_date is not None else {}),
                    "redriveCount": r.redrive_count,
                }
                for r in page
            ]
        }
        if len(rows) > limit:
            response["nextToken"] = encode_page_token([page[-1].start_date, page[-1].arn])
        return response

    def get_execution_history(
        self,
        arn: str,
        max_results: int = 100,
        next_token: str | None = None,
        reverse_order: bool = False,
        include_execution_data: bool = True,
    ) -> dict[str, Json]:
        with self.store.read() as tx:
            self._execution(tx, arn)
            return history_page(
                tx,
                arn,
                max_results=max_results,
                next_token=next_token,
                reverse_order=reverse_order,
                include_execution_data=include_execution_data,
            )

    def stop_execution(
        self, arn: str, error: str | None = None, cause: str | None = None
    ) -> dict[str, Json]:
        with self._writing() as tx:
            record = self._execution(tx, arn)
            if record.status == "RUNNING":
                tx.add_messages([(arn, encode_event(Stop(error=error, cause=cause)))])
                self._advance(tx, arn)
                record = self._execution(tx, arn)
        return {"stopDate": record.stop_date or self.clock.now().timestamp()}

    def redrive_execution(self, arn: str) -> dict[str, Json]:
        now = self.clock.now()
        with self._writing() as tx:
            record = self._execution(tx, arn)
            reason = None
            if record.status not in ("FAILED", "TIMED_OUT", "ABORTED"):
                reason = f"the execution is {record.status}"
            elif record.stop_date is not None and now.timestamp() - record.stop_date > (
                REDRIVE_WINDOW_SECONDS
            ):
                reason = "the execution stopped more than 14 days ago"
            elif record.parent_arn is not None and record.parent_pattern in (".sync", ".sync:2"):
                reason = "it is a child execution started with .sync; redrive its parent"
            else:
                full = tx.get_execution(arn, with_state=True)
                assert full is not None and full.state is not None
                machine = self.transitioner.machines.get(tx, record.revision_id).machine
                state = load_state(machine, _object(loads(full.state)))
                reason = redrive_refusal(state)
            if reason is not None:
                raise ExecutionNotRedrivable(
                    f"Execution Not Redrivable: '{arn}' cannot be redriven: {reason}"
                )
            tx.set_redrive_date(arn, now.timestamp())
            tx.add_messages([(arn, encode_event(Redrive()))])
            self._advance(tx, arn)
        return {"redriveDate": now.timestamp()}

    # --- callbacks ---------------------------------------------------------------------

    def callback(self, token: str, event_for: Callable[[str], Event], *, closes: bool) -> None:
        """Apply a SendTask* call: the event the token's task receives."""
        with self._writing() as tx:
            arn = self.callback_in_tx(tx, token, event_for, closes=closes)
            self._advance(tx, arn)

    @staticmethod
    def callback_in_tx(
        tx: Tx, token: str, event_for: Callable[[str], Event], *, closes: bool
    ) -> str:
        """Queue a callback's event for the token's task; the execution's ARN."""
        if not isinstance(token, str) or not _TOKEN.match(token):
            raise InvalidToken("Invalid Token: 'Invalid token'")
        found = tx.get_token(token)
        if found is None:
            raise TaskDoesNotExist("Task Does Not Exist: no task has this token")
        if not found.open:
            raise TaskTimedOut("Task Timed Out: 'Provided task does not exist anymore'")
        arn = found.execution_arn
        tx.add_messages([(arn, encode_event(event_for(found.task_id)))])
        if closes:
            tx.close_tokens([(arn, found.task_id)])
            tx.finish_tasks([(arn, found.task_id)], None)
        return arn

    def send_task_success(self, token: str, output: Json | str) -> dict[str, Json]:
        text = payload_text(output, "output", text=isinstance(output, str))
        value = loads(text)
        self.callback(token, lambda task: TaskSucceeded(task_id=task, output=value), closes=True)
        return {}

    def send_task_failure(
        self, token: str, error: str | None = None, cause: str | None = None
    ) -> dict[str, Json]:
        self.callback(
            token, lambda task: TaskFailed(task_id=task, error=error, cause=cause), closes=True
        )
        return {}

    def send_task_heartbeat(self, token: str) -> dict[str, Json]:
        self.callback(token, lambda task: TaskHeartbeat(task_id=task), closes=False)
        return {}

    def get_activity_task(
        self, activity_arn: str, worker_name: str | None = None
    ) -> dict[str, Json]:
        """One attempt (no waiting): the oldest unclaimed task of the activity, or ``{}``."""
        with self._writing() as tx:
            definitions.require_activity(tx, activity_arn)
            claim = tx.claim_activity_task(activity_arn, worker_name or "activity-worker")
            if claim is None:
                return {}
            event = TaskStarted(task_id=claim.task_id, worker_name=worker_name)
            tx.add_messages([(claim.execution_arn, encode_event(event))])
            self._advance(tx, claim.execution_arn)
        return {"taskToken": claim.token, "input": claim.payload}

    def wait_activity_task(
        self,
        activity_arn: str,
        worker_name: str | None = None,
        *,
        wait_seconds: float,
        poll_seconds: float = 0.25,
    ) -> dict[str, Json]:
        """GetActivityTask's long poll, blocking: the oldest unclaimed task of the activity
        once there is one, or ``{}`` after ``wait_seconds``. On PostgreSQL a task another
        process schedules wakes it at once (LISTEN/NOTIFY); it also asks again every
        ``poll_seconds``, which is all SQLite can do."""
        woken = threading.Event()
        unwatch = self.store.watch("activity", woken.set)
        try:
            deadline = time.monotonic() + wait_seconds
            while True:
                woken.clear()
                response = self.get_activity_task(activity_arn, worker_name)
                remaining = deadline - time.monotonic()
                if response or remaining <= 0:
                    return response
                woken.wait(min(remaining, poll_seconds))
        finally:
            unwatch()

    # --- retention ---------------------------------------------------------------------

    def finished_before(self, older_than_seconds: float, limit: int = 1000) -> list[str]:
        """Executions that finished longer ago than given, oldest first (for retention)."""
        cutoff = self.clock.now().timestamp() - older_than_seconds
        with self.store.read() as tx:
            return tx.finished_before(cutoff, limit)

    def delete_executions(self, arns: list[str]) -> int:
        """Delete finished executions with their history; running ones are left alone."""
        with self.store.transaction() as tx:
            return tx.delete_executions(arns)

    def delete_finished_executions(self, older_than_seconds: float, batch: int = 1000) -> int:
        """Retention: delete executions (and history) that finished longer ago than given."""
        total = 0
        while True:
            arns = self.finished_before(older_than_seconds, batch)
            total += self.delete_executions(arns)
            if len(arns) < batch:
                return total


def _object(value: Json) -> dict[str, Json]:
    assert isinstance(value, dict)
    return value

"""Service integrations the engine carries out itself, inside the transition's transaction.

* ``arn:aws:states:::states:startExecution`` (plain, ``.sync``, ``.sync:2``,
  ``.waitForTaskToken``): start a child execution. The child row records its parent task, so
  the child's last transition posts the result to the parent in the same transaction
  (AWS "Start a new AWS Step Functions state machine execution").
* ``arn:aws:states:::events:putEvents`` (plain, ``.waitForTaskToken``): the entries go to
  the outbox in the same transaction as the transition that published them, so an event exists
  if and only if its transition committed (the transactional outbox). They are validated as
  PutEvents validates them (:mod:`oncue.patterns.entries`), and as in *Add EventBridge events
  with Step Functions*: "The execution ARN and the state machine ARN are automatically appended
  to the Resources field of each PutEventsRequestEntry", and "If the response from PutEvents
  contains a non-zero FailedEntryCount then the Task state fails with the error
  EventBridge.FailedEntry" (the good entries are still published, as PutEvents publishes them).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from oncue.asl.commands import Event, RunTask, TaskFailed, TaskSubmitted, TaskSucceeded
from oncue.asl.jsonutil import dumps, loads
from oncue.asl.resources import ResourceRef
from oncue.errors import ValidationException
from oncue.patterns.entries import EntryError, bus_of, validate_entries
from oncue.store.records import ExecutionRecord
from oncue.types import Json

__all__ = [
    "MAX_PUT_EVENTS_ENTRIES",
    "ChildRequest",
    "child_request",
    "child_result",
    "describe_child",
    "epoch_millis",
    "is_internal",
    "put_events",
]

#: PutEvents accepts at most 10 entries per call (EventBridge quotas).
MAX_PUT_EVENTS_ENTRIES = 10


def is_internal(ref: ResourceRef) -> bool:
    action = (ref.action or "").split(".")[0]
    return ref.kind == "service" and (
        (ref.service == "states" and action == "startExecution")
        or (ref.service == "events" and action == "putEvents")
    )


def epoch_millis(moment: float) -> int:
    return round(moment * 1000)


@dataclass(frozen=True, slots=True, kw_only=True)
class ChildRequest:
    state_machine_arn: str
    input: str
    name: str


def child_request(command: RunTask) -> ChildRequest | TaskFailed:
    """The StartExecution parameters of a Task, or the task's failure when they are wrong."""
    params = command.payload if isinstance(command.payload, dict) else {}
    arn = params.get("StateMachineArn")
    if not isinstance(arn, str):
        return TaskFailed(
            task_id=command.task_id,
            error="StepFunctions.InvalidArnException",
            cause="The states:startExecution parameters must include a StateMachineArn string.",
        )
    raw_input = params.get("Input", {})
    text = raw_input if isinstance(raw_input, str) else dumps(raw_input)
    name = params.get("Name")
    return ChildRequest(
        state_machine_arn=arn,
        input=text,
        name=name if isinstance(name, str) and name else str(uuid.uuid4()),
    )


def describe_child(record: ExecutionRecord, *, parsed_output: bool) -> dict[str, Json]:
    """DescribeExecution of a child, as ``.sync`` (Output as text) or ``.sync:2`` (JSON)."""
    document: dict[str, Json] = {
        "ExecutionArn": record.arn,
        "Input": loads(record.input) if parsed_output else record.input,
        "InputDetails": {"Included": True},
        "Name": record.name,
        "StartDate": epoch_millis(record.start_date),
        "StateMachineArn": record.state_machine_arn,
        "Status": record.status,
    }
    if record.stop_date is not None:
        document["StopDate"] = epoch_millis(record.stop_date)
    if record.status == "SUCCEEDED":
        output = record.output or "null"
        document["Output"] = loads(output) if parsed_output else output
        document["OutputDetails"] = {"Included": True}
    else:
        if record.error is not None:
            document["Error"] = record.error
        if record.cause is not None:
            document["Cause"] = record.cause
    return document


def child_result(child: ExecutionRecord) -> Event | None:
    """What a finished child reports to its parent task (None: the parent waits on a token)."""
    pattern = child.parent_pattern
    task_id = child.parent_task
    if task_id is None or pattern not in (".sync", ".sync:2"):
        return None
    described = describe_child(child, parsed_output=pattern == ".sync:2")
    if child.status == "SUCCEEDED":
        return TaskSucceeded(task_id=task_id, output=described)
    return TaskFailed(task_id=task_id, error="States.TaskFailed", cause=dumps(described))


def put_events(
    command: RunTask,
    ref: ResourceRef,
    now: datetime,
    execution: ExecutionRecord,
    bus_exists: Callable[[str], bool],
) -> tuple[list[tuple[str, str]], Event]:
    """The (event id, entry JSON) pairs to store, and the task's response event."""
    params = command.payload if isinstance(command.payload, dict) else {}
    entries = params.get("Entries")
    documents: list[Json] = []
    for given in entries if isinstance(entries, list) else ():
        entry = given
        if isinstance(given, dict):
            entry = dict(given)
            detail = entry.get("Detail")
            if detail is not None and not isinstance(detail, str):
                # The optimized integration takes Detail as JSON and serialises it itself.
                entry["Detail"] = dumps(detail)
            resources = entry.get("Resources")
            if resources is None or isinstance(resources, list):
                entry["Resources"] = [
                    *(resources or []),
                    execution.arn,
                    execution.state_machine_arn,
                ]
            entry.setdefault("Time", now.isoformat())
        documents.append(entry)
    try:
        checked = validate_entries(documents if isinstance(entries, list) else entries)
    except ValidationException as invalid:
        return [], TaskFailed(
            task_id=command.task_id, error="EventBridge.ValidationException", cause=str(invalid)
        )
    stored: list[tuple[str, str]] = []
    results: list[Json] = []
    failed = 0
    for result, document in zip(checked, documents, strict=True):
        error: EntryError | None = result.error
        if result.entry is not None and not bus_exists(bus_of(result.entry)):
            error = EntryError(
                code="ResourceNotFoundException",
                message=f"Event bus {bus_of(result.entry)} does not exist.",
            )
        if error is not None:
            failed += 1
            results.append(error.to_result())
            continue
        event_id = str(uuid.uuid4())
        stored.append((event_id, dumps(document)))
        results.append({"EventId": event_id})
    response: dict[str, Json] = {"Entries": results, "FailedEntryCount": failed}
    if failed:
        failure = TaskFailed(
            task_id=command.task_id, error="EventBridge.FailedEntry", cause=dumps(response)
        )
        return stored, failure
    if ref.pattern == ".waitForTaskToken":
        return stored, TaskSubmitted(task_id=command.task_id, output=response)
    return stored, TaskSucceeded(task_id=command.task_id, output=response)

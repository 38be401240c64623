"""Creating an execution in a transaction, and checking the JSON payloads the API accepts.

Shared by the API (:class:`~oncue.engine.control.Control`), the worker (StartExecution
requests batched into its cycle), the transitions (child executions) and the event bus (rule
targets that start executions).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from oncue.asl.commands import Start
from oncue.asl.jsonutil import dumps, loads
from oncue.engine import definitions
from oncue.engine.codec import encode_event
from oncue.engine.naming import arn_prefix, check_name, parse_arn
from oncue.errors import ExecutionAlreadyExists, InvalidInput
from oncue.store.records import ExecutionRecord
from oncue.store.sql import Tx
from oncue.types import MAX_PAYLOAD_BYTES, Json

__all__ = ["payload_text", "start_in_tx"]


def payload_text(value: Json | str | None, what: str, *, text: bool) -> str:
    """Validate an input/output: JSON text (``text``) or a JSON value, at most 256 KiB."""
    if text:
        if value is None:
            value = "{}"
        if not isinstance(value, str):
            raise InvalidInput(f"Invalid {what}: expected JSON text")
        try:
            loads(value)
        except ValueError as error:
            raise InvalidInput(f"Invalid {what}: the {what} is not valid JSON ({error})") from None
        result = value
    else:
        result = dumps({} if value is None else value)
    if len(result.encode()) > MAX_PAYLOAD_BYTES:
        raise InvalidInput(
            f"Invalid {what}: the {what} is larger than the {MAX_PAYLOAD_BYTES // 1024} KiB limit"
        )
    return result


def start_in_tx(
    tx: Tx,
    state_machine_arn: str,
    input_text: str,
    name: str | None,
    *,
    now: datetime,
    parent: tuple[str, str, str] | None = None,
    trace_header: str | None = None,
) -> ExecutionRecord:
    """Create an execution and queue its start; AWS's name idempotency applies."""
    payload_text(input_text, "execution input", text=True)
    machine_arn, revision, version_arn = definitions.resolve_definition(tx, state_machine_arn)
    name = check_name(name, "execution") if name is not None else str(uuid.uuid4())
    region, account, parts = parse_arn(machine_arn, "stateMachine")
    arn = f"{arn_prefix(region, account)}:execution:{parts[0]}:{name}"
    existing = tx.get_execution(arn)
    if existing is not None:
        # StartExecution is idempotent while the same-named execution runs with the same input.
        if existing.status == "RUNNING" and existing.input == input_text:
            return existing
        raise ExecutionAlreadyExists(f"Execution Already Exists: '{arn}'")
    record = ExecutionRecord(
        arn=arn,
        name=name,
        state_machine_arn=machine_arn,
        revision_id=revision,
        version_arn=version_arn,
        status="RUNNING",
        input=input_text,
        start_date=now.timestamp(),
        parent_arn=parent[0] if parent else None,
        parent_task=parent[1] if parent else None,
        parent_pattern=parent[2] if parent else None,
        trace_header=trace_header,
    )
    tx.insert_execution(record)
    tx.add_messages([(arn, encode_event(Start(input=loads(input_text))))])
    return record

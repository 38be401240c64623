"""Dead letters: deliveries that ran out of retries (or could never succeed), kept to inspect
and redrive.

*Using dead-letter queues to process undelivered events*: an event whose delivery fails after
all retries, or fails with an error that retrying cannot fix ("missing permissions to a target,
or a target resource that no longer exists" are not retried), is dropped, or sent to the
target's dead-letter queue with the attributes RULE_ARN, TARGET_ARN, ERROR_CODE, ERROR_MESSAGE,
EXHAUSTED_RETRY_CONDITION and RETRY_ATTEMPTS (the retries made: 0 for an error that is not
retried, the policy's ``MaximumRetryAttempts`` when that ran out). oncue never drops it: it
keeps every such
delivery in its dead-letter table, with the event, the last error and the number of attempts,
and when the target has a ``DeadLetterConfig`` naming an internal queue it also sends the event
there with those attributes, as EventBridge does. A redrive puts the delivery back, due at once,
with its attempts counted from zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from oncue.asl.jsonutil import loads
from oncue.bus.naming import check_limit, decode_page_token, encode_page_token, resolve_bus
from oncue.bus.queues import send_in_tx
from oncue.bus.retry import dead_letter_attributes
from oncue.bus.router import Router
from oncue.bus.targets import Target, classify_arn
from oncue.errors import ValidationException
from oncue.store.bus_sql import BusTx, DeadLetterRecord, NewDelivery
from oncue.store.trace_sql import TraceTx
from oncue.types import Json

__all__ = ["DeadLetter", "dead_letter", "list_dead_letters", "redrive"]


@dataclass(frozen=True, slots=True, kw_only=True)
class DeadLetter:
    """Why one delivery ends in the dead letters."""

    code: str
    message: str
    #: Failed deliveries, the first one included.
    attempts: int
    #: The RetryPolicy limit that ran out; None for an error that is not retried.
    exhausted: str | None


def retries(attempts: int) -> int:
    """The retries made after ``attempts`` failed deliveries: what EventBridge reports as
    RETRY_ATTEMPTS (0 for an error that is not retried, ``MaximumRetryAttempts`` when that
    ran out), not the number of deliveries."""
    return max(attempts - 1, 0)


def dead_letter(
    btx: BusTx,
    *,
    event_id: str,
    envelope: str,
    ingested: float,
    target: Target,
    rule_arn: str,
    why: DeadLetter,
    now: datetime,
) -> None:
    """Record the dead letter (and send it to the target's dead-letter queue, if any)."""
    btx.insert_dead_letter(
        DeadLetterRecord(
            id=0,
            event_id=event_id,
            bus=target.bus,
            rule=target.rule,
            target_id=target.id,
            target_arn=target.arn,
            envelope=envelope,
            ingested=ingested,
            error_code=why.code,
            error_message=why.message,
            exhausted=why.exhausted,
            attempts=why.attempts,
            created=now.timestamp(),
        )
    )
    if target.dead_letter is None:
        return
    queue = classify_arn(target.dead_letter.arn)
    if queue is not None and queue[0] == "queue":
        attributes = dead_letter_attributes(
            rule_arn=rule_arn,
            target_arn=target.arn,
            error_code=why.code,
            error_message=why.message,
            retry_attempts=retries(why.attempts),
            exhausted_condition=why.exhausted,
        )
        send_in_tx(btx, queue[1], envelope, attributes, now)


def _document(record: DeadLetterRecord, router: Router) -> dict[str, Json]:
    document: dict[str, Json] = {
        "Id": record.id,
        "EventId": record.event_id,
        "EventBusName": record.bus,
        "RuleName": record.rule,
        "RuleArn": router.rule_arn(record.bus, record.rule),
        "TargetId": record.target_id,
        "TargetArn": record.target_arn,
        "Event": loads(record.envelope),
        "ErrorCode": record.error_code,
        "ErrorMessage": record.error_message,
        "RetryAttempts": retries(record.attempts),
        "Time": record.created,
    }
    if record.exhausted is not None:
        document["ExhaustedRetryCondition"] = record.exhausted
    return document


def list_dead_letters(
    btx: BusTx,
    router: Router,
    *,
    bus: str | None = None,
    next_token: str | None = None,
    limit: int | None = None,
) -> dict[str, Json]:
    """The dead letters (of one bus, or of all), oldest first."""
    count = check_limit(limit)
    after = 0
    if next_token is not None:
        position = decode_page_token(next_token)
        if not isinstance(position, int):
            raise ValidationException("The NextToken is not valid.")
        after = position
    name = None if bus is None else resolve_bus(bus)
    rows = btx.list_dead_letters(name, after, count + 1)
    response: dict[str, Json] = {"DeadLetters": [_document(r, router) for r in rows[:count]]}
    if len(rows) > count:
        response["NextToken"] = encode_page_token(rows[count - 1].id)
    return response


def redrive(btx: BusTx, router: Router, ids: Sequence[int], now: datetime) -> dict[str, Json]:
    """Queue the dead letters' deliveries again; per-id failures as in ``FailedEntries``."""
    if not isinstance(ids, list | tuple) or not ids:
        raise ValidationException("Ids must be a non-empty array of dead letter ids.")
    failed: list[Json] = []
    redriven = 0
    moment = now.timestamp()
    for dead_letter_id in ids:
        record = btx.get_dead_letter(dead_letter_id) if isinstance(dead_letter_id, int) else None
        if record is None:
            failed.append(
                {
                    "Id": dead_letter_id,
                    "ErrorCode": "ResourceNotFoundException",
                    "ErrorMessage": f"Dead letter {dead_letter_id} does not exist.",
                }
            )
            continue
        rules = router.rules(btx, record.bus)
        target = rules.target(record.rule, record.target_id) if rules is not None else None
        if target is None:
            failed.append(
                {
                    "Id": dead_letter_id,
                    "ErrorCode": "ResourceNotFoundException",
                    "ErrorMessage": f"Target {record.target_id} of rule {record.rule} on event "
                    f"bus {record.bus} does not exist any more.",
                }
            )
            continue
        key = (record.event_id, record.rule, record.target_id)
        if not btx.has_delivery(key):
            # The redriven delivery stays in the event's trace.
            trace_id = TraceTx(btx.tx).trace_of_event(record.event_id)
            btx.ensure_event(
                record.event_id, record.bus, record.envelope, record.ingested, trace_id
            )
            btx.insert_deliveries(
                [
                    NewDelivery(
                        event_id=record.event_id,
                        rule=record.rule,
                        target_id=record.target_id,
                        bus=record.bus,
                        kind=target.kind,
                        target=target.name if target.kind == "handler" else target.arn,
                        due=moment,
                    )
                ]
            )
        btx.delete_dead_letter(record.id)
        redriven += 1
    return {"RedrivenCount": redriven, "FailedEntryCount": len(failed), "FailedEntries": failed}

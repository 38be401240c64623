"""One delivery in a dispatcher's hands: render the target's input, deliver to an inline
target, and settle a failure (retry later, or dead-letter).

Inline targets are carried out in the dispatcher's transaction, each in a savepoint, so the
delivery row is deleted in the same commit as its effect (exactly once):

- a state machine: StartExecution through the injected ``start_execution`` with the rendered
  input, named after the delivery (:func:`execution_name`) so that starting it again cannot
  make a second execution; ``ExecutionAlreadyExists`` is therefore success;
- an event bus: the event is published on that bus (same source, detail-type, detail, time and
  resources, under a new id derived from the delivery);
- an internal queue: the rendered input becomes a message.

Errors follow *Using dead-letter queues to process undelivered events*: a target that does not
exist (``NO_RESOURCE``) or a request it refuses (``INVALID_PARAMETER``, ``INVALID_JSON``) is not
retried, other failures are retried with exponential back-off and jitter until the target's
RetryPolicy runs out (*How EventBridge retries delivering events*), then dead-lettered.

Every outcome (delivered, retry, dead) is recorded in the trace in the same transaction
(:func:`record_attempt`); what a delivery starts or publishes carries its trace context, with
the delivery as the parent span (:mod:`oncue.tracing`).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Literal, Protocol

from oncue.bus.deadletters import DeadLetter, dead_letter
from oncue.bus.handlers import Failure
from oncue.bus.queues import send_in_tx
from oncue.bus.retry import RetryPolicy
from oncue.bus.router import Router, entry_from_event
from oncue.bus.targets import Target
from oncue.bus.transform import render_input
from oncue.errors import ExecutionAlreadyExists, InvalidInput, NotFound, OncueError
from oncue.patterns.entries import EntryError, validate_entry
from oncue.store.bus_sql import BusTx, DeliveryKey
from oncue.store.sql import Tx
from oncue.store.trace_sql import TracedAttempt, TraceTx
from oncue.tracing import TraceContext, delivery_span
from oncue.types import Json

__all__ = [
    "Settled",
    "StartExecution",
    "Work",
    "attempt_row",
    "deliver_inline",
    "derived_id",
    "execution_name",
    "record_attempt",
    "render",
    "settle",
]

log = logging.getLogger("oncue.bus")

#: What became of a failed delivery.
Settled = Literal["retry", "dead", "lost"]


class StartExecution(Protocol):
    """StartExecution in the dispatcher's transaction; the execution ARN, or OncueError.
    ``trace_header`` is the delivery's ``traceparent``, for the execution to keep."""

    def __call__(
        self,
        tx: Tx,
        state_machine_arn: str,
        input_text: str,
        name: str | None,
        now: datetime,
        *,
        trace_header: str | None = None,
    ) -> str: ...


@dataclass(slots=True, kw_only=True)
class Work:
    """A delivery this dispatcher holds a lease on."""

    key: DeliveryKey
    bus: str
    #: Failed deliveries so far.
    attempt: int
    event: dict[str, Json]
    envelope: str
    ingested: float
    #: The target as the bus's rules have it now; None when it was removed.
    target: Target | None
    rule_arn: str
    #: The event's trace id ("" for an event stored before tracing).
    trace_id: str = ""
    #: The execution a state machine delivery started (set by :func:`deliver_inline`).
    started: str | None = None

    @property
    def event_id(self) -> str:
        return self.key[0]

    @property
    def trace(self) -> TraceContext | None:
        """The context of what this delivery causes: the delivery is the parent span."""
        if not self.trace_id:
            return None
        return TraceContext(trace_id=self.trace_id, span_id=delivery_span(*self.key))


def derived_id(work: Work) -> str:
    """A stable id for what this delivery creates: equal on every delivery of it."""
    key = f"oncue:{work.event_id}/{work.rule_arn}/{work.key[2]}"
    return str(uuid.uuid5(uuid.NAMESPACE_URL, key))


def execution_name(work: Work) -> str:
    """The name of the execution a state machine target starts (36 characters, allowed by
    StartExecution's name rules)."""
    return derived_id(work)


def render(work: Work, target: Target) -> str | Failure | None:
    """The text the target receives; None when its InputPath selects nothing."""
    try:
        return render_input(
            target.input,
            work.event,
            rule_arn=work.rule_arn,
            rule_name=work.key[1],
            ingestion_time=datetime.fromtimestamp(work.ingested, UTC),
        )
    except InvalidInput as error:
        return Failure(code="INVALID_JSON", message=str(error), retryable=False)


def deliver_inline(
    tx: Tx,
    work: Work,
    target: Target,
    text: str,
    now: datetime,
    *,
    router: Router,
    start_execution: StartExecution | None,
) -> Failure | None:
    """Deliver to a state machine, bus or queue in ``tx`` (in a savepoint: a failure leaves
    nothing behind); the failure, or None."""
    try:
        with tx.savepoint():
            return _deliver(tx, work, target, text, now, router, start_execution)
    except ExecutionAlreadyExists:
        return None  # a delivery again: the execution it started before exists
    except NotFound as error:
        return Failure(code="NO_RESOURCE", message=str(error), retryable=False)
    except ValueError as error:  # InvalidInput, InvalidArn, InvalidName: refused as sent
        return Failure(code="INVALID_PARAMETER", message=str(error), retryable=False)
    except OncueError as error:
        return Failure(code="INTERNAL_ERROR", message=str(error))
    except tx.integrity_errors as error:  # a row the store refuses: this delivery's failure
        return Failure(code="INTERNAL_ERROR", message=f"{type(error).__name__}: {error}")
    except tx.driver_errors:
        # Not this delivery's fault (a lost connection, a locked database): the cycle's
        # transaction fails, rolls back and is tried again, with this delivery still due.
        raise
    except Exception as error:  # the injected starter's bug fails this delivery, not the cycle
        log.exception("delivery to %s failed", target.arn)
        return Failure(code="INTERNAL_ERROR", message=f"{type(error).__name__}: {error}")


def _deliver(
    tx: Tx,
    work: Work,
    target: Target,
    text: str,
    now: datetime,
    router: Router,
    start_execution: StartExecution | None,
) -> Failure | None:
    trace = work.trace
    if target.kind == "state_machine":
        if start_execution is None:
            return Failure(code="NO_RESOURCE", message="no engine runs state machines here")
        work.started = start_execution(
            tx,
            target.name,
            text,
            execution_name(work),
            now,
            trace_header=trace.traceparent() if trace is not None else None,
        )
        return None
    btx = BusTx(tx)
    if target.kind == "queue":
        send_in_tx(btx, target.name, text, None, now)
        return None
    entry = validate_entry(entry_from_event(work.event, target.name), allow_aws_sources=True)
    if isinstance(entry, EntryError):
        return Failure(code="INVALID_PARAMETER", message=entry.message, retryable=False)
    outcome = router.accept(btx, entry, event_id=derived_id(work), ingested=now, trace=trace)
    if isinstance(outcome, EntryError):
        return Failure(code="NO_RESOURCE", message=outcome.message, retryable=False)
    return None


def settle(
    btx: BusTx,
    work: Work,
    target: Target,
    failure: Failure,
    now: datetime,
    *,
    owner: str,
    draw: Callable[[], float],
    backoff: tuple[float, float] | None = None,
) -> Settled:
    """Retry the failed delivery later, or dead-letter it; ``lost`` when the lease was lost
    (the result is not ours to record any more)."""
    policy: RetryPolicy = target.retry
    if backoff is not None:
        policy = replace(policy, base_delay_seconds=backoff[0], max_delay_seconds=backoff[1])
    failed = work.attempt + 1
    moment = now.timestamp()
    exhausted = policy.exhausted(failed, moment - work.ingested) if failure.retryable else None
    if failure.retryable and exhausted is None:
        delay = policy.next_delay(failed, min(draw(), 0.999_999))
        kept = btx.retry_delivery(
            work.key,
            owner,
            attempt=failed,
            due=moment + delay,
            code=failure.code,
            message=failure.message,
        )
        if kept:
            record_attempt(btx.tx, work, target, "retry", now, failure)
        return "retry" if kept else "lost"
    (finished,) = btx.finish_deliveries([work.key], owner)
    if not finished:
        return "lost"
    record_attempt(btx.tx, work, target, "dead", now, failure)
    dead_letter(
        btx,
        event_id=work.event_id,
        envelope=work.envelope,
        ingested=work.ingested,
        target=target,
        rule_arn=work.rule_arn,
        why=DeadLetter(
            code=failure.code,
            message=failure.message,
            attempts=failed,
            exhausted=exhausted,
        ),
        now=now,
    )
    return "dead"


def record_attempt(
    tx: Tx,
    work: Work,
    target: Target,
    outcome: str,
    now: datetime,
    failure: Failure | None = None,
) -> None:
    """Record one attempt's outcome (``delivered``, ``retry``, ``dead``) in the trace."""
    row = attempt_row(work, target, outcome, now, failure)
    if row is not None:
        TraceTx(tx).record_attempts([row])


def attempt_row(
    work: Work,
    target: Target,
    outcome: str,
    now: datetime,
    failure: Failure | None = None,
) -> TracedAttempt | None:
    """The trace record of one attempt; None for an event from before tracing."""
    if not work.trace_id:
        return None
    return TracedAttempt(
        id=0,
        trace_id=work.trace_id,
        event_id=work.event_id,
        rule=work.key[1],
        target_id=work.key[2],
        target_arn=target.arn,
        attempt=work.attempt + 1,
        outcome=outcome,
        error_code=failure.code if failure is not None else None,
        error_message=failure.message if failure is not None else None,
        execution_arn=work.started,
        created=now.timestamp(),
    )

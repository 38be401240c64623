"""Delivering an event to a Python handler, the way EventBridge invokes a Lambda function.

A handler is a plain function, sync or async, taking ``(event)`` or ``(event, context)``; a
target ``arn:aws:lambda:REGION:ACCOUNT:function:NAME`` delivers to the handler registered as
``NAME``. It receives what the target's input settings make of the event (the event itself by
default) as parsed JSON, or as text when an InputTransformer writes plain text.

Delivery is at least once: a handler may see the same event again after a crash or a lost
lease, so :class:`DeliveryContext` carries the event id and an ``idempotency_key`` (the same for
every delivery of one event to one target) to deduplicate on. Returning is success; an exception
is a failed delivery (``ERROR_FROM_TARGET``), retried per the target's RetryPolicy.
"""

from __future__ import annotations

from dataclasses import dataclass

from oncue.asl.jsonutil import loads
from oncue.calling import Handler, call
from oncue.types import Json

__all__ = ["DeliveryContext", "Failure", "Handler", "call_handler", "payload_of"]

#: How much of an exception's text a dead letter keeps.
_MAX_MESSAGE = 2048


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryContext:
    """What a handler may want to know about the delivery it serves."""

    event_id: str
    event_bus_name: str
    rule_name: str
    rule_arn: str
    target_id: str
    target_arn: str
    #: 1 for the first delivery, 2 after one failed delivery...; a redelivery after a crash
    #: repeats the number.
    attempt: int
    #: ``EVENT_ID/RULE_ARN/TARGET_ID``: equal for every delivery of this event to this target.
    idempotency_key: str
    #: The trace the event belongs to (:mod:`oncue.tracing`); PutEvents and StartExecution
    #: made through the app while handling it join the trace by themselves.
    trace_id: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Failure:
    """A failed delivery: the DLQ error code, a message, and whether retrying may help."""

    code: str
    message: str
    retryable: bool = True


def payload_of(text: str) -> Json:
    """The handler's argument for a rendered input: JSON parsed, plain text as it is."""
    try:
        return loads(text)
    except ValueError:
        return text


async def call_handler(
    handler: Handler, payload: Json, context: DeliveryContext, *, offload: bool = True
) -> Failure | None:
    """Call the handler; None when it returned, the failure when it raised. With ``offload`` a
    sync handler runs in a worker thread so that it does not stall the event loop."""
    try:
        await call(handler, payload, context, offload=offload)
    except Exception as exc:  # a handler's failure is a failed delivery, by design
        message = f"{type(exc).__name__}: {exc}"
        return Failure(code="ERROR_FROM_TARGET", message=message[:_MAX_MESSAGE])
    return None

"""Trace context: what ties the events, deliveries and executions of one business transaction.

Choreography has no end-to-end view of its own; oncue keeps one by giving every event a *trace
context* in the shape of W3C Trace Context's ``traceparent`` (``00-TRACEID-SPANID-01``: a
32-hex trace id shared by everything the transaction caused, and the 16-hex id of the span
that caused this one). Each thing that happens is a span whose id is derived from what it is,
so nothing has to store its own span id:

==============  ==============================================  ==========================
span            id derived from                                  parent span
==============  ==============================================  ==========================
event           ``event:EVENT_ID``                               whatever published it
delivery        ``delivery:EVENT_ID/RULE/TARGET_ID``             its event
execution       ``execution:EXECUTION_ARN``                      the delivery that started
                                                                 it, the parent execution,
                                                                 or the handler's delivery
==============  ==============================================  ==========================

A handler runs with its delivery's context in :data:`current` (a context variable, so it
follows ``await`` and ``asyncio.to_thread``): a PutEvents or StartExecution it makes through
the app joins the trace without the handler passing anything. An execution keeps its context
in StartExecution's ``traceHeader``; one started with none (or with a header that names no
trace) has a trace of its own, derived from its ARN. A PutEvents entry's ``TraceHeader`` may
carry a ``traceparent`` or an X-Ray header (``Root=1-8HEX-24HEX;Parent=16HEX``, which maps to
the same 32-hex trace id, as AWS maps X-Ray to W3C) to join an outside trace.

The EventBridge envelope that targets receive is unchanged (AWS events have no trace field):
the trace lives beside the event in the store (:mod:`oncue.store.trace_sql`).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Final

__all__ = [
    "TraceContext",
    "current",
    "current_trace",
    "delivery_span",
    "event_span",
    "execution_span",
    "execution_trace",
    "new_trace_id",
    "parse_trace_header",
    "using",
]

_TRACEPARENT: Final = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}")
_XRAY_ROOT: Final = re.compile(r"Root=1-([0-9a-f]{8})-([0-9a-f]{24})")
_XRAY_PARENT: Final = re.compile(r"Parent=([0-9a-f]{16})")
_ZERO_TRACE: Final = "0" * 32


@dataclass(frozen=True, slots=True, kw_only=True)
class TraceContext:
    """A trace id and the span that is the parent of what happens next."""

    trace_id: str
    span_id: str | None = None

    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.span_id or '0' * 16}-01"

    def child(self, span_id: str) -> TraceContext:
        return TraceContext(trace_id=self.trace_id, span_id=span_id)


#: The context of the delivery (or task) the running handler serves; None outside handlers.
current: ContextVar[TraceContext | None] = ContextVar("oncue_trace", default=None)


def current_trace() -> TraceContext | None:
    return current.get()


@contextmanager
def using(trace: TraceContext | None) -> Iterator[None]:
    """Run a block with ``trace`` as the current context."""
    token = current.set(trace)
    try:
        yield
    finally:
        current.reset(token)


def new_trace_id() -> str:
    """A new trace id: 48 bits of milliseconds, then 80 random bits (as UUIDv7 lays them out),
    so the trace tables, keyed by trace id, grow at their end."""
    return f"{time.time_ns() // 1_000_000:012x}{secrets.token_hex(10)}"


def _span(kind: str, ref: str) -> str:
    return hashlib.blake2b(f"{kind}:{ref}".encode(), digest_size=8).hexdigest()


def event_span(event_id: str) -> str:
    return _span("event", event_id)


def delivery_span(event_id: str, rule: str, target_id: str) -> str:
    return _span("delivery", f"{event_id}/{rule}/{target_id}")


def execution_span(execution_arn: str) -> str:
    return _span("execution", execution_arn)


def parse_trace_header(header: str | None) -> TraceContext | None:
    """A ``traceparent`` or an X-Ray trace header as a context; None when it carries none."""
    if not header:
        return None
    text = header.strip().lower()
    match = _TRACEPARENT.fullmatch(text)
    if match is not None:
        if match[1] == _ZERO_TRACE:
            return None  # W3C: an all-zero trace id is invalid
        span = match[2]
        return TraceContext(trace_id=match[1], span_id=None if set(span) == {"0"} else span)
    root = _XRAY_ROOT.search(header)
    if root is None:
        return None
    parent = _XRAY_PARENT.search(header)
    return TraceContext(trace_id=root[1] + root[2], span_id=parent[1] if parent else None)


def execution_trace(execution_arn: str, trace_header: str | None) -> TraceContext:
    """The context of what an execution does (its events, its children): its trace, with the
    execution's own span as the parent."""
    parsed = parse_trace_header(trace_header)
    trace_id = parsed.trace_id if parsed is not None else _derived_trace(execution_arn)
    return TraceContext(trace_id=trace_id, span_id=execution_span(execution_arn))


def _derived_trace(execution_arn: str) -> str:
    """The trace of an execution started outside any trace: stable, so it can be found again
    from the ARN alone."""
    return hashlib.blake2b(f"trace:{execution_arn}".encode(), digest_size=16).hexdigest()

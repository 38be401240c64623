"""The causal tree behind one business transaction: what ``oncue trace ID`` prints.

``ID`` is a trace id (32 hex digits), an event id, or an execution ARN; it names one trace
(:mod:`oncue.tracing`). The tree gathers, from one read transaction:

- the trace's events (``trace_events``), each under the span that published it: the delivery
  whose handler published it, or the execution whose ``events:putEvents`` did;
- each event's deliveries, one per (rule, target), with every attempt's outcome and error
  (``trace_deliveries``), and those still pending (``bus_deliveries``);
- the executions in the trace, each under the delivery (or the handler's delivery, or the
  parent execution) that started it, with their status.

A node whose parent is not in the trace (the first event, an execution started from outside)
is a root. Children are in time order. The result is JSON, the shape ``--json`` prints.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

from oncue.errors import ExecutionNotFound, ResourceNotFoundException
from oncue.store.base import Store
from oncue.store.trace_sql import TracedAttempt, TracedEvent, TracedExecution, TraceTx
from oncue.tracing import (
    delivery_span,
    event_span,
    execution_span,
    execution_trace,
    parse_trace_header,
)
from oncue.types import Json

__all__ = ["trace_tree"]

_TRACE_ID: Final = re.compile(r"[0-9a-f]{32}")
#: A delivery's status from its last attempt.
_STATUS: Final = {"delivered": "DELIVERED", "retry": "RETRYING", "dead": "DEAD_LETTERED"}


@dataclass(slots=True)
class _Node:
    span: str
    parent: str | None
    at: float
    body: dict[str, Json]
    children: list[_Node] = field(default_factory=list)

    def to_json(self) -> dict[str, Json]:
        self.children.sort(key=lambda child: (child.at, child.span))
        return {**self.body, "children": [child.to_json() for child in self.children]}


def trace_tree(store: Store, ident: str) -> dict[str, Json]:
    """The trace that ``ident`` names, as a tree; ResourceNotFoundException (or
    ExecutionNotFound) when it names nothing oncue recorded."""
    with store.read() as tx:
        traces = TraceTx(tx)
        trace_id, root_arn = _resolve(traces, ident.strip())
        events = traces.events(trace_id)
        attempts = traces.attempts(trace_id)
        pending = traces.pending(e.event_id for e in events)
        arns = {e.publisher for e in events if e.publisher}
        arns |= {a.execution_arn for a in attempts if a.execution_arn}
        if root_arn is not None:
            arns.add(root_arn)
        executions = {x.arn: x for x in traces.executions_in(trace_id)}
        executions.update({x.arn: x for x in traces.executions(sorted(arns - set(executions)))})
        frontier = list(executions)
        while frontier:  # children of executions that carry no trace header of their own
            for child in traces.children(frontier.pop()):
                if child.arn not in executions:
                    executions[child.arn] = child
                    frontier.append(child.arn)
    if not events and not executions:
        raise ResourceNotFoundException(f"Trace {trace_id} has no events or executions.")
    nodes = [*_event_nodes(events), *_delivery_nodes(events, attempts, pending)]
    nodes += [_execution_node(x) for x in executions.values()]
    by_span = {node.span: node for node in nodes}
    roots: list[_Node] = []
    for node in nodes:
        parent = by_span.get(node.parent) if node.parent else None
        (parent.children if parent is not None and parent is not node else roots).append(node)
    roots.sort(key=lambda root: (root.at, root.span))
    return {
        "traceId": trace_id,
        "events": len(events),
        "deliveries": sum(1 for n in nodes if n.body["type"] == "delivery"),
        "executions": len(executions),
        "roots": [root.to_json() for root in roots],
    }


def _resolve(traces: TraceTx, ident: str) -> tuple[str, str | None]:
    """The trace id ``ident`` names, and the execution ARN when it is one."""
    if ident.startswith("arn:") and ":execution:" in ident:
        found = traces.executions([ident])
        if not found:
            raise ExecutionNotFound(f"Execution Does Not Exist: '{ident}'")
        return execution_trace(ident, found[0].trace_header).trace_id, ident
    if _TRACE_ID.fullmatch(ident.lower()):
        return ident.lower(), None
    trace_id = traces.trace_of_event(ident)
    if trace_id is None:
        raise ResourceNotFoundException(
            f"No trace, event or execution {ident} is known (an event id, an execution ARN "
            "or a 32-hex trace id)."
        )
    return trace_id, None


def _event_nodes(events: Iterable[TracedEvent]) -> list[_Node]:
    return [
        _Node(
            span=event_span(e.event_id),
            parent=e.parent_span,
            at=e.created,
            body={
                "type": "event",
                "eventId": e.event_id,
                "bus": e.bus,
                "source": e.source,
                "detailType": e.detail_type,
                "time": e.created,
                "publisher": e.publisher,
            },
        )
        for e in events
    ]


def _delivery_nodes(
    events: list[TracedEvent],
    attempts: list[TracedAttempt],
    pending: dict[tuple[str, str, str], tuple[int, float]],
) -> list[_Node]:
    grouped: dict[tuple[str, str, str], list[TracedAttempt]] = {}
    for attempt in attempts:
        grouped.setdefault((attempt.event_id, attempt.rule, attempt.target_id), []).append(attempt)
    created = {e.event_id: e.created for e in events}
    nodes: list[_Node] = []
    for key in sorted(set(grouped) | set(pending)):
        tried = grouped.get(key, [])
        if key in pending and (not tried or tried[-1].outcome == "retry"):
            status = "PENDING" if not tried else "RETRYING"
        else:
            status = _STATUS.get(tried[-1].outcome, tried[-1].outcome.upper())
        body: dict[str, Json] = {
            "type": "delivery",
            "eventId": key[0],
            "rule": key[1],
            "targetId": key[2],
            "targetArn": tried[-1].target_arn if tried else None,
            "status": status,
            "attempts": [
                {
                    "attempt": a.attempt,
                    "outcome": a.outcome,
                    "time": a.created,
                    "errorCode": a.error_code,
                    "errorMessage": a.error_message,
                }
                for a in tried
            ],
        }
        if key in pending:
            body["nextAttemptAt"] = pending[key][1]
        started = next((a.execution_arn for a in tried if a.execution_arn), None)
        if started is not None:
            body["executionArn"] = started
        nodes.append(
            _Node(
                span=delivery_span(*key),
                parent=event_span(key[0]),
                at=tried[0].created if tried else created.get(key[0], 0.0),
                body=body,
            )
        )
    return nodes


def _execution_node(execution: TracedExecution) -> _Node:
    header = parse_trace_header(execution.trace_header)
    parent = header.span_id if header is not None else None
    if parent is None and execution.parent_arn is not None:
        parent = execution_span(execution.parent_arn)
    body: dict[str, Json] = {
        "type": "execution",
        "executionArn": execution.arn,
        "name": execution.name,
        "stateMachineArn": execution.state_machine_arn,
        "status": execution.status,
        "startDate": execution.start_date,
        "stopDate": execution.stop_date,
    }
    if execution.error is not None:
        body["error"] = execution.error
    if execution.cause is not None:
        body["cause"] = execution.cause
    return _Node(
        span=execution_span(execution.arn),
        parent=parent,
        at=execution.start_date,
        body=body,
    )

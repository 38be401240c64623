"""Statements on the trace record: traced events and delivery attempts (migration 4), and the
queries ``oncue trace`` builds its tree from.

Both tables are append-only and written in the transaction of what they record (PutEvents,
a delivery's outcome), so the trace says exactly what committed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from oncue.store.sql import Tx

__all__ = ["TraceTx", "TracedAttempt", "TracedEvent", "TracedExecution"]


@dataclass(frozen=True, slots=True, kw_only=True)
class TracedEvent:
    event_id: str
    trace_id: str
    parent_span: str | None
    bus: str
    source: str
    detail_type: str
    #: The execution that published it (events:putEvents), if one did.
    publisher: str | None
    created: float


@dataclass(frozen=True, slots=True, kw_only=True)
class TracedAttempt:
    """One delivery attempt's outcome: ``delivered``, ``retry`` (failed, tried again later) or
    ``dead`` (failed for good, dead-lettered)."""

    id: int
    trace_id: str
    event_id: str
    rule: str
    target_id: str
    target_arn: str
    attempt: int
    outcome: str
    error_code: str | None
    error_message: str | None
    execution_arn: str | None
    created: float


@dataclass(frozen=True, slots=True, kw_only=True)
class TracedExecution:
    arn: str
    name: str
    state_machine_arn: str
    status: str
    start_date: float
    stop_date: float | None
    error: str | None
    cause: str | None
    parent_arn: str | None
    trace_header: str | None


_EVENT_COLUMNS = "event_id, trace_id, parent_span, bus, source, detail_type, publisher, created"
_ATTEMPT_COLUMNS = (
    "id, trace_id, event_id, rule, target_id, target_arn, attempt, outcome, error_code, "
    "error_message, execution_arn, created"
)
_EXECUTION_COLUMNS = (
    "arn, name, state_machine_arn, status, start_date, stop_date, error, cause, parent_arn, "
    "trace_header"
)


class TraceTx:
    """The trace statements, inside a caller's transaction."""

    __slots__ = ("tx",)

    def __init__(self, tx: Tx) -> None:
        self.tx = tx

    # --- writing -----------------------------------------------------------------------

    def record_events(self, rows: Iterable[TracedEvent]) -> None:
        self.tx.many(
            f"INSERT INTO trace_events ({_EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    r.event_id,
                    r.trace_id,
                    r.parent_span,
                    r.bus,
                    r.source,
                    r.detail_type,
                    r.publisher,
                    r.created,
                )
                for r in rows
            ],
        )

    def record_attempts(self, rows: Iterable[TracedAttempt]) -> None:
        self.tx.many(
            "INSERT INTO trace_deliveries (trace_id, event_id, rule, target_id, target_arn, "
            "attempt, outcome, error_code, error_message, execution_arn, created) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    r.trace_id,
                    r.event_id,
                    r.rule,
                    r.target_id,
                    r.target_arn,
                    r.attempt,
                    r.outcome,
                    r.error_code,
                    r.error_message,
                    r.execution_arn,
                    r.created,
                )
                for r in rows
            ],
        )

    def prune(self, before: float) -> int:
        """Forget trace records older than ``before`` (epoch seconds); how many went."""
        gone = self.tx.run("DELETE FROM trace_deliveries WHERE created < ?", (before,)).rowcount
        gone += self.tx.run("DELETE FROM trace_events WHERE created < ?", (before,)).rowcount
        return max(gone, 0)

    # --- reading -----------------------------------------------------------------------

    def trace_of_event(self, event_id: str) -> str | None:
        """The trace of an event, by its id alone: a scan (the table is keyed by trace id for
        cheap appends; ``oncue trace EVENT_ID`` and a dead letter's redrive are rare)."""
        row = self.tx.one("SELECT trace_id FROM trace_events WHERE event_id = ?", (event_id,))
        return str(row[0]) if row is not None else None

    def events(self, trace_id: str) -> list[TracedEvent]:
        rows = self.tx.all(
            f"SELECT {_EVENT_COLUMNS} FROM trace_events WHERE trace_id = ? ORDER BY created, "
            "event_id",
            (trace_id,),
        )
        return [
            TracedEvent(
                event_id=r[0],
                trace_id=r[1],
                parent_span=r[2],
                bus=r[3],
                source=r[4],
                detail_type=r[5],
                publisher=r[6],
                created=r[7],
            )
            for r in rows
        ]

    def attempts(self, trace_id: str) -> list[TracedAttempt]:
        rows = self.tx.all(
            f"SELECT {_ATTEMPT_COLUMNS} FROM trace_deliveries WHERE trace_id = ? ORDER BY id",
            (trace_id,),
        )
        return [
            TracedAttempt(
                id=r[0],
                trace_id=r[1],
                event_id=r[2],
                rule=r[3],
                target_id=r[4],
                target_arn=r[5],
                attempt=r[6],
                outcome=r[7],
                error_code=r[8],
                error_message=r[9],
                execution_arn=r[10],
                created=r[11],
            )
            for r in rows
        ]

    def pending(self, event_ids: Iterable[str]) -> dict[tuple[str, str, str], tuple[int, float]]:
        """Deliveries of these events not yet settled: (event, rule, target) -> (failed
        attempts so far, when the next attempt is due)."""
        found: dict[tuple[str, str, str], tuple[int, float]] = {}
        for event_id in event_ids:
            for row in self.tx.all(
                "SELECT rule, target_id, attempt, due FROM bus_deliveries WHERE event_id = ?",
                (event_id,),
            ):
                found[(event_id, str(row[0]), str(row[1]))] = (int(row[2]), float(row[3]))
        return found

    def executions_in(self, trace_id: str) -> list[TracedExecution]:
        """Executions whose trace header names the trace (``00-TRACEID-...``): a range over the
        ``executions_by_trace`` index."""
        prefix = f"00-{trace_id}-"
        rows = self.tx.all(
            f"SELECT {_EXECUTION_COLUMNS} FROM executions WHERE trace_header >= ? "
            "AND trace_header < ?",
            (prefix, prefix[:-1] + "."),  # '.' sorts right after '-'
        )
        return [_execution(r) for r in rows]

    def executions(self, arns: Sequence[str]) -> list[TracedExecution]:
        found: list[TracedExecution] = []
        for arn in arns:
            row = self.tx.one(f"SELECT {_EXECUTION_COLUMNS} FROM executions WHERE arn = ?", (arn,))
            if row is not None:
                found.append(_execution(row))
        return found

    def children(self, parent_arn: str) -> list[TracedExecution]:
        rows = self.tx.all(
            f"SELECT {_EXECUTION_COLUMNS} FROM executions WHERE parent_arn = ?", (parent_arn,)
        )
        return [_execution(r) for r in rows]


def _execution(row: Sequence[object]) -> TracedExecution:
    return TracedExecution(
        arn=str(row[0]),
        name=str(row[1]),
        state_machine_arn=str(row[2]),
        status=str(row[3]),
        start_date=float(row[4]),  # type: ignore[arg-type]
        stop_date=float(row[5]) if row[5] is not None else None,  # type: ignore[arg-type]
        error=str(row[6]) if row[6] is not None else None,
        cause=str(row[7]) if row[7] is not None else None,
        parent_arn=str(row[8]) if row[8] is not None else None,
        trace_header=str(row[9]) if row[9] is not None else None,
    )

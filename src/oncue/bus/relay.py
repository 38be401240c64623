"""The outbox relay: events that executions published become bus events.

A Task ``arn:aws:states:::events:putEvents`` writes its entries to the ``outbox`` table in the
transaction of the state transition that ran it (the transactional outbox). The relay moves
outbox rows onto their buses in one transaction: each row is validated and routed like a
PutEvents entry (:meth:`~oncue.bus.router.Router.accept`) and deleted, so an event an execution
published is delivered if and only if its transition committed, and exactly once onto the bus.
The event keeps the id the execution's task result reported (``Entries[].EventId``), and its
ingestion time is the time of that transition.

The engine already validated each entry as PutEvents does, and failed the task with
``EventBridge.FailedEntry`` for the bad ones (:func:`oncue.engine.integrations.put_events`),
so only good entries reach the outbox. One can still fail here if its bus was deleted after the
transition committed; it is then logged and dropped, as EventBridge drops an entry it reports
as failed.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from oncue.asl.jsonutil import loads
from oncue.bus.router import Router
from oncue.errors import OncueError
from oncue.patterns.entries import Entry, EntryError, validate_entry
from oncue.store.bus_sql import BusTx
from oncue.store.sql import Tx
from oncue.tracing import parse_trace_header

__all__ = ["relay_outbox"]

log = logging.getLogger("oncue.bus")


def relay_outbox(tx: Tx, now: datetime, limit: int = 500, *, router: Router) -> int:
    """Move up to ``limit`` outbox rows onto their buses, in ``tx``; how many were moved."""
    rows = tx.take_outbox(limit)
    if not rows:
        return 0
    btx = BusTx(tx)
    # A duplicate key or an oncue error refuses one row; any other driver error (a lost
    # connection) fails the whole relay, which rolls back and is tried again.
    refused: tuple[type[Exception], ...] = (*tx.integrity_errors, OncueError)
    for row in rows:
        problem: str | None = None
        try:
            document = loads(row.entry)
        except ValueError:
            document = None
        checked: Entry | EntryError | None = (
            validate_entry(document) if isinstance(document, dict) else None
        )
        if checked is None:
            problem = "the entry is not a JSON object"
        elif isinstance(checked, EntryError):
            problem = f"{checked.code}: {checked.message}"
        else:
            ingested = datetime.fromtimestamp(row.created, UTC) if row.created else now
            try:
                with tx.savepoint():
                    accepted = router.accept(
                        btx,
                        checked,
                        event_id=row.event_id,
                        ingested=ingested,
                        trace=parse_trace_header(row.trace),
                        publisher=row.execution_arn,
                    )
            except refused as error:
                # One row the store refuses (an event id already taken) must not stop the
                # relay of every row after it.
                problem = f"the store refused it: {error}"
            else:
                if isinstance(accepted, EntryError):
                    problem = f"{accepted.code}: {accepted.message}"
        if problem is not None:
            log.warning(
                "dropped event %s published by %s: %s", row.event_id, row.execution_arn, problem
            )
    tx.delete_outbox(row.id for row in rows)
    return len(rows)

"""Archives: which events a bus keeps, and reading them back (for a replay, a data lake, a BI
report).

*Archiving and replaying events in Amazon EventBridge*: an archive belongs to one event bus
(its ``EventSourceArn``), keeps the events of that bus its optional ``EventPattern`` matches
(all of them without one) from its creation on, for ``RetentionDays`` days (0: indefinitely).
EventBridge archives through a managed rule whose pattern excludes replayed events, so an
event a replay sends back to the bus is *not* archived again; oncue does the same without the
rule: an event is archived in the PutEvents transaction that accepts it, unless it carries
``replay-name``.

The matchers are loaded with the bus's rules (:class:`~oncue.bus.router.BusRules`), so an
archive created or changed in another process is in force for the next event. Retention is
applied by the dispatcher cycle (:func:`prune`), with the time of the injected clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from oncue.asl.jsonutil import loads
from oncue.errors import OncueError
from oncue.patterns.compile import Pattern, compile_pattern
from oncue.patterns.entries import parse_time
from oncue.patterns.reference import matches
from oncue.store.base import Store
from oncue.store.bus_archive_sql import ArchivedEvent, ArchiveTx
from oncue.store.sql import Tx
from oncue.types import Json

__all__ = [
    "REPLAY_NAME",
    "ArchiveMatcher",
    "archive_event",
    "event_time",
    "iter_archived",
    "load_archives",
    "prune",
]

#: The field a replayed event carries (*Replaying archived events*).
REPLAY_NAME: Final = "replay-name"
#: How many archived events one export query reads at a time.
_EXPORT_PAGE: Final = 500


@dataclass(frozen=True, slots=True, kw_only=True)
class ArchiveMatcher:
    name: str
    #: None: every event of the bus.
    pattern: Pattern | None


def load_archives(tx: Tx, bus: str) -> tuple[ArchiveMatcher, ...]:
    found = []
    for record in ArchiveTx(tx).archives_of(bus):
        if record.state != "ENABLED":
            continue
        try:
            pattern = compile_pattern(record.event_pattern) if record.event_pattern else None
        except OncueError:  # stored by a version with other pattern rules: keep nothing
            continue
        found.append(ArchiveMatcher(name=record.name, pattern=pattern))
    return tuple(found)


def event_time(event: dict[str, Json], default: float) -> float:
    """The envelope's ``time`` in epoch seconds (what a replay's window selects on)."""
    moment = parse_time(event.get("time"))
    return default if moment is None else moment.timestamp()


def archive_event(
    tx: Tx,
    archives: tuple[ArchiveMatcher, ...],
    event: dict[str, Json],
    envelope: str,
    ingested: float,
) -> int:
    """Archive an accepted event in every archive whose pattern it matches; how many."""
    if not archives or REPLAY_NAME in event:
        return 0
    keep = [a.name for a in archives if a.pattern is None or matches(a.pattern, event)]
    if keep:
        moment = event_time(event, ingested)
        size = len(envelope.encode())
        ArchiveTx(tx).insert_archived(
            ArchivedEvent(
                archive=name,
                event_id=str(event["id"]),
                event_time=moment,
                ingested=ingested,
                size=size,
                envelope=envelope,
            )
            for name in keep
        )
    return len(keep)


def prune(tx: Tx, now: datetime) -> int:
    """Delete archived events past their archive's retention."""
    return ArchiveTx(tx).prune_archived(now.timestamp())


def iter_archived(
    store: Store,
    archive: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Iterator[dict[str, Json]]:
    """The archived events of ``archive`` with ``since <= time < until``, oldest first, as
    EventBridge envelopes; read a page at a time, each page in a short read transaction, so an
    export of millions of events holds no lock for long."""
    start = since.timestamp() if since is not None else float("-inf")
    end = until.timestamp() if until is not None else float("inf")
    after: tuple[float, str] | None = None
    while True:
        with store.read() as tx:
            page = ArchiveTx(tx).archived_page(
                archive, start=_finite(start), end=_finite(end), after=after, limit=_EXPORT_PAGE
            )
        for row in page:
            yield loads(row.envelope)
        if len(page) < _EXPORT_PAGE:
            return
        after = (page[-1].event_time, page[-1].event_id)


def _finite(moment: float) -> float:
    # SQL has no infinity literal that every backend binds: clamp to the datetime range.
    low = datetime(1, 1, 2, tzinfo=UTC).timestamp()
    high = datetime(9999, 12, 31, tzinfo=UTC).timestamp()
    return min(max(moment, low), high)

"""Statements for archives, archived events, replays and rule schedules (migration 3).

Like :class:`~oncue.store.bus_sql.BusTx`, ``ArchiveTx(tx)`` runs on a transaction it does not
own: an event is archived in the PutEvents transaction that accepts it, a replay's cursor moves
in the dispatcher cycle that creates the replayed deliveries, and a schedule's next fire time
moves in the cycle that fires it. Times are epoch seconds.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import astuple, dataclass

from oncue.store.bus_records import columns, read
from oncue.store.sql import Tx

__all__ = [
    "ArchiveRecord",
    "ArchiveTx",
    "ArchivedEvent",
    "ReplayRecord",
    "ScheduleRecord",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class ArchiveRecord:
    name: str
    bus: str
    description: str | None
    event_pattern: str | None
    #: 0 keeps events indefinitely.
    retention_days: int
    state: str
    creation_time: float


@dataclass(frozen=True, slots=True, kw_only=True)
class ArchivedEvent:
    archive: str
    event_id: str
    event_time: float
    ingested: float
    size: int
    envelope: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplayRecord:
    name: str
    archive: str
    bus: str
    description: str | None
    #: JSON array of rule ARNs, or None for every rule of the bus.
    filter_arns: str | None
    event_start: float
    event_end: float
    state: str
    state_reason: str | None
    replay_start: float
    replay_end: float | None = None
    last_replayed: float | None = None
    cursor_time: float | None = None
    cursor_id: str | None = None
    replayed: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduleRecord:
    bus: str
    rule: str
    expression: str
    anchor: float
    next_fire: float | None
    last_fire: float | None = None


_ARCHIVE = columns(ArchiveRecord)
_EVENT = columns(ArchivedEvent)
_REPLAY = columns(ReplayRecord)
_SCHEDULE = columns(ScheduleRecord)


def _marks(n: int) -> str:
    return ", ".join("?" * n)


class ArchiveTx:
    """The archive, replay and schedule statements, run on the transaction it wraps."""

    __slots__ = ("tx",)

    def __init__(self, tx: Tx) -> None:
        self.tx = tx

    # --- archives ----------------------------------------------------------------------

    def get_archive(self, name: str) -> ArchiveRecord | None:
        row = self.tx.one(f"SELECT {_ARCHIVE} FROM bus_archives WHERE name = ?", (name,))
        return None if row is None else read(ArchiveRecord, row)

    def insert_archive(self, r: ArchiveRecord) -> None:
        self.tx.run(f"INSERT INTO bus_archives ({_ARCHIVE}) VALUES ({_marks(7)})", astuple(r))

    def update_archive(self, r: ArchiveRecord) -> None:
        self.tx.run(
            "UPDATE bus_archives SET description = ?, event_pattern = ?, retention_days = ? "
            "WHERE name = ?",
            (r.description, r.event_pattern, r.retention_days, r.name),
        )

    def delete_archive(self, name: str) -> None:
        self.tx.run("DELETE FROM bus_archived_events WHERE archive = ?", (name,))
        self.tx.run("DELETE FROM bus_archives WHERE name = ?", (name,))

    def list_archives(
        self, prefix: str, bus: str | None, state: str | None, after: str, limit: int
    ) -> list[ArchiveRecord]:
        sql = f"SELECT {_ARCHIVE} FROM bus_archives WHERE name > ? AND substr(name, 1, ?) = ?"
        params: list[object] = [after, len(prefix), prefix]
        if bus is not None:
            sql += " AND bus = ?"
            params.append(bus)
        if state is not None:
            sql += " AND state = ?"
            params.append(state)
        rows = self.tx.all(sql + " ORDER BY name LIMIT ?", [*params, limit])
        return [read(ArchiveRecord, row) for row in rows]

    def count_archives(self) -> int:
        return int(self.tx.one("SELECT COUNT(*) FROM bus_archives")[0])

    def archives_of(self, bus: str) -> list[ArchiveRecord]:
        rows = self.tx.all(
            f"SELECT {_ARCHIVE} FROM bus_archives WHERE bus = ? ORDER BY name", (bus,)
        )
        return [read(ArchiveRecord, row) for row in rows]

    def archive_stats(self, name: str) -> tuple[int, int]:
        """(EventCount, SizeBytes)."""
        row = self.tx.one(
            "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM bus_archived_events WHERE archive = ?",
            (name,),
        )
        return int(row[0]), int(row[1])

    def insert_archived(self, rows: Iterable[ArchivedEvent]) -> None:
        self.tx.many(
            f"INSERT INTO bus_archived_events ({_EVENT}) VALUES ({_marks(6)})",
            [astuple(r) for r in rows],
        )

    def archived_page(
        self,
        archive: str,
        *,
        start: float,
        end: float,
        after: tuple[float, str] | None,
        limit: int,
    ) -> list[ArchivedEvent]:
        """Archived events with ``start <= event_time < end``, in (event_time, event_id)
        order, after the cursor ``after``."""
        if after is None:
            rows = self.tx.all(
                f"SELECT {_EVENT} FROM bus_archived_events WHERE archive = ? "
                "AND event_time >= ? AND event_time < ? ORDER BY event_time, event_id LIMIT ?",
                (archive, start, end, limit),
            )
        else:
            rows = self.tx.all(
                f"SELECT {_EVENT} FROM bus_archived_events WHERE archive = ? "
                "AND event_time >= ? AND event_time < ? AND (event_time > ? OR "
                "(event_time = ? AND event_id > ?)) ORDER BY event_time, event_id LIMIT ?",
                (archive, start, end, after[0], after[0], after[1], limit),
            )
        return [read(ArchivedEvent, row) for row in rows]

    def prune_archived(self, now: float) -> int:
        """Delete the events past their archive's retention; how many went."""
        gone = 0
        for name, days in self.tx.all(
            "SELECT name, retention_days FROM bus_archives WHERE retention_days > 0"
        ):
            cursor = self.tx.run(
                "DELETE FROM bus_archived_events WHERE archive = ? AND ingested < ?",
                (name, now - days * 86400),
            )
            gone += max(cursor.rowcount, 0)
        return gone

    # --- replays -----------------------------------------------------------------------

    def get_replay(self, name: str) -> ReplayRecord | None:
        row = self.tx.one(f"SELECT {_REPLAY} FROM bus_replays WHERE name = ?", (name,))
        return None if row is None else read(ReplayRecord, row)

    def insert_replay(self, r: ReplayRecord) -> None:
        self.tx.run(f"INSERT INTO bus_replays ({_REPLAY}) VALUES ({_marks(15)})", astuple(r))

    def list_replays(
        self, prefix: str, state: str | None, archive: str | None, after: str, limit: int
    ) -> list[ReplayRecord]:
        sql = f"SELECT {_REPLAY} FROM bus_replays WHERE name > ? AND substr(name, 1, ?) = ?"
        params: list[object] = [after, len(prefix), prefix]
        if state is not None:
            sql += " AND state = ?"
            params.append(state)
        if archive is not None:
            sql += " AND archive = ?"
            params.append(archive)
        rows = self.tx.all(sql + " ORDER BY name LIMIT ?", [*params, limit])
        return [read(ReplayRecord, row) for row in rows]

    def active_replays(self) -> list[ReplayRecord]:
        rows = self.tx.all(
            f"SELECT {_REPLAY} FROM bus_replays WHERE state IN "
            "('STARTING', 'RUNNING', 'CANCELLING') ORDER BY replay_start, name"
        )
        return [read(ReplayRecord, row) for row in rows]

    def set_replay_state(
        self, name: str, state: str, reason: str | None, *, expect: Iterable[str], end: float | None
    ) -> bool:
        """Move the replay to ``state`` if it is in one of ``expect``; False otherwise."""
        expected = list(expect)
        cursor = self.tx.run(
            "UPDATE bus_replays SET state = ?, state_reason = ?, replay_end = ? WHERE name = ? "
            f"AND state IN ({_marks(len(expected))})",
            (state, reason, end, name, *expected),
        )
        return cursor.rowcount > 0

    def advance_replay(
        self, name: str, expected: str | None, cursor: tuple[float, str], count: int
    ) -> bool:
        """Compare and set: move the replay's cursor from ``expected`` (the event id it was
        read at) to ``cursor``; False when another dispatcher moved it first, so that only one
        of them replays a batch."""
        moved = self.tx.run(
            "UPDATE bus_replays SET cursor_time = ?, cursor_id = ?, last_replayed = ?, "
            "replayed = replayed + ? WHERE name = ? AND COALESCE(cursor_id, '') = ?",
            (cursor[0], cursor[1], cursor[0], count, name, expected or ""),
        )
        return moved.rowcount > 0

    # --- rule schedules ----------------------------------------------------------------

    def put_schedule(self, r: ScheduleRecord) -> None:
        self.tx.run(
            f"INSERT INTO bus_schedules ({_SCHEDULE}) VALUES ({_marks(6)}) "
            "ON CONFLICT (bus, rule) DO UPDATE SET expression = excluded.expression, "
            "anchor = excluded.anchor, next_fire = excluded.next_fire",
            astuple(r),
        )

    def get_schedule(self, bus: str, rule: str) -> ScheduleRecord | None:
        row = self.tx.one(
            f"SELECT {_SCHEDULE} FROM bus_schedules WHERE bus = ? AND rule = ?", (bus, rule)
        )
        return None if row is None else read(ScheduleRecord, row)

    def delete_schedule(self, bus: str, rule: str) -> None:
        self.tx.run("DELETE FROM bus_schedules WHERE bus = ? AND rule = ?", (bus, rule))

    def due_schedules(self, now: float, limit: int) -> list[ScheduleRecord]:
        rows = self.tx.all(
            f"SELECT {_SCHEDULE} FROM bus_schedules WHERE next_fire <= ? "
            "ORDER BY next_fire LIMIT ?",
            (now, limit),
        )
        return [read(ScheduleRecord, row) for row in rows]

    def next_schedule(self) -> float | None:
        row = self.tx.one("SELECT MIN(next_fire) FROM bus_schedules")
        return None if row is None or row[0] is None else float(row[0])

    def move_schedule(
        self, r: ScheduleRecord, next_fire: float | None, fired: float | None
    ) -> bool:
        """Compare and set: move the schedule from the fire time read to ``next_fire``; False
        when another dispatcher moved it first (so only one of them fires)."""
        cursor = self.tx.run(
            "UPDATE bus_schedules SET next_fire = ?, last_fire = COALESCE(?, last_fire) "
            "WHERE bus = ? AND rule = ? AND next_fire = ?",
            (next_fire, fired, r.bus, r.rule, r.next_fire),
        )
        return cursor.rowcount > 0

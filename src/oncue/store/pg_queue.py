"""The PostgreSQL transaction's write queue: round trips, savepoints and wake-ups.

A batch of transitions writes a handful of rows per execution; sent one statement at a
time, the network round trips would dominate. The engine's writes whose results nobody
reads (new tasks, history rows, messages, timers, savepoints...) are queued and sent
together in one pipeline (psycopg's pipeline mode) right before the next statement whose
result is needed, or before the commit. The version-fenced ``UPDATE executions`` is such a
statement: ``update_executions`` sends the queue with it and returns the real row counts. A
queued write that fails surfaces at that flush, as a driver error, so the whole transaction
rolls back (never half of an execution's writes).

A commit that leaves work for other processes sends a notification on commit (see
:mod:`oncue.store.pg_notify`); the queue notes which topics its writes call for.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import psycopg

from oncue.errors import StoreError
from oncue.store.pg_batch import BULK, plan
from oncue.store.placeholders import to_format_style
from oncue.store.sql import Tx
from oncue.store.sql_base import Cursor

__all__ = ["FencedOut", "QueuedTx", "wake_topic"]

#: A queued statement: SQL (psycopg style), parameters, and what its row count is for: None
#: (nothing), "" (returned by the flush), or the ARN of a fenced update (must be 1).
_Queued = tuple[str, Sequence[Any], str | None]

#: Inserting into these tables leaves work for others: the topic to notify.
_TOPIC_OF_TABLE = {
    "bus_deliveries": "bus",
    "outbox": "bus",
    "queue_messages": "bus",
    "bus_events": "bus",
}


@lru_cache(maxsize=512)
def wake_topic(sql: str) -> str | None:
    """The wake-up topic an INSERT statement calls for, if any."""
    words = sql.split(None, 3)
    if len(words) < 3 or words[0].upper() != "INSERT" or words[1].upper() != "INTO":
        return None
    return _TOPIC_OF_TABLE.get(words[2].split("(")[0].lower())


class FencedOut(StoreError):
    """A fenced update found its execution changed: the transaction must roll back.

    A driver-level error (listed in ``PgTx.driver_errors``): the engine never takes it for a
    defect of one execution, since it surfaces when the queue is sent, maybe while another
    execution is being applied."""


@dataclass(slots=True)
class _Savepoint:
    name: str
    #: Where in the queue its SAVEPOINT belongs (statements queued before it are outside).
    mark: int
    sent: bool = False


class QueuedTx(Tx):
    """A PostgreSQL transaction whose unread writes wait in a queue for one pipeline."""

    def __init__(
        self,
        connection: psycopg.Connection[Any],
        driver_errors: tuple[type[Exception], ...],
        *,
        read_only: bool,
    ) -> None:
        super().__init__(
            connection.cursor(),
            "postgresql",
            (*driver_errors, FencedOut),
            (psycopg.IntegrityError,),
        )
        self.connection = connection
        #: A read-only snapshot looks at rows without claiming them.
        self.read_only = read_only
        self._queued: list[_Queued] = []
        self._open: list[_Savepoint] = []
        #: Executions whose rows this transaction holds locked.
        self.locked: set[str] = set()
        #: Executions this transaction added messages for.
        self.messaged: set[str] = set()
        #: Topics to notify on commit.
        self.wakes: set[str] = set()

    # --- what to notify ----------------------------------------------------------------

    def announce(self, topic: str) -> None:
        self.wakes.add(topic)

    def run(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        self.flush()
        topic = wake_topic(sql)
        if topic is not None:
            self.wakes.add(topic)
        return super().run(sql, params)

    def many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self.flush()
        rows = list(rows)
        topic = wake_topic(sql)
        if topic is not None and rows:
            self.wakes.add(topic)
        super().many(sql, rows)

    # --- queued writes -----------------------------------------------------------------

    def queue(self, sql: str, rows: Iterable[Sequence[Any]], *, counted: bool = False) -> None:
        """Send these statements with the next one whose result is read (or at commit)."""
        formatted = to_format_style(sql)
        tag = "" if counted else None
        self._queued.extend((formatted, row, tag) for row in rows)

    def queue_fenced(self, sql: str, rows: Iterable[tuple[Sequence[Any], str]]) -> None:
        """Queue statements that must each change exactly one row, each with the ARN it
        changes: one that changes none fails the flush with :class:`FencedOut`."""
        formatted = to_format_style(sql)
        self._queued.extend((formatted, params, arn) for params, arn in rows)

    def flush(self) -> list[int]:
        """Send the queued statements in one pipeline; the row counts of the counted ones.

        Savepoints opened since the last flush are sent first, each at its place in the
        queue; a fenced update (see :meth:`queue_fenced`) that changed no row fails the
        transaction here."""
        for savepoint in reversed(self._open):
            if not savepoint.sent:
                self._queued.insert(savepoint.mark, (f"SAVEPOINT {savepoint.name}", (), None))
                savepoint.sent = True
        if not self._queued:
            return []
        queued, self._queued = self._queued, []
        counted: list[tuple[psycopg.Cursor[Any], str]] = []
        fenced: list[tuple[psycopg.Cursor[Any], list[str | None]]] = []
        with self.connection.pipeline():
            for batch in plan(queued):
                bulk = BULK.get(batch.sql)
                if bulk is not None and len(batch.rows) > 1 and "" not in batch.tags:
                    if bulk.fenced:
                        returning = self.connection.cursor()
                        returning.execute(bulk.sql, bulk.params(batch.rows))
                        fenced.append((returning, batch.tags))
                    else:
                        self.cursor.execute(bulk.sql, bulk.params(batch.rows))
                elif batch.tags[0] is None:
                    self.cursor.executemany(batch.sql, batch.rows)
                else:
                    for params, tag in zip(batch.rows, batch.tags, strict=True):
                        cursor = self.connection.cursor()
                        cursor.execute(batch.sql, params)
                        counted.append((cursor, tag or ""))
        stale = [tag for cursor, tag in counted if tag and cursor.rowcount != 1]
        for cursor, tags in fenced:
            changed = {row[0] for row in cursor.fetchall()}
            stale.extend(str(tag) for tag in tags if tag not in changed)
        if stale:
            raise FencedOut(f"the execution {', '.join(stale)} changed under this transition")
        return [cursor.rowcount for cursor, tag in counted if not tag]

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A nested transaction, sent only if something inside it reaches the server before
        it ends: undoing writes still queued is forgetting them."""
        self.savepoints += 1
        savepoint = _Savepoint(f"sp{self.savepoints}", len(self._queued))
        self._open.append(savepoint)
        try:
            yield
        except BaseException:
            self._open.remove(savepoint)
            if not savepoint.sent:
                del self._queued[savepoint.mark :]
            else:
                self._queued.clear()  # everything queued since was inside the savepoint
                self.run(f"ROLLBACK TO SAVEPOINT {savepoint.name}")
                self.run(f"RELEASE SAVEPOINT {savepoint.name}")
            raise
        self._open.remove(savepoint)
        if savepoint.sent:
            self.queue(f"RELEASE SAVEPOINT {savepoint.name}", [()])

    def topics_to_notify(self) -> set[str]:
        """What the commit must announce to other processes."""
        topics = set(self.wakes)
        if self.messaged - self.locked:
            topics.add("engine")
        return topics

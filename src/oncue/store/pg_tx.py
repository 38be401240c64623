"""The PostgreSQL transaction: the shared statements, plus the locking several processes need.

With SQLite one writer at a time holds the database, so a worker that reads an execution's
messages is the only one applying them. PostgreSQL runs many writers at once, so an
execution is claimed by locking its row:

- **The execution row is the lock on everything the execution owns** (its inbox messages,
  timers, tasks and tokens). A worker applies messages only to executions whose rows it
  locked (``take_messages``: ``FOR UPDATE SKIP LOCKED``, so busy executions are skipped, not
  waited for), and reads the messages *after* taking the lock, in a statement of its own:
  under READ COMMITTED each statement sees what committed before it started, so no message
  another worker already applied is seen again.
- **One lock order.** A transaction that must wait for an execution (an API call, a task
  result) locks it before touching any row the execution owns, and locks several in ARN
  order; claims of other rows (tasks, timers, deliveries) never wait (``SKIP LOCKED``). So no
  two transactions wait for each other in a cycle (no deadlock).
- **The version fence stays.** ``update_executions`` still requires the version it read.
- **Wake-ups.** A commit that leaves work for other processes (messages for executions it
  did not lock, tasks nobody leased, bus deliveries, outbox rows) sends a notification on
  commit (``pg_notify``, delivered only if the transaction commits); see
  :mod:`oncue.store.pg_notify`.

A worker that dies mid-transaction loses its connection and PostgreSQL rolls back, releasing
its locks at once; one that hangs inside a transaction is cut off by
``idle_in_transaction_session_timeout`` (set by :class:`~oncue.store.postgres.PostgresStore`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

from oncue.store.records import Message, NewTask, TaskClaim
from oncue.store.sql import Tx
from oncue.store.sql_base import Cursor
from oncue.store.sql_work import _TASK_COLUMNS, _claim

__all__ = ["PgTx", "wake_topic"]

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


class PgTx(Tx):
    """One PostgreSQL transaction."""

    def __init__(
        self, cursor: Cursor, driver_errors: tuple[type[Exception], ...], *, read_only: bool
    ) -> None:
        super().__init__(cursor, "postgresql", driver_errors)
        #: A read-only snapshot looks at rows without claiming them.
        self.read_only = read_only
        #: Executions whose rows this transaction holds locked.
        self.locked: set[str] = set()
        #: Executions this transaction added messages for.
        self.messaged: set[str] = set()
        #: Topics to notify on commit.
        self.wakes: set[str] = set()

    # --- what to notify ----------------------------------------------------------------

    def run(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        topic = wake_topic(sql)
        if topic is not None:
            self.wakes.add(topic)
        return super().run(sql, params)

    def many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        rows = list(rows)
        topic = wake_topic(sql)
        if topic is not None and rows:
            self.wakes.add(topic)
        super().many(sql, rows)

    def topics_to_notify(self) -> set[str]:
        """What the commit must announce to other processes."""
        topics = set(self.wakes)
        if self.messaged - self.locked:
            topics.add("engine")
        return topics

    # --- locking executions ------------------------------------------------------------

    def claiming(self, of: str | None = None) -> str:
        return "" if self.read_only else super().claiming(of)

    def lock_executions(self, arns: Iterable[str]) -> None:
        """Wait for and lock these executions' rows, in ARN order (the one lock order)."""
        if self.read_only:
            return
        wanted = sorted(set(arns) - self.locked)
        if wanted:
            self.run(
                "SELECT arn FROM executions WHERE arn = ANY(?) ORDER BY arn FOR UPDATE",
                (wanted,),
            )
            self.locked.update(wanted)

    # --- inbox -------------------------------------------------------------------------

    def add_messages(self, rows: Iterable[tuple[str, str]]) -> None:
        rows = list(rows)
        self.messaged.update(arn for arn, _ in rows)
        super().add_messages(rows)

    def take_messages(self, limit: int) -> list[Message]:
        """The messages of up to ``limit`` executions nobody else holds, oldest first."""
        if self.read_only:
            return super().take_messages(limit)
        locked = self.all(
            "SELECT e.arn FROM executions e JOIN (SELECT execution_arn, MIN(id) AS first "
            "FROM inbox GROUP BY execution_arn) m ON m.execution_arn = e.arn "
            "ORDER BY m.first LIMIT ? FOR UPDATE OF e SKIP LOCKED",
            (limit,),
        )
        arns = [row[0] for row in locked]
        if not arns:
            return []
        self.locked.update(arns)
        # A statement of its own, after the locks: it sees every commit made before them.
        return self._messages_of(arns)

    def messages_for(self, arns: Sequence[str]) -> list[Message]:
        self.lock_executions(arns)
        return self._messages_of(list(arns))

    def _messages_of(self, arns: list[str]) -> list[Message]:
        rows = self.all(
            "SELECT id, execution_arn, body FROM inbox WHERE execution_arn = ANY(?) ORDER BY id",
            (arns,),
        )
        return [Message(id=row[0], execution_arn=row[1], body=row[2]) for row in rows]

    # --- timers ------------------------------------------------------------------------

    def due_timers(self, now: float, limit: int) -> list[tuple[str, str]]:
        """Due timers of executions nobody else holds, each claimed with its execution."""
        if self.read_only:
            return super().due_timers(now, limit)
        rows = self.all(
            "SELECT t.execution_arn, t.timer_id FROM timers t JOIN executions e "
            "ON e.arn = t.execution_arn WHERE t.due <= ? ORDER BY t.due LIMIT ? "
            "FOR UPDATE OF e, t SKIP LOCKED",
            (now, limit),
        )
        self.locked.update(row[0] for row in rows)
        return [(row[0], row[1]) for row in rows]

    # --- tasks and tokens --------------------------------------------------------------

    def add_tasks(self, tasks: Iterable[NewTask], now: float) -> None:
        tasks = list(tasks)
        if any(t.owner is None for t in tasks):
            self.wakes.add("engine")  # for another worker, or an activity poller
        super().add_tasks(tasks, now)

    def finish_tasks(self, rows: Iterable[tuple[str, str]], owner: str | None) -> list[bool]:
        rows = list(rows)
        self.lock_executions(arn for arn, _ in rows)
        return super().finish_tasks(rows, owner)

    def close_tokens(self, rows: Iterable[tuple[str, str]]) -> None:
        rows = list(rows)
        self.lock_executions(arn for arn, _ in rows)
        super().close_tokens(rows)

    def claim_activity_task(self, activity_arn: str, owner: str) -> TaskClaim | None:
        if self.read_only:
            return super().claim_activity_task(activity_arn, owner)
        columns = ", ".join(f"t.{c.strip()}" for c in _TASK_COLUMNS.split(","))
        row = self.one(
            f"SELECT {columns} FROM tasks t JOIN executions e ON e.arn = t.execution_arn "
            "WHERE t.kind = 'activity' AND t.target = ? AND t.owner IS NULL "
            "ORDER BY t.created LIMIT 1 FOR UPDATE OF e, t SKIP LOCKED",
            (activity_arn,),
        )
        if row is None:
            return None
        self.locked.add(row[0])
        self.run(
            "UPDATE tasks SET owner = ? WHERE execution_arn = ? AND task_id = ?",
            (owner, row[0], row[1]),
        )
        return _claim(row)

    # --- retention ---------------------------------------------------------------------

    def delete_executions(self, arns: Sequence[str]) -> int:
        deleted = super().delete_executions(arns)
        # A child's result can arrive for a parent deleted before it: nothing will ever
        # apply such a message (take_messages joins executions), so retention removes it.
        self.run(
            "DELETE FROM inbox i WHERE NOT EXISTS "
            "(SELECT 1 FROM executions e WHERE e.arn = i.execution_arn)"
        )
        return deleted

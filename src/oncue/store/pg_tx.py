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

**Round trips.** A batch of transitions writes a handful of rows per execution; sent one
statement at a time, the network round trips would dominate. The engine's writes whose
results nobody reads (new tasks, history rows, messages, timers, savepoints...) are queued
and sent together in one pipeline (psycopg's pipeline mode) right before the next statement
whose result is needed, or before the commit. The version-fenced ``UPDATE executions`` is
such a statement: ``update_executions`` sends the queue with it and returns the real row
counts. A queued write that fails surfaces at that flush, as a driver error, so the whole
transaction rolls back (never half of an execution's writes).

A worker that dies mid-transaction loses its connection and PostgreSQL rolls back, releasing
its locks at once; one that hangs inside a transaction is cut off by
``idle_in_transaction_session_timeout`` (set by :class:`~oncue.store.postgres.PostgresStore`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

import psycopg

from oncue.errors import ExecutionAlreadyExists, StoreError
from oncue.store.pg_batch import BULK, plan
from oncue.store.placeholders import to_format_style
from oncue.store.records import ExecutionRecord, ExecutionUpdate, Message, NewTask, TaskClaim
from oncue.store.sql import Tx
from oncue.store.sql_base import Cursor
from oncue.store.sql_executions import _EXECUTION_COLUMNS
from oncue.store.sql_work import _TASK_COLUMNS, _claim

__all__ = ["FencedOut", "PgTx", "wake_topic"]

_UPDATE_EXECUTION = (
    "UPDATE executions SET status = ?, state = ?, output = ?, error = ?, cause = ?, "
    "stop_date = ?, redrive_count = ?, redrive_date = ?, version = version + 1 "
    "WHERE arn = ? AND version = ?"
)
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


class PgTx(Tx):
    """One PostgreSQL transaction."""

    def __init__(
        self,
        connection: psycopg.Connection[Any],
        driver_errors: tuple[type[Exception], ...],
        *,
        read_only: bool,
    ) -> None:
        super().__init__(connection.cursor(), "postgresql", (*driver_errors, FencedOut))
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

    def flush(self) -> list[int]:
        """Send the queued statements in one pipeline; the row counts of the counted ones.

        Savepoints opened since the last flush are sent first, each at its place in the
        queue; a fenced update (see :meth:`fence_executions`) that changed no row fails the
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

    # --- executions and history (queued) -----------------------------------------------

    def update_executions(self, updates: Sequence[ExecutionUpdate]) -> int:
        self.queue(
            _UPDATE_EXECUTION,
            [
                (
                    u.status,
                    u.state,
                    u.output,
                    u.error,
                    u.cause,
                    u.stop_date,
                    u.redrive_count,
                    u.redrive_date,
                    u.arn,
                    u.expected_version,
                )
                for u in updates
            ],
            counted=True,
        )
        return sum(self.flush())

    def fence_executions(self, updates: Sequence[ExecutionUpdate]) -> None:
        """Queued like any write; checked when the queue is sent (FencedOut then fails the
        whole transaction, which rolls back)."""
        formatted = to_format_style(_UPDATE_EXECUTION)
        self._queued.extend(
            (
                formatted,
                (
                    u.status,
                    u.state,
                    u.output,
                    u.error,
                    u.cause,
                    u.stop_date,
                    u.redrive_count,
                    u.redrive_date,
                    u.arn,
                    u.expected_version,
                ),
                u.arn,
            )
            for u in updates
        )

    def append_history(self, rows: Iterable[tuple[str, int, int, str]]) -> None:
        self.queue(
            "INSERT INTO history (execution_arn, first_id, last_id, events) VALUES (?, ?, ?, ?)",
            rows,
        )

    def delete_execution_work(self, arn: str) -> None:
        self.queue("DELETE FROM timers WHERE execution_arn = ?", [(arn,)])
        self.queue("DELETE FROM tasks WHERE execution_arn = ?", [(arn,)])
        self.queue("UPDATE tokens SET open = 0 WHERE execution_arn = ? AND open = 1", [(arn,)])

    def topics_to_notify(self) -> set[str]:
        """What the commit must announce to other processes."""
        topics = set(self.wakes)
        if self.messaged - self.locked:
            topics.add("engine")
        return topics

    # --- executions ----------------------------------------------------------------------

    def insert_execution(self, r: ExecutionRecord) -> None:
        """Two processes starting the same name at once: the second waits for the first's
        commit and then follows StartExecution's idempotency (same input and still running:
        the same execution, its extra start message ignored; otherwise
        ExecutionAlreadyExists), not a unique-key error."""
        cursor = self.run(
            f"INSERT INTO executions ({_EXECUTION_COLUMNS}, state) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (arn) DO NOTHING",
            (
                r.arn,
                r.name,
                r.state_machine_arn,
                r.revision_id,
                r.status,
                r.input,
                r.start_date,
                r.output,
                r.error,
                r.cause,
                r.stop_date,
                r.redrive_count,
                r.redrive_date,
                r.parent_arn,
                r.parent_task,
                r.parent_pattern,
                r.trace_header,
                r.version,
                r.version_arn,
                r.state,
            ),
        )
        if cursor.rowcount == 1:
            return
        existing = self.get_execution(r.arn)  # committed by the other process meanwhile
        if existing is None or existing.status != "RUNNING" or existing.input != r.input:
            raise ExecutionAlreadyExists(f"Execution Already Exists: '{r.arn}'")

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
        self.queue("INSERT INTO inbox (execution_arn, body) VALUES (?, ?)", rows)

    def delete_messages(self, ids: Iterable[int]) -> None:
        ids = list(ids)
        if ids:
            self.queue("DELETE FROM inbox WHERE id = ANY(?)", [(ids,)])

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

    def add_timers(self, rows: Iterable[tuple[str, str, float]]) -> None:
        self.queue("INSERT INTO timers (execution_arn, timer_id, due) VALUES (?, ?, ?)", rows)

    def delete_timers(self, rows: Iterable[tuple[str, str]]) -> None:
        self.queue("DELETE FROM timers WHERE execution_arn = ? AND timer_id = ?", rows)

    # --- tasks and tokens --------------------------------------------------------------

    def add_tasks(self, tasks: Iterable[NewTask], now: float) -> None:
        tasks = list(tasks)
        if any(t.owner is None for t in tasks):
            self.wakes.add("engine")  # for another worker, or an activity poller
        self.queue(
            "INSERT INTO tasks (execution_arn, task_id, kind, target, resource, payload, "
            "state_name, attempt, token, created, owner, lease_until) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    t.execution_arn,
                    t.task_id,
                    t.kind,
                    t.target,
                    t.resource,
                    t.payload,
                    t.state_name,
                    t.attempt,
                    t.token,
                    now,
                    t.owner,
                    t.lease_until,
                )
                for t in tasks
            ],
        )

    def finish_tasks(self, rows: Iterable[tuple[str, str]], owner: str | None) -> list[bool]:
        """One statement for the whole batch; False where the lease was lost (the fence)."""
        rows = list(rows)
        if not rows:
            return []
        self.lock_executions(arn for arn, _ in rows)
        deleted = self.all(
            "DELETE FROM tasks t USING unnest(?::text[], ?::text[]) AS k(arn, id) "
            "WHERE t.execution_arn = k.arn AND t.task_id = k.id "
            "AND (?::text IS NULL OR t.owner = ?) RETURNING t.execution_arn, t.task_id",
            ([arn for arn, _ in rows], [task for _, task in rows], owner, owner),
        )
        gone = {(row[0], row[1]) for row in deleted}
        return [(arn, task) in gone for arn, task in rows]

    def cancel_tasks(self, rows: Iterable[tuple[str, str]]) -> None:
        rows = list(rows)
        self.queue("DELETE FROM tasks WHERE execution_arn = ? AND task_id = ?", rows)
        self.queue(
            "UPDATE tokens SET open = 0 WHERE execution_arn = ? AND task_id = ? AND open = 1",
            rows,
        )

    def claim_tasks(
        self, *, owner: str, targets: Sequence[str], now: float, until: float, limit: int
    ) -> list[TaskClaim]:
        """One statement: lease what nobody holds, skipping rows others are claiming."""
        if not targets or self.read_only:
            return super().claim_tasks(
                owner=owner, targets=targets, now=now, until=until, limit=limit
            )
        columns = ", ".join(f"t.{c.strip()}" for c in _TASK_COLUMNS.split(","))
        rows = self.all(
            f"UPDATE tasks t SET owner = ?, lease_until = ? FROM (SELECT execution_arn, task_id "
            "FROM tasks WHERE kind = 'handler' AND target = ANY(?) AND (lease_until IS NULL "
            "OR lease_until < ?) LIMIT ? FOR UPDATE SKIP LOCKED) c WHERE t.execution_arn = "
            f"c.execution_arn AND t.task_id = c.task_id RETURNING {columns}, "
            "(SELECT e.trace_header FROM executions e WHERE e.arn = t.execution_arn)",
            (owner, until, list(targets), now, limit),
        )
        return [replace(_claim(row[:10]), trace_header=row[10]) for row in rows]

    def add_tokens(self, rows: Iterable[tuple[str, str, str]]) -> None:
        self.queue(
            "INSERT INTO tokens (token, execution_arn, task_id, open) VALUES (?, ?, ?, 1)", rows
        )

    def close_tokens(self, rows: Iterable[tuple[str, str]]) -> None:
        rows = list(rows)
        self.lock_executions(arn for arn, _ in rows)
        self.queue(
            "UPDATE tokens SET open = 0 WHERE execution_arn = ? AND task_id = ? AND open = 1",
            rows,
        )

    def add_outbox(
        self, rows: Iterable[tuple[str, str, str, float]], *, trace: str | None = None
    ) -> None:
        rows = list(rows)
        if rows:
            self.wakes.add("bus")
        self.queue(
            "INSERT INTO outbox (event_id, execution_arn, entry, created, trace) "
            "VALUES (?, ?, ?, ?, ?)",
            [(*row, trace) for row in rows],
        )

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

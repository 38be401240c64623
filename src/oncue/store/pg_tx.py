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

The queue of writes sent in one pipeline is :class:`~oncue.store.pg_queue.QueuedTx`.

A worker that dies mid-transaction loses its connection and PostgreSQL rolls back, releasing
its locks at once; one that hangs inside a transaction is cut off by
``idle_in_transaction_session_timeout`` (set by :class:`~oncue.store.postgres.PostgresStore`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from oncue.errors import ExecutionAlreadyExists
from oncue.store.pg_queue import FencedOut, QueuedTx, wake_topic
from oncue.store.records import ExecutionRecord, ExecutionUpdate, Message, NewTask, TaskClaim
from oncue.store.sql_executions import (
    _INSERT_EXECUTION,
    _UPDATE_EXECUTION,
    _execution_values,
    _update_values,
)
from oncue.store.sql_work import _INSERT_TASK, _TASK_COLUMNS, _claim, _task_values

__all__ = ["FencedOut", "PgTx", "wake_topic"]


class PgTx(QueuedTx):
    """One PostgreSQL transaction: the shared statements, queued, and the claims by lock."""

    # --- executions and history (queued) -----------------------------------------------

    def update_executions(self, updates: Sequence[ExecutionUpdate]) -> int:
        self.queue(_UPDATE_EXECUTION, [_update_values(u) for u in updates], counted=True)
        return sum(self.flush())

    def fence_executions(self, updates: Sequence[ExecutionUpdate]) -> None:
        """Queued like any write; checked when the queue is sent (FencedOut then fails the
        whole transaction, which rolls back)."""
        self.queue_fenced(_UPDATE_EXECUTION, [(_update_values(u), u.arn) for u in updates])

    def append_history(self, rows: Iterable[tuple[str, int, int, str]]) -> None:
        self.queue(
            "INSERT INTO history (execution_arn, first_id, last_id, events) VALUES (?, ?, ?, ?)",
            rows,
        )

    def delete_execution_work(self, arn: str) -> None:
        self.queue("DELETE FROM timers WHERE execution_arn = ?", [(arn,)])
        self.queue("DELETE FROM tasks WHERE execution_arn = ?", [(arn,)])
        self.queue("UPDATE tokens SET open = 0 WHERE execution_arn = ? AND open = 1", [(arn,)])

    # --- executions ----------------------------------------------------------------------

    def insert_execution(self, r: ExecutionRecord) -> None:
        """Two processes starting the same name at once: the second waits for the first's
        commit and then follows StartExecution's idempotency (same input and still running:
        the same execution, its extra start message ignored; otherwise
        ExecutionAlreadyExists), not a unique-key error."""
        cursor = self.run(
            # The shared statement plus the PostgreSQL-only conflict clause: without it the
            # second start would fail on the unique key instead of waiting and comparing.
            _INSERT_EXECUTION + " ON CONFLICT (arn) DO NOTHING",
            _execution_values(r),
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

    def take_messages(self, limit: int, machines: Sequence[str] | None = None) -> list[Message]:
        """The messages of up to ``limit`` executions nobody else holds, oldest first;
        ``machines``: only executions of these state machines (ARNs)."""
        if self.read_only:
            return super().take_messages(limit, machines)
        served = "" if machines is None else " WHERE e.state_machine_arn = ANY(?)"
        locked = self.all(
            "SELECT e.arn FROM executions e JOIN (SELECT execution_arn, MIN(id) AS first "
            f"FROM inbox GROUP BY execution_arn) m ON m.execution_arn = e.arn{served} "
            "ORDER BY m.first LIMIT ? FOR UPDATE OF e SKIP LOCKED",
            (limit,) if machines is None else (list(machines), limit),
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

    def due_timers(
        self, now: float, limit: int, machines: Sequence[str] | None = None
    ) -> list[tuple[str, str]]:
        """Due timers of executions nobody else holds, each claimed with its execution;
        ``machines``: only executions of these state machines (ARNs)."""
        if self.read_only:
            return super().due_timers(now, limit, machines)
        served = "" if machines is None else " AND e.state_machine_arn = ANY(?)"
        rows = self.all(
            "SELECT t.execution_arn, t.timer_id FROM timers t JOIN executions e "
            f"ON e.arn = t.execution_arn WHERE t.due <= ?{served} ORDER BY t.due LIMIT ? "
            "FOR UPDATE OF e, t SKIP LOCKED",
            (now, limit) if machines is None else (now, list(machines), limit),
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
        if any(t.kind == "activity" for t in tasks):
            self.wakes.add("activity")  # for GetActivityTask long polls alone
        self.queue(_INSERT_TASK, _task_values(tasks, now))

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
        self,
        *,
        owner: str,
        targets: Sequence[str],
        now: float,
        until: float,
        limit: int,
        machines: Sequence[str] | None = None,
    ) -> list[TaskClaim]:
        """One statement: lease what nobody holds, skipping rows others are claiming;
        ``machines``: only tasks of executions of these state machines (ARNs)."""
        if not targets or self.read_only or (machines is not None and not machines):
            return super().claim_tasks(
                owner=owner, targets=targets, now=now, until=until, limit=limit, machines=machines
            )
        columns = ", ".join(f"t.{c.strip()}" for c in _TASK_COLUMNS.split(","))
        # Only the task rows are locked: an execution's row stays free for its own worker.
        served = (
            ""
            if machines is None
            else " JOIN executions m ON m.arn = r.execution_arn AND m.state_machine_arn = ANY(?)"
        )
        rows = self.all(
            "UPDATE tasks t SET owner = ?, lease_until = ? FROM (SELECT r.execution_arn, "
            f"r.task_id FROM tasks r{served} WHERE r.kind = 'handler' AND r.target = ANY(?) "
            "AND (r.lease_until IS NULL OR r.lease_until < ?) LIMIT ? FOR UPDATE OF r SKIP "
            "LOCKED) c WHERE t.execution_arn = c.execution_arn AND t.task_id = c.task_id "
            f"RETURNING {columns}, "
            "(SELECT e.trace_header FROM executions e WHERE e.arn = t.execution_arn)",
            (
                (owner, until, list(targets), now, limit)
                if machines is None
                else (owner, until, list(machines), list(targets), now, limit)
            ),
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

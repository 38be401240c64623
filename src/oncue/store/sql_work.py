"""Statements on the work of executions: inbox, timers, tasks, task tokens, outbox."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from oncue.store.records import Message, NewTask, OutboxEntry, TaskClaim, TokenRecord
from oncue.store.sql_base import TxBase

__all__ = ["WorkStatements"]

_TASK_COLUMNS = (
    "execution_arn, task_id, kind, target, resource, payload, state_name, attempt, token, "
    "lease_until"
)


def _claim(row: Sequence[Any]) -> TaskClaim:
    return TaskClaim(
        execution_arn=row[0],
        task_id=row[1],
        kind=row[2],
        target=row[3],
        resource=row[4],
        payload=row[5],
        state_name=row[6],
        attempt=row[7],
        token=row[8],
        lease_until=row[9],
    )


#: Written once: the PostgreSQL transaction queues the same text (its batching,
#: :data:`oncue.store.pg_batch.BULK`, recognises it by that text).
_INSERT_TASK = (
    "INSERT INTO tasks (execution_arn, task_id, kind, target, resource, payload, "
    "state_name, attempt, token, created, owner, lease_until) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _task_values(tasks: Iterable[NewTask], now: float) -> list[tuple[Any, ...]]:
    """The parameters of :data:`_INSERT_TASK`, one row per task."""
    return [
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
    ]


class WorkStatements(TxBase):
    # --- serving some state machines ---------------------------------------------------

    def _of_machines(self, alias: str, machines: Sequence[str] | None) -> tuple[str, str]:
        """A join that keeps rows of ``alias`` (a table with ``execution_arn``) whose
        execution belongs to one of ``machines``: the join and the condition to append.

        The join is driven by the claimed table (pending rows only, through its own index)
        and looks each execution up by its key; on SQLite ``CROSS JOIN`` fixes that order, so
        the planner never walks every execution of a machine (``executions_by_machine``
        holds the finished ones too).
        """
        if machines is None:
            return "", ""
        if not machines:
            return "", " AND 1 = 0"
        join = "CROSS JOIN" if self.dialect == "sqlite" else "JOIN"
        marks = ", ".join("?" * len(machines))
        return (
            f" {join} executions m ON m.arn = {alias}.execution_arn",
            f" AND m.state_machine_arn IN ({marks})",
        )

    # --- inbox -------------------------------------------------------------------------

    def add_messages(self, rows: Iterable[tuple[str, str]]) -> None:
        """(execution_arn, body) pairs."""
        self.many("INSERT INTO inbox (execution_arn, body) VALUES (?, ?)", rows)

    def take_messages(self, limit: int, machines: Sequence[str] | None = None) -> list[Message]:
        """Pending messages, oldest first, to apply in this transaction (messages of
        executions that exist; PostgreSQL takes those of executions it could lock);
        ``machines``: only those of executions of these state machines (ARNs)."""
        join, where = self._of_machines("i", machines)
        rows = self.all(
            f"SELECT i.id, i.execution_arn, i.body FROM inbox i{join} WHERE 1 = 1{where} "
            "ORDER BY i.id LIMIT ?",
            [*(machines or ()), limit],
        )
        return [Message(id=row[0], execution_arn=row[1], body=row[2]) for row in rows]

    def messages_for(self, arns: Sequence[str]) -> list[Message]:
        marks = ", ".join("?" * len(arns))
        rows = self.all(
            f"SELECT id, execution_arn, body FROM inbox WHERE execution_arn IN ({marks}) "
            "ORDER BY id",
            arns,
        )
        return [Message(id=row[0], execution_arn=row[1], body=row[2]) for row in rows]

    def delete_messages(self, ids: Iterable[int]) -> None:
        self.many("DELETE FROM inbox WHERE id = ?", [(i,) for i in ids])

    def has_messages(self) -> bool:
        return self.one("SELECT 1 FROM inbox LIMIT 1") is not None

    # --- timers ------------------------------------------------------------------------

    def add_timers(self, rows: Iterable[tuple[str, str, float]]) -> None:
        self.many("INSERT INTO timers (execution_arn, timer_id, due) VALUES (?, ?, ?)", rows)

    def delete_timers(self, rows: Iterable[tuple[str, str]]) -> None:
        self.many("DELETE FROM timers WHERE execution_arn = ? AND timer_id = ?", rows)

    def due_timers(
        self, now: float, limit: int, machines: Sequence[str] | None = None
    ) -> list[tuple[str, str]]:
        join, where = self._of_machines("t", machines)
        rows = self.all(
            f"SELECT t.execution_arn, t.timer_id FROM timers t{join} WHERE t.due <= ?{where} "
            "ORDER BY t.due LIMIT ?",
            [now, *(machines or ()), limit],
        )
        return [(row[0], row[1]) for row in rows]

    def next_timer(self, machines: Sequence[str] | None = None) -> float | None:
        """When the next timer is due (of executions of ``machines`` only, if given)."""
        if machines is None:
            row = self.one("SELECT MIN(due) FROM timers")
            return None if row is None else row[0]
        # In due order through timers_by_due, stopping at the first timer served here.
        join, where = self._of_machines("t", machines)
        row = self.one(
            f"SELECT t.due FROM timers t{join} WHERE 1 = 1{where} ORDER BY t.due LIMIT 1",
            list(machines),
        )
        return None if row is None else row[0]

    def delete_execution_work(self, arn: str) -> None:
        """A finished execution keeps no timers, tasks or open tokens."""
        self.run("DELETE FROM timers WHERE execution_arn = ?", (arn,))
        self.run("DELETE FROM tasks WHERE execution_arn = ?", (arn,))
        self.run("UPDATE tokens SET open = 0 WHERE execution_arn = ? AND open = 1", (arn,))

    # --- tasks -------------------------------------------------------------------------

    def add_tasks(self, tasks: Iterable[NewTask], now: float) -> None:
        self.many(_INSERT_TASK, _task_values(tasks, now))

    def finish_tasks(self, rows: Iterable[tuple[str, str]], owner: str | None) -> list[bool]:
        """Remove finished tasks; False where the task is gone or leased to someone else.

        This is the fence: a worker whose lease ran out (and whose task went to another
        worker) cannot report a result any more.
        """
        results: list[bool] = []
        for arn, task_id in rows:
            if owner is None:
                self.run(
                    "DELETE FROM tasks WHERE execution_arn = ? AND task_id = ?", (arn, task_id)
                )
            else:
                self.run(
                    "DELETE FROM tasks WHERE execution_arn = ? AND task_id = ? AND owner = ?",
                    (arn, task_id, owner),
                )
            results.append(self.cursor.rowcount > 0)
        return results

    def cancel_tasks(self, rows: Iterable[tuple[str, str]]) -> None:
        rows = list(rows)
        self.many("DELETE FROM tasks WHERE execution_arn = ? AND task_id = ?", rows)
        self.many(
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
        """Lease handler tasks that nobody holds (new, or whose lease ran out); ``machines``:
        only tasks of executions of these state machines (ARNs)."""
        if not targets or (machines is not None and not machines):
            return []
        marks = ", ".join("?" * len(targets))
        join, where = self._of_machines("tasks", machines)
        rows = self.all(
            f"SELECT {', '.join(f'tasks.{c.strip()}' for c in _TASK_COLUMNS.split(','))}, "
            "(SELECT e.trace_header FROM executions e WHERE e.arn = tasks.execution_arn) "
            f"FROM tasks{join} WHERE tasks.kind = 'handler' AND tasks.target IN ({marks}) "
            f"AND (tasks.lease_until IS NULL OR tasks.lease_until < ?){where} "
            f"LIMIT ?{self.claiming('tasks')}",
            [*targets, now, *(machines or ()), limit],
        )
        claims = []
        for row in rows:
            self.run(
                "UPDATE tasks SET owner = ?, lease_until = ? WHERE execution_arn = ? "
                "AND task_id = ?",
                (owner, until, row[0], row[1]),
            )
            claims.append(replace(_claim([*row[:9], until]), trace_header=row[10]))
        return claims

    def claim_activity_task(self, activity_arn: str, owner: str) -> TaskClaim | None:
        row = self.one(
            f"SELECT {_TASK_COLUMNS} FROM tasks WHERE kind = 'activity' AND target = ? "
            "AND owner IS NULL ORDER BY created LIMIT 1",
            (activity_arn,),
        )
        if row is None:
            return None
        self.run(
            "UPDATE tasks SET owner = ? WHERE execution_arn = ? AND task_id = ?",
            (owner, row[0], row[1]),
        )
        return _claim(row)

    def renew_leases(self, owner: str, until: float) -> None:
        # A task row another transaction holds is being finished or cancelled: skip it rather
        # than wait (waiting on rows in no fixed order could deadlock); the next renewal,
        # a third of a lease later, catches it if that transaction rolled back.
        self.run(
            "UPDATE tasks SET lease_until = ? WHERE (execution_arn, task_id) IN "
            "(SELECT execution_arn, task_id FROM tasks WHERE owner = ? AND kind = 'handler'"
            f"{self.claiming()})",
            (until, owner),
        )

    def release_leases(self, owner: str) -> None:
        """Graceful shutdown: hand unfinished tasks back at once."""
        self.run(
            "UPDATE tasks SET owner = NULL, lease_until = NULL WHERE (execution_arn, task_id) "
            "IN (SELECT execution_arn, task_id FROM tasks WHERE owner = ? AND kind = 'handler'"
            f"{self.claiming()})",
            (owner,),
        )
        self.announce("engine")  # another worker takes them now, not at its next poll

    # --- task tokens -------------------------------------------------------------------

    def add_tokens(self, rows: Iterable[tuple[str, str, str]]) -> None:
        """(token, execution_arn, task_id)."""
        self.many(
            "INSERT INTO tokens (token, execution_arn, task_id, open) VALUES (?, ?, ?, 1)", rows
        )

    def get_token(self, token: str) -> TokenRecord | None:
        row = self.one(
            "SELECT token, execution_arn, task_id, open FROM tokens WHERE token = ?", (token,)
        )
        if row is None:
            return None
        return TokenRecord(token=row[0], execution_arn=row[1], task_id=row[2], open=bool(row[3]))

    def close_tokens(self, rows: Iterable[tuple[str, str]]) -> None:
        self.many(
            "UPDATE tokens SET open = 0 WHERE execution_arn = ? AND task_id = ? AND open = 1",
            rows,
        )

    # --- outbox ------------------------------------------------------------------------

    def add_outbox(
        self, rows: Iterable[tuple[str, str, str, float]], *, trace: str | None = None
    ) -> None:
        """(event_id, execution_arn, entry JSON, created); ``trace``: the publisher's
        traceparent."""
        self.many(
            "INSERT INTO outbox (event_id, execution_arn, entry, created, trace) "
            "VALUES (?, ?, ?, ?, ?)",
            [(*row, trace) for row in rows],
        )

    def take_outbox(self, limit: int) -> list[OutboxEntry]:
        rows = self.all(
            "SELECT id, event_id, execution_arn, entry, created, trace FROM outbox "
            f"ORDER BY id LIMIT ?{self.claiming()}",
            (limit,),
        )
        return [
            OutboxEntry(
                id=r[0], event_id=r[1], execution_arn=r[2], entry=r[3], created=r[4], trace=r[5]
            )
            for r in rows
        ]

    def delete_outbox(self, ids: Iterable[int]) -> None:
        self.many("DELETE FROM outbox WHERE id = ?", [(i,) for i in ids])

"""One transaction against a SQL store: every read and write the engine makes.

The same statements serve SQLite and PostgreSQL; they are written with ``?`` placeholders and
the PostgreSQL driver's are substituted once per statement (a cached rewrite). A ``Tx`` is only
ever used inside :meth:`SqlStore.transaction`, which commits it or rolls it back as a whole:
the engine's promise "state, history and commands in one transaction" is this object.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, Protocol

from oncue.store.records import (
    ActivityRecord,
    ExecutionRecord,
    ExecutionUpdate,
    Message,
    NewTask,
    OutboxEntry,
    StateMachineRecord,
    TaskClaim,
    TokenRecord,
    VersionRecord,
)

__all__ = ["Cursor", "Tx"]

_EXECUTION_COLUMNS = (
    "arn, name, state_machine_arn, revision_id, status, input, start_date, output, error, "
    "cause, stop_date, redrive_count, redrive_date, parent_arn, parent_task, parent_pattern, "
    "trace_header, version, version_arn"
)
_TASK_COLUMNS = (
    "execution_arn, task_id, kind, target, resource, payload, state_name, attempt, token, "
    "lease_until"
)


class Cursor(Protocol):
    """The part of a DB-API cursor a transaction uses."""

    def execute(self, sql: str, params: Sequence[Any] = ..., /) -> Any: ...
    def executemany(self, sql: str, params: Iterable[Sequence[Any]], /) -> Any: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...

    @property
    def rowcount(self) -> int: ...


@lru_cache(maxsize=512)
def _pg(sql: str) -> str:
    return sql.replace("?", "%s")


def _execution(row: Sequence[Any], state: str | None = None) -> ExecutionRecord:
    return ExecutionRecord(
        arn=row[0],
        name=row[1],
        state_machine_arn=row[2],
        revision_id=row[3],
        status=row[4],
        input=row[5],
        start_date=row[6],
        output=row[7],
        error=row[8],
        cause=row[9],
        stop_date=row[10],
        redrive_count=row[11],
        redrive_date=row[12],
        parent_arn=row[13],
        parent_task=row[14],
        parent_pattern=row[15],
        trace_header=row[16],
        version=row[17],
        version_arn=row[18],
        state=state,
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


class Tx:
    """The statements of one transaction."""

    def __init__(
        self,
        cursor: Cursor,
        dialect: str,
        driver_errors: tuple[type[Exception], ...] = (),
    ) -> None:
        self.cursor = cursor
        self.dialect = dialect
        #: The database driver's exceptions: a failing statement, not a failing execution.
        self.driver_errors: tuple[type[Exception], ...] = (*driver_errors, OSError)
        self.savepoints = 0

    # --- plumbing ----------------------------------------------------------------------

    def _sql(self, sql: str) -> str:
        return _pg(sql) if self.dialect == "postgresql" else sql

    def run(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        self.cursor.execute(self._sql(sql), params)
        return self.cursor

    def many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        rows = list(rows)
        if rows:
            self.cursor.executemany(self._sql(sql), rows)

    def one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.run(sql, params).fetchone()

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return self.run(sql, params).fetchall()

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A nested transaction: what fails inside is undone, the rest stays."""
        self.savepoints += 1
        name = f"sp{self.savepoints}"
        self.run(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            self.run(f"ROLLBACK TO SAVEPOINT {name}")
            self.run(f"RELEASE SAVEPOINT {name}")
            raise
        self.run(f"RELEASE SAVEPOINT {name}")

    # --- state machines ----------------------------------------------------------------

    def insert_state_machine(self, r: StateMachineRecord) -> None:
        self.run(
            "INSERT INTO state_machines (arn, name, definition, role_arn, type, description, "
            "revision_id, creation_date, update_date) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                r.arn,
                r.name,
                r.definition,
                r.role_arn,
                r.type,
                r.description,
                r.revision_id,
                r.creation_date,
                r.update_date,
            ),
        )

    def update_state_machine(self, r: StateMachineRecord) -> None:
        self.run(
            "UPDATE state_machines SET definition = ?, role_arn = ?, description = ?, "
            "revision_id = ?, update_date = ? WHERE arn = ?",
            (r.definition, r.role_arn, r.description, r.revision_id, r.update_date, r.arn),
        )

    def get_state_machine(self, arn: str) -> StateMachineRecord | None:
        row = self.one(
            "SELECT arn, name, definition, role_arn, type, description, revision_id, "
            "creation_date, update_date FROM state_machines WHERE arn = ?",
            (arn,),
        )
        return None if row is None else StateMachineRecord(**_sm(row))

    def list_state_machines(self, after: str | None, limit: int) -> list[StateMachineRecord]:
        rows = self.all(
            "SELECT arn, name, definition, role_arn, type, description, revision_id, "
            "creation_date, update_date FROM state_machines WHERE name > ? ORDER BY name "
            "LIMIT ?",
            (after or "", limit),
        )
        return [StateMachineRecord(**_sm(row)) for row in rows]

    def delete_state_machine(self, arn: str) -> None:
        self.run("DELETE FROM state_machine_versions WHERE state_machine_arn = ?", (arn,))
        self.run("DELETE FROM state_machines WHERE arn = ?", (arn,))

    def insert_version(self, r: VersionRecord) -> None:
        self.run(
            "INSERT INTO state_machine_versions (arn, state_machine_arn, version, definition, "
            "role_arn, description, revision_id, creation_date) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                r.arn,
                r.state_machine_arn,
                r.version,
                r.definition,
                r.role_arn,
                r.description,
                r.revision_id,
                r.creation_date,
            ),
        )

    def delete_version(self, arn: str) -> None:
        self.run("DELETE FROM state_machine_versions WHERE arn = ?", (arn,))

    def get_version(self, arn: str) -> VersionRecord | None:
        row = self.one(
            "SELECT arn, state_machine_arn, version, definition, role_arn, description, "
            "revision_id, creation_date FROM state_machine_versions WHERE arn = ?",
            (arn,),
        )
        return None if row is None else _version(row)

    def list_versions(self, state_machine_arn: str) -> list[VersionRecord]:
        rows = self.all(
            "SELECT arn, state_machine_arn, version, definition, role_arn, description, "
            "revision_id, creation_date FROM state_machine_versions "
            "WHERE state_machine_arn = ? ORDER BY version DESC",
            (state_machine_arn,),
        )
        return [_version(row) for row in rows]

    def put_definition(self, revision_id: str, definition: str) -> None:
        if self.one("SELECT 1 FROM definitions WHERE revision_id = ?", (revision_id,)) is None:
            self.run(
                "INSERT INTO definitions (revision_id, definition) VALUES (?, ?)",
                (revision_id, definition),
            )

    def get_definition(self, revision_id: str) -> str | None:
        row = self.one("SELECT definition FROM definitions WHERE revision_id = ?", (revision_id,))
        return None if row is None else str(row[0])

    # --- executions --------------------------------------------------------------------

    def insert_execution(self, r: ExecutionRecord) -> None:
        self.run(
            f"INSERT INTO executions ({_EXECUTION_COLUMNS}, state) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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

    def get_execution(self, arn: str, *, with_state: bool = False) -> ExecutionRecord | None:
        columns = _EXECUTION_COLUMNS + (", state" if with_state else "")
        row = self.one(f"SELECT {columns} FROM executions WHERE arn = ?", (arn,))
        if row is None:
            return None
        return _execution(row, row[19] if with_state else None)

    def get_executions(self, arns: Sequence[str]) -> dict[str, ExecutionRecord]:
        """Several executions with their state, for one batch of transitions."""
        found: dict[str, ExecutionRecord] = {}
        for start in range(0, len(arns), 500):
            chunk = arns[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            rows = self.all(
                f"SELECT {_EXECUTION_COLUMNS}, state FROM executions WHERE arn IN ({marks})",
                chunk,
            )
            for row in rows:
                found[row[0]] = _execution(row, row[19])
        return found

    def running_child(self, parent_arn: str, task_id: str) -> str | None:
        row = self.one(
            "SELECT arn FROM executions WHERE parent_arn = ? AND parent_task = ? "
            "AND status = 'RUNNING'",
            (parent_arn, task_id),
        )
        return None if row is None else str(row[0])

    def set_redrive_date(self, arn: str, when: float) -> None:
        self.run("UPDATE executions SET redrive_date = ? WHERE arn = ?", (when, arn))

    def list_executions(
        self,
        *,
        state_machine_arn: str | None,
        status: str | None,
        started_after: float | None,
        started_before: float | None,
        before: tuple[float, str] | None,
        limit: int,
        version_arn: str | None = None,
    ) -> list[ExecutionRecord]:
        """Newest first; ``before`` is the (start_date, arn) of the last item of a page."""
        where: list[str] = []
        params: list[Any] = []
        if version_arn is not None:
            where.append("version_arn = ?")
            params.append(version_arn)
        if state_machine_arn is not None:
            where.append("state_machine_arn = ?")
            params.append(state_machine_arn)
        if status is not None:
            where.append("status = ?")
            params.append(status)
        if started_after is not None:
            where.append("start_date >= ?")
            params.append(started_after)
        if started_before is not None:
            where.append("start_date < ?")
            params.append(started_before)
        if before is not None:
            where.append("(start_date < ? OR (start_date = ? AND arn < ?))")
            params.extend([before[0], before[0], before[1]])
        clause = ("WHERE " + " AND ".join(where)) if where else ""
        rows = self.all(
            f"SELECT {_EXECUTION_COLUMNS} FROM executions {clause} "
            "ORDER BY start_date DESC, arn DESC LIMIT ?",
            [*params, limit],
        )
        return [_execution(row) for row in rows]

    def update_executions(self, updates: Sequence[ExecutionUpdate]) -> int:
        """Apply transitions; each only if the row still has the version it was read at."""
        changed = 0
        sql = self._sql(
            "UPDATE executions SET status = ?, state = ?, output = ?, error = ?, cause = ?, "
            "stop_date = ?, redrive_count = ?, redrive_date = ?, version = version + 1 "
            "WHERE arn = ? AND version = ?"
        )
        for u in updates:
            self.cursor.execute(
                sql,
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
            )
            changed += self.cursor.rowcount
        return changed

    def append_history(self, rows: Iterable[tuple[str, int, int, str]]) -> None:
        """(execution_arn, first_id, last_id, JSON array of events) per transition."""
        self.many(
            "INSERT INTO history (execution_arn, first_id, last_id, events) VALUES (?, ?, ?, ?)",
            rows,
        )

    def last_history_id(self, arn: str) -> int:
        row = self.one("SELECT MAX(last_id) FROM history WHERE execution_arn = ?", (arn,))
        return int(row[0] or 0) if row is not None else 0

    def fail_execution(self, arn: str, error: str, cause: str, stop_date: float) -> None:
        """Fail an execution outside the interpreter (the engine could not run it)."""
        self.run(
            "UPDATE executions SET status = 'FAILED', error = ?, cause = ?, stop_date = ?, "
            "version = version + 1 WHERE arn = ?",
            (error, cause, stop_date, arn),
        )

    def history_chunks(
        self, arn: str, *, from_id: int, reverse: bool, limit: int
    ) -> list[tuple[int, int, str]]:
        """Stored chunks holding events from ``from_id`` on (or back, when reversed)."""
        if reverse:
            return self.all(
                "SELECT first_id, last_id, events FROM history WHERE execution_arn = ? "
                "AND first_id <= ? ORDER BY first_id DESC LIMIT ?",
                (arn, from_id, limit),
            )
        return self.all(
            "SELECT first_id, last_id, events FROM history WHERE execution_arn = ? "
            "AND last_id >= ? ORDER BY first_id LIMIT ?",
            (arn, from_id, limit),
        )

    def finished_before(self, stop_date: float, limit: int) -> list[str]:
        rows = self.all(
            "SELECT arn FROM executions WHERE stop_date < ? AND status <> 'RUNNING' "
            "ORDER BY stop_date LIMIT ?",
            (stop_date, limit),
        )
        return [row[0] for row in rows]

    def delete_executions(self, arns: Sequence[str]) -> int:
        """Delete finished executions and everything they own; the number deleted."""
        deleted = 0
        for arn in arns:
            self.run("DELETE FROM executions WHERE arn = ? AND status <> 'RUNNING'", (arn,))
            if self.cursor.rowcount:
                deleted += 1
                for table in ("history", "tokens", "inbox", "timers", "tasks"):
                    self.run(f"DELETE FROM {table} WHERE execution_arn = ?", (arn,))
        return deleted

    # --- inbox -------------------------------------------------------------------------

    def add_messages(self, rows: Iterable[tuple[str, str]]) -> None:
        """(execution_arn, body) pairs."""
        self.many("INSERT INTO inbox (execution_arn, body) VALUES (?, ?)", rows)

    def take_messages(self, limit: int) -> list[Message]:
        rows = self.all("SELECT id, execution_arn, body FROM inbox ORDER BY id LIMIT ?", (limit,))
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

    def due_timers(self, now: float, limit: int) -> list[tuple[str, str]]:
        rows = self.all(
            "SELECT execution_arn, timer_id FROM timers WHERE due <= ? ORDER BY due LIMIT ?",
            (now, limit),
        )
        return [(row[0], row[1]) for row in rows]

    def next_timer(self) -> float | None:
        row = self.one("SELECT MIN(due) FROM timers")
        return None if row is None else row[0]

    def delete_execution_work(self, arn: str) -> None:
        """A finished execution keeps no timers, tasks or open tokens."""
        self.run("DELETE FROM timers WHERE execution_arn = ?", (arn,))
        self.run("DELETE FROM tasks WHERE execution_arn = ?", (arn,))
        self.run("UPDATE tokens SET open = 0 WHERE execution_arn = ? AND open = 1", (arn,))

    # --- tasks -------------------------------------------------------------------------

    def add_tasks(self, tasks: Iterable[NewTask], now: float) -> None:
        self.many(
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
        self, *, owner: str, targets: Sequence[str], now: float, until: float, limit: int
    ) -> list[TaskClaim]:
        """Lease handler tasks that nobody holds (new, or whose lease ran out)."""
        if not targets:
            return []
        marks = ", ".join("?" * len(targets))
        rows = self.all(
            f"SELECT {_TASK_COLUMNS} FROM tasks WHERE kind = 'handler' AND target IN ({marks}) "
            "AND (lease_until IS NULL OR lease_until < ?) LIMIT ?",
            [*targets, now, limit],
        )
        claims = []
        for row in rows:
            self.run(
                "UPDATE tasks SET owner = ?, lease_until = ? WHERE execution_arn = ? "
                "AND task_id = ?",
                (owner, until, row[0], row[1]),
            )
            claims.append(_claim([*row[:9], until]))
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
        self.run(
            "UPDATE tasks SET lease_until = ? WHERE owner = ? AND kind = 'handler'",
            (until, owner),
        )

    def release_leases(self, owner: str) -> None:
        """Graceful shutdown: hand unfinished tasks back at once."""
        self.run(
            "UPDATE tasks SET owner = NULL, lease_until = NULL WHERE owner = ? "
            "AND kind = 'handler'",
            (owner,),
        )

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

    # --- activities --------------------------------------------------------------------

    def insert_activity(self, r: ActivityRecord) -> None:
        self.run(
            "INSERT INTO activities (arn, name, creation_date) VALUES (?, ?, ?)",
            (r.arn, r.name, r.creation_date),
        )

    def get_activity(self, arn: str) -> ActivityRecord | None:
        row = self.one("SELECT arn, name, creation_date FROM activities WHERE arn = ?", (arn,))
        return (
            None if row is None else ActivityRecord(arn=row[0], name=row[1], creation_date=row[2])
        )

    def list_activities(self, after: str | None, limit: int) -> list[ActivityRecord]:
        rows = self.all(
            "SELECT arn, name, creation_date FROM activities WHERE name > ? ORDER BY name LIMIT ?",
            (after or "", limit),
        )
        return [ActivityRecord(arn=r[0], name=r[1], creation_date=r[2]) for r in rows]

    def delete_activity(self, arn: str) -> None:
        self.run("DELETE FROM activities WHERE arn = ?", (arn,))

    # --- outbox ------------------------------------------------------------------------

    def add_outbox(self, rows: Iterable[tuple[str, str, str, float]]) -> None:
        """(event_id, execution_arn, entry JSON, created)."""
        self.many(
            "INSERT INTO outbox (event_id, execution_arn, entry, created) VALUES (?, ?, ?, ?)",
            rows,
        )

    def take_outbox(self, limit: int) -> list[OutboxEntry]:
        rows = self.all(
            "SELECT id, event_id, execution_arn, entry, created FROM outbox ORDER BY id LIMIT ?",
            (limit,),
        )
        return [
            OutboxEntry(id=r[0], event_id=r[1], execution_arn=r[2], entry=r[3], created=r[4])
            for r in rows
        ]

    def delete_outbox(self, ids: Iterable[int]) -> None:
        self.many("DELETE FROM outbox WHERE id = ?", [(i,) for i in ids])


def _sm(row: Sequence[Any]) -> dict[str, Any]:
    keys = (
        "arn",
        "name",
        "definition",
        "role_arn",
        "type",
        "description",
        "revision_id",
        "creation_date",
        "update_date",
    )
    return dict(zip(keys, row, strict=True))


def _version(row: Sequence[Any]) -> VersionRecord:
    return VersionRecord(
        arn=row[0],
        state_machine_arn=row[1],
        version=row[2],
        definition=row[3],
        role_arn=row[4],
        description=row[5],
        revision_id=row[6],
        creation_date=row[7],
    )

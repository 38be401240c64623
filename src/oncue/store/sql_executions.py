"""Statements on executions and their history."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from oncue.errors import StoreError
from oncue.store.records import ExecutionRecord, ExecutionUpdate
from oncue.store.sql_base import TxBase

__all__ = ["ExecutionStatements"]

_EXECUTION_COLUMNS = (
    "arn, name, state_machine_arn, revision_id, status, input, start_date, output, error, "
    "cause, stop_date, redrive_count, redrive_date, parent_arn, parent_task, parent_pattern, "
    "trace_header, version, version_arn"
)


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


#: Each statement written once: the PostgreSQL transaction sends the same text (its batching,
#: :data:`oncue.store.pg_batch.BULK`, recognises it by that text).
_INSERT_EXECUTION = (
    f"INSERT INTO executions ({_EXECUTION_COLUMNS}, state) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_UPDATE_EXECUTION = (
    "UPDATE executions SET status = ?, state = ?, output = ?, error = ?, cause = ?, "
    "stop_date = ?, redrive_count = ?, redrive_date = ?, version = version + 1 "
    "WHERE arn = ? AND version = ?"
)


def _execution_values(r: ExecutionRecord) -> tuple[Any, ...]:
    """The parameters of :data:`_INSERT_EXECUTION`."""
    return (
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
    )


def _update_values(u: ExecutionUpdate) -> tuple[Any, ...]:
    """The parameters of :data:`_UPDATE_EXECUTION`."""
    return (
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


class ExecutionStatements(TxBase):
    # --- executions --------------------------------------------------------------------

    def insert_execution(self, r: ExecutionRecord) -> None:
        self.run(_INSERT_EXECUTION, _execution_values(r))

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
        sql = self._sql(_UPDATE_EXECUTION)
        for u in updates:
            self.cursor.execute(sql, _update_values(u))
            changed += self.cursor.rowcount
        return changed

    def fence_executions(self, updates: Sequence[ExecutionUpdate]) -> None:
        """Apply transitions that must find each row at its expected version, or fail the
        transaction: raises :class:`~oncue.errors.StoreError` now (here) or, where a backend
        sends writes in batches, at the latest when the transaction commits."""
        if self.update_executions(updates) != len(updates):
            stale = ", ".join(u.arn for u in updates)
            raise StoreError(f"the execution {stale} changed under this transition")

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

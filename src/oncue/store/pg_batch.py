"""Sending a PostgreSQL transaction's queued writes in as few statements as possible.

A batch of transitions queues, per execution, an insert into ``tasks``, a fenced update of
``executions`` and an insert into ``history`` (see :mod:`oncue.store.pg_tx`): sent as they
come, that is three statements per execution, and the client-side cost of a statement
(psycopg adapts and sends each) dominates. :func:`plan` regroups the queue:

- **By table, keeping each table's order.** The schema has no foreign keys and no triggers,
  so statements on different tables commute; statements on one table keep their relative
  order (an insert and a later delete of the same task stay in that order). Anything that is
  not an INSERT/UPDATE/DELETE of one table (a savepoint, ``pg_notify``) is a barrier nothing
  moves across.
- **Runs of one statement become one.** For the statements batches repeat (listed in
  ``BULK``), a run of them is rewritten as one statement over ``unnest`` of one array per
  column; other runs go through ``executemany``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from oncue.store.placeholders import to_format_style

__all__ = ["BULK", "Batch", "Bulk", "plan", "table_of"]


@dataclass(frozen=True, slots=True)
class Bulk:
    """The one-statement form of a run: its SQL, and each column's conversion."""

    sql: str
    columns: tuple[Callable[[Any], Any], ...]
    #: A fenced update: the statement returns the ARNs it changed.
    fenced: bool = False

    def params(self, rows: Sequence[Sequence[Any]]) -> list[list[Any]]:
        """One array per column (values converted so each array has one element type)."""
        return [
            [None if row[i] is None else convert(row[i]) for row in rows]
            for i, convert in enumerate(self.columns)
        ]


@dataclass(slots=True)
class Batch:
    """Consecutive queued statements with one SQL text: sent as one statement if it can."""

    sql: str
    rows: list[Sequence[Any]] = field(default_factory=list)
    tags: list[str | None] = field(default_factory=list)


_T, _I, _F = str, int, float


def _bulk(sql: str, types: str, columns: tuple[Callable[[Any], Any], ...], **kw: Any) -> Bulk:
    # %b: the arrays go in binary form, with no per-element quoting and escaping to do
    # (a text array of JSON documents costs a regex substitution per quote).
    statement = to_format_style(sql.format(types=types)).replace("%s", "%b")
    return Bulk(sql=statement, columns=columns, **kw)


#: Queued statement (psycopg style) -> its one-statement form.
BULK: Final[dict[str, Bulk]] = {
    to_format_style(
        "INSERT INTO history (execution_arn, first_id, last_id, events) VALUES (?, ?, ?, ?)"
    ): _bulk(
        "INSERT INTO history (execution_arn, first_id, last_id, events) SELECT * FROM {types}",
        "unnest(?::text[], ?::bigint[], ?::bigint[], ?::text[])",
        (_T, _I, _I, _T),
    ),
    to_format_style("INSERT INTO inbox (execution_arn, body) VALUES (?, ?)"): _bulk(
        "INSERT INTO inbox (execution_arn, body) SELECT * FROM {types}",
        "unnest(?::text[], ?::text[])",
        (_T, _T),
    ),
    to_format_style(
        "INSERT INTO tasks (execution_arn, task_id, kind, target, resource, payload, "
        "state_name, attempt, token, created, owner, lease_until) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    ): _bulk(
        "INSERT INTO tasks (execution_arn, task_id, kind, target, resource, payload, "
        "state_name, attempt, token, created, owner, lease_until) SELECT * FROM {types}",
        "unnest(?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], "
        "?::bigint[], ?::text[], ?::float8[], ?::text[], ?::float8[])",
        (_T, _T, _T, _T, _T, _T, _T, _I, _T, _F, _T, _F),
    ),
    to_format_style(
        "UPDATE executions SET status = ?, state = ?, output = ?, error = ?, cause = ?, "
        "stop_date = ?, redrive_count = ?, redrive_date = ?, version = version + 1 "
        "WHERE arn = ? AND version = ?"
    ): _bulk(
        "UPDATE executions e SET status = u.status, state = u.state, output = u.output, "
        "error = u.error, cause = u.cause, stop_date = u.stop_date, "
        "redrive_count = u.redrive_count, redrive_date = u.redrive_date, "
        "version = e.version + 1 FROM {types} WHERE e.arn = u.arn AND e.version = u.expected "
        "RETURNING e.arn",
        "unnest(?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::float8[], "
        "?::bigint[], ?::float8[], ?::text[], ?::bigint[]) AS u(status, state, output, error, "
        "cause, stop_date, redrive_count, redrive_date, arn, expected)",
        (_T, _T, _T, _T, _T, _F, _I, _F, _T, _I),
        fenced=True,
    ),
}


def table_of(sql: str) -> str | None:
    """The one table an INSERT, UPDATE or DELETE writes; None for anything else."""
    words = sql.split(None, 3)
    if len(words) < 2:
        return None
    verb = words[0].upper()
    if verb in ("INSERT", "DELETE") and len(words) >= 3 and words[1].upper() in ("INTO", "FROM"):
        return words[2].split("(")[0].lower()
    if verb == "UPDATE":
        return words[1].lower()
    return None


def plan(queued: Sequence[tuple[str, Sequence[Any], str | None]]) -> list[Batch]:
    """The queue regrouped (see the module docstring), as batches to send in order."""
    batches: list[Batch] = []
    segment: dict[str, list[tuple[str, Sequence[Any], str | None]]] = {}

    def close_segment() -> None:
        for statements in segment.values():
            for sql, params, tag in statements:
                last = batches[-1] if batches else None
                if last is None or last.sql != sql or (tag == "") or ("" in last.tags):
                    last = Batch(sql)
                    batches.append(last)
                last.rows.append(params)
                last.tags.append(tag)
        segment.clear()

    for entry in queued:
        table = table_of(entry[0])
        if table is None:
            close_segment()
            batches.append(Batch(entry[0], [entry[1]], [entry[2]]))
            continue
        segment.setdefault(table, []).append(entry)
    close_segment()
    return batches

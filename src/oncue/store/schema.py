"""Versioned schema migrations, shared by every SQL backend.

Each migration is applied once, in order, inside a transaction, and recorded in
``oncue_schema``; opening a database applies the ones it lacks. ``{serial}``, ``{float}`` and
``{blob}`` stand for the column types that differ between SQLite and PostgreSQL.

History is stored one row per transition (a JSON array of that transition's events, with
its first and last event id), not one row per event: a transition writes one row, and a page
of history reads a few.
"""

from __future__ import annotations

from typing import Final

__all__ = ["MIGRATIONS", "render"]

MIGRATIONS: Final[tuple[tuple[int, str, tuple[str, ...]], ...]] = (
    (
        1,
        "executions, history, inbox, timers, tasks, tokens, activities, outbox",
        (
            """CREATE TABLE state_machines (
                arn TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, definition TEXT NOT NULL,
                role_arn TEXT NOT NULL, type TEXT NOT NULL, description TEXT NOT NULL,
                revision_id TEXT NOT NULL, creation_date {float} NOT NULL,
                update_date {float})""",
            """CREATE TABLE state_machine_versions (
                arn TEXT PRIMARY KEY, state_machine_arn TEXT NOT NULL, version INTEGER NOT NULL,
                definition TEXT NOT NULL, role_arn TEXT NOT NULL, description TEXT NOT NULL,
                revision_id TEXT NOT NULL, creation_date {float} NOT NULL,
                UNIQUE (state_machine_arn, version))""",
            """CREATE TABLE definitions (
                revision_id TEXT PRIMARY KEY, definition TEXT NOT NULL)""",
            """CREATE TABLE executions (
                arn TEXT PRIMARY KEY, name TEXT NOT NULL, state_machine_arn TEXT NOT NULL,
                revision_id TEXT NOT NULL, version_arn TEXT, status TEXT NOT NULL,
                input TEXT NOT NULL,
                output TEXT, error TEXT, cause TEXT, start_date {float} NOT NULL,
                stop_date {float}, redrive_count INTEGER NOT NULL DEFAULT 0,
                redrive_date {float}, parent_arn TEXT, parent_task TEXT, parent_pattern TEXT,
                trace_header TEXT, version INTEGER NOT NULL DEFAULT 0, state TEXT)""",
            "CREATE INDEX executions_by_machine ON executions (state_machine_arn, start_date)",
            "CREATE INDEX executions_by_status ON executions (status, start_date)",
            "CREATE INDEX executions_by_stop ON executions (stop_date)",
            "CREATE INDEX executions_by_parent ON executions (parent_arn, parent_task)",
            """CREATE TABLE history (
                execution_arn TEXT NOT NULL, first_id INTEGER NOT NULL,
                last_id INTEGER NOT NULL, events TEXT NOT NULL,
                PRIMARY KEY (execution_arn, first_id))""",
            """CREATE TABLE inbox (
                id {serial}, execution_arn TEXT NOT NULL, body TEXT NOT NULL)""",
            "CREATE INDEX inbox_by_execution ON inbox (execution_arn, id)",
            """CREATE TABLE timers (
                execution_arn TEXT NOT NULL, timer_id TEXT NOT NULL, due {float} NOT NULL,
                PRIMARY KEY (execution_arn, timer_id))""",
            "CREATE INDEX timers_by_due ON timers (due)",
            """CREATE TABLE tasks (
                execution_arn TEXT NOT NULL, task_id TEXT NOT NULL, kind TEXT NOT NULL,
                target TEXT NOT NULL, resource TEXT NOT NULL, payload TEXT NOT NULL,
                state_name TEXT NOT NULL, attempt INTEGER NOT NULL, token TEXT,
                created {float} NOT NULL, owner TEXT, lease_until {float},
                PRIMARY KEY (execution_arn, task_id))""",
            "CREATE INDEX tasks_ready ON tasks (kind, target, lease_until)",
            """CREATE TABLE tokens (
                token TEXT PRIMARY KEY, execution_arn TEXT NOT NULL, task_id TEXT NOT NULL,
                open INTEGER NOT NULL)""",
            "CREATE INDEX tokens_by_execution ON tokens (execution_arn)",
            """CREATE TABLE activities (
                arn TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE,
                creation_date {float} NOT NULL)""",
            """CREATE TABLE outbox (
                id {serial}, event_id TEXT NOT NULL, execution_arn TEXT NOT NULL,
                entry TEXT NOT NULL, created {float} NOT NULL)""",
        ),
    ),
)

_TYPES: Final = {
    "sqlite": {"serial": "INTEGER PRIMARY KEY AUTOINCREMENT", "float": "REAL", "blob": "BLOB"},
    "postgresql": {
        "serial": "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
        "float": "DOUBLE PRECISION",
        "blob": "BYTEA",
    },
}


def render(statement: str, dialect: str) -> str:
    """A migration statement with the dialect's column types filled in."""
    return statement.format(**_TYPES[dialect])

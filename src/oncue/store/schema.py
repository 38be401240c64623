"""Versioned schema migrations, shared by every SQL backend.

Each migration is applied once, in order, inside a transaction, and recorded in
``oncue_schema``; opening a database applies the ones it lacks. SQLite and PostgreSQL apply
the same list: a migration is written once, in portable DDL, and :func:`render` translates
the few column types that differ. ``{serial}``, ``{float}`` and ``{blob}`` name them
explicitly; for PostgreSQL, :func:`render` also translates SQLite's own spellings, so a
migration written with them still works on both:

=====================================  ================================================
SQLite                                 PostgreSQL
=====================================  ================================================
``INTEGER PRIMARY KEY AUTOINCREMENT``  ``BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY``
``INTEGER`` (64-bit in SQLite)         ``BIGINT``
``REAL``                               ``DOUBLE PRECISION``
``BLOB``                               ``BYTEA``
``TEXT`` (compared byte by byte)       ``TEXT COLLATE "C"``
=====================================  ================================================

Everything else (``TEXT``, ``PRIMARY KEY``, ``UNIQUE``, ``CREATE INDEX``, ``INSERT ... SELECT``)
means the same in both.

History is stored one row per transition (a JSON array of that transition's events, with
its first and last event id), not one row per event: a transition writes one row, and a page
of history reads a few.

The event bus (migration 2) keeps an accepted event once, in ``bus_events``, and one
``bus_deliveries`` row per matching target: PutEvents writes both in one transaction, and a
delivery row disappears when its target has the event (or the event went to the dead letters).

Migration 3 adds archives (with their events), replays (with their progress), the next fire
time of each scheduled rule, connections and API destinations.

Tracing (migration 4) keeps an append-only record beside them: ``trace_events`` (each accepted
event's trace id and parent span) and ``trace_deliveries`` (each delivery attempt's outcome).

Migration 5 indexes the dead letters by delivery (event, rule, target).
"""

from __future__ import annotations

import re
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
    (
        2,
        "event buses, rules, targets, events, deliveries, dead letters, queue messages",
        (
            # ``revision`` changes with every change to the bus's rules or targets, so each
            # process notices when its cached rule index is out of date.
            """CREATE TABLE event_buses (
                name TEXT PRIMARY KEY, description TEXT, revision TEXT NOT NULL,
                creation_time {float} NOT NULL, last_modified {float} NOT NULL)""",
            # The default bus always exists: it was created with the database.
            """INSERT INTO event_buses (name, description, revision, creation_time,
                last_modified)
                SELECT 'default', NULL, 'default', COALESCE(MIN(applied), 0),
                COALESCE(MIN(applied), 0) FROM oncue_schema""",
            """CREATE TABLE event_rules (
                bus TEXT NOT NULL, name TEXT NOT NULL, event_pattern TEXT,
                schedule_expression TEXT, state TEXT NOT NULL, description TEXT,
                role_arn TEXT, managed_by TEXT, created {float} NOT NULL,
                PRIMARY KEY (bus, name))""",
            """CREATE TABLE event_targets (
                bus TEXT NOT NULL, rule TEXT NOT NULL, id TEXT NOT NULL, arn TEXT NOT NULL,
                input TEXT, input_path TEXT, input_transformer TEXT, retry_policy TEXT,
                dead_letter_config TEXT, extra TEXT, PRIMARY KEY (bus, rule, id))""",
            # An accepted event, kept while a delivery of it is pending.
            """CREATE TABLE bus_events (
                id TEXT PRIMARY KEY, bus TEXT NOT NULL, envelope TEXT NOT NULL,
                ingested {float} NOT NULL)""",
            # One row per (event, rule, target) still to deliver; ``attempt`` counts the
            # failed deliveries so far, ``owner``/``lease_until`` the dispatcher holding it.
            """CREATE TABLE bus_deliveries (
                event_id TEXT NOT NULL, rule TEXT NOT NULL, target_id TEXT NOT NULL,
                bus TEXT NOT NULL, kind TEXT NOT NULL, target TEXT NOT NULL,
                attempt INTEGER NOT NULL, due {float} NOT NULL, owner TEXT,
                lease_until {float}, error_code TEXT, error_message TEXT,
                PRIMARY KEY (event_id, rule, target_id))""",
            "CREATE INDEX bus_deliveries_by_due ON bus_deliveries (due)",
            """CREATE TABLE bus_dead_letters (
                id {serial}, event_id TEXT NOT NULL, bus TEXT NOT NULL, rule TEXT NOT NULL,
                target_id TEXT NOT NULL, target_arn TEXT NOT NULL, envelope TEXT NOT NULL,
                ingested {float} NOT NULL, error_code TEXT NOT NULL,
                error_message TEXT NOT NULL, exhausted TEXT, attempts INTEGER NOT NULL,
                created {float} NOT NULL)""",
            "CREATE INDEX bus_dead_letters_by_bus ON bus_dead_letters (bus, id)",
            """CREATE TABLE queue_messages (
                id {serial}, queue TEXT NOT NULL, message_id TEXT NOT NULL, body TEXT NOT NULL,
                attributes TEXT, sent {float} NOT NULL, visible_at {float} NOT NULL,
                receipt TEXT, receive_count INTEGER NOT NULL DEFAULT 0)""",
            "CREATE INDEX queue_messages_visible ON queue_messages (queue, visible_at, id)",
            "CREATE INDEX queue_messages_by_receipt ON queue_messages (receipt)",
        ),
    ),
    (
        3,
        "archives, archived events, replays, rule schedules, connections, API destinations",
        (
            """CREATE TABLE bus_archives (
                name TEXT PRIMARY KEY, bus TEXT NOT NULL, description TEXT,
                event_pattern TEXT, retention_days INTEGER NOT NULL, state TEXT NOT NULL,
                creation_time {float} NOT NULL)""",
            # ``event_time`` is the envelope's ``time`` (what a replay's window selects on),
            # ``ingested`` when the bus accepted it (what retention counts from).
            """CREATE TABLE bus_archived_events (
                archive TEXT NOT NULL, event_id TEXT NOT NULL, event_time {float} NOT NULL,
                ingested {float} NOT NULL, size INTEGER NOT NULL, envelope TEXT NOT NULL,
                PRIMARY KEY (archive, event_id))""",
            "CREATE INDEX bus_archived_by_time ON bus_archived_events (archive, event_time, "
            "event_id)",
            "CREATE INDEX bus_archived_by_ingested ON bus_archived_events (archive, ingested)",
            # A replay's progress is its cursor: the (event_time, event_id) of the last event
            # it replayed, committed with the deliveries that event made.
            """CREATE TABLE bus_replays (
                name TEXT PRIMARY KEY, archive TEXT NOT NULL, bus TEXT NOT NULL,
                description TEXT, filter_arns TEXT, event_start {float} NOT NULL,
                event_end {float} NOT NULL, state TEXT NOT NULL, state_reason TEXT,
                replay_start {float} NOT NULL, replay_end {float},
                last_replayed {float}, cursor_time {float}, cursor_id TEXT,
                replayed INTEGER NOT NULL DEFAULT 0)""",
            "CREATE INDEX bus_replays_by_state ON bus_replays (state)",
            # The next time a scheduled rule fires (NULL: never again); ``anchor`` is when a
            # rate() schedule counts from.
            """CREATE TABLE bus_schedules (
                bus TEXT NOT NULL, rule TEXT NOT NULL, expression TEXT NOT NULL,
                anchor {float} NOT NULL, next_fire {float}, last_fire {float},
                PRIMARY KEY (bus, rule))""",
            "CREATE INDEX bus_schedules_due ON bus_schedules (next_fire)",
            # ``auth`` keeps the secrets (DescribeConnection never returns them).
            """CREATE TABLE bus_connections (
                name TEXT PRIMARY KEY, arn TEXT NOT NULL, description TEXT,
                authorization_type TEXT NOT NULL, auth TEXT NOT NULL, state TEXT NOT NULL,
                creation_time {float} NOT NULL, last_modified {float} NOT NULL,
                last_authorized {float})""",
            """CREATE TABLE bus_api_destinations (
                name TEXT PRIMARY KEY, arn TEXT NOT NULL, description TEXT,
                connection TEXT NOT NULL, endpoint TEXT NOT NULL, http_method TEXT NOT NULL,
                rate_limit INTEGER NOT NULL, state TEXT NOT NULL,
                creation_time {float} NOT NULL, last_modified {float} NOT NULL)""",
        ),
    ),
    (
        4,
        "trace context: traced events and delivery attempts, the outbox's trace",
        (
            # Append-only: every accepted event with its trace, and every delivery attempt's
            # outcome; read by ``oncue trace`` (oncue.tracing explains the spans). Keyed by
            # trace id first, and new trace ids start with the time, so inserts land at the
            # end of the index instead of on random pages (a random key here cost about 40 us
            # of CPU per event, in the WAL pages each commit rewrote).
            """CREATE TABLE trace_events (
                trace_id TEXT NOT NULL, event_id TEXT NOT NULL, parent_span TEXT,
                bus TEXT NOT NULL, source TEXT NOT NULL, detail_type TEXT NOT NULL,
                publisher TEXT, created {float} NOT NULL, PRIMARY KEY (trace_id, event_id))""",
            # A pending event's trace, for the dispatcher that claims its deliveries.
            "ALTER TABLE bus_events ADD COLUMN trace_id TEXT",
            """CREATE TABLE trace_deliveries (
                id {serial}, trace_id TEXT NOT NULL, event_id TEXT NOT NULL,
                rule TEXT NOT NULL, target_id TEXT NOT NULL, target_arn TEXT NOT NULL,
                attempt INTEGER NOT NULL, outcome TEXT NOT NULL, error_code TEXT,
                error_message TEXT, execution_arn TEXT, created {float} NOT NULL)""",
            "CREATE INDEX trace_deliveries_by_trace ON trace_deliveries (trace_id, id)",
            # The traceparent of the execution that published the entry.
            "ALTER TABLE outbox ADD COLUMN trace TEXT",
            # Executions that joined a trace carry it in trace_header ('00-TRACEID-...').
            "CREATE INDEX executions_by_trace ON executions (trace_header)",
        ),
    ),
    (
        5,
        "dead letters by delivery",
        (
            # A redelivered JetStream message asks whether its delivery (event, rule, target)
            # is already a dead letter; without this index each ask read the whole table.
            "CREATE INDEX bus_dead_letters_by_delivery "
            "ON bus_dead_letters (event_id, rule, target_id)",
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


#: SQLite spellings of the types PostgreSQL spells differently (applied in this order).
_POSTGRES_SPELLINGS: Final = (
    (re.compile(r"\bINTEGER\s+PRIMARY\s+KEY\s+AUTOINCREMENT\b", re.I), "{serial}"),
    (re.compile(r"\bINTEGER\b", re.I), "BIGINT"),
    (re.compile(r"\bREAL\b", re.I), "DOUBLE PRECISION"),
    (re.compile(r"\bBLOB\b", re.I), "BYTEA"),
    # SQLite compares text byte by byte; so does the "C" collation (the database's default
    # collation may order 'a-b' and 'a_b' otherwise, and paging by name relies on one order).
    (re.compile(r"\bTEXT\b", re.I), 'TEXT COLLATE "C"'),
)


def render(statement: str, dialect: str) -> str:
    """A migration statement with the dialect's column types filled in."""
    if dialect == "postgresql" and statement.lstrip()[:6].upper() in ("CREATE", "ALTER "):
        for pattern, replacement in _POSTGRES_SPELLINGS:
            statement = pattern.sub(replacement, statement)
    return statement.format(**_TYPES[dialect])

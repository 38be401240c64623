"""The event bus's statements, over one transaction (:class:`~oncue.store.sql.Tx`).

``BusTx(tx)`` adds no transaction of its own: what it writes commits or rolls back with the
``tx`` it wraps, so PutEvents stores an event and its deliveries together, and a dispatcher
cycle records results, relays the outbox and leases new deliveries in one commit. The tables
are those of migration 2 (:mod:`oncue.store.schema`); times are epoch seconds, documents JSON
text the bus encodes.

A delivery is keyed by ``(event_id, rule, target_id)``: an event reaches each target of each
matching rule once. ``owner``/``lease_until`` is the lease of the dispatcher delivering it;
every write of a result names the owner, so a dispatcher whose lease ran out (and whose
delivery another one took over) cannot record a result any more (the fence).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import astuple, replace

from oncue.store.bus_records import (
    BusRecord,
    DeadLetterRecord,
    DeliveryClaim,
    DeliveryKey,
    NewDelivery,
    QueueMessage,
    RuleRecord,
    TargetRecord,
    columns,
    read,
)
from oncue.store.sql import Tx

__all__ = [
    "BusRecord",
    "BusTx",
    "DeadLetterRecord",
    "DeliveryClaim",
    "DeliveryKey",
    "NewDelivery",
    "QueueMessage",
    "RuleRecord",
    "TargetRecord",
]

_BUS_COLUMNS = columns(BusRecord)
_RULE_COLUMNS = columns(RuleRecord)
_TARGET_COLUMNS = columns(TargetRecord)
_DEAD_COLUMNS = columns(DeadLetterRecord)
_QUEUE_COLUMNS = columns(QueueMessage)


class BusTx:
    """Every statement of the event bus, run on the transaction it wraps."""

    __slots__ = ("tx",)

    def __init__(self, tx: Tx) -> None:
        self.tx = tx

    # --- buses -------------------------------------------------------------------------

    def get_bus(self, name: str) -> BusRecord | None:
        row = self.tx.one(f"SELECT {_BUS_COLUMNS} FROM event_buses WHERE name = ?", (name,))
        return None if row is None else read(BusRecord, row)

    def bus_revision(self, name: str) -> str | None:
        row = self.tx.one("SELECT revision FROM event_buses WHERE name = ?", (name,))
        return None if row is None else str(row[0])

    def bus_revisions(self) -> dict[str, str]:
        return {row[0]: row[1] for row in self.tx.all("SELECT name, revision FROM event_buses")}

    def insert_bus(self, record: BusRecord) -> None:
        self.tx.run(
            f"INSERT INTO event_buses ({_BUS_COLUMNS}) VALUES (?, ?, ?, ?, ?)", astuple(record)
        )

    def list_buses(self, prefix: str, after: str, limit: int) -> list[BusRecord]:
        rows = self.tx.all(
            f"SELECT {_BUS_COLUMNS} FROM event_buses WHERE name > ? AND substr(name, 1, ?) = ? "
            "ORDER BY name LIMIT ?",
            (after, len(prefix), prefix, limit),
        )
        return [read(BusRecord, row) for row in rows]

    def delete_bus(self, name: str) -> None:
        """The bus with its rules and targets (its pending deliveries find no target)."""
        self.tx.run("DELETE FROM event_targets WHERE bus = ?", (name,))
        self.tx.run("DELETE FROM event_rules WHERE bus = ?", (name,))
        self.tx.run("DELETE FROM event_buses WHERE name = ?", (name,))

    def set_revision(self, bus: str, revision: str, now: float) -> None:
        """Mark the bus's rules or targets changed: every cached index of it is stale."""
        self.tx.run(
            "UPDATE event_buses SET revision = ?, last_modified = ? WHERE name = ?",
            (revision, now, bus),
        )

    # --- rules -------------------------------------------------------------------------

    def get_rule(self, bus: str, name: str) -> RuleRecord | None:
        row = self.tx.one(
            f"SELECT {_RULE_COLUMNS} FROM event_rules WHERE bus = ? AND name = ?", (bus, name)
        )
        return None if row is None else read(RuleRecord, row)

    def put_rule(self, r: RuleRecord) -> None:
        """Create the rule, or replace every field of it but its creation time."""
        self.tx.run(
            f"INSERT INTO event_rules ({_RULE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (bus, name) DO UPDATE SET event_pattern = excluded.event_pattern, "
            "schedule_expression = excluded.schedule_expression, state = excluded.state, "
            "description = excluded.description, role_arn = excluded.role_arn, "
            "managed_by = excluded.managed_by",
            astuple(r),
        )

    def set_rule_state(self, bus: str, name: str, state: str) -> None:
        self.tx.run(
            "UPDATE event_rules SET state = ? WHERE bus = ? AND name = ?", (state, bus, name)
        )

    def delete_rule(self, bus: str, name: str) -> None:
        self.tx.run("DELETE FROM event_targets WHERE bus = ? AND rule = ?", (bus, name))
        self.tx.run("DELETE FROM event_rules WHERE bus = ? AND name = ?", (bus, name))

    def list_rules(self, bus: str, prefix: str, after: str, limit: int) -> list[RuleRecord]:
        rows = self.tx.all(
            f"SELECT {_RULE_COLUMNS} FROM event_rules WHERE bus = ? AND name > ? "
            "AND substr(name, 1, ?) = ? ORDER BY name LIMIT ?",
            (bus, after, len(prefix), prefix, limit),
        )
        return [read(RuleRecord, row) for row in rows]

    def rules_of(self, bus: str) -> list[RuleRecord]:
        rows = self.tx.all(f"SELECT {_RULE_COLUMNS} FROM event_rules WHERE bus = ?", (bus,))
        return [read(RuleRecord, row) for row in rows]

    # --- targets -----------------------------------------------------------------------

    def put_target(self, t: TargetRecord) -> None:
        self.tx.run(
            f"INSERT INTO event_targets ({_TARGET_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (bus, rule, id) DO UPDATE SET arn = excluded.arn, "
            "input = excluded.input, input_path = excluded.input_path, "
            "input_transformer = excluded.input_transformer, "
            "retry_policy = excluded.retry_policy, "
            "dead_letter_config = excluded.dead_letter_config, extra = excluded.extra",
            astuple(t),
        )

    def delete_target(self, bus: str, rule: str, target_id: str) -> None:
        self.tx.run(
            "DELETE FROM event_targets WHERE bus = ? AND rule = ? AND id = ?",
            (bus, rule, target_id),
        )

    def target_ids(self, bus: str, rule: str) -> list[str]:
        rows = self.tx.all(
            "SELECT id FROM event_targets WHERE bus = ? AND rule = ? ORDER BY id", (bus, rule)
        )
        return [row[0] for row in rows]

    def list_targets(self, bus: str, rule: str, after: str, limit: int) -> list[TargetRecord]:
        rows = self.tx.all(
            f"SELECT {_TARGET_COLUMNS} FROM event_targets WHERE bus = ? AND rule = ? "
            "AND id > ? ORDER BY id LIMIT ?",
            (bus, rule, after, limit),
        )
        return [read(TargetRecord, row) for row in rows]

    def targets_of(self, bus: str) -> list[TargetRecord]:
        rows = self.tx.all(
            f"SELECT {_TARGET_COLUMNS} FROM event_targets WHERE bus = ? ORDER BY rule, id",
            (bus,),
        )
        return [read(TargetRecord, row) for row in rows]

    # --- events and deliveries ---------------------------------------------------------

    def insert_events(
        self, rows: Iterable[tuple[str, str, str, float]], *, trace_id: str | None = None
    ) -> None:
        """(event id, bus, envelope JSON, ingestion time); ``trace_id``: their trace."""
        self.tx.many(
            "INSERT INTO bus_events (id, bus, envelope, ingested, trace_id) VALUES (?, ?, ?, ?, ?)",
            [(*row, trace_id) for row in rows],
        )

    def ensure_event(
        self,
        event_id: str,
        bus: str,
        envelope: str,
        ingested: float,
        trace_id: str | None = None,
    ) -> None:
        if self.tx.one("SELECT 1 FROM bus_events WHERE id = ?", (event_id,)) is None:
            self.insert_events([(event_id, bus, envelope, ingested)], trace_id=trace_id)

    def insert_deliveries(self, rows: Iterable[NewDelivery]) -> None:
        self.tx.many(
            "INSERT INTO bus_deliveries (event_id, rule, target_id, bus, kind, target, attempt, "
            "due, owner, lease_until) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    d.event_id,
                    d.rule,
                    d.target_id,
                    d.bus,
                    d.kind,
                    d.target,
                    d.attempt,
                    d.due,
                    d.owner,
                    d.lease_until,
                )
                for d in rows
            ],
        )

    def claim_deliveries(
        self,
        *,
        owner: str,
        kinds: Sequence[str],
        handlers: Sequence[str],
        now: float,
        until: float,
        limit: int,
    ) -> list[DeliveryClaim]:
        """Lease due deliveries nobody holds: those of the ``kinds`` of target, and those to
        the handlers named."""
        if limit <= 0:
            return []
        kind_marks = ", ".join("?" * len(kinds)) or "NULL"
        handler_marks = ", ".join("?" * len(handlers)) or "NULL"
        rows = self.tx.all(
            "SELECT d.event_id, d.rule, d.target_id, d.bus, d.kind, d.target, d.attempt, "
            "e.envelope, e.ingested, e.trace_id FROM bus_deliveries d JOIN bus_events e "
            "ON e.id = d.event_id WHERE d.due <= ? AND (d.lease_until IS NULL "
            f"OR d.lease_until < ?) AND (d.kind IN ({kind_marks}) OR (d.kind = 'handler' "
            f"AND d.target IN ({handler_marks}))) ORDER BY d.due LIMIT ?{self.tx.claiming('d')}",
            [now, now, *kinds, *handlers, limit],
        )
        self.tx.many(
            "UPDATE bus_deliveries SET owner = ?, lease_until = ? WHERE event_id = ? "
            "AND rule = ? AND target_id = ?",
            [(owner, until, r[0], r[1], r[2]) for r in rows],
        )
        return [
            DeliveryClaim(
                event_id=r[0],
                rule=r[1],
                target_id=r[2],
                bus=r[3],
                kind=r[4],
                target=r[5],
                attempt=r[6],
                envelope=r[7],
                ingested=r[8],
                lease_until=until,
                trace_id=r[9] or "",
            )
            for r in rows
        ]

    def finish_deliveries(self, keys: Sequence[DeliveryKey], owner: str) -> list[bool]:
        """Remove delivered (or dead-lettered) deliveries; False where the lease was lost."""
        results = []
        for key in keys:
            cursor = self.tx.run(
                "DELETE FROM bus_deliveries WHERE event_id = ? AND rule = ? AND target_id = ? "
                "AND owner = ?",
                (*key, owner),
            )
            results.append(cursor.rowcount > 0)
        return results

    def retry_delivery(
        self, key: DeliveryKey, owner: str, *, attempt: int, due: float, code: str, message: str
    ) -> bool:
        """Hand the delivery back, due again at ``due``; False where the lease was lost."""
        cursor = self.tx.run(
            "UPDATE bus_deliveries SET attempt = ?, due = ?, owner = NULL, lease_until = NULL, "
            "error_code = ?, error_message = ? WHERE event_id = ? AND rule = ? "
            "AND target_id = ? AND owner = ?",
            (attempt, due, code, message, *key, owner),
        )
        return cursor.rowcount > 0

    def forget_events(self, event_ids: Iterable[str]) -> None:
        """Delete events that no delivery needs any more."""
        self.tx.many(
            "DELETE FROM bus_events WHERE id = ? AND NOT EXISTS "
            "(SELECT 1 FROM bus_deliveries WHERE event_id = ?)",
            [(event_id, event_id) for event_id in set(event_ids)],
        )

    def renew_leases(self, keys: Sequence[DeliveryKey], owner: str, until: float) -> None:
        self.tx.many(
            "UPDATE bus_deliveries SET lease_until = ? WHERE event_id = ? AND rule = ? "
            "AND target_id = ? AND owner = ?",
            [(until, *key, owner) for key in keys],
        )

    def release_leases(self, keys: Sequence[DeliveryKey], owner: str) -> None:
        """Graceful shutdown: hand deliveries back at once."""
        self.tx.many(
            "UPDATE bus_deliveries SET owner = NULL, lease_until = NULL WHERE event_id = ? "
            "AND rule = ? AND target_id = ? AND owner = ?",
            [(*key, owner) for key in keys],
        )
        if keys:
            self.tx.announce("bus")  # another dispatcher takes them now, not at its next poll

    def next_due(self, *, kinds: Sequence[str], handlers: Sequence[str]) -> float | None:
        """When the next delivery nobody holds, of the ``kinds`` or to the ``handlers``, falls
        due (leases running out are found by polling)."""
        kind_marks = ", ".join("?" * len(kinds)) or "NULL"
        handler_marks = ", ".join("?" * len(handlers)) or "NULL"
        row = self.tx.one(
            "SELECT due FROM bus_deliveries WHERE lease_until IS NULL AND "
            f"(kind IN ({kind_marks}) OR (kind = 'handler' AND target IN ({handler_marks}))) "
            "ORDER BY due LIMIT 1",
            [*kinds, *handlers],
        )
        return None if row is None else float(row[0])

    # --- dead letters ------------------------------------------------------------------

    def insert_dead_letter(self, r: DeadLetterRecord) -> None:
        """``r.id`` is ignored: the store numbers dead letters."""
        self.tx.run(
            "INSERT INTO bus_dead_letters (event_id, bus, rule, target_id, target_arn, envelope, "
            "ingested, error_code, error_message, exhausted, attempts, created) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            astuple(r)[1:],
        )

    def list_dead_letters(self, bus: str | None, after: int, limit: int) -> list[DeadLetterRecord]:
        if bus is None:
            rows = self.tx.all(
                f"SELECT {_DEAD_COLUMNS} FROM bus_dead_letters WHERE id > ? ORDER BY id LIMIT ?",
                (after, limit),
            )
        else:
            rows = self.tx.all(
                f"SELECT {_DEAD_COLUMNS} FROM bus_dead_letters WHERE bus = ? AND id > ? "
                "ORDER BY id LIMIT ?",
                (bus, after, limit),
            )
        return [read(DeadLetterRecord, row) for row in rows]

    def get_dead_letter(self, dead_letter_id: int) -> DeadLetterRecord | None:
        row = self.tx.one(
            f"SELECT {_DEAD_COLUMNS} FROM bus_dead_letters WHERE id = ?", (dead_letter_id,)
        )
        return None if row is None else read(DeadLetterRecord, row)

    def delete_dead_letter(self, dead_letter_id: int) -> None:
        self.tx.run("DELETE FROM bus_dead_letters WHERE id = ?", (dead_letter_id,))

    def has_delivery(self, key: DeliveryKey) -> bool:
        row = self.tx.one(
            "SELECT 1 FROM bus_deliveries WHERE event_id = ? AND rule = ? AND target_id = ?", key
        )
        return row is not None

    # --- internal queues ---------------------------------------------------------------

    def send_messages(self, rows: Iterable[tuple[str, str, str, str | None, float]]) -> None:
        """(queue, message id, body, attributes JSON, sent time); visible at once."""
        self.tx.many(
            "INSERT INTO queue_messages (queue, message_id, body, attributes, sent, visible_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [(q, mid, body, attrs, sent, sent) for q, mid, body, attrs, sent in rows],
        )

    def receive_messages(
        self, queue: str, *, now: float, invisible_until: float, receipts: Sequence[str]
    ) -> list[QueueMessage]:
        """Up to ``len(receipts)`` visible messages, each given the next receipt handle and
        hidden until ``invisible_until``."""
        rows = self.tx.all(
            f"SELECT {_QUEUE_COLUMNS} FROM queue_messages WHERE queue = ? AND visible_at <= ? "
            f"ORDER BY visible_at, id LIMIT ?{self.tx.claiming()}",
            (queue, now, len(receipts)),
        )
        received = []
        for row, receipt in zip(rows, receipts, strict=False):
            self.tx.run(
                "UPDATE queue_messages SET receipt = ?, visible_at = ?, "
                "receive_count = receive_count + 1 WHERE id = ?",
                (receipt, invisible_until, row[0]),
            )
            message = read(QueueMessage, row)
            received.append(
                replace(
                    message,
                    visible_at=invisible_until,
                    receipt=receipt,
                    receive_count=message.receive_count + 1,
                )
            )
        return received

    def delete_message(self, queue: str, receipt: str) -> bool:
        cursor = self.tx.run(
            "DELETE FROM queue_messages WHERE queue = ? AND receipt = ?", (queue, receipt)
        )
        return cursor.rowcount > 0

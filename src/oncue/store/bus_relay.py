"""The statements of the bus's relay to a transport (NATS JetStream), over one transaction.

With a transport, a handler delivery row lives only from the commit that accepted its event
until the relay has published it: the relay leases due rows (:meth:`RelayTx.claim`), publishes
them, and deletes them (``BusTx.finish_deliveries``). The claim returns each row's ``due``,
which names that version of the row in the message id (a redriven dead letter is a new row).
"""

from __future__ import annotations

from dataclasses import dataclass

from oncue.store.bus_records import DeliveryKey
from oncue.store.sql import Tx

__all__ = ["RelayClaim", "RelayTx"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RelayClaim:
    event_id: str
    rule: str
    target_id: str
    bus: str
    due: float
    envelope: str
    ingested: float
    trace_id: str = ""

    @property
    def key(self) -> DeliveryKey:
        return (self.event_id, self.rule, self.target_id)


class RelayTx:
    __slots__ = ("tx",)

    def __init__(self, tx: Tx) -> None:
        self.tx = tx

    def claim(self, *, owner: str, now: float, until: float, limit: int) -> list[RelayClaim]:
        """Lease up to ``limit`` due handler deliveries nobody holds, to any handler."""
        if limit <= 0:
            return []
        rows = self.tx.all(
            "SELECT d.event_id, d.rule, d.target_id, d.bus, d.due, e.envelope, e.ingested, "
            "e.trace_id "
            "FROM bus_deliveries d JOIN bus_events e ON e.id = d.event_id "
            "WHERE d.kind = 'handler' AND d.due <= ? AND (d.lease_until IS NULL "
            f"OR d.lease_until < ?) ORDER BY d.due LIMIT ?{self.tx.claiming('d')}",
            (now, now, limit),
        )
        self.tx.many(
            "UPDATE bus_deliveries SET owner = ?, lease_until = ? WHERE event_id = ? "
            "AND rule = ? AND target_id = ?",
            [(owner, until, r[0], r[1], r[2]) for r in rows],
        )
        return [
            RelayClaim(
                event_id=r[0],
                rule=r[1],
                target_id=r[2],
                bus=r[3],
                due=float(r[4]),
                envelope=r[5],
                ingested=float(r[6]),
                trace_id=r[7] or "",
            )
            for r in rows
        ]

    def next_due(self) -> float | None:
        """When the next handler delivery nobody holds falls due."""
        row = self.tx.one(
            "SELECT due FROM bus_deliveries WHERE kind = 'handler' AND lease_until IS NULL "
            "ORDER BY due LIMIT 1"
        )
        return None if row is None else float(row[0])

    def has_dead_letter(self, key: DeliveryKey) -> bool:
        """Whether this delivery is in the dead letters (a redelivery after the dead-lettering
        committed but before the message was acked must not add it twice)."""
        row = self.tx.one(
            "SELECT 1 FROM bus_dead_letters WHERE event_id = ? AND rule = ? AND target_id = ?",
            key,
        )
        return row is not None

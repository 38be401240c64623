"""The outbox relay: events executions published reach the bus iff their transition committed."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from oncue.bus.dispatch import Dispatcher
from oncue.bus.relay import relay_outbox
from oncue.bus.router import Router
from oncue.bus.service import EventBus
from oncue.store import SQLiteStore

FN = "arn:aws:lambda:us-east-1:123456789012:function:"
EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:orders:o-1"
NOW = datetime(2025, 1, 1, 12, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    opened = SQLiteStore(f"sqlite:///{tmp_path / 'oncue.db'}")
    bus = EventBus(opened)
    bus.put_rule("accepted", event_pattern=json.dumps({"detail-type": ["OrderAccepted"]}))
    bus.put_targets("accepted", [{"Id": "t", "Arn": FN + "notify"}])
    yield opened
    opened.close()


def published(order: int, **fields: Any) -> str:
    """An outbox entry as the engine writes it for ``events:putEvents``."""
    return json.dumps(
        {
            "Source": "orders",
            "DetailType": "OrderAccepted",
            "Detail": json.dumps({"order": order}),
            "Time": NOW.isoformat(),
            **fields,
        }
    )


def table(store: SQLiteStore, sql: str) -> list[Any]:
    with store.read() as tx:
        return tx.all(sql)


def test_the_relay_moves_outbox_rows_onto_their_buses(
    store: SQLiteStore, caplog: pytest.LogCaptureFixture
) -> None:
    with store.transaction() as tx:
        tx.add_outbox(
            [
                ("e-1", EXECUTION, published(1), NOW.timestamp()),
                ("e-2", EXECUTION, published(2, DetailType="Other"), NOW.timestamp()),
                ("e-3", EXECUTION, published(3, EventBusName="nowhere"), NOW.timestamp()),
                ("e-4", EXECUTION, json.dumps({"Source": "orders"}), NOW.timestamp()),
                ("e-5", EXECUTION, "not json", NOW.timestamp()),
            ]
        )
    with caplog.at_level(logging.WARNING, logger="oncue.bus"), store.transaction() as tx:
        assert relay_outbox(tx, NOW, 100, router=Router()) == 5
    assert table(store, "SELECT COUNT(*) FROM outbox") == [(0,)]
    # The event keeps the id the execution's task reported; it matched one rule.
    assert table(store, "SELECT event_id, rule, target FROM bus_deliveries") == [
        ("e-1", "accepted", "notify")
    ]
    (envelope,) = table(store, "SELECT envelope, ingested FROM bus_events")
    assert json.loads(envelope[0])["detail"] == {"order": 1}
    assert envelope[1] == NOW.timestamp()
    dropped = " ".join(r.getMessage() for r in caplog.records)
    assert "e-3" in dropped and "e-4" in dropped and "e-5" in dropped
    with store.transaction() as tx:
        assert relay_outbox(tx, NOW, 100, router=Router()) == 0


def test_a_taken_event_id_drops_one_row_and_a_broken_database_fails_the_relay(
    store: SQLiteStore, caplog: pytest.LogCaptureFixture
) -> None:
    with store.transaction() as tx:
        tx.add_outbox([("e-1", EXECUTION, published(1), NOW.timestamp())])
    with store.transaction() as tx:
        relay_outbox(tx, NOW, 100, router=Router())
    with store.transaction() as tx:  # the same id again: the store refuses that row only
        tx.add_outbox(
            [
                ("e-1", EXECUTION, published(9), NOW.timestamp()),
                ("e-2", EXECUTION, published(2), NOW.timestamp()),
            ]
        )
    with caplog.at_level(logging.WARNING, logger="oncue.bus"), store.transaction() as tx:
        assert relay_outbox(tx, NOW, 100, router=Router()) == 2
    assert "dropped event e-1" in caplog.text and "e-2" not in caplog.text
    assert table(store, "SELECT event_id FROM bus_deliveries ORDER BY event_id") == [
        ("e-1",),
        ("e-2",),
    ]
    # Any other database error is not one row's fault: the relay fails, rolls back, and the
    # row waits in the outbox for the next try (nothing is reported dropped).
    with store.transaction() as tx:
        tx.add_outbox([("e-3", EXECUTION, published(3), NOW.timestamp())])
        tx.run("DROP TABLE bus_deliveries")
    caplog.clear()
    with pytest.raises(sqlite3.OperationalError), store.transaction() as tx:
        relay_outbox(tx, NOW, 100, router=Router())
    assert "dropped" not in caplog.text
    assert table(store, "SELECT event_id FROM outbox") == [("e-3",)]


def test_an_event_from_a_rolled_back_transition_is_never_delivered(store: SQLiteStore) -> None:
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.add_outbox([("lost", EXECUTION, published(1), NOW.timestamp())])
        raise RuntimeError("the transition failed")
    with store.transaction() as tx:
        assert relay_outbox(tx, NOW, 100, router=Router()) == 0
    assert table(store, "SELECT COUNT(*) FROM bus_events") == [(0,)]


async def test_the_dispatcher_relays_and_delivers_published_events(store: SQLiteStore) -> None:
    got: list[dict[str, Any]] = []
    dispatcher = Dispatcher(store, {"notify": got.append}, poll_seconds=0.02)
    stop = asyncio.Event()
    task = asyncio.create_task(dispatcher.run(stop))
    try:
        with store.transaction() as tx:  # the engine's transition, in another thread of work
            tx.add_outbox([(f"e-{n}", EXECUTION, published(n), NOW.timestamp()) for n in range(3)])
        dispatcher.wake()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        while len(got) < 3 or table(store, "SELECT COUNT(*) FROM bus_deliveries") != [(0,)]:
            assert loop.time() < deadline
            await asyncio.sleep(0.01)
    finally:
        stop.set()
        await task
    assert sorted(e["id"] for e in got) == ["e-0", "e-1", "e-2"]
    assert dispatcher.stats["relayed"] == 3

"""The bus over a transport: relay from the database, per-target consumers, retries, dead
letters. Each test runs on the memory transport and on a real NATS JetStream server (a stream
and subjects of its own), over a real SQLite file.

Back-off delays are JetStream's (a ``nak`` with a delay, timed by the server), so these tests
shrink the back-off to milliseconds instead of moving a virtual clock.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from nats_support import NatsServer, shared_nats_url, unique
from oncue.bus.handlers import DeliveryContext
from oncue.bus.jetstream import JetStreamBus
from oncue.bus.service import EventBus
from oncue.bus.streams import Layout
from oncue.clock import VirtualClock
from oncue.store import SQLiteStore, open_store
from oncue.transport import MemoryTransport, Transport
from oncue.transport.jetstream import JetStreamTransport

FN = "arn:aws:lambda:us-east-1:123456789012:function:"
QUEUE = "arn:aws:sqs:us-east-1:123456789012:"
EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:publisher:run"
PLACED = json.dumps({"source": ["shop"], "detail-type": ["OrderPlaced"]})
FAST = (0.005, 0.02)  # back-off: first ceiling, cap (seconds)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    opened = SQLiteStore(f"sqlite:///{tmp_path / 'oncue.db'}")
    yield opened
    opened.close()


@pytest.fixture(params=["memory", "jetstream"])
async def transport(request: pytest.FixtureRequest) -> AsyncIterator[Transport]:
    opened: Transport = (
        MemoryTransport() if request.param == "memory" else JetStreamTransport(shared_nats_url())
    )
    yield opened
    await opened.close()


@pytest.fixture
async def layout(transport: Transport) -> AsyncIterator[Layout]:
    name = unique("E")
    yield Layout(stream=name, prefix=name.lower())
    await transport.delete_stream(name)


def entry(order: int = 1, **fields: Any) -> dict[str, Any]:
    return {
        "Source": "shop",
        "DetailType": "OrderPlaced",
        "Detail": json.dumps({"order": order}),
        **fields,
    }


def count(store: SQLiteStore, table: str) -> int:
    with store.read() as tx:
        return int(tx.one(f"SELECT COUNT(*) FROM {table}")[0])


@asynccontextmanager
async def running(bus: JetStreamBus) -> AsyncIterator[JetStreamBus]:
    stop = asyncio.Event()
    task = asyncio.create_task(bus.run(stop))
    try:
        yield bus
    finally:
        stop.set()
        await task


async def until(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.005)


def make(store: SQLiteStore, transport: Transport, layout: Layout, handlers: Any, **options: Any):
    options.setdefault("poll_seconds", 0.2)
    options.setdefault("refresh_seconds", 0.1)
    options.setdefault("backoff", FAST)
    return JetStreamBus(store, handlers, transport, layout=layout, **options)


async def test_events_from_every_path_reach_every_handler_target_once(
    store: SQLiteStore, transport: Transport, layout: Layout
) -> None:
    api = EventBus(store)
    api.put_rule("placed", event_pattern=PLACED)
    api.put_targets(
        "placed",
        [
            {"Id": "whole", "Arn": FN + "whole"},
            {"Id": "detail", "Arn": FN + "detail", "InputPath": "$.detail"},
            {"Id": "queue", "Arn": QUEUE + "orders", "InputPath": "$.detail.order"},
        ],
    )
    seen: dict[str, list[Any]] = {"whole": [], "detail": []}
    contexts: list[DeliveryContext] = []

    def whole(event: Any, context: DeliveryContext) -> None:
        seen["whole"].append(event["detail"]["order"])
        contexts.append(context)

    async def detail(event: Any) -> None:
        seen["detail"].append(event["order"])

    inline: list[int] = []
    bus = make(
        store,
        transport,
        layout,
        {"whole": whole, "detail": detail},
        on_inline=lambda: inline.append(1),
    )
    async with running(bus):
        response = await bus.put_events([entry(1), entry(2), {"Source": "x"}])
        assert response["FailedEntryCount"] == 1
        api.put_events([entry(3)])  # another process's PutEvents: rows the relay claims
        with store.transaction() as tx:  # an execution's events:putEvents
            tx.add_outbox([("from-execution", EXECUTION, json.dumps(entry(4)), time.time())])
        bus.wake()
        await until(lambda: len(seen["whole"]) == 4 and len(seen["detail"]) == 4)
        await until(lambda: count(store, "bus_deliveries") == 4)  # the queue target's rows
    assert sorted(seen["whole"]) == [1, 2, 3, 4] and sorted(seen["detail"]) == [1, 2, 3, 4]
    assert bus.stats["published"] == 8 and bus.stats["duplicates"] == 0
    assert count(store, "outbox") == 0 and inline  # the database dispatcher was woken
    first = next(c for c in contexts if c.event_id == response["Entries"][0]["EventId"])
    assert (first.attempt, first.target_id, first.rule_name) == (1, "whole", "placed")
    assert first.idempotency_key == f"{first.event_id}/{first.rule_arn}/whole"


async def test_a_failing_handler_is_retried_then_dead_lettered_like_the_database_path(
    store: SQLiteStore, transport: Transport, layout: Layout
) -> None:
    api = EventBus(store)
    api.put_rule("placed", event_pattern=PLACED)
    api.put_targets(
        "placed",
        [
            {
                "Id": "broken",
                "Arn": FN + "broken",
                "RetryPolicy": {"MaximumRetryAttempts": 2},
                "DeadLetterConfig": {"Arn": QUEUE + "dlq"},
            },
            {"Id": "flaky", "Arn": FN + "flaky"},
        ],
    )
    attempts: dict[str, list[int]] = {"broken": [], "flaky": []}

    def broken(event: Any, context: DeliveryContext) -> None:
        attempts["broken"].append(context.attempt)
        raise RuntimeError("the restaurant is closed")

    def flaky(event: Any, context: DeliveryContext) -> None:
        attempts["flaky"].append(context.attempt)
        if context.attempt < 3:
            raise RuntimeError("not yet")

    bus = make(store, transport, layout, {"broken": broken, "flaky": flaky})
    async with running(bus):
        await bus.put_events([entry(7)])
        await until(lambda: count(store, "bus_dead_letters") == 1 and len(attempts["flaky"]) == 3)
        await asyncio.sleep(0)
    assert attempts == {"broken": [1, 2, 3], "flaky": [1, 2, 3]}
    (letter,) = api.list_dead_letters()["DeadLetters"]
    assert letter["TargetId"] == "broken" and letter["RetryAttempts"] == 2
    assert letter["ErrorCode"] == "ERROR_FROM_TARGET"
    assert letter["ExhaustedRetryCondition"] == "MaximumRetryAttempts"
    assert "the restaurant is closed" in letter["ErrorMessage"]
    (message,) = api.receive_messages("dlq")["Messages"]
    assert message["MessageAttributes"]["RETRY_ATTEMPTS"]["StringValue"] == "2"
    assert bus.stats["retried"] == 4 and bus.stats["dead_lettered"] == 1

    # A redrive is a new delivery row, so a new message (not a duplicate of the first one).
    attempts["broken"].clear()
    bus.handlers["broken"] = lambda event: attempts["broken"].append(0)
    async with running(bus):
        assert api.redrive_dead_letters([letter["Id"]])["RedrivenCount"] == 1
        bus.wake()
        await until(lambda: attempts["broken"] == [0])
    assert count(store, "bus_dead_letters") == 0 and count(store, "bus_deliveries") == 0


async def test_a_relay_that_died_after_publishing_causes_no_duplicate(
    store: SQLiteStore, transport: Transport, layout: Layout
) -> None:
    api = EventBus(store)
    api.put_rule("placed", event_pattern=PLACED)
    api.put_targets("placed", [{"Id": "sink", "Arn": FN + "sink"}])
    api.put_events([entry(n) for n in range(10)])
    clock = VirtualClock()
    calls: list[str] = []
    # The first relay leases and publishes the rows, then "dies" before deleting them.
    dead = make(store, transport, layout, {}, clock=clock, lease_seconds=5.0, deliver=False)
    await transport.ensure_stream(layout.stream_config())
    outcome = dead._relay_tx([], [], [], True, clock.now())
    for item in outcome.outgoing:
        await transport.publish(item.subject, item.payload, msg_id=item.msg_id)
    assert count(store, "bus_deliveries") == 10
    clock.advance(6.0)  # its leases run out: another relay publishes the same rows again
    bus = make(store, transport, layout, {"sink": lambda e: calls.append(e["id"])}, clock=clock)
    async with running(bus):
        await until(lambda: len(calls) == 10 and count(store, "bus_deliveries") == 0)
        await until(lambda: bus.stats["duplicates"] == 10)
        await asyncio.sleep(0.3)  # a duplicate would have arrived by now
    assert len(set(calls)) == 10 and len(calls) == 10
    assert bus.stats["published"] == 0


async def test_a_slow_target_does_not_hold_up_another(
    store: SQLiteStore, transport: Transport, layout: Layout
) -> None:
    api = EventBus(store)
    api.put_rule("placed", event_pattern=PLACED)
    api.put_targets(
        "placed", [{"Id": "slow", "Arn": FN + "slow"}, {"Id": "fast", "Arn": FN + "fast"}]
    )
    release = asyncio.Event()
    fast: list[int] = []

    async def slow_handler(event: Any) -> None:
        await release.wait()

    bus = make(
        store,
        transport,
        layout,
        {"slow": slow_handler, "fast": lambda e: fast.append(e["detail"]["order"])},
        concurrency=2,
    )
    async with running(bus):
        await bus.put_events([entry(n) for n in range(10)])
        await until(lambda: len(fast) == 10)  # while the slow one holds two, waits on eight
        release.set()
        await until(lambda: bus.stats["delivered"] == 20)
    assert sorted(fast) == list(range(10))


async def test_delivery_resumes_after_the_nats_server_restarts(
    store: SQLiteStore, tmp_path: Path
) -> None:
    server = NatsServer(tmp_path / "nats").start()
    transport = JetStreamTransport(server.url)
    api = EventBus(store)
    api.put_rule("placed", event_pattern=PLACED)
    api.put_targets("placed", [{"Id": "sink", "Arn": FN + "sink"}])
    seen: set[int] = set()
    accepted: list[int] = []
    bus = make(
        store,
        transport,
        Layout(),
        {"sink": lambda e: seen.add(e["detail"]["order"])},
        lease_seconds=2.0,
        poll_seconds=0.1,
    )
    try:
        async with running(bus):
            for n in range(200):
                if n == 100:
                    server.restart()
                response = await bus.put_events([entry(n)])
                if response["FailedEntryCount"] == 0:
                    accepted.append(n)
                await asyncio.sleep(0.002)
            await until(lambda: seen >= set(accepted), timeout=40.0)
        assert len(accepted) == 200
        assert count(store, "bus_deliveries") == 0
    finally:
        await transport.close()
        server.stop()


async def test_put_events_works_before_nats_is_up_and_delivery_follows(
    store: SQLiteStore, tmp_path: Path
) -> None:
    server = NatsServer(tmp_path / "nats")  # not started yet
    transport = JetStreamTransport(server.url)
    api = EventBus(store)
    api.put_rule("placed", event_pattern=PLACED)
    api.put_targets("placed", [{"Id": "sink", "Arn": FN + "sink"}])
    seen: list[int] = []
    bus = make(store, transport, Layout(), {"sink": lambda e: seen.append(e["detail"]["order"])})
    try:
        async with running(bus):
            response = await bus.put_events([entry(n) for n in range(5)])
            assert response["FailedEntryCount"] == 0  # accepted: the database is enough
            assert count(store, "bus_deliveries") == 5 and seen == []
            await until(lambda: bus.stats["errors"] >= 2)  # it tried NATS, and will again
            assert count(store, "bus_deliveries") == 5 and seen == []
            server.start()
            await until(lambda: sorted(seen) == list(range(5)), timeout=30.0)
            await until(lambda: count(store, "bus_deliveries") == 0)
    finally:
        await transport.close()
        server.stop()


async def test_the_relay_and_delivery_work_on_postgresql(postgres_url: str) -> None:
    store = open_store(postgres_url)
    url = shared_nats_url()
    transport = JetStreamTransport(url)
    name = unique("P")
    layout = Layout(stream=name, prefix=name.lower())
    try:
        api = EventBus(store)
        api.put_rule("placed", event_pattern=PLACED)
        api.put_targets(
            "placed",
            [
                {"Id": "sink", "Arn": FN + "sink"},
                {"Id": "broken", "Arn": FN + "broken", "RetryPolicy": {"MaximumRetryAttempts": 0}},
            ],
        )
        seen: list[int] = []

        def broken(event: Any) -> None:
            raise RuntimeError("no")

        bus = make(
            store,
            transport,
            layout,
            {"sink": lambda e: seen.append(e["detail"]["order"]), "broken": broken},
        )
        async with running(bus):
            await bus.put_events([entry(1), entry(2)])
            api.put_events([entry(3)])
            bus.wake()
            await until(lambda: sorted(seen) == [1, 2, 3])
            await until(lambda: len(api.list_dead_letters()["DeadLetters"]) == 3)
            await until(lambda: count(store, "bus_deliveries") == 0)
    finally:
        await transport.delete_stream(name)
        await transport.close()
        store.close()

"""The dispatcher over a real SQLite file: routing, inputs, retries, dead letters, redrive,
state machine and event bus targets, leases.

Retries run on a virtual clock with time skipping, so back-off delays take no real time.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from oncue.bus.dispatch import Dispatcher
from oncue.bus.handlers import DeliveryContext
from oncue.bus.service import EventBus
from oncue.engine.clock import VirtualClock
from oncue.errors import (
    ExecutionAlreadyExists,
    InvalidInput,
    StateMachineNotFound,
    StoreError,
)
from oncue.store import SQLiteStore, Tx
from oncue.store.bus_sql import BusTx

FN = "arn:aws:lambda:us-east-1:123456789012:function:"
QUEUE = "arn:aws:sqs:us-east-1:123456789012:"
MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:"
BUS = "arn:aws:events:us-east-1:123456789012:event-bus/"
START = datetime(2025, 1, 1, tzinfo=UTC)
PLACED = json.dumps({"source": ["shop"], "detail-type": ["OrderPlaced"]})


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    opened = SQLiteStore(f"sqlite:///{tmp_path / 'oncue.db'}")
    yield opened
    opened.close()


def entry(order: int = 1, **fields: Any) -> dict[str, Any]:
    return {
        "Source": "shop",
        "DetailType": "OrderPlaced",
        "Detail": json.dumps({"order": order, "items": ["tea"]}),
        **fields,
    }


def count(store: SQLiteStore, table: str) -> int:
    with store.read() as tx:
        return int(tx.one(f"SELECT COUNT(*) FROM {table}")[0])


@asynccontextmanager
async def running(dispatcher: Dispatcher) -> AsyncIterator[Dispatcher]:
    stop = asyncio.Event()
    task = asyncio.create_task(dispatcher.run(stop))
    try:
        yield dispatcher
    finally:
        stop.set()
        await task


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.005)


# --- routing and inputs ------------------------------------------------------------------


async def test_an_event_reaches_every_target_of_every_matching_rule_with_its_input(
    store: SQLiteStore,
) -> None:
    bus = EventBus(store)
    received: dict[str, list[tuple[Any, DeliveryContext]]] = {}

    def recorder(name: str) -> Callable[[Any, DeliveryContext], None]:
        def handler(event: Any, context: DeliveryContext) -> None:
            received.setdefault(name, []).append((event, context))

        return handler

    handlers = {name: recorder(name) for name in ("whole", "const", "path", "text")}
    bus.put_rule("placed", event_pattern=PLACED)
    bus.put_rule("all-shop", event_pattern=json.dumps({"source": ["shop"]}))
    bus.put_rule("other", event_pattern=json.dumps({"source": ["elsewhere"]}))
    bus.put_targets(
        "placed",
        [
            {"Id": "whole", "Arn": FN + "whole"},
            {"Id": "const", "Arn": FN + "const", "Input": '{"fixed": true}'},
            {"Id": "path", "Arn": FN + "path", "InputPath": "$.detail"},
            {
                "Id": "text",
                "Arn": FN + "text",
                "InputTransformer": {
                    "InputPathsMap": {"order": "$.detail.order", "src": "$.source"},
                    "InputTemplate": "Order <order> from <src>",
                },
            },
            {
                "Id": "queue",
                "Arn": QUEUE + "orders",
                "InputTransformer": {
                    "InputPathsMap": {"order": "$.detail.order", "first": "$.detail.items[0]"},
                    "InputTemplate": '{"order": <order>, "first": "<first>", '
                    '"rule": <aws.events.rule-name>}',
                },
            },
        ],
    )
    bus.put_targets("all-shop", [{"Id": "also", "Arn": FN + "whole"}])
    bus.put_targets("other", [{"Id": "never", "Arn": FN + "whole"}])

    dispatcher = Dispatcher(store, handlers, poll_seconds=0.02)
    async with running(dispatcher):
        first = bus.put_events([entry(1)])  # through the API: claimed by the dispatcher
        dispatcher.wake()
        second = await dispatcher.put_events([entry(2)])  # group commit: leased at once
        await until(lambda: count(store, "bus_deliveries") == 0 and len(received) == 4)
    ids = [first["Entries"][0]["EventId"], second["Entries"][0]["EventId"]]

    whole = received["whole"]
    assert sorted((e["id"], c.rule_name) for e, c in whole) == sorted(
        (i, rule) for i in ids for rule in ("placed", "all-shop")
    )
    for event, context in whole:
        assert event["source"] == "shop" and event["detail-type"] == "OrderPlaced"
        assert context.event_id == event["id"]
        assert context.attempt == 1
        assert context.idempotency_key.startswith(event["id"] + "/")
    assert [e for e, _ in received["const"]] == [{"fixed": True}] * 2
    assert sorted(e["order"] for e, _ in received["path"]) == [1, 2]
    assert sorted(e for e, _ in received["text"]) == ["Order 1 from shop", "Order 2 from shop"]
    messages = bus.receive_messages("orders", 10)["Messages"]
    assert sorted(json.loads(m["Body"])["order"] for m in messages) == [1, 2]
    assert json.loads(messages[0]["Body"])["rule"] == "placed"
    assert json.loads(messages[0]["Body"])["first"] == "tea"
    assert count(store, "bus_events") == 0  # delivered everywhere: nothing left behind


async def test_put_events_through_the_dispatcher_reports_per_entry_and_request_errors(
    store: SQLiteStore,
) -> None:
    dispatcher = Dispatcher(store, {}, poll_seconds=0.02)
    async with running(dispatcher):
        response = await dispatcher.put_events([entry(), {"Source": "shop"}])
        with pytest.raises(InvalidInput):
            await dispatcher.put_events([])
    assert response["FailedEntryCount"] == 1


async def test_a_dispatcher_publishes_before_it_runs_and_runs_again(
    store: SQLiteStore,
) -> None:
    bus = EventBus(store)
    bus.put_rule("placed", event_pattern=PLACED)
    bus.put_targets("placed", [{"Id": "t", "Arn": FN + "f"}])
    got: list[int] = []
    dispatcher = Dispatcher(store, {"f": lambda e: got.append(e["detail"]["order"])})
    dispatcher.poll_seconds = 0.02
    await dispatcher.put_events([entry(1)])  # not running: a transaction of its own
    async with running(dispatcher):
        await until(lambda: got == [1])
    async with running(dispatcher):
        await dispatcher.put_events([entry(2)])
        await until(lambda: got == [1, 2])


async def test_async_and_sync_handlers_both_run(store: SQLiteStore) -> None:
    seen: list[str] = []

    async def coroutine(event: Any) -> None:
        await asyncio.sleep(0)
        seen.append("async")

    def blocking(event: Any) -> str:
        seen.append("sync")
        return "ignored"

    bus = EventBus(store)
    bus.put_rule("placed", event_pattern=PLACED)
    bus.put_targets("placed", [{"Id": "a", "Arn": FN + "a"}, {"Id": "s", "Arn": FN + "s:live"}])
    async with running(Dispatcher(store, {"a": coroutine, "s": blocking}, poll_seconds=0.02)):
        bus.put_events([entry()])
        await until(lambda: len(seen) == 2)
    assert sorted(seen) == ["async", "sync"]


# --- retries, dead letters, redrive ------------------------------------------------------


async def test_a_failing_target_is_retried_with_back_off_then_dead_lettered(
    store: SQLiteStore,
) -> None:
    clock = VirtualClock(START)
    calls: list[tuple[datetime, int]] = []
    steady: list[str] = []
    healthy = False

    def flaky(event: Any, context: DeliveryContext) -> None:
        calls.append((clock.now(), context.attempt))
        if not healthy:
            raise ConnectionError("the downstream service is down")

    bus = EventBus(store, clock=clock)
    bus.put_rule("placed", event_pattern=PLACED)
    bus.put_targets(
        "placed",
        [
            {
                "Id": "flaky",
                "Arn": FN + "flaky",
                "RetryPolicy": {"MaximumRetryAttempts": 2},
                "DeadLetterConfig": {"Arn": QUEUE + "dlq"},
            },
            {"Id": "steady", "Arn": FN + "steady"},
        ],
    )
    dispatcher = Dispatcher(
        store,
        {"flaky": flaky, "steady": lambda event: steady.append(event["id"])},
        clock=clock,
        time_skipping=True,
        draw=lambda: 0.5,
        poll_seconds=0.02,
    )
    async with running(dispatcher):
        event_id = bus.put_events([entry()])["Entries"][0]["EventId"]
        dispatcher.wake()
        await until(lambda: count(store, "bus_dead_letters") == 1)

        # The first delivery and two retries, after 0.5 * 1 s and 0.5 * 2 s of back-off.
        assert [attempt for _, attempt in calls] == [1, 2, 3]
        gaps = [(b[0] - a[0]).total_seconds() for a, b in itertools.pairwise(calls)]
        assert gaps == pytest.approx([0.5, 1.0], abs=1e-5)
        assert steady == [event_id]  # the failing target held nothing up

        (dead,) = dispatcher.list_dead_letters()["DeadLetters"]
        assert dead["EventId"] == event_id
        assert dead["RuleArn"] == "arn:aws:events:us-east-1:123456789012:rule/placed"
        assert dead["TargetId"] == "flaky" and dead["TargetArn"] == FN + "flaky"
        assert dead["ErrorCode"] == "ERROR_FROM_TARGET"
        assert dead["ErrorMessage"] == "ConnectionError: the downstream service is down"
        assert dead["RetryAttempts"] == 2  # retries, as EventBridge counts
        assert dead["ExhaustedRetryCondition"] == "MaximumRetryAttempts"
        assert dead["Event"]["id"] == event_id
        assert bus.list_dead_letters(bus="default")["DeadLetters"] == [dead]
        assert count(store, "bus_deliveries") == 0

        # The target's DeadLetterConfig names an internal queue: the event is there too.
        (message,) = bus.receive_messages("dlq")["Messages"]
        assert json.loads(message["Body"])["id"] == event_id
        attributes = message["MessageAttributes"]
        assert attributes["ERROR_CODE"]["StringValue"] == "ERROR_FROM_TARGET"
        assert attributes["RETRY_ATTEMPTS"]["StringValue"] == "2"
        assert attributes["EXHAUSTED_RETRY_CONDITION"]["StringValue"] == "MaximumRetryAttempts"
        assert attributes["TARGET_ARN"]["StringValue"] == FN + "flaky"

        # Fixed: redrive it; attempts count from the start again.
        healthy = True
        redriven = dispatcher.redrive_dead_letters([int(dead["Id"]), 999])
        assert redriven["RedrivenCount"] == 1
        assert [f["Id"] for f in redriven["FailedEntries"]] == [999]
        await until(lambda: len(calls) == 4 and count(store, "bus_deliveries") == 0)
    assert calls[-1][1] == 1
    assert dispatcher.list_dead_letters()["DeadLetters"] == []
    assert steady == [event_id]  # the redrive is for the failed target only
    assert count(store, "bus_events") == 0


async def test_retries_stop_when_the_event_is_older_than_the_maximum_age(
    store: SQLiteStore,
) -> None:
    clock = VirtualClock(START)
    calls: list[datetime] = []

    def down(event: Any) -> None:
        calls.append(clock.now())
        raise RuntimeError("still down")

    bus = EventBus(store, clock=clock)
    bus.put_rule("placed", event_pattern=PLACED)
    bus.put_targets(
        "placed",
        [{"Id": "t", "Arn": FN + "down", "RetryPolicy": {"MaximumEventAgeInSeconds": 60}}],
    )
    dispatcher = Dispatcher(
        store, {"down": down}, clock=clock, time_skipping=True, draw=lambda: 1.0
    )
    async with running(dispatcher):
        bus.put_events([entry()])
        dispatcher.wake()
        await until(lambda: count(store, "bus_dead_letters") == 1)
    # Back-off ceilings 1, 2, 4, 8, 16, 32 s: the seventh failure comes 63 s after ingestion.
    assert len(calls) == 7
    assert (calls[-1] - START).total_seconds() == pytest.approx(63, abs=0.01)
    (dead,) = bus.list_dead_letters()["DeadLetters"]
    assert dead["ExhaustedRetryCondition"] == "MaximumEventAgeInSeconds"
    assert dead["RetryAttempts"] == 6


# --- state machine and event bus targets -------------------------------------------------


async def test_state_machine_targets_start_one_execution_per_event_and_target(
    store: SQLiteStore,
) -> None:
    clock = VirtualClock(START)
    calls: list[tuple[str, str, str | None]] = []
    started: dict[str, str] = {}

    def start_execution(
        tx: Tx,
        machine: str,
        input_text: str,
        name: str | None,
        now: datetime,
        *,
        trace_header: str | None = None,
    ) -> str:
        assert isinstance(tx, Tx) and now == clock.now()
        # The execution joins the event's trace, the delivery as its parent span.
        assert trace_header is not None and trace_header.startswith("00-")
        calls.append((machine, input_text, name))
        if machine.endswith(":missing"):
            raise StateMachineNotFound(f"State Machine Does Not Exist: '{machine}'")
        assert name is not None
        if name in started:
            raise ExecutionAlreadyExists(f"Execution Already Exists: '{started[name]}'")
        started[name] = f"{machine}:{name}"
        if len(calls) == 1:
            # Started, but the reply is lost: the delivery is retried with the same name.
            raise StoreError("the reply was lost")
        return started[name]

    bus = EventBus(store, clock=clock)
    bus.put_rule("placed", event_pattern=PLACED)
    bus.put_targets(
        "placed",
        [
            {"Id": "flow", "Arn": MACHINE + "fulfil", "InputPath": "$.detail"},
            {"Id": "ghost", "Arn": MACHINE + "missing"},
        ],
    )
    woken: list[int] = []
    dispatcher = Dispatcher(
        store,
        {},
        start_execution,
        clock=clock,
        time_skipping=True,
        draw=lambda: 0.1,
        on_started=lambda: woken.append(len(calls)),
    )
    async with running(dispatcher):
        bus.put_events([entry(7)])
        dispatcher.wake()
        await until(lambda: count(store, "bus_deliveries") == 0)
    flow = [c for c in calls if c[0].endswith(":fulfil")]
    assert len(flow) == 2
    assert flow[0] == flow[1]  # the same name: a redelivery cannot start a second execution
    assert json.loads(flow[0][1]) == {"order": 7, "items": ["tea"]}
    assert len(started) == 1
    assert len(woken) == 1  # the engine is told once the start committed
    # A state machine that does not exist is not retried: straight to the dead letters.
    (dead,) = bus.list_dead_letters()["DeadLetters"]
    assert dead["TargetId"] == "ghost"
    assert dead["ErrorCode"] == "NO_RESOURCE"
    assert dead["RetryAttempts"] == 0  # not retried
    assert "ExhaustedRetryCondition" not in dead


async def test_without_an_engine_state_machine_deliveries_wait(store: SQLiteStore) -> None:
    bus = EventBus(store)
    bus.put_rule("placed", event_pattern=PLACED)
    bus.put_targets("placed", [{"Id": "flow", "Arn": MACHINE + "fulfil"}])
    dispatcher = Dispatcher(store, {}, poll_seconds=0.02)
    async with running(dispatcher):
        await dispatcher.put_events([entry()])
        await asyncio.sleep(0.1)
    assert count(store, "bus_deliveries") == 1
    assert dispatcher.stats["delivered"] == 0


async def test_an_event_bus_target_republishes_the_event_on_that_bus(
    store: SQLiteStore,
) -> None:
    bus = EventBus(store)
    bus.create_event_bus("orders")
    bus.put_rule("forward", event_pattern=PLACED)
    bus.put_targets("forward", [{"Id": "orders", "Arn": BUS + "orders"}])
    bus.put_targets("forward", [{"Id": "nowhere", "Arn": BUS + "nowhere"}])
    bus.put_rule("kitchen", event_pattern=PLACED, event_bus_name="orders")
    bus.put_targets("kitchen", [{"Id": "k", "Arn": FN + "kitchen"}], event_bus_name="orders")
    seen: list[tuple[dict[str, Any], DeliveryContext]] = []
    dispatcher = Dispatcher(store, {"kitchen": lambda e, c: seen.append((e, c))}, poll_seconds=0.02)
    async with running(dispatcher):
        response = await dispatcher.put_events([entry(3)])
        await until(lambda: len(seen) == 1 and count(store, "bus_deliveries") == 0)
    original = response["Entries"][0]["EventId"]
    event, context = seen[0]
    assert context.event_bus_name == "orders" and context.rule_name == "kitchen"
    assert event["id"] != original
    assert event["detail"] == {"order": 3, "items": ["tea"]}
    assert event["source"] == "shop"
    (dead,) = bus.list_dead_letters()["DeadLetters"]
    assert dead["TargetId"] == "nowhere" and dead["ErrorCode"] == "NO_RESOURCE"


# --- leases ------------------------------------------------------------------------------


def test_a_broken_database_fails_the_cycle_not_the_delivery(store: SQLiteStore) -> None:
    """A database error that is no delivery's fault (here a missing table; in production a
    lost connection) is not recorded as a failed delivery: the cycle rolls back, and the
    delivery is still due, with no retry counted and no dead letter."""
    bus = EventBus(store)
    bus.put_rule("all", event_pattern=json.dumps({"source": ["shop"]}))
    bus.put_targets("all", [{"Id": "q", "Arn": QUEUE + "jobs"}])
    bus.put_events([entry()])
    dispatcher = Dispatcher(store, {})
    with store.transaction() as tx:
        tx.run("DROP TABLE queue_messages")
    with pytest.raises(sqlite3.OperationalError, match="queue_messages"):
        dispatcher.cycle.run([], [], claim=True, room=10, now=datetime.now(UTC))
    assert count(store, "bus_dead_letters") == 0
    with store.read() as tx:
        assert tx.all("SELECT owner, attempt, error_code FROM bus_deliveries") == [(None, 0, None)]


async def test_a_delivery_whose_lease_ran_out_is_delivered_by_another_dispatcher(
    store: SQLiteStore,
) -> None:
    bus = EventBus(store)
    bus.put_rule("placed", event_pattern=PLACED)
    bus.put_targets("placed", [{"Id": "t", "Arn": FN + "f"}])
    bus.put_events([entry()])
    now = datetime.now(UTC).timestamp()
    with store.transaction() as tx:  # a dispatcher that claims the delivery, then dies
        (claim,) = BusTx(tx).claim_deliveries(
            owner="dead", kinds=(), handlers=["f"], now=now, until=now + 1.0, limit=10
        )
    got: list[str] = []
    async with running(Dispatcher(store, {"f": lambda e: got.append(e["id"])}, poll_seconds=0.05)):
        await asyncio.sleep(0.1)
        assert got == []  # still leased to the dead one
        await until(lambda: got == [claim.event_id] and count(store, "bus_deliveries") == 0)
    with store.transaction() as tx:  # the dead dispatcher's late result is refused
        assert BusTx(tx).finish_deliveries([claim.key], "dead") == [False]


async def test_shutdown_hands_unfinished_deliveries_back(store: SQLiteStore) -> None:
    bus = EventBus(store)
    bus.put_rule("placed", event_pattern=PLACED)
    bus.put_targets("placed", [{"Id": "t", "Arn": FN + "f"}])
    bus.put_events([entry()])
    forever = asyncio.Event()
    started: list[str] = []

    async def stuck(event: Any) -> None:
        started.append(event["id"])
        await forever.wait()

    first = Dispatcher(store, {"f": stuck}, poll_seconds=0.02, grace_seconds=0.05)
    async with running(first):
        await until(lambda: len(started) == 1)
    with store.read() as tx:
        assert tx.all("SELECT owner, lease_until FROM bus_deliveries") == [(None, None)]
    done: list[str] = []
    async with running(Dispatcher(store, {"f": lambda e: done.append(e["id"])}, poll_seconds=0.02)):
        await until(lambda: done == started)


async def test_dispatchers_with_different_handlers_share_the_work(store: SQLiteStore) -> None:
    bus = EventBus(store)
    bus.put_rule("placed", event_pattern=PLACED)
    bus.put_targets("placed", [{"Id": "a", "Arn": FN + "a"}, {"Id": "b", "Arn": FN + "b"}])
    got: dict[str, list[int]] = {"a": [], "b": []}
    first = Dispatcher(store, {"a": lambda e: got["a"].append(e["detail"]["order"])})
    second = Dispatcher(store, {"b": lambda e: got["b"].append(e["detail"]["order"])})
    for dispatcher in (first, second):
        dispatcher.poll_seconds = 0.02
    async with running(first), running(second):
        await first.put_events([entry(n) for n in range(5)])  # b's deliveries are left to b
        await until(lambda: count(store, "bus_deliveries") == 0)
    assert sorted(got["a"]) == sorted(got["b"]) == list(range(5))

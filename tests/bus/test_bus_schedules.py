"""Scheduled rules firing on a virtual clock: rate, cron, at; missed fires, disabled rules,
several dispatchers, a crash before the commit; a running dispatcher jumping to the next fire.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from oncue.bus.cycle import Cycle
from oncue.bus.dispatch import Dispatcher
from oncue.bus.router import Router
from oncue.bus.service import EventBus
from oncue.clock import VirtualClock
from oncue.errors import ValidationException
from oncue.store import SQLiteStore

QUEUE = "arn:aws:sqs:us-east-1:123456789012:"
RULE_ARN = "arn:aws:events:us-east-1:123456789012:rule/"
START = datetime(2025, 3, 3, 9, 0, 30, tzinfo=UTC)  # a Monday


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "oncue.db"


@pytest.fixture
def store(path: Path) -> Iterator[SQLiteStore]:
    opened = SQLiteStore(f"sqlite:///{path}")
    yield opened
    opened.close()


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(START)


@pytest.fixture
def bus(store: SQLiteStore, clock: VirtualClock) -> EventBus:
    return EventBus(store, clock=clock)


def cycle(store: SQLiteStore, router: Router | None = None, owner: str = "a") -> Cycle:
    return Cycle(
        store=store,
        router=router or Router(),
        owner=owner,
        handlers={},
        start_execution=None,
        lease_seconds=30.0,
        batch=100,
        draw=lambda: 0.5,
    )


def tick(c: Cycle, clock: VirtualClock, seconds: float = 0.0) -> int:
    clock.advance(seconds)
    return int(c.run([], [], claim=True, room=100, now=clock.now()).fired)


def fired(bus: EventBus, queue: str = "ticks") -> list[dict[str, Any]]:
    messages = bus.receive_messages(queue, 10)["Messages"]
    for message in messages:
        bus.delete_message(queue, message["ReceiptHandle"])
    return [json.loads(m["Body"]) for m in messages]


def scheduled(bus: EventBus, name: str, expression: str, queue: str = "ticks") -> None:
    bus.put_rule(name, schedule_expression=expression)
    bus.put_targets(name, [{"Id": "q", "Arn": QUEUE + queue}])


def test_a_rate_rule_fires_its_scheduled_event_on_its_grid(
    bus: EventBus, store: SQLiteStore, clock: VirtualClock
) -> None:
    bus.put_rule("shop-events", event_pattern=json.dumps({"source": ["aws.events"]}))
    bus.put_targets("shop-events", [{"Id": "q", "Arn": QUEUE + "pattern"}])
    scheduled(bus, "every-5", "rate(5 minutes)")
    c = cycle(store)
    assert tick(c, clock, 299) == 0
    assert fired(bus) == []
    assert tick(c, clock, 1) == 1
    (event,) = fired(bus)
    assert set(event) == {
        "version",
        "id",
        "detail-type",
        "source",
        "account",
        "time",
        "region",
        "resources",
        "detail",
    }
    assert event["detail-type"] == "Scheduled Event"
    assert event["source"] == "aws.events"
    assert event["resources"] == [RULE_ARN + "every-5"]
    assert event["detail"] == {}
    assert event["time"] == "2025-03-03T09:05:30Z"
    assert event["account"] == "123456789012" and event["region"] == "us-east-1"
    assert fired(bus, "pattern") == []  # to the rule's own targets, not onto the bus
    assert tick(c, clock, 150) == 0
    assert tick(c, clock, 150) == 1
    assert [e["time"] for e in fired(bus)] == ["2025-03-03T09:10:30Z"]


def test_missed_fires_after_downtime_fire_once_then_the_grid_resumes(
    bus: EventBus, store: SQLiteStore, clock: VirtualClock
) -> None:
    scheduled(bus, "every-minute", "rate(1 minute)")
    c = cycle(store)
    assert tick(c, clock, 3 * 3600 + 10) == 1  # 180 fires missed: one fire, not a burst
    (event,) = fired(bus)
    assert event["time"] == "2025-03-03T12:00:30Z"  # the latest missed fire
    assert tick(c, clock, 0) == 0
    assert tick(c, clock, 50) == 1  # 12:01:30, back on the grid
    assert [e["time"] for e in fired(bus)] == ["2025-03-03T12:01:30Z"]


def test_a_cron_rule_fires_at_its_times(
    bus: EventBus, store: SQLiteStore, clock: VirtualClock
) -> None:
    scheduled(bus, "weekday-noon", "cron(0 12 ? * MON-FRI *)")
    c = cycle(store)
    assert tick(c, clock, 3 * 3600 - 60) == 0  # Monday 11:59:30
    assert tick(c, clock, 30) == 1  # Monday 12:00:00
    assert tick(c, clock, 86400) == 1  # Tuesday 12:00:00
    assert tick(c, clock, 4 * 86400) == 1  # Saturday: Wednesday to Friday missed, fired once
    assert tick(c, clock, 86400) == 0  # Sunday
    assert tick(c, clock, 86400) == 1  # Monday
    times = [e["time"] for e in fired(bus)]
    assert times == [
        "2025-03-03T12:00:00Z",
        "2025-03-04T12:00:00Z",
        "2025-03-07T12:00:00Z",
        "2025-03-10T12:00:00Z",
    ]


def test_an_at_schedule_fires_once(bus: EventBus, store: SQLiteStore, clock: VirtualClock) -> None:
    scheduled(bus, "once", "at(2025-03-03T10:00:00)")
    c = cycle(store)
    assert tick(c, clock, 3600) == 1
    assert [e["time"] for e in fired(bus)] == ["2025-03-03T10:00:00Z"]
    assert tick(c, clock, 86400 * 365) == 0
    with store.read() as tx:
        assert tx.one("SELECT next_fire FROM bus_schedules")[0] is None


def test_a_disabled_rule_does_not_fire_and_resumes_when_enabled(
    bus: EventBus, store: SQLiteStore, clock: VirtualClock
) -> None:
    scheduled(bus, "hourly", "rate(1 hour)")
    bus.disable_rule("hourly")
    c = cycle(store)
    assert tick(c, clock, 2 * 3600) == 0
    assert fired(bus) == []
    bus.enable_rule("hourly")
    assert tick(c, clock, 3600) == 1
    assert [e["time"] for e in fired(bus)] == ["2025-03-03T12:00:30Z"]


def test_changing_or_deleting_a_rule_replans_its_schedule(
    bus: EventBus, store: SQLiteStore, clock: VirtualClock
) -> None:
    scheduled(bus, "r", "rate(1 day)")
    clock.advance(60)
    bus.put_rule("r", schedule_expression="rate(2 minutes)")
    c = cycle(store)
    assert tick(c, clock, 60) == 1  # counts from the rule's creation: 09:02:30
    fired(bus)
    bus.put_rule("r", event_pattern=json.dumps({"source": ["x"]}))  # no schedule any more
    assert tick(c, clock, 3 * 86400) == 0
    with store.read() as tx:
        assert tx.one("SELECT COUNT(*) FROM bus_schedules")[0] == 0
    scheduled(bus, "gone", "rate(1 minute)")
    bus.remove_targets("gone", ["q"])
    bus.delete_rule("gone")
    with store.read() as tx:
        assert tx.one("SELECT COUNT(*) FROM bus_schedules")[0] == 0


def test_schedules_run_on_the_default_bus_only(bus: EventBus) -> None:
    bus.create_event_bus("custom")
    with pytest.raises(ValidationException, match="default event bus"):
        bus.put_rule("r", schedule_expression="rate(1 minute)", event_bus_name="custom")


def test_several_dispatchers_fire_a_due_schedule_once(
    bus: EventBus, store: SQLiteStore, clock: VirtualClock, path: Path
) -> None:
    scheduled(bus, "every-minute", "rate(1 minute)")
    others = [SQLiteStore(f"sqlite:///{path}") for _ in range(3)]
    try:
        cycles = [cycle(s, owner=f"d{i}") for i, s in enumerate([store, *others])]
        clock.advance(60)
        assert sum(tick(c, clock) for c in cycles) == 1
        clock.advance(60)
        assert sum(tick(c, clock) for c in reversed(cycles)) == 1
    finally:
        for opened in others:
            opened.close()
    assert len(fired(bus)) == 2


def test_a_crash_before_the_commit_fires_again_once(
    bus: EventBus, store: SQLiteStore, clock: VirtualClock
) -> None:
    scheduled(bus, "every-minute", "rate(1 minute)")

    class Crash(Exception):
        pass

    class CrashingRouter(Router):
        def deliver_event(self, *args: Any, **kwargs: Any) -> Any:
            super().deliver_event(*args, **kwargs)
            raise Crash

    clock.advance(60)
    with pytest.raises(Crash):
        tick(cycle(store, CrashingRouter()), clock)
    assert fired(bus) == []  # nothing committed
    assert tick(cycle(store), clock) == 1
    assert tick(cycle(store), clock) == 0
    assert len(fired(bus)) == 1


async def test_a_running_dispatcher_jumps_the_virtual_clock_to_the_next_fire(
    bus: EventBus, store: SQLiteStore, clock: VirtualClock
) -> None:
    got: list[str] = []
    bus.put_rule("hourly", schedule_expression="rate(1 hour)")
    bus.put_targets(
        "hourly", [{"Id": "h", "Arn": "arn:aws:lambda:us-east-1:123456789012:function:tick"}]
    )
    dispatcher = Dispatcher(
        store, {"tick": lambda e: got.append(e["time"])}, clock=clock, time_skipping=True
    )
    stop = asyncio.Event()
    task = asyncio.create_task(dispatcher.run(stop))
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while len(got) < 3:
            assert loop.time() < deadline, got
            await asyncio.sleep(0.005)
    finally:
        stop.set()
        await task
    assert got[:3] == [
        "2025-03-03T10:00:30Z",
        "2025-03-03T11:00:30Z",
        "2025-03-03T12:00:30Z",
    ]
    assert clock.now() >= START + timedelta(hours=3)

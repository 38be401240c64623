"""Archives and replays over a real SQLite file, driven cycle by cycle on a virtual clock.

Cycles are run directly (``Cycle.run``) so that each test decides when the dispatcher's work
happens; queue targets are delivered inside the cycle, so what a replay sent is visible as
queue messages right after it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from oncue.bus import archive_api
from oncue.bus.archives import iter_archived
from oncue.bus.cycle import Cycle
from oncue.bus.dispatch import Dispatcher
from oncue.bus.router import Router
from oncue.bus.service import EventBus
from oncue.bus.trace import trace_tree
from oncue.clock import VirtualClock
from oncue.errors import (
    IllegalStatusException,
    LimitExceededException,
    PatternError,
    ResourceAlreadyExistsException,
    ResourceNotFoundException,
    ValidationException,
)
from oncue.store import SQLiteStore
from oncue.store.bus_archive_sql import ArchiveTx

ACCOUNT = "arn:aws:events:us-east-1:123456789012:"
QUEUE = "arn:aws:sqs:us-east-1:123456789012:"
START = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
ORDERS = json.dumps({"source": ["shop"]})


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


def entry(order: int, at: datetime, source: str = "shop", **fields: Any) -> dict[str, Any]:
    return {
        "Source": source,
        "DetailType": "OrderPlaced",
        "Detail": json.dumps({"order": order}),
        "Time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        **fields,
    }


def cycle(store: SQLiteStore, router: Router | None = None, batch: int = 500) -> Cycle:
    return Cycle(
        store=store,
        router=router or Router(),
        owner="test",
        handlers={},
        start_execution=None,
        lease_seconds=30.0,
        batch=batch,
        draw=lambda: 0.5,
    )


def run(c: Cycle, clock: VirtualClock) -> Any:
    return c.run([], [], claim=True, room=1000, now=clock.now())


def drain(bus: EventBus, queue: str) -> list[dict[str, Any]]:
    messages = bus.receive_messages(queue, 10)["Messages"]
    for message in messages:
        bus.delete_message(queue, message["ReceiptHandle"])
    bodies = [json.loads(m["Body"]) for m in messages]
    return bodies + (drain(bus, queue) if len(messages) == 10 else [])


def count(store: SQLiteStore, table: str) -> int:
    with store.read() as tx:
        return int(tx.one(f"SELECT COUNT(*) FROM {table}")[0])


def archived_orders(bus: EventBus, name: str) -> list[int]:
    return [e["detail"]["order"] for e in bus.export_archive(name)]


def _nodes(tree: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    stack = list(tree.get("roots", [])) + list(tree.get("children", []))
    while stack:
        node = stack.pop()
        found.append(node)
        stack.extend(node["children"])
    return found


def minute(n: int) -> datetime:
    return START - timedelta(hours=1) + timedelta(minutes=n)


# --- archives ------------------------------------------------------------------------------


def test_archive_lifecycle_in_eventbridge_shapes(bus: EventBus, clock: VirtualClock) -> None:
    created = bus.create_archive(
        "orders", ACCOUNT + "event-bus/default", "all orders", ORDERS, retention_days=7
    )
    assert created == {
        "ArchiveArn": ACCOUNT + "archive/orders",
        "State": "ENABLED",
        "CreationTime": START.timestamp(),
    }
    described = bus.describe_archive("orders")
    assert described == {
        "ArchiveArn": ACCOUNT + "archive/orders",
        "ArchiveName": "orders",
        "EventSourceArn": ACCOUNT + "event-bus/default",
        "State": "ENABLED",
        "RetentionDays": 7,
        "SizeBytes": 0,
        "EventCount": 0,
        "CreationTime": START.timestamp(),
        "Description": "all orders",
        "EventPattern": ORDERS,
    }
    bus.create_event_bus("audit")
    bus.create_archive("audit-all", "audit")
    listed = bus.list_archives()["Archives"]
    assert [a["ArchiveName"] for a in listed] == ["audit-all", "orders"]
    assert listed[0]["RetentionDays"] == 0  # kept indefinitely
    only = bus.list_archives(event_source_arn=ACCOUNT + "event-bus/audit")["Archives"]
    assert [a["ArchiveName"] for a in only] == ["audit-all"]
    page = bus.list_archives(limit=1)
    assert len(page["Archives"]) == 1
    rest = bus.list_archives(limit=1, next_token=page["NextToken"])
    assert [a["ArchiveName"] for a in rest["Archives"]] == ["orders"]
    updated = bus.update_archive("orders", retention_days=30)
    assert updated["State"] == "ENABLED"
    again = bus.describe_archive("orders")
    assert again["RetentionDays"] == 30
    assert again["Description"] == "all orders"  # fields not given are kept
    assert bus.delete_archive("orders") == {}
    with pytest.raises(ResourceNotFoundException, match="Archive orders does not exist"):
        bus.describe_archive("orders")


def test_archive_errors_name_the_fault_and_change_nothing(
    bus: EventBus, store: SQLiteStore
) -> None:
    bus.create_archive("kept", "default")
    with pytest.raises(ResourceAlreadyExistsException):
        bus.create_archive("kept", "default")
    with pytest.raises(ResourceNotFoundException, match="Event bus nowhere does not exist"):
        bus.create_archive("other", "nowhere")
    with pytest.raises(PatternError):
        bus.create_archive("other", "default", event_pattern='{"source": "shop"}')
    with pytest.raises(ValidationException, match="retentionDays"):
        bus.create_archive("other", "default", retention_days=-1)
    with pytest.raises(ValidationException, match="archiveName"):
        bus.create_archive("bad name!", "default")
    with pytest.raises(ResourceNotFoundException):
        bus.update_archive("missing", retention_days=1)
    with pytest.raises(ResourceNotFoundException):
        bus.delete_archive("missing")
    with pytest.raises(ResourceNotFoundException):
        bus.export_archive("missing")
    assert count(store, "bus_archives") == 1


def test_the_archive_limit_is_enforced(bus: EventBus, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(archive_api, "MAX_ARCHIVES", 2)
    bus.create_archive("one", "default")
    bus.create_archive("two", "default")
    with pytest.raises(LimitExceededException, match="2 archives"):
        bus.create_archive("three", "default")


def test_an_archive_keeps_matching_events_from_its_creation_even_without_rules(
    bus: EventBus, clock: VirtualClock
) -> None:
    bus.put_events([entry(0, minute(0))])  # before the archive: not kept
    bus.create_archive("shop", "default", event_pattern=ORDERS)
    bus.create_archive("everything", "default")
    bus.put_events([entry(1, minute(1)), entry(2, minute(2), source="elsewhere")])
    bus.put_events([entry(3, minute(3), EventBusName="default")])
    assert archived_orders(bus, "shop") == [1, 3]
    assert archived_orders(bus, "everything") == [1, 2, 3]
    described = bus.describe_archive("shop")
    assert described["EventCount"] == 2
    exported = list(bus.export_archive("shop"))
    assert described["SizeBytes"] == sum(
        len(json.dumps(e, separators=(",", ":")).encode()) for e in exported
    )
    assert exported[0]["source"] == "shop" and exported[0]["time"] == "2025-03-01T11:01:00Z"
    bus.update_archive("shop", event_pattern=json.dumps({"source": ["elsewhere"]}))
    bus.put_events([entry(4, minute(4), source="elsewhere"), entry(5, minute(5))])
    assert archived_orders(bus, "shop") == [1, 3, 4]


def test_export_reads_a_time_window_in_time_order_page_by_page(
    bus: EventBus, store: SQLiteStore
) -> None:
    bus.create_archive("all", "default")
    times = [minute(n) for n in range(1200)]
    for start in range(0, 1200, 10):
        bus.put_events([entry(n, times[n]) for n in reversed(range(start, start + 10))])
    assert archived_orders(bus, "all") == list(range(1200))  # oldest first, across 3 pages
    window = list(iter_archived(store, "all", since=minute(100), until=minute(700)))
    assert [e["detail"]["order"] for e in window] == list(range(100, 700))


def test_retention_prunes_expired_events_on_the_clock(
    bus: EventBus, store: SQLiteStore, clock: VirtualClock
) -> None:
    bus.create_archive("week", "default", retention_days=7)
    bus.create_archive("forever", "default")
    bus.put_events([entry(1, minute(1))])
    clock.advance(3 * 86400)
    bus.put_events([entry(2, minute(2))])
    c = cycle(store)
    run(c, clock)
    assert archived_orders(bus, "week") == [1, 2]
    clock.advance(4 * 86400 + 1)  # the first event is now 7 days and a second old
    outcome = run(c, clock)
    assert outcome.pruned == 1
    assert archived_orders(bus, "week") == [2]
    assert archived_orders(bus, "forever") == [1, 2]


# --- replays -------------------------------------------------------------------------------


def _replay_setup(bus: EventBus, store: SQLiteStore, clock: VirtualClock) -> None:
    """Two rules to queues, an archive, ten events delivered (and their messages drained)."""
    bus.put_rule("to-queue", event_pattern=ORDERS)
    bus.put_targets("to-queue", [{"Id": "q", "Arn": QUEUE + "replayed"}])
    bus.put_rule("audit", event_pattern=ORDERS)
    bus.put_targets("audit", [{"Id": "q", "Arn": QUEUE + "audit"}])
    bus.create_archive("orders", "default", event_pattern=ORDERS)
    bus.put_events([entry(n, minute(n)) for n in range(10)])
    run(cycle(store), clock)
    assert len(drain(bus, "replayed")) == len(drain(bus, "audit")) == 10


def test_a_replay_sends_the_window_to_the_filtered_rules_with_replay_name(
    bus: EventBus, store: SQLiteStore, clock: VirtualClock
) -> None:
    _replay_setup(bus, store, clock)
    c = cycle(store)
    started = bus.start_replay(
        "fix-1",
        ACCOUNT + "archive/orders",
        minute(3).timestamp(),
        minute(7),
        {"Arn": ACCOUNT + "event-bus/default", "FilterArns": [ACCOUNT + "rule/to-queue"]},
    )
    assert started == {
        "ReplayArn": ACCOUNT + "replay/fix-1",
        "State": "STARTING",
        "ReplayStartTime": START.timestamp(),
    }
    assert bus.describe_replay("fix-1")["State"] == "STARTING"
    clock.advance(5)
    outcome = run(c, clock)
    assert outcome.replayed == 4
    replayed = drain(bus, "replayed")
    assert [e["detail"]["order"] for e in replayed] == [3, 4, 5, 6]  # [start, end)
    assert all(e["replay-name"] == "fix-1" for e in replayed)
    # EventBridge's envelope order: replay-name between region and resources.
    assert list(replayed[0]) == [
        "version",
        "id",
        "detail-type",
        "source",
        "account",
        "time",
        "region",
        "replay-name",
        "resources",
        "detail",
    ]
    originals = {e["id"] for e in bus.export_archive("orders")}
    assert not originals & {e["id"] for e in replayed}  # new ids
    assert drain(bus, "audit") == []  # not a FilterArns rule
    # Each replayed event joins its original's trace, as a child of the original event.
    original = next(e for e in bus.export_archive("orders") if e["detail"]["order"] == 3)
    tree = trace_tree(store, original["id"])
    assert trace_tree(store, replayed[0]["id"])["traceId"] == tree["traceId"]
    (node,) = [n for n in _nodes(tree) if n["type"] == "event" and n["eventId"] == original["id"]]
    below = {n["eventId"] for n in _nodes(node) if n["type"] == "event"}
    assert [e["id"] for e in replayed if e["detail"]["order"] == 3] == list(below)
    assert bus.describe_archive("orders")["EventCount"] == 10  # not archived again
    described = bus.describe_replay("fix-1")
    assert described == {
        "ReplayName": "fix-1",
        "ReplayArn": ACCOUNT + "replay/fix-1",
        "EventSourceArn": ACCOUNT + "archive/orders",
        "State": "COMPLETED",
        "EventStartTime": minute(3).timestamp(),
        "EventEndTime": minute(7).timestamp(),
        "EventLastReplayedTime": minute(6).timestamp(),
        "ReplayStartTime": START.timestamp(),
        "ReplayEndTime": START.timestamp() + 5,
        "Destination": {
            "Arn": ACCOUNT + "event-bus/default",
            "FilterArns": [ACCOUNT + "rule/to-queue"],
        },
    }
    assert [r["ReplayName"] for r in bus.list_replays(state="COMPLETED")["Replays"]] == ["fix-1"]
    assert bus.list_replays(state="RUNNING")["Replays"] == []


def test_rules_can_tell_replayed_events_apart(
    bus: EventBus, store: SQLiteStore, clock: VirtualClock
) -> None:
    bus.put_rule(
        "only-replays",
        event_pattern=json.dumps({"source": ["shop"], "replay-name": [{"exists": True}]}),
    )
    bus.put_targets("only-replays", [{"Id": "q", "Arn": QUEUE + "replays"}])
    bus.create_archive("orders", "default")
    bus.put_events([entry(1, minute(1))])
    c = cycle(store)
    run(c, clock)
    assert drain(bus, "replays") == []
    bus.start_replay("again", ACCOUNT + "archive/orders", minute(0), minute(2), {"Arn": "default"})
    run(c, clock)
    assert [e["replay-name"] for e in drain(bus, "replays")] == ["again"]


def test_a_replay_runs_in_batches_and_resumes_after_a_crash_without_duplicates(
    bus: EventBus, store: SQLiteStore, clock: VirtualClock, path: Path
) -> None:
    _replay_setup(bus, store, clock)
    bus.start_replay("long", ACCOUNT + "archive/orders", minute(0), minute(10), {"Arn": "default"})
    c = cycle(store, batch=3)
    outcome = run(c, clock)
    assert outcome.replayed == 3 and outcome.more
    progress = bus.describe_replay("long")
    assert progress["State"] == "RUNNING"
    assert progress["EventLastReplayedTime"] == minute(2).timestamp()

    class Crash(Exception):
        pass

    class CrashingRouter(Router):
        """Dies in the middle of the second event of the batch: the cycle's transaction,
        with the deliveries of the first, rolls back."""

        calls = 0

        def deliver_event(self, *args: Any, **kwargs: Any) -> Any:
            type(self).calls += 1
            if type(self).calls == 2:
                raise Crash
            return super().deliver_event(*args, **kwargs)

    with pytest.raises(Crash):
        run(cycle(store, CrashingRouter(), batch=3), clock)
    assert bus.describe_replay("long")["EventLastReplayedTime"] == minute(2).timestamp()
    # A new process on the same file picks the replay up where the last commit left it.
    reopened = SQLiteStore(f"sqlite:///{path}")
    try:
        resumed = cycle(reopened, batch=3)
        while bus.describe_replay("long")["State"] != "COMPLETED":
            run(resumed, clock)
    finally:
        reopened.close()
    orders = [e["detail"]["order"] for e in drain(bus, "replayed")]
    assert sorted(orders) == list(range(10))  # every event once
    assert bus.describe_replay("long")["EventLastReplayedTime"] == minute(9).timestamp()


def test_cancelling_a_replay_stops_it(
    bus: EventBus, store: SQLiteStore, clock: VirtualClock
) -> None:
    _replay_setup(bus, store, clock)
    bus.start_replay(
        "stop-me", ACCOUNT + "archive/orders", minute(0), minute(10), {"Arn": "default"}
    )
    c = cycle(store, batch=4)
    run(c, clock)
    assert bus.cancel_replay("stop-me") == {
        "ReplayArn": ACCOUNT + "replay/stop-me",
        "State": "CANCELLING",
    }
    assert bus.describe_replay("stop-me")["State"] == "CANCELLING"
    run(c, clock)
    assert bus.describe_replay("stop-me")["State"] == "CANCELLED"
    assert len(drain(bus, "replayed")) == 4  # only the batch before the cancel
    with pytest.raises(IllegalStatusException, match="CANCELLED"):
        bus.cancel_replay("stop-me")
    with pytest.raises(ResourceNotFoundException):
        bus.cancel_replay("missing")


def test_a_replay_whose_archive_is_deleted_fails(
    bus: EventBus, store: SQLiteStore, clock: VirtualClock
) -> None:
    _replay_setup(bus, store, clock)
    bus.start_replay(
        "orphan", ACCOUNT + "archive/orders", minute(0), minute(10), {"Arn": "default"}
    )
    bus.delete_archive("orders")
    run(cycle(store), clock)
    described = bus.describe_replay("orphan")
    assert described["State"] == "FAILED"
    assert described["StateReason"] == "Archive orders was deleted."


def test_start_replay_validates_like_eventbridge(
    bus: EventBus, store: SQLiteStore, clock: VirtualClock
) -> None:
    _replay_setup(bus, store, clock)
    bus.create_event_bus("other")
    archive = ACCOUNT + "archive/orders"
    with pytest.raises(ValidationException, match="before EventEndTime"):
        bus.start_replay("r", archive, minute(5), minute(5), {"Arn": "default"})
    with pytest.raises(ValidationException, match="future"):
        bus.start_replay("r", archive, minute(5), START + timedelta(days=1), {"Arn": "default"})
    with pytest.raises(ValidationException, match="Cross event bus replay is not permitted"):
        bus.start_replay("r", archive, minute(0), minute(5), {"Arn": ACCOUNT + "event-bus/other"})
    with pytest.raises(ResourceNotFoundException, match="Event bus none does not exist"):
        bus.start_replay("r", archive, minute(0), minute(5), {"Arn": ACCOUNT + "event-bus/none"})
    with pytest.raises(ValidationException, match="not a rule of event bus default"):
        bus.start_replay(
            "r",
            archive,
            minute(0),
            minute(5),
            {"Arn": "default", "FilterArns": [ACCOUNT + "rule/other/x"]},
        )
    with pytest.raises(ValidationException, match="EventSourceArn"):
        bus.start_replay("r", "orders", minute(0), minute(5), {"Arn": "default"})
    with pytest.raises(ValidationException, match=r"Destination\.Arn"):
        bus.start_replay("r", archive, minute(0), minute(5), {})
    with pytest.raises(ResourceNotFoundException):
        bus.start_replay("r", ACCOUNT + "archive/none", minute(0), minute(5), {"Arn": "default"})
    assert count(store, "bus_replays") == 0
    bus.start_replay("r", archive, minute(0), minute(5), {"Arn": "default"})
    with pytest.raises(ResourceAlreadyExistsException):
        bus.start_replay("r", archive, minute(0), minute(5), {"Arn": "default"})
    # At most 10 active replays at once; a cancelled one leaves room.
    for n in range(9):
        bus.start_replay(f"r{n}", archive, minute(0), minute(5), {"Arn": "default"})
    with pytest.raises(LimitExceededException, match="10 active"):
        bus.start_replay("r10", archive, minute(0), minute(5), {"Arn": "default"})
    bus.cancel_replay("r0")
    bus.start_replay("r10", archive, minute(0), minute(5), {"Arn": "default"})


async def test_a_running_dispatcher_replays_to_handlers(
    bus: EventBus, store: SQLiteStore, clock: VirtualClock
) -> None:
    import asyncio

    seen: list[tuple[int, str | None]] = []
    bus.put_rule("handle", event_pattern=ORDERS)
    bus.put_targets(
        "handle", [{"Id": "h", "Arn": "arn:aws:lambda:us-east-1:123456789012:function:h"}]
    )
    bus.create_archive("orders", "default")
    dispatcher = Dispatcher(
        store,
        {"h": lambda e: seen.append((e["detail"]["order"], e.get("replay-name")))},
        clock=clock,
        poll_seconds=0.02,
        batch=2,
    )
    bus.listener = dispatcher.wake
    stop = asyncio.Event()
    task = asyncio.create_task(dispatcher.run(stop))
    try:
        bus.put_events([entry(n, minute(n)) for n in range(5)])
        while len(seen) < 5:
            await asyncio.sleep(0.005)
        bus.start_replay(
            "all", ACCOUNT + "archive/orders", minute(0), minute(5), {"Arn": "default"}
        )
        while len(seen) < 10:
            await asyncio.sleep(0.005)
    finally:
        stop.set()
        await task
    assert sorted(o for o, name in seen if name == "all") == [0, 1, 2, 3, 4]
    assert bus.describe_replay("all")["State"] == "COMPLETED"


def test_two_dispatchers_never_replay_the_same_batch(
    bus: EventBus, store: SQLiteStore, clock: VirtualClock, path: Path
) -> None:
    _replay_setup(bus, store, clock)
    bus.start_replay(
        "shared", ACCOUNT + "archive/orders", minute(0), minute(10), {"Arn": "default"}
    )
    with store.read() as tx:
        stale = ArchiveTx(tx).get_replay("shared")
    other = SQLiteStore(f"sqlite:///{path}")
    try:
        cycles = [cycle(store, batch=3), cycle(other, batch=3)]
        turn = 0
        while bus.describe_replay("shared")["State"] != "COMPLETED":
            run(cycles[turn % 2], clock)
            turn += 1
    finally:
        other.close()
    assert sorted(e["detail"]["order"] for e in drain(bus, "replayed")) == list(range(10))
    # A dispatcher that read the replay before another moved it cannot move it again.
    assert stale is not None and stale.cursor_id is None
    with store.transaction() as tx:
        assert not ArchiveTx(tx).advance_replay("shared", stale.cursor_id, (0.0, "x"), 3)

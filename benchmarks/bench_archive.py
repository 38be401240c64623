"""Archives, replays and schedules on the embedded backend (one SQLite file, durable commits).

Run: ``.venv/bin/python benchmarks/bench_archive.py`` (``--events`` to resize).

1. PutEvents cost of archiving: events per second through ``EventBus.put_events`` (10 entries
   per call, one durable transaction each): no rule matches and nothing is written; a rule
   matches (the event and its delivery are written); no rule matches but an archive keeps
   every event.
2. Export: archived events read back as envelopes per second (``export_archive``).
3. Replay: archived events replayed per second by dispatcher cycles (batch 500), each replayed
   event delivered to an internal queue inside the cycle's transaction.
4. Schedules: the time one cycle takes to fire 100 due scheduled rules.
5. Group commit: PutEvents through ``Dispatcher.put_events`` (200 producers, one entry per
   call) to a Python handler, events per second until every delivery is recorded, without and
   with an archive keeping every event.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from oncue.bus.cycle import Cycle
from oncue.bus.dispatch import Dispatcher
from oncue.bus.router import Router
from oncue.bus.service import EventBus
from oncue.clock import VirtualClock
from oncue.store import SQLiteStore

__all__ = ["main"]

QUEUE = "arn:aws:sqs:us-east-1:123456789012:"
FN = "arn:aws:lambda:us-east-1:123456789012:function:"
START = datetime(2025, 1, 1, tzinfo=UTC)


def entry(n: int) -> dict[str, Any]:
    return {
        "Source": "shop",
        "DetailType": "OrderPlaced",
        "Detail": json.dumps({"n": n, "items": [{"sku": "tea", "qty": 2}], "total": 12.5}),
    }


def cycle(store: SQLiteStore, batch: int = 500) -> Cycle:
    return Cycle(
        store=store,
        router=Router(),
        owner="bench",
        handlers={},
        start_execution=None,
        lease_seconds=30.0,
        batch=batch,
        draw=lambda: 0.5,
    )


def publish(
    path: Path, events: int, archive: bool, matched: bool = False
) -> tuple[float, EventBus, VirtualClock]:
    store = SQLiteStore(f"sqlite:///{path}")
    clock = VirtualClock(START)
    bus = EventBus(store, clock=clock)
    bus.put_rule("orders", event_pattern=json.dumps({"source": ["shop" if matched else "x"]}))
    bus.put_targets("orders", [{"Id": "h", "Arn": FN + "sink"}])
    if archive:
        bus.create_archive("all", "default")
    began = time.perf_counter()
    for first in range(0, events, 10):
        bus.put_events([entry(n) for n in range(first, first + 10)])
    return events / (time.perf_counter() - began), bus, clock


async def delivered(path: Path, events: int, archive: bool) -> float:
    """Events per second from PutEvents (group-committed) to the handler."""
    store = SQLiteStore(f"sqlite:///{path}")
    bus = EventBus(store)
    bus.put_rule("orders", event_pattern=json.dumps({"source": ["shop"]}))
    bus.put_targets("orders", [{"Id": "h", "Arn": FN + "sink"}])
    if archive:
        bus.create_archive("all", "default")
    received = 0
    done = asyncio.Event()

    async def sink(event: Any) -> None:
        nonlocal received
        received += 1
        if received >= events:
            done.set()

    dispatcher = Dispatcher(store, {"sink": sink}, concurrency=1000)
    stop = asyncio.Event()
    runner = asyncio.create_task(dispatcher.run(stop))
    numbers = iter(range(events))

    async def producer() -> None:
        for n in numbers:
            await dispatcher.put_events([entry(n)])

    began = time.perf_counter()
    await asyncio.gather(*(producer() for _ in range(200)))
    await done.wait()
    elapsed = time.perf_counter() - began
    stop.set()
    await runner
    store.close()
    return events / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        base = Path(directory)
        plain, _, _ = publish(base / "plain.db", args.events, archive=False)
        stored, _, _ = publish(base / "stored.db", args.events, archive=False, matched=True)
        archived, bus, clock = publish(base / "archived.db", args.events, archive=True)
        print(f"PutEvents, nothing matches (nothing written): {plain:>8,.0f} events/s")
        print(f"PutEvents, a rule matches (event + delivery): {stored:>8,.0f} events/s")
        print(f"PutEvents, no rule matches, archived:         {archived:>8,.0f} events/s")

        began = time.perf_counter()
        exported = sum(1 for _ in bus.export_archive("all"))
        print(
            f"export:                     {exported / (time.perf_counter() - began):>10,.0f}"
            " events/s"
        )

        bus.put_rule("replayed", event_pattern=json.dumps({"replay-name": [{"exists": True}]}))
        bus.put_targets("replayed", [{"Id": "q", "Arn": QUEUE + "replayed"}])
        clock.advance(60)
        bus.start_replay(
            "all",
            "arn:aws:events:us-east-1:123456789012:archive/all",
            START - timedelta(days=1),
            clock.now(),
            {"Arn": "default"},
        )
        assert isinstance(bus.store, SQLiteStore)
        c = cycle(bus.store)
        began = time.perf_counter()
        replayed = 0
        while bus.describe_replay("all")["State"] != "COMPLETED":
            replayed += c.run([], [], claim=True, room=1000, now=clock.now()).replayed
        elapsed = time.perf_counter() - began
        print(f"replay to a queue target:   {replayed / elapsed:>10,.0f} events/s")

        for n in range(100):
            bus.put_rule(f"tick-{n}", schedule_expression="rate(1 minute)")
            bus.put_targets(f"tick-{n}", [{"Id": "q", "Arn": QUEUE + "ticks"}])
        clock.advance(60)
        began = time.perf_counter()
        fired = c.run([], [], claim=True, room=1000, now=clock.now()).fired
        print(f"one cycle firing {fired} schedules: {(time.perf_counter() - began) * 1000:.1f} ms")

        without = asyncio.run(delivered(base / "gc-plain.db", args.events, archive=False))
        with_archive = asyncio.run(delivered(base / "gc-archive.db", args.events, archive=True))
        print(f"PutEvents to handler, group commit, no archive: {without:>8,.0f} events/s")
        print(f"PutEvents to handler, group commit, archived:   {with_archive:>8,.0f} events/s")


if __name__ == "__main__":
    main()

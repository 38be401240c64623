"""The event bus on the embedded backend (one SQLite file, durable commits).

Run: ``.venv/bin/python benchmarks/bench_bus.py`` (``--events``, ``--producers``,
``--entries``, ``--rate`` to resize).

Every event matches one rule whose target is a Python handler; the SQLite file is opened with
``synchronous=FULL`` (a committed PutEvents survives a power cut). Events are published through
:meth:`Dispatcher.put_events`, which group-commits the PutEvents calls of one cycle in one
transaction and leases their deliveries to itself, so the handler runs right after the commit.

1. Throughput: ``--producers`` concurrent publishers send ``--events`` events, ``--entries``
   per PutEvents call; events per second from the first call until every delivery is recorded
   (the delivery rows deleted, the event rows gone).
2. Latency at a steady ``--rate`` events per second (one entry per call): from the PutEvents
   call to the handler receiving the event (median, p99), and to the call returning (commit).
3. The same through the synchronous API (``EventBus.put_events``, one transaction per call):
   calls per second from one thread, for comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from oncue.bus.dispatch import Dispatcher
from oncue.bus.service import EventBus
from oncue.store import SQLiteStore

__all__ = ["main"]

FN = "arn:aws:lambda:us-east-1:123456789012:function:"


def setup(path: Path) -> SQLiteStore:
    store = SQLiteStore(f"sqlite:///{path}")
    bus = EventBus(store)
    bus.put_rule("orders", event_pattern=json.dumps({"source": ["shop"]}))
    bus.put_targets("orders", [{"Id": "sink", "Arn": FN + "sink"}])
    return store


def entry(n: int) -> dict[str, Any]:
    return {"Source": "shop", "DetailType": "OrderPlaced", "Detail": json.dumps({"n": n})}


def pending(store: SQLiteStore) -> int:
    with store.read() as tx:
        return int(tx.one("SELECT COUNT(*) FROM bus_deliveries")[0])


async def throughput(path: Path, events: int, producers: int, per_call: int) -> dict[str, float]:
    store = setup(path)
    received = 0
    everything = asyncio.Event()

    async def sink(event: Any) -> None:
        nonlocal received
        received += 1
        if received >= events:
            everything.set()

    dispatcher = Dispatcher(store, {"sink": sink}, concurrency=1000)
    stop = asyncio.Event()
    runner = asyncio.create_task(dispatcher.run(stop))
    calls = events // per_call
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(calls):
        queue.put_nowait(n)

    async def producer() -> None:
        while not queue.empty():
            n = queue.get_nowait()
            await dispatcher.put_events([entry(n * per_call + k) for k in range(per_call)])

    started = time.perf_counter()
    await asyncio.gather(*(producer() for _ in range(producers)))
    published = time.perf_counter() - started
    await everything.wait()
    while pending(store):
        await asyncio.sleep(0.001)
    elapsed = time.perf_counter() - started
    cycles = dispatcher.stats["cycles"]
    stop.set()
    await runner
    store.close()
    return {
        "events": calls * per_call,
        "seconds": elapsed,
        "events_per_s": calls * per_call / elapsed,
        "published_per_s": calls * per_call / published,
        "cycles": cycles,
    }


async def latency(path: Path, events: int, rate: float) -> dict[str, float]:
    store = setup(path)
    sent: dict[int, float] = {}
    delivered: dict[int, float] = {}
    committed: list[float] = []

    async def sink(event: Any) -> None:
        delivered[event["detail"]["n"]] = time.perf_counter()

    dispatcher = Dispatcher(store, {"sink": sink}, concurrency=1000)
    stop = asyncio.Event()
    runner = asyncio.create_task(dispatcher.run(stop))

    async def one(n: int) -> None:
        sent[n] = time.perf_counter()
        await dispatcher.put_events([entry(n)])
        committed.append(time.perf_counter() - sent[n])

    tasks = []
    started = time.perf_counter()
    for n in range(events):
        # Open loop: calls go out on schedule whether or not earlier ones have returned.
        await asyncio.sleep(max(0.0, started + n / rate - time.perf_counter()))
        tasks.append(asyncio.create_task(one(n)))
    await asyncio.gather(*tasks)
    while len(delivered) < events or pending(store):
        await asyncio.sleep(0.001)
    stop.set()
    await runner
    store.close()
    durations = sorted(delivered[n] - sent[n] for n in range(events))
    committed.sort()
    return {
        "median_ms": statistics.median(durations) * 1000,
        "p99_ms": durations[int(len(durations) * 0.99) - 1] * 1000,
        "commit_median_ms": statistics.median(committed) * 1000,
    }


def sync_api(path: Path, calls: int) -> float:
    store = setup(path)
    bus = EventBus(store)
    started = time.perf_counter()
    for n in range(calls):
        bus.put_events([entry(n)])
    elapsed = time.perf_counter() - started
    store.close()
    return calls / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--producers", type=int, default=200)
    parser.add_argument("--entries", type=int, default=1, help="entries per PutEvents call")
    parser.add_argument("--rate", type=float, default=1000.0, help="events/s for the latency")
    parser.add_argument("--samples", type=int, default=3000, help="events for the latency")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        cpu = time.process_time()
        result = asyncio.run(
            throughput(directory / "t.db", args.events, args.producers, args.entries)
        )
        # CPU time of every thread: steadier than wall time on a machine other work shares.
        cpu_us = (time.process_time() - cpu) / args.events * 1e6
        print(
            f"throughput: {result['events']:.0f} events ({args.entries} per PutEvents call, "
            f"{args.producers} producers) delivered to a handler in {result['seconds']:.2f} s = "
            f"{result['events_per_s']:,.0f} events/s (published at "
            f"{result['published_per_s']:,.0f} events/s; {result['cycles']:.0f} commits; "
            f"{cpu_us:.0f} us CPU per event)"
        )
        timing = asyncio.run(latency(directory / "l.db", args.samples, args.rate))
        print(
            f"latency at {args.rate:,.0f} events/s: PutEvents call -> handler median "
            f"{timing['median_ms']:.2f} ms, p99 {timing['p99_ms']:.2f} ms; call -> committed "
            f"median {timing['commit_median_ms']:.2f} ms"
        )
        rate = sync_api(directory / "s.db", 500)
        print(f"synchronous API (one transaction per PutEvents call): {rate:,.0f} calls/s")


if __name__ == "__main__":
    main()

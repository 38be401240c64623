"""Publish-to-delivery through NATS JetStream, next to the database-only path, in one run.

Run: ``.venv/bin/python benchmarks/bench_jetstream.py`` (``--nats-url``, default
``ONCUE_NATS_URL`` or ``nats://127.0.0.1:4222``; ``--events``, ``--producers``, ``--rate``,
``--samples`` to resize).

Both paths accept events in the same SQLite file setup (``synchronous=FULL``), one rule whose
target is a Python handler, and PutEvents calls group-committed by the driver:

- ``database``: the :class:`~oncue.bus.dispatch.Dispatcher` leases the new delivery rows to
  itself and calls the handler right after the commit (one process, no transport);
- ``jetstream``: the :class:`~oncue.bus.jetstream.JetStreamBus` commits the rows, publishes
  them to JetStream (file storage, ``Nats-Msg-Id``), deletes them, and its durable pull consumer
  fetches them and calls the handler (the way it works across processes);
- ``jetstream/N`` (with ``--deliverers N``): the same, but this process only accepts and
  relays, and N other processes share the consumer and call the handler (the deployment the
  transport exists for); they report each delivery's wall-clock time back on a pipe.

1. Throughput: ``--producers`` concurrent publishers send ``--events`` events, one per call;
   events per second from the first call until every delivery is done (rows gone).
   The CPU time this process spent per event is printed too (it varies less than wall-clock
   figures on a busy machine; for ``jetstream/N`` the delivering processes' CPU is not in it).
2. Latency at a steady ``--rate`` events per second: from the PutEvents call to the handler
   receiving the event (median, p99).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from bench_bus import entry, pending, setup  # beside this script

from oncue.bus.dispatch import Dispatcher
from oncue.bus.jetstream import JetStreamBus
from oncue.bus.streams import Layout
from oncue.store import SQLiteStore
from oncue.transport.jetstream import JetStreamTransport

__all__ = ["main"]


class Driver(Protocol):
    async def put_events(self, entries: Any) -> dict[str, Any]: ...

    async def run(self, stop: asyncio.Event | None = None) -> None: ...


Make = Callable[[SQLiteStore, dict[str, Any]], Driver]


def moment(event: Any) -> float:
    """When the handler got the event, on this process's perf_counter: now, or the wall-clock
    time another process reported."""
    now = time.perf_counter()
    if isinstance(event, dict) and "at" in event:
        return now - (time.time() - float(event["at"]))
    return now


async def throughput(path: Path, make: Make, events: int, producers: int) -> dict[str, float]:
    store = setup(path)
    received = 0
    everything = asyncio.Event()

    async def sink(event: Any) -> None:
        nonlocal received
        received += 1
        if received >= events:
            everything.set()

    driver = make(store, {"sink": sink})
    stop = asyncio.Event()
    runner = asyncio.create_task(driver.run(stop))
    await driver.put_events([entry(-1)])  # warm up: stream, consumer, connection
    while received < 1:
        await asyncio.sleep(0.001)
    received = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(events):
        queue.put_nowait(n)

    async def producer() -> None:
        while not queue.empty():
            await driver.put_events([entry(queue.get_nowait())])

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(producer() for _ in range(producers)))
    await everything.wait()
    while pending(store):
        await asyncio.sleep(0.001)
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu
    stop.set()
    await runner
    store.close()
    return {"seconds": elapsed, "events_per_s": events / elapsed, "cpu_us": cpu / events * 1e6}


async def latency(path: Path, make: Make, events: int, rate: float) -> dict[str, float]:
    store = setup(path)
    sent: dict[int, float] = {}
    delivered: dict[int, float] = {}

    async def sink(event: Any) -> None:
        delivered[event["detail"]["n"]] = moment(event)

    driver = make(store, {"sink": sink})
    stop = asyncio.Event()
    runner = asyncio.create_task(driver.run(stop))
    await driver.put_events([entry(-1)])
    while -1 not in delivered:
        await asyncio.sleep(0.001)

    async def one(n: int) -> None:
        sent[n] = time.perf_counter()
        await driver.put_events([entry(n)])

    tasks = []
    started = time.perf_counter()
    for n in range(events):
        # Open loop: calls go out on schedule whether or not earlier ones have returned.
        await asyncio.sleep(max(0.0, started + n / rate - time.perf_counter()))
        tasks.append(asyncio.create_task(one(n)))
    await asyncio.gather(*tasks)
    while len(delivered) < events + 1 or pending(store):
        await asyncio.sleep(0.001)
    stop.set()
    await runner
    store.close()
    durations = sorted(delivered[n] - sent[n] for n in range(events))
    return {
        "median_ms": statistics.median(durations) * 1000,
        "p99_ms": durations[int(len(durations) * 0.99) - 1] * 1000,
    }


class Remote:
    """A relay-only bus here and delivering processes elsewhere, reporting ``n time`` lines."""

    def __init__(self, store: SQLiteStore, handlers: dict[str, Any], url: str, count: int):
        self.name = f"BENCH_{uuid.uuid4().hex[:12]}"
        self.sink = handlers["sink"]
        self.bus = JetStreamBus(
            store,
            {},
            JetStreamTransport(url),
            layout=Layout(stream=self.name, prefix=self.name.lower()),
            deliver=False,
        )
        self.command = [sys.executable, __file__, "--child", store.url, url, self.name]
        self.count = count

    async def put_events(self, entries: Any) -> dict[str, Any]:
        return await self.bus.put_events(entries)

    async def run(self, stop: asyncio.Event | None = None) -> None:
        loop = asyncio.get_running_loop()
        processes = [
            subprocess.Popen(self.command, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
            for _ in range(self.count)
        ]

        def read(pipe: Any) -> None:
            for line in pipe:
                n, at = line.split()
                event = {"detail": {"n": int(n)}, "at": float(at)}
                loop.call_soon_threadsafe(lambda e=event: loop.create_task(self.sink(e)))

        readers = [threading.Thread(target=read, args=(p.stdout,)) for p in processes]
        for reader in readers:
            reader.start()
        try:
            await self.bus.run(stop)
        finally:
            for process in processes:
                process.kill()
                process.wait()
            for reader in readers:
                reader.join()
            await self.bus.transport.delete_stream(self.name)
            await self.bus.transport.close()


def child(database: str, url: str, stream: str) -> None:
    """A delivering process of ``jetstream/N``: prints ``n wall-clock-time`` per delivery."""
    store = SQLiteStore(database)

    def sink(event: Any) -> None:
        sys.stdout.write(f"{event['detail']['n']} {time.time()}\n")
        sys.stdout.flush()

    bus = JetStreamBus(
        store,
        {"sink": sink},
        JetStreamTransport(url),
        layout=Layout(stream=stream, prefix=stream.lower()),
        relay=False,
        concurrency=1000,
        refresh_seconds=0.05,
        offload_sync_handlers=False,
    )
    asyncio.run(bus.run())


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        child(*sys.argv[2:5])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    default_url = os.environ.get("ONCUE_NATS_URL") or "nats://127.0.0.1:4222"
    parser.add_argument("--nats-url", default=default_url)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--producers", type=int, default=200)
    parser.add_argument("--rate", type=float, default=500.0, help="events/s for the latency")
    parser.add_argument("--samples", type=int, default=2000, help="events for the latency")
    parser.add_argument(
        "--deliverers", type=int, default=2, help="delivering processes for jetstream/N (0: off)"
    )
    args = parser.parse_args()
    streams: list[str] = []

    def database(store: SQLiteStore, handlers: dict[str, Any]) -> Driver:
        return Dispatcher(store, handlers, concurrency=1000)

    def jetstream(store: SQLiteStore, handlers: dict[str, Any]) -> Driver:
        name = f"BENCH_{uuid.uuid4().hex[:12]}"
        streams.append(name)
        return JetStreamBus(
            store,
            handlers,
            JetStreamTransport(args.nats_url),
            layout=Layout(stream=name, prefix=name.lower()),
            concurrency=1000,
            refresh_seconds=0.05,
        )

    async def cleanup() -> None:
        transport = JetStreamTransport(args.nats_url)
        for name in streams:
            await transport.delete_stream(name)
        await transport.close()

    print(f"{'path':<12} {'throughput':>16} {'CPU/event':>11} {'median':>10} {'p99':>10}")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            directory = Path(tmp)
            paths: list[tuple[str, Make]] = [("database", database), ("jetstream", jetstream)]
            if args.deliverers:

                def remote(store: SQLiteStore, handlers: dict[str, Any]) -> Driver:
                    return Remote(store, handlers, args.nats_url, args.deliverers)

                paths.append((f"jetstream/{args.deliverers}", remote))
            for label, make in paths:
                slug = label.replace("/", "-")
                result = asyncio.run(
                    throughput(directory / f"{slug}-t.db", make, args.events, args.producers)
                )
                timing = asyncio.run(
                    latency(directory / f"{slug}-l.db", make, args.samples, args.rate)
                )
                print(
                    f"{label:<12} {result['events_per_s']:>10,.0f} ev/s "
                    f"{result['cpu_us']:>8,.0f} µs "
                    f"{timing['median_ms']:>7.2f} ms {timing['p99_ms']:>7.2f} ms"
                )
    finally:
        asyncio.run(cleanup())
    print(
        f"throughput: {args.events} events, {args.producers} producers, one entry per "
        f"PutEvents call; latency: PutEvents call -> handler at {args.rate:,.0f} events/s, "
        f"{args.samples} events"
    )


if __name__ == "__main__":
    main()

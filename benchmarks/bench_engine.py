"""The durable engine on the embedded backend (one SQLite file, durable commits).

Run: ``.venv/bin/python benchmarks/bench_engine.py`` (``--executions``/``--in-flight`` to
resize, ``--million`` to add the "one million finished executions" check, which takes a few
minutes to fill the file).

1. Throughput: ``--executions`` executions (default 1,000) of a five-Task workflow with no-op
   handlers, ``--in-flight`` (default 200) running at once, through :class:`oncue.App` with
   ``synchronous=FULL`` WAL commits. Reports state transitions per second (StateEntered events,
   as Step Functions bills them) and executions per second.
2. Callback latency: executions waiting on ``.waitForTaskToken``; the time from calling
   SendTaskSuccess to the execution having moved to its next state (the call returns after the
   transition committed). Median and p99 over ``--callbacks`` samples.
3. Start latency with many finished executions in the file: StartExecution median on an empty
   file and on one holding ``--finished`` finished executions (100,000 by default, one million
   with ``--million``).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from oncue.app import App
from oncue.asl.jsonutil import dumps

__all__ = ["main"]

FIVE_TASKS: dict[str, Any] = {
    "StartAt": "T1",
    "States": {
        f"T{i}": {
            "Type": "Task",
            "Resource": "arn:aws:lambda:us-east-1:123456789012:function:noop",
            **({"Next": f"T{i + 1}"} if i < 5 else {"End": True}),
        }
        for i in range(1, 6)
    },
}
CALLBACK: dict[str, Any] = {
    "StartAt": "Wait",
    "States": {
        "Wait": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
            "Parameters": {"FunctionName": "park", "Payload": {"token.$": "$$.Task.Token"}},
            "Next": "After",
        },
        "After": {"Type": "Pass", "End": True},
    },
}


async def throughput(
    path: Path, executions: int, in_flight: int, *, sync: bool
) -> dict[str, float]:
    app = App(f"sqlite:///{path}", concurrency=in_flight)
    if sync:  # a plain function: run in a worker thread, as blocking code must be

        @app.handler
        def noop(event: Any) -> Any:
            return event

    else:

        @app.handler("noop")
        async def noop_async(event: Any) -> Any:
            return event

    app.state_machine("five", FIVE_TASKS)
    async with app:
        semaphore = asyncio.Semaphore(in_flight)

        async def one(i: int) -> None:
            async with semaphore:
                await app.execute("five", {"n": i})

        before = app.worker.stats["transitions"]
        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(executions)))
        elapsed = time.perf_counter() - started
        transitions = app.worker.stats["transitions"] - before
        cycles = app.worker.stats["cycles"]
    return {
        "seconds": elapsed,
        "transitions": transitions,
        "transitions_per_s": transitions / elapsed,
        "executions_per_s": executions / elapsed,
        "cycles": cycles,
    }


async def callback_latency(path: Path, samples: int) -> dict[str, float]:
    app = App(f"sqlite:///{path}")
    tokens: asyncio.Queue[str] = asyncio.Queue()

    @app.handler
    async def park(event: Any) -> Any:
        await tokens.put(event["token"])
        return None

    app.state_machine("callback", CALLBACK)
    durations: list[float] = []
    async with app:
        for _ in range(samples):
            arn = await app.start_execution("callback", {})
            token = await tokens.get()
            await asyncio.sleep(0.002)  # let the TaskSubmitted result commit first
            started = time.perf_counter()
            await app.worker.db(app.control.send_task_success, token, "{}")
            durations.append(time.perf_counter() - started)
            status = (await app.worker.db(app.control.describe_execution, arn))["status"]
            assert status == "SUCCEEDED", status
    durations.sort()
    return {
        "median_ms": statistics.median(durations) * 1000,
        "p99_ms": durations[int(len(durations) * 0.99) - 1] * 1000,
    }


def fill_finished(path: Path, count: int) -> None:
    """Add ``count`` finished executions (with a history row each) straight into the file."""
    app = App(f"sqlite:///{path}")
    arn = app.state_machine("five", FIVE_TASKS)
    app.deploy()
    store = app.store
    with store.read() as tx:
        revision = tx.get_state_machine(arn).revision_id  # type: ignore[union-attr]
    prefix = arn.replace(":stateMachine:", ":execution:")
    history = dumps(
        [{"id": 1, "type": "ExecutionStarted"}, {"id": 2, "type": "ExecutionSucceeded"}]
    )
    batch = 50_000
    for start in range(0, count, batch):
        rows = [
            (f"{prefix}:old-{n}", f"old-{n}", arn, revision, "SUCCEEDED", "{}", 1.0e9 + n, "{}")
            for n in range(start, min(count, start + batch))
        ]
        with store.transaction() as tx:
            tx.many(
                "INSERT INTO executions (arn, name, state_machine_arn, revision_id, status, input,"
                " start_date, output, stop_date) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1.0e9)",
                rows,
            )
            tx.append_history((row[0], 1, 2, history) for row in rows)
    app.close()


async def start_latency(path: Path, samples: int, tag: str) -> float:
    app = App(f"sqlite:///{path}")
    app.state_machine("five", FIVE_TASKS)

    @app.handler
    def noop(event: Any) -> Any:
        return event

    durations = []
    async with app:
        for i in range(samples):
            started = time.perf_counter()
            await app.worker.db(app.control.start_execution, app.arn("five"), "{}", f"{tag}-{i}")
            durations.append(time.perf_counter() - started)
    return statistics.median(durations) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--executions", type=int, default=1000)
    parser.add_argument("--in-flight", type=int, default=200)
    parser.add_argument("--callbacks", type=int, default=300)
    parser.add_argument("--finished", type=int, default=100_000)
    parser.add_argument("--million", action="store_true")
    args = parser.parse_args()
    finished = 1_000_000 if args.million else args.finished
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        for sync in (False, True):
            kind = "sync handlers in threads" if sync else "async handlers"
            cpu = time.process_time()
            result = asyncio.run(
                throughput(directory / f"t{sync}.db", args.executions, args.in_flight, sync=sync)
            )
            # CPU time of every thread: steadier than wall time on a machine other work shares.
            cpu_us = (time.process_time() - cpu) / max(result["transitions"], 1) * 1e6
            print(
                f"throughput ({kind}): {args.executions} executions x 5 tasks, "
                f"{args.in_flight} in flight: {result['transitions']:.0f} transitions in "
                f"{result['seconds']:.2f} s = {result['transitions_per_s']:,.0f} transitions/s "
                f"({result['executions_per_s']:,.0f} executions/s, {result['cycles']:.0f} commits, "
                f"{cpu_us:.0f} us CPU per transition)"
            )
        latency = asyncio.run(callback_latency(directory / "c.db", args.callbacks))
        print(
            f"callback (SendTaskSuccess -> next state committed): median "
            f"{latency['median_ms']:.2f} ms, p99 {latency['p99_ms']:.2f} ms"
        )
        empty = asyncio.run(start_latency(directory / "s.db", 200, "empty"))
        fill_finished(directory / "s.db", finished)
        full = asyncio.run(start_latency(directory / "s.db", 200, "full"))
        print(
            f"start latency: median {empty:.2f} ms on an empty file, {full:.2f} ms with "
            f"{finished:,} finished executions (ratio {full / empty:.2f})"
        )


if __name__ == "__main__":
    main()

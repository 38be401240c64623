"""The durable engine scaled out: worker processes sharing one PostgreSQL database.

Run: ``.venv/bin/python benchmarks/bench_postgres.py`` (``--url`` names the maintenance
database, default ``postgresql://postgres@127.0.0.1:5432/test``; the benchmark creates a
database of its own per measurement and drops it afterwards).

1. Throughput with 1, 2 and 4 worker processes (``--workers 1,2,4``): ``--executions``
   executions (default 3,000) of the five-Task workflow with no-op async handlers. The
   executions are created in bulk (their Start messages committed in batches of 500), so every
   transition is made by a worker process: workers take executions with ``FOR UPDATE SKIP
   LOCKED`` and run the tasks they schedule. Reports state transitions per second
   (StateEntered events, as Step Functions bills them) twice: from a backlog created before
   the workers start (measured from the first worker's start to the last execution's end),
   and with this process creating the executions while the workers run (sharing the cores).
2. Callback latency, with one worker process: executions park on ``.waitForTaskToken``;
   this process calls SendTaskSuccess and measures (a) until the call returns, i.e. the
   execution's next state is committed, and (b) until the next state's task runs in the
   worker process (woken by LISTEN/NOTIFY, not by its poll: ``poll_seconds`` is 5 s).

``--limited`` runs the same measurements with every worker limited to the benchmark's state
machines (a task queue, ``App(state_machines=...)``): each claim then joins the execution to
check its state machine. ``--unserved N`` (with ``--limited``) also leaves N started
executions of a state machine no worker serves waiting in the inbox, which every claim must
skip: the filter's worst case.

``--claim-cost`` measures instead the claim statements themselves, with and without the
limit, in one process: a database holding ``--history`` finished executions, 1,000 pending
executions of the served state machine (a message, a due timer and a ready task each) and
``--unserved`` pending ones of another; each claim runs in a transaction that is rolled back,
so every repetition claims the same rows. Reports the median time per statement.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg

from oncue.app import App
from oncue.engine.starting import start_in_tx
from oncue.store import open_store

__all__ = ["main"]

_FN = "arn:aws:lambda:us-east-1:123456789012:function:"
FIVE_TASKS: dict[str, Any] = {
    "StartAt": "T1",
    "States": {
        f"T{i}": {
            "Type": "Task",
            "Resource": _FN + "noop",
            **({"Next": f"T{i + 1}"} if i < 5 else {"End": True}),
        }
        for i in range(1, 6)
    },
}
CALLBACK: dict[str, Any] = {
    "StartAt": "Park",
    "States": {
        "Park": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
            "Parameters": {"FunctionName": "park", "Payload": {"token.$": "$$.Task.Token"}},
            "ResultPath": None,
            "Next": "Stamp",
        },
        "Stamp": {"Type": "Task", "Resource": _FN + "stamp", "End": True},
    },
}
#: Executions of this one wait for a worker that never comes (``--unserved``).
IDLE: dict[str, Any] = {"StartAt": "Idle", "States": {"Idle": {"Type": "Pass", "End": True}}}
MACHINES = {"five": FIVE_TASKS, "callback": CALLBACK, "idle": IDLE}
SERVED = ("five", "callback")


# --- the worker process --------------------------------------------------------------


def make_app(url: str, *, client: bool = False, limited: bool = False) -> App:
    """A worker's App, or (``client``) one with no handlers that leaves every task to the
    worker processes; ``limited``: a worker serving only :data:`SERVED`."""
    app = App(
        url,
        concurrency=200,
        poll_seconds=5.0,
        strict=not client,
        state_machines=SERVED if limited else None,
    )
    for name, definition in MACHINES.items():
        app.state_machine(name, definition)
    if client:
        return app

    @app.handler("noop")
    async def noop(event: Any) -> Any:
        return event

    @app.handler("park")
    async def park(event: Any) -> Any:
        return None

    @app.handler("stamp")
    async def stamp(event: Any) -> Any:
        return {"at": time.time()}

    return app


async def serve(url: str, limited: bool) -> None:
    app = make_app(url, limited=limited)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with app:
        print(f"READY {time.time()}", flush=True)
        await stop.wait()


@contextmanager
def workers(url: str, count: int, limited: bool) -> Iterator[float]:
    """Run ``count`` worker processes; yields when the first one started working."""
    processes = [
        subprocess.Popen(
            [sys.executable, __file__, "--serve", url, *(["--limited"] if limited else [])],
            stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
        )
        for _ in range(count)
    ]
    try:
        ready = []
        for process in processes:
            assert process.stdout is not None
            line = process.stdout.readline().split()
            if not line or line[0] != b"READY":
                raise RuntimeError("a worker process failed to start")
            ready.append(float(line[1]))
        yield min(ready)
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(30)
            if process.stdout is not None:
                process.stdout.close()


# --- measurements --------------------------------------------------------------------


@contextmanager
def fresh_database(admin_url: str) -> Iterator[str]:
    name = f"oncue_bench_{secrets.token_hex(4)}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(admin_url)
    url = urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, ""))
    try:
        setup = make_app(url, client=True)
        setup.deploy()
        setup.close()
        yield url
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def running(store: Any, machine: str) -> int:
    with store.read() as tx:
        return int(
            tx.one(
                "SELECT COUNT(*) FROM executions WHERE status = 'RUNNING' "
                "AND state_machine_arn = ?",
                (machine,),
            )[0]
        )


def start_many(store: Any, machine: str, executions: int, prefix: str) -> None:
    """Start ``executions`` executions of ``machine``, their Start messages in batches."""
    for start in range(0, executions, 500):
        with store.transaction() as tx:
            now = datetime.now(UTC)
            for n in range(start, min(executions, start + 500)):
                start_in_tx(tx, machine, json.dumps({"n": n}), f"{prefix}{n}", now=now)


def throughput(
    admin_url: str, count: int, executions: int, *, backlog: bool, limited: bool, unserved: int
) -> float:
    """Transitions per second of ``count`` worker processes."""
    with fresh_database(admin_url) as url:
        store = open_store(url)
        client = make_app(url, client=True)
        machine = client.arn("five")
        start_many(store, client.arn("idle"), unserved, "idle")

        def create() -> None:
            start_many(store, machine, executions, "e")

        if backlog:
            create()  # the executions wait; the clock starts with the first worker
        with workers(url, count, limited) as first_ready:
            began = time.time()
            if not backlog:
                create()
            else:
                began = first_ready
            while running(store, machine):
                time.sleep(0.01)
            elapsed = time.time() - began
        with store.read() as tx:
            succeeded = tx.one(
                "SELECT COUNT(*) FROM executions WHERE status = 'SUCCEEDED' "
                "AND state_machine_arn = ?",
                (machine,),
            )[0]
        store.close()
    assert succeeded == executions, succeeded
    return executions * 5 / elapsed


def callback_latency(
    admin_url: str, samples: int, *, limited: bool, unserved: int
) -> dict[str, float]:
    committed: list[float] = []
    running_next: list[float] = []
    with fresh_database(admin_url) as url, workers(url, 1, limited):
        app = make_app(url, client=True)
        start_many(app.store, app.arn("idle"), unserved, "idle")
        control = app.control
        for i in range(samples):
            arn = str(control.start_execution(app.arn("callback"), "{}", f"c{i}")["executionArn"])
            token = None
            while token is None:  # until the worker ran "park" and recorded TaskSubmitted
                with app.store.read() as tx:
                    # The handler's result is recorded once its task row is gone.
                    row = tx.one(
                        "SELECT k.token FROM tokens k WHERE k.execution_arn = ? AND k.open = 1 "
                        "AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.execution_arn = "
                        "k.execution_arn AND t.task_id = k.task_id)",
                        (arn,),
                    )
                token = row[0] if row else None
                if token is None:
                    time.sleep(0.002)
            time.sleep(0.005)
            sent = time.time()
            control.send_task_success(token, "{}")
            committed.append(time.time() - sent)
            while (described := control.describe_execution(arn))["status"] == "RUNNING":
                time.sleep(0.002)
            running_next.append(json.loads(str(described["output"]))["at"] - sent)
        app.close()
    return {
        "committed_median_ms": statistics.median(committed) * 1000,
        "committed_p99_ms": statistics.quantiles(committed, n=100)[-1] * 1000,
        "next_task_median_ms": statistics.median(running_next) * 1000,
        "next_task_p99_ms": statistics.quantiles(running_next, n=100)[-1] * 1000,
    }


class _Rollback(Exception):
    """Raised to roll a measured claim back, so the next repetition finds the same rows."""


def claim_cost(admin_url: str, history: int, unserved: int, repeat: int) -> dict[str, float]:
    """Median milliseconds per claim statement, unlimited and limited (``*_limited``)."""
    with fresh_database(admin_url) as url:
        app = make_app(url, client=True)
        served, other = app.arn("five"), app.arn("idle")
        with app.store.transaction() as tx:
            revision = tx.get_state_machine(served).revision_id  # type: ignore[union-attr]
            rows: list[tuple[Any, ...]] = []
            pending: list[str] = []
            for i in range(history + 1000 + unserved):
                # The unserved ones are older: a limited claim must skip them first.
                machine = other if history <= i < history + unserved else served
                arn = f"{machine.replace('stateMachine', 'execution')}:x{i}"
                finished = i < history
                rows.append(
                    (arn, f"x{i}", machine, revision, "SUCCEEDED" if finished else "RUNNING")
                )
                if not finished:
                    pending.append(arn)
            tx.many(
                "INSERT INTO executions (arn, name, state_machine_arn, revision_id, status, "
                "input, start_date) VALUES (?, ?, ?, ?, ?, '{}', 0)",
                rows,
            )
            tx.many(
                "INSERT INTO inbox (execution_arn, body) VALUES (?, '{}')", [(a,) for a in pending]
            )
            tx.many(
                "INSERT INTO timers (execution_arn, timer_id, due) VALUES (?, 't', 1)",
                [(a,) for a in pending],
            )
            tx.many(
                "INSERT INTO tasks (execution_arn, task_id, kind, target, resource, payload, "
                "state_name, attempt, created) VALUES (?, '1', 'handler', 'noop', 'r', '{}', "
                "'s', 0, 0)",
                [(a,) for a in pending],
            )
        with app.store.transaction() as tx:
            tx.run("ANALYZE")
        statements: dict[str, Any] = {
            "messages": lambda tx, m: tx.take_messages(500, m),
            "timers": lambda tx, m: tx.due_timers(time.time(), 500, m),
            "tasks": lambda tx, m: tx.claim_tasks(
                owner="w",
                targets=["noop"],
                now=time.time(),
                until=time.time() + 30,
                limit=200,
                machines=m,
            ),
            "next_timer": lambda tx, m: tx.next_timer(m),
        }
        timings: dict[str, list[float]] = {}
        for _ in range(repeat):
            for name, statement in statements.items():
                for machines, key in ((None, name), ([served], f"{name}_limited")):
                    try:
                        with app.store.transaction() as tx:
                            began = time.perf_counter()
                            claimed = statement(tx, machines)
                            timings.setdefault(key, []).append(time.perf_counter() - began)
                            assert claimed, key  # the served rows are there to claim
                            raise _Rollback
                    except _Rollback:
                        pass
        app.close()
    return {key: statistics.median(values) * 1000 for key, values in timings.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--executions", type=int, default=3000)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--callbacks", type=int, default=200)
    parser.add_argument(
        "--limited", action="store_true", help="workers limited to the benchmark's machines"
    )
    parser.add_argument(
        "--unserved",
        type=int,
        default=0,
        metavar="N",
        help="with --limited: N waiting executions of a state machine nobody serves",
    )
    parser.add_argument(
        "--claim-cost", action="store_true", help="time the claim statements, with and without"
    )
    parser.add_argument("--history", type=int, default=100_000, metavar="N")
    parser.add_argument("--repeat", type=int, default=50, metavar="N")
    parser.add_argument("--serve", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve, args.limited))
        return
    if args.claim_cost:
        cost = claim_cost(args.url, args.history, args.unserved, args.repeat)
        print(
            f"claim statements, {args.history:,} finished executions, 1,000 pending, "
            f"{args.unserved:,} pending of an unserved state machine (median of {args.repeat}):"
        )
        for name in ("messages", "timers", "tasks", "next_timer"):
            print(
                f"  {name:10} unlimited {cost[name]:7.2f} ms   limited "
                f"{cost[name + '_limited']:7.2f} ms"
            )
        return
    if args.unserved and not args.limited:
        parser.error("--unserved needs --limited (an unlimited worker serves every machine)")
    mode = "workers limited to their state machines" if args.limited else "unlimited workers"
    if args.unserved:
        mode += f", {args.unserved:,} executions of another state machine waiting"
    print(f"{os.cpu_count()} cores; PostgreSQL on this machine; {mode}")
    options = {"limited": args.limited, "unserved": args.unserved}
    for count in (int(c) for c in args.workers.split(",")):
        backlog = throughput(args.url, count, args.executions, backlog=True, **options)
        live = throughput(args.url, count, args.executions, backlog=False, **options)
        print(
            f"throughput, {count} worker process(es), {args.executions} executions x 5 tasks: "
            f"{backlog:,.0f} transitions/s from a backlog, {live:,.0f} transitions/s while "
            "this process creates the executions"
        )
    latency = callback_latency(args.url, args.callbacks, **options)
    print(
        f"callback: SendTaskSuccess -> next state committed: median "
        f"{latency['committed_median_ms']:.2f} ms, p99 {latency['committed_p99_ms']:.2f} ms; "
        f"-> next task running in the worker process: median "
        f"{latency['next_task_median_ms']:.2f} ms, p99 {latency['next_task_p99_ms']:.2f} ms"
    )


if __name__ == "__main__":
    main()

"""Scale-out chaos test: several worker processes on one PostgreSQL database, one of them
killed with SIGKILL (and restarted) every few seconds while executions run.

Every execution must end as an uninterrupted run does (0 lost, 0 stuck once the last lease
ran out): the reference output, history ids 1..n with exactly one terminal event, and the
reference sequence of event types (no transition applied twice, none lost); every task
attempt ran at least once, and nothing is left in the inbox, timers or tasks.

The size is configurable; CI runs a small one. The full run of the scale-out issue::

    ONCUE_CHAOS_EXECUTIONS=10000 ONCUE_CHAOS_WORKERS=4 ONCUE_CHAOS_KILL_EVERY=2 \\
        .venv/bin/python -m pytest tests/engine/test_scale_out.py -s --timeout 0

The workers share a PostgreSQL cluster of the test's own (``pg_support.PrivatePostgres``),
which is crashed (``pg_ctl stop -m immediate``) and restarted once, mid-run: the workers must
reconnect and carry on. ``ONCUE_CHAOS_RESTART_POSTGRES=0`` leaves it running.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
from crash_app import FLOW, LEASE_SECONDS, flow_input  # beside this file
from test_crash import TERMINAL, Child, Workers, read_effects, reference, types

from oncue.app import App
from oncue.errors import StoreError
from oncue.store import open_store
from oncue.store.postgres import PostgresStore
from pg_support import PrivatePostgres

from crash_app import make_app  # isort: skip

EXECUTIONS = int(os.environ.get("ONCUE_CHAOS_EXECUTIONS", "60"))
WORKERS = int(os.environ.get("ONCUE_CHAOS_WORKERS", "3"))
KILL_EVERY = float(os.environ.get("ONCUE_CHAOS_KILL_EVERY", "1.5"))
#: Seconds each handler call takes (blocking, in a thread, like a remote call).
LATENCY = float(os.environ.get("ONCUE_CHAOS_LATENCY", "0.02"))
RESTART_POSTGRES = os.environ.get("ONCUE_CHAOS_RESTART_POSTGRES", "1") == "1"
SEED = int(os.environ.get("ONCUE_CRASH_SEED", "20250101"))
FINISH_TIMEOUT = float(os.environ.get("ONCUE_CHAOS_TIMEOUT", "90"))


def retrying(function: Any, *args: Any) -> Any:
    """Call ``function``, retrying while the database is away (a restart)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            return function(*args)
        except StoreError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    def read() -> list[tuple[Any, ...]]:
        store = open_store(url)
        try:
            with store.read() as tx:
                return [tuple(row) for row in tx.all(sql)]
        finally:
            store.close()

    result: list[tuple[Any, ...]] = retrying(read)
    return result


@pytest.mark.slow
def test_kill_9_workers_at_random_while_they_share_postgresql(
    private_postgres: PrivatePostgres, tmp_path: Path
) -> None:
    postgres_url = private_postgres.url
    rng = random.Random(SEED)
    client = make_app(postgres_url)  # no handlers: every task is left to the workers
    client.deploy()
    pool = Workers(db=postgres_url, effects=tmp_path / "effects.log", logs=tmp_path)
    names = {f"chaos-{n:05d}": n for n in range(EXECUTIONS)}
    kills: list[tuple[float, int]] = []  # (wall time, pid) of each SIGKILL
    restarted = None
    try:
        live: list[Child] = [pool.spawn(latency=LATENCY) for _ in range(WORKERS)]
        for child in live:
            child.wait_ready()
        began = time.monotonic()
        arns: dict[str, str] = {}

        def start_all() -> None:
            # Starts go on while workers die (an API process would keep accepting them).
            for name, n in names.items():
                response = retrying(
                    client.control.start_execution,
                    client.arn("crash-flow"),
                    json.dumps(flow_input(n)),
                    name,
                )
                arns[name] = response["executionArn"]

        starter = threading.Thread(target=start_all, name="starter")
        starter.start()
        next_kill = began + KILL_EVERY
        deadline = began + FINISH_TIMEOUT
        while True:
            running = rows(postgres_url, "SELECT COUNT(*) FROM executions WHERE status = 'RUNNING'")
            if running[0][0] == 0 and not starter.is_alive():
                break
            assert time.monotonic() < deadline, f"{running[0][0]} executions still running"
            now = time.monotonic()
            if RESTART_POSTGRES and restarted is None and len(kills) >= 2:
                restarted = private_postgres.restart("immediate")
            # Chaos while the bulk runs; the tail finishes undisturbed, once leases ran out.
            if now >= next_kill and (starter.is_alive() or running[0][0] > EXECUTIONS // 10):
                victim = live.pop(rng.randrange(len(live)))
                kills.append((time.time(), victim.pid))
                victim.kill()
                live.append(pool.spawn(latency=LATENCY))  # not waited for: chaos goes on
                next_kill = now + KILL_EVERY
            time.sleep(0.05)
        starter.join()
        finished = time.monotonic()
        for child in live:
            child.assert_alive()
    finally:
        pool.reap()
        client.close()

    # --- the outcome: nothing lost, stuck or applied twice -----------------------------
    executions = rows(postgres_url, "SELECT name, status, output FROM executions")
    assert sorted(name for name, _, _ in executions) == sorted(names)
    histories: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for arn, events in rows(
        postgres_url, "SELECT execution_arn, events FROM history ORDER BY execution_arn, first_id"
    ):
        histories[arn].extend(json.loads(events))
    expected_keys: set[str] = set()
    for name, status, output in executions:
        result, keys = reference(name, names[name])
        expected_keys.update(keys)
        assert status == "SUCCEEDED", name
        assert json.loads(output) == result.output, name
        events = histories[arns[name]]
        assert [e["id"] for e in events] == list(range(1, len(events) + 1)), name
        assert [t for t in types(events) if t in TERMINAL] == ["ExecutionSucceeded"], name
        assert types(events) == types(result.history), name
    for table in ("inbox", "timers", "tasks"):
        assert rows(postgres_url, f"SELECT COUNT(*) FROM {table}") == [(0,)], table
    effects = read_effects(pool.effects)
    seen = Counter(e.key for e in effects)
    assert set(seen) == expected_keys  # every task attempt ran, none invented
    redelivered = sum(seen.values()) - len(seen)

    # Recovery: from a kill to the first call, by another worker, of a task the killed
    # worker had started (its result lost with it).
    recoveries = []
    for when, pid in kills:
        lost = {e.key for e in effects if e.pid == pid}
        again = [e.when for e in effects if e.key in lost and e.pid != pid and e.when > when]
        if again:
            recoveries.append(min(again) - when)
    quantiles = statistics.quantiles(recoveries, n=100) if len(recoveries) > 1 else recoveries
    print(
        f"\nscale-out chaos (seed {SEED}): {EXECUTIONS} executions, {WORKERS} workers, "
        f"{len(kills)} kills (every {KILL_EVERY} s)"
        + (f", PostgreSQL restarted once ({restarted:.1f} s)" if restarted else "")
        + f"; lost 0, duplicated transitions 0; {len(effects)} handler calls for "
        f"{len(seen)} task attempts ({redelivered} redelivered); recovery after a kill "
        f"p50 {statistics.median(recoveries) if recoveries else 0:.2f} s, "
        f"p99 {quantiles[-1] if quantiles else 0:.2f} s (lease {LEASE_SECONDS} s); "
        f"start to all finished {finished - began:.1f} s"
    )
    assert FLOW["StartAt"] == "Add"


async def test_a_worker_is_woken_by_another_process_not_by_its_poll(postgres_url: str) -> None:
    """LISTEN/NOTIFY: an execution started, and a callback sent, through another store (as
    another process would) reach an idle worker whose poll interval is far longer."""
    definition = {
        "StartAt": "Park",
        "States": {
            "Park": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                "Parameters": {"FunctionName": "park", "Payload": {"token.$": "$$.Task.Token"}},
                "Next": "After",
            },
            "After": {
                "Type": "Task",
                "Resource": "arn:aws:lambda:us-east-1:123456789012:function:after",
                "End": True,
            },
        },
    }
    tokens: asyncio.Queue[str] = asyncio.Queue()
    worker = App(postgres_url, poll_seconds=60.0)

    @worker.handler
    async def park(event: Any) -> Any:
        await tokens.put(event["token"])

    @worker.handler
    async def after(event: Any) -> Any:
        return {"done": True}

    worker.state_machine("parked", definition)
    client = App(postgres_url, strict=False)  # no handlers: another process's API
    client.state_machine("parked", definition)
    async with worker:
        store = worker.store
        assert isinstance(store, PostgresStore)
        await asyncio.sleep(0.2)  # the worker goes idle, for up to its 60 s poll
        assert await asyncio.to_thread(store.wait_listening)
        began = time.monotonic()
        arn = str(
            (
                await asyncio.to_thread(
                    client.control.start_execution, client.arn("parked"), "{}", "woken"
                )
            )["executionArn"]
        )
        token = await asyncio.wait_for(tokens.get(), 5)
        started = time.monotonic() - began
        await asyncio.sleep(0.2)  # idle again
        began = time.monotonic()
        await asyncio.to_thread(client.control.send_task_success, token, "{}")
        result = await asyncio.wait_for(worker.wait(arn), 5)
        called_back = time.monotonic() - began
    client.close()
    assert result["status"] == "SUCCEEDED" and result["output"] == '{"done":true}'
    assert started < 2 and called_back < 2  # far below the 60 s poll

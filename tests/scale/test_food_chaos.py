"""Scale-out chaos with the food-ordering reference application: worker processes on a
PostgreSQL cluster and a NATS JetStream server of the test's own, one worker killed with
SIGKILL (and replaced) every few seconds, NATS restarted once and PostgreSQL crashed and
restarted once, mid-run.

``food_node.py`` (beside this file) is the worker: the real ``order_flow.asl.json``, recording
task handlers, and bus rules whose handler targets (delivered over JetStream, in whichever
worker fetches them) complete the flow's two ``.waitForTaskToken`` tasks. At the end:

- every order's execution ended exactly as an uninterrupted run of its path (accept or
  reject) ends: status, output, the reference sequence of history event types (no transition
  applied twice, none lost), ids 1..n with one terminal event; 0 lost, 0 stuck;
- every event the executions published (the archive on the bus, checked against the trace
  table) was published once and delivered to every matching target: each handler target at
  least once (redeliveries are counted), the internal queue and the archive exactly once;
- every task ran at least once; nothing is left in the inbox, timers, tasks, outbox or bus
  deliveries, and nothing was dead-lettered.

It prints the counts: lost, duplicated, redelivered handler calls, recovery time after a kill
(p50/p99). CI runs a small size; the full run of the scale-out issue::

    ONCUE_CHAOS_EXECUTIONS=10000 ONCUE_CHAOS_WORKERS=4 ONCUE_CHAOS_KILL_EVERY=2 \\
    ONCUE_CHAOS_TIMEOUT=3600 .venv/bin/python -m pytest tests/scale/test_food_chaos.py -s \\
        --timeout 0

``ONCUE_CHAOS_RESTARTS=0`` leaves NATS and PostgreSQL running (kills only).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import selectors
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from food_node import (  # beside this file
    AUDIT_QUEUE,
    BUS,
    MACHINE,
    Coordination,
    decision_of,
    expected_events,
    expected_output,
    file_recorder,
    make_app,
    order_input,
    order_name,
)

from nats_support import NatsServer
from oncue.errors import ExecutionAlreadyExists, StoreError
from pg_support import PrivatePostgres

NODE = Path(__file__).with_name("food_node.py")
EXECUTIONS = int(os.environ.get("ONCUE_CHAOS_EXECUTIONS", "200"))
WORKERS = int(os.environ.get("ONCUE_CHAOS_WORKERS", "3"))
KILL_EVERY = float(os.environ.get("ONCUE_CHAOS_KILL_EVERY", "2"))
#: Seconds each handler call takes (like the remote call a real handler makes).
LATENCY = float(os.environ.get("ONCUE_CHAOS_LATENCY", "0.02"))
#: Threads starting executions (each with its own connection, as API processes would).
STARTERS = int(os.environ.get("ONCUE_CHAOS_STARTERS", "4"))
RESTARTS = os.environ.get("ONCUE_CHAOS_RESTARTS", "1") == "1"
SEED = int(os.environ.get("ONCUE_CRASH_SEED", "20250101"))
FINISH_TIMEOUT = float(os.environ.get("ONCUE_CHAOS_TIMEOUT", "120"))
READY_TIMEOUT = 60.0
TERMINAL = {"ExecutionSucceeded", "ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted"}
TASK_HANDLERS = ("notify-restaurant", "await-decision", "notify-user", "await-delivery")
BUS_HANDLERS = ("restaurant", "courier", "audit")


# --- worker processes ----------------------------------------------------------------------


@dataclass(slots=True)
class Child:
    process: subprocess.Popen[bytes]
    stderr: Path
    ready: bool = False

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> bool:
        """Whether the worker has printed READY, waiting up to ``timeout`` for it."""
        stdout = self.process.stdout
        assert stdout is not None
        if not self.ready:
            with selectors.DefaultSelector() as selector:
                selector.register(stdout, selectors.EVENT_READ)
                if not selector.select(timeout):
                    return False
            line = stdout.readline()
            assert line.strip() == b"READY", f"the worker died:\n{self.stderr.read_text()}"
            self.ready = True
        return True

    def assert_alive(self) -> None:
        code = self.process.poll()
        assert code is None, f"a worker exited on its own ({code}):\n{self.stderr.read_text()}"

    def kill(self) -> None:
        if self.process.poll() is None:
            os.kill(self.pid, signal.SIGKILL)
        self.process.wait(10)
        if self.process.stdout is not None:
            self.process.stdout.close()


@dataclass(slots=True)
class Pool:
    database_url: str
    nats_url: str
    effects: Path
    logs: Path
    started: list[Child] = field(default_factory=list)

    def spawn(self) -> Child:
        stderr = self.logs / f"worker-{len(self.started)}.stderr"
        env = {**os.environ, "ONCUE_NATS_URL": self.nats_url}
        with stderr.open("wb") as sink:
            process = subprocess.Popen(
                [sys.executable, str(NODE), self.database_url, str(self.effects), str(LATENCY)],
                stdout=subprocess.PIPE,
                stderr=sink,
                stdin=subprocess.DEVNULL,
                env=env,
            )
        child = Child(process=process, stderr=stderr)
        self.started.append(child)
        return child

    def reap(self) -> None:
        for child in self.started:
            child.kill()


# --- reading the database ------------------------------------------------------------------


def retrying(function: Any, *args: Any) -> Any:
    """Call ``function``, retrying while the database is away (a restart)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            return function(*args)
        except (StoreError, psycopg.OperationalError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    def read() -> list[tuple[Any, ...]]:
        with psycopg.connect(url, connect_timeout=5) as connection:
            return [tuple(row) for row in connection.execute(sql).fetchall()]

    result: list[tuple[Any, ...]] = retrying(read)
    return result


def count(url: str, sql: str) -> int:
    return int(rows(url, sql)[0][0])


@dataclass(frozen=True, slots=True)
class Effect:
    when: float
    pid: int
    handler: str
    key: str


def read_effects(path: Path) -> list[Effect]:
    if not path.exists():
        return []
    effects = []
    for line in path.read_text().splitlines():
        when, pid, handler, key = line.split(" ")  # a torn line fails here
        effects.append(Effect(float(when), int(pid), handler, key))
    return effects


def types(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]


def without_submitted(sequence: list[str]) -> list[str]:
    return [t for t in sequence if t != "TaskSubmitted"]


# --- the reference: uninterrupted runs of both paths ---------------------------------------


def reference_histories(admin_url: str, tmp_path: Path) -> dict[str, list[str]]:
    """One uninterrupted run of each path (accept, reject) on a database of its own, in this
    process (bus on the database path); the sequence of history event types of each."""
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute("CREATE DATABASE reference")
    url = admin_url.rsplit("/", 1)[0] + "/reference"
    table = Coordination(url)
    table.create()
    app = make_app(url, file_recorder(str(tmp_path / "reference.log")), table=table)
    paths: dict[str, list[str]] = {}

    async def run() -> None:
        async with app:
            for n in (0, 3):  # order 0 is accepted, order 3 rejected
                result = await asyncio.wait_for(
                    app.execute(MACHINE, order_input(n), name=order_name(n)), 60
                )
                assert result["status"] == "SUCCEEDED", result
                assert json.loads(str(result["output"])) == expected_output(n)
                page = app.control.get_execution_history(
                    str(result["executionArn"]), max_results=1000
                )
                events = page["events"]
                assert isinstance(events, list)
                paths[str(decision_of(order_name(n))["decision"])] = types(
                    [e for e in events if isinstance(e, dict)]
                )

    try:
        asyncio.run(run())
    finally:
        table.close()
    return paths


# --- the test ------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(FINISH_TIMEOUT + 180)
def test_food_orders_survive_kill_9_and_restarts_of_postgresql_and_nats(
    private_postgres: PrivatePostgres, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    nats = NatsServer(tmp_path / "nats").start()
    url = private_postgres.url
    reference = reference_histories(url, tmp_path)

    client = make_app(url)  # no handlers: an API process (and no NATS: it publishes nothing)
    client.deploy()
    client.events.create_archive(
        "chaos-all", client.bus_arn(BUS), event_pattern=json.dumps({"source": ["food.orders"]})
    )
    table = Coordination(url)
    table.create()
    table.close()
    client.close()
    pool = Pool(url, nats.url, tmp_path / "effects.log", tmp_path)
    names = {order_name(n): n for n in range(EXECUTIONS)}
    arns = {
        name: client.arn(MACHINE).replace(":stateMachine:", ":execution:") + ":" + name
        for name in names
    }
    kills: list[tuple[float, int]] = []  # (wall time, pid) of each SIGKILL
    restarts: dict[str, float] = {}
    try:
        live = [pool.spawn() for _ in range(WORKERS)]
        for child in live:
            assert child.wait_ready(), f"no worker in {READY_TIMEOUT} s"
        began = time.monotonic()

        started: list[str] = []  # appended by the starters (list.append is atomic)
        failures: list[BaseException] = []

        def start_some(share: list[str]) -> None:
            # Starts go on while workers die and servers restart (as API processes would).
            api = make_app(url)
            try:
                for name in share:
                    text = json.dumps(order_input(names[name]))
                    # ExecutionAlreadyExists: the first try committed, its answer was lost to
                    # the restart.
                    with contextlib.suppress(ExecutionAlreadyExists):
                        retrying(api.control.start_execution, api.arn(MACHINE), text, name)
                    started.append(name)
            except BaseException as error:  # reported by the test, not lost with the thread
                failures.append(error)
            finally:
                api.close()

        order = list(names)
        starters = [  # daemons: a failed test does not wait for them
            threading.Thread(target=start_some, args=(order[k::STARTERS],), daemon=True)
            for k in range(STARTERS)
        ]
        for thread in starters:
            thread.start()
        next_kill = began + KILL_EVERY
        nats_restarted = 0.0
        deadline = began + FINISH_TIMEOUT
        while True:
            running = count(url, "SELECT COUNT(*) FROM executions WHERE status = 'RUNNING'")
            starting = any(thread.is_alive() for thread in starters)
            if running == 0 and not starting:
                break
            assert time.monotonic() < deadline, f"{running} executions still running"
            now = time.monotonic()
            # Each server crashes (SIGKILL; PostgreSQL's immediate shutdown) and restarts once
            # while executions run: NATS once a third are started, PostgreSQL two thirds.
            if RESTARTS and "nats" not in restarts and len(started) >= EXECUTIONS // 3:
                at = time.monotonic()
                nats.restart(signal.SIGKILL)
                nats_restarted = time.monotonic()
                restarts["nats"] = nats_restarted - at
            if (
                RESTARTS
                and "postgres" not in restarts
                and "nats" in restarts
                and now >= nats_restarted + 1.0
                and len(started) >= 2 * EXECUTIONS // 3
            ):
                restarts["postgres"] = private_postgres.restart("immediate")
            # Chaos while the bulk runs; the tail finishes undisturbed, once leases ran out.
            # The victim is one of the workers that run: killing one still starting (slow on a
            # loaded machine) would only starve the run.
            serving = [child for child in live if child.wait_ready(0)]
            if now >= next_kill and (starting or running > EXECUTIONS // 10) and serving:
                victim = serving[rng.randrange(len(serving))]
                live.remove(victim)
                kills.append((time.time(), victim.pid))
                victim.kill()
                live.append(pool.spawn())  # not waited for: chaos goes on
                next_kill = now + KILL_EVERY
            time.sleep(0.05)
        for thread in starters:
            thread.join()
        assert not failures, f"starting executions failed: {failures!r}"
        if RESTARTS:
            assert set(restarts) == {"nats", "postgres"}, "the run ended before the restarts"
        finished = time.monotonic()
        # The executions are done; their last events may still be on their way to targets.
        while True:
            # Read in this order: once no row is pending, every event is in the trace table.
            pending = count(url, "SELECT COUNT(*) FROM bus_deliveries") + count(
                url, "SELECT COUNT(*) FROM outbox"
            )
            expected_deliveries = _expected_deliveries(url)
            missing = expected_deliveries - _delivered(read_effects(pool.effects))
            if not missing and not pending:
                break
            assert time.monotonic() < deadline, (
                f"{len(missing)} deliveries missing, {pending} rows not delivered: "
                f"{sorted(missing)[:5]}"
            )
            time.sleep(0.1)
        delivered = time.monotonic()
        for child in live:
            child.assert_alive()
    finally:
        pool.reap()
        nats.stop()

    # --- executions: nothing lost, stuck or applied twice --------------------------------
    executions = rows(url, "SELECT name, status, output FROM executions")
    assert sorted(name for name, _, _ in executions) == sorted(names)  # 0 lost
    histories: dict[str, list[dict[str, Any]]] = defaultdict(list)
    early_callbacks = 0
    for arn, events in rows(
        url, "SELECT execution_arn, events FROM history ORDER BY execution_arn, first_id"
    ):
        histories[arn].extend(json.loads(events))
    for name, status, output in executions:
        n = names[name]
        assert status == "SUCCEEDED", (name, status)  # 0 stuck, 0 failed
        assert json.loads(output) == expected_output(n), name
        events = histories[arns[name]]
        assert [e["id"] for e in events] == list(range(1, len(events) + 1)), name
        assert [t for t in types(events) if t in TERMINAL] == ["ExecutionSucceeded"], name
        path = reference[str(decision_of(name)["decision"])]
        # 0 duplicated transitions: the sequence of the uninterrupted run, except that a
        # token sent from another process while the waiting task's handler still runs
        # closes the task first, and the handler's late result (TaskSubmitted) is refused.
        assert without_submitted(types(events)) == without_submitted(path), name
        submitted = types(events).count("TaskSubmitted")
        assert submitted <= path.count("TaskSubmitted"), name
        early_callbacks += path.count("TaskSubmitted") - submitted
    for left in ("inbox", "timers", "tasks", "outbox", "bus_deliveries", "bus_dead_letters"):
        assert count(url, f"SELECT COUNT(*) FROM {left}") == 0, left

    # --- events: each published once, delivered to every matching target ----------------
    archived = rows(url, "SELECT event_id, envelope FROM bus_archived_events")
    traced = rows(url, f"SELECT event_id FROM trace_events WHERE bus = '{BUS}'")
    assert sorted(e for e, _ in archived) == sorted(e for (e,) in traced)
    published: dict[str, list[str]] = defaultdict(list)
    for _, envelope in archived:
        document = json.loads(envelope)
        published[document["detail"]["orderId"]].append(document["detail-type"])
    for name, n in names.items():
        assert Counter(published[name]) == Counter(expected_events(n)), name
    queued = Counter(
        json.loads(body)["id"]
        for (body,) in rows(url, f"SELECT body FROM queue_messages WHERE queue = '{AUDIT_QUEUE}'")
    )
    assert queued == Counter({e: 1 for e, _ in archived})  # the queue: exactly once
    effects = read_effects(pool.effects)
    calls = Counter((e.handler, e.key) for e in effects)
    assert expected_deliveries <= set(calls)
    bus_calls = {k: v for k, v in calls.items() if k[0] in BUS_HANDLERS}
    assert set(bus_calls) == expected_deliveries  # none invented

    # --- tasks: each ran at least once ----------------------------------------------------
    accepted = sum(1 for n in names.values() if expected_events(n)[2] == "order_accepted")
    runs = Counter(handler for handler, _ in calls if handler not in BUS_HANDLERS)
    assert runs == Counter(
        {
            "notify-restaurant": EXECUTIONS,
            "await-decision": EXECUTIONS,
            "notify-user": accepted,
            "await-delivery": accepted,
            "issue-voucher": accepted,
        }
    )
    task_redelivered = sum(v - 1 for k, v in calls.items() if k[0] not in BUS_HANDLERS)
    bus_redelivered = sum(v - 1 for v in bus_calls.values())

    # Recovery: from a kill to the first call, by another worker, of a task or delivery the
    # killed worker had started (its result lost with it).
    recoveries = []
    for when, pid in kills:
        lost = {(e.handler, e.key) for e in effects if e.pid == pid}
        again = [
            e.when for e in effects if (e.handler, e.key) in lost and e.pid != pid and e.when > when
        ]
        if again:
            recoveries.append(min(again) - when)
    p99 = statistics.quantiles(recoveries, n=100)[-1] if len(recoveries) > 1 else 0.0
    print(
        f"\nfood-order chaos (seed {SEED}): {EXECUTIONS} executions ({accepted} accepted), "
        f"{WORKERS} workers, {len(kills)} kills (every {KILL_EVERY} s)"
        + "".join(f", {what} restarted once ({took:.1f} s)" for what, took in restarts.items())
        + f"; lost 0, stuck 0, duplicated transitions 0, events published twice 0; "
        f"{len(archived)} events, {len(expected_deliveries)} handler deliveries "
        f"({bus_redelivered} redelivered), {sum(queued.values())} queued; "
        f"{sum(runs.values())} task attempts ({task_redelivered} redelivered); "
        f"recovery after a kill p50 "
        f"{statistics.median(recoveries) if recoveries else 0:.2f} s, p99 {p99:.2f} s "
        f"({len(recoveries)} kills lost work); {early_callbacks} callbacks before their "
        f"handler returned; all executions finished "
        f"{finished - began:.1f} s, all deliveries {delivered - began:.1f} s"
    )


def _expected_deliveries(url: str) -> set[tuple[str, str]]:
    """(handler, event id) for every published event and handler target its rules match."""
    wanted = {"restaurant_notified": "restaurant", "user_notified": "courier"}
    expected = set()
    for event_id, detail_type in rows(
        url, f"SELECT event_id, detail_type FROM trace_events WHERE bus = '{BUS}'"
    ):
        expected.add(("audit", event_id))
        if detail_type in wanted:
            expected.add((wanted[detail_type], event_id))
    return expected


def _delivered(effects: list[Effect]) -> set[tuple[str, str]]:
    return {(e.handler, e.key) for e in effects if e.handler in BUS_HANDLERS}

"""Crash tests: worker processes on a real SQLite file, killed with SIGKILL and restarted.

The worker is ``crash_app.py`` run as a separate process; this process is a client of the
same file (it deploys, starts executions and reads them through ``App.control``). After the
kills every accepted execution must end exactly as an uninterrupted run does: same output,
same sequence of history event types, ids 1..n, one terminal event. Handlers may run more than
once (delivery is at least once) but every task attempt must have run at least once.

Run with ``-s`` to see the figures (kills, redelivered handler calls, recovery times).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import random
import selectors
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from crash_app import (  # beside this file
    CALLBACK,
    FLOW,
    LEASE_SECONDS,
    WAIT_SECONDS,
    flow_input,
    make_app,
    make_handlers,
)

from oncue import ExecutionResult, execute
from oncue.app import App

CRASH_APP = Path(__file__).with_name("crash_app.py")
#: The schedule of kills is random but reproducible (``ONCUE_CRASH_SEED`` overrides it).
SEED = int(os.environ.get("ONCUE_CRASH_SEED", "20250101"))
READY_TIMEOUT = 20.0
FINISH_TIMEOUT = 60.0
TERMINAL = {"ExecutionSucceeded", "ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted"}


# --- worker processes ----------------------------------------------------------------------


@dataclass(slots=True)
class Child:
    process: subprocess.Popen[bytes]
    stderr: Path
    spawned: float
    ready: float = 0.0

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_ready(self) -> float:
        """Until the worker prints READY; the (monotonic) time it did."""
        stdout = self.process.stdout
        assert stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(stdout, selectors.EVENT_READ)
            if not selector.select(READY_TIMEOUT):
                raise AssertionError(f"the worker did not start in {READY_TIMEOUT} s")
        line = stdout.readline()
        if line.strip() != b"READY":
            self.process.wait(5)
            raise AssertionError(f"the worker died while starting:\n{self.stderr.read_text()}")
        self.ready = time.monotonic()
        return self.ready

    def assert_alive(self) -> None:
        code = self.process.poll()
        assert code is None, f"the worker exited on its own ({code}):\n{self.stderr.read_text()}"

    def send(self, number: signal.Signals) -> None:
        self.assert_alive()
        os.kill(self.pid, number)

    def kill(self) -> None:
        """SIGKILL: no cleanup of any kind runs in the worker."""
        if self.process.poll() is None:
            os.kill(self.pid, signal.SIGKILL)
        self.process.wait(10)
        self.close()

    def terminate(self) -> int:
        """SIGTERM: the worker shuts down gracefully; its exit code."""
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(10)
        finally:
            self.close()

    def close(self) -> None:
        if self.process.stdout is not None:
            self.process.stdout.close()


@dataclass(slots=True)
class Workers:
    """Spawns worker processes on one database (a file, or a URL); none outlives the test."""

    db: Path | str
    effects: Path
    logs: Path
    started: list[Child] = field(default_factory=list)

    def spawn(self, *, latency: float | None = None) -> Child:
        stderr = self.logs / f"worker-{len(self.started)}.stderr"
        extra = [] if latency is None else [str(latency)]
        with stderr.open("wb") as sink:
            process = subprocess.Popen(
                [sys.executable, str(CRASH_APP), str(self.db), str(self.effects), *extra],
                stdout=subprocess.PIPE,
                stderr=sink,
                stdin=subprocess.DEVNULL,
            )
        child = Child(process=process, stderr=stderr, spawned=time.monotonic())
        self.started.append(child)
        return child

    def reap(self) -> None:
        for child in self.started:
            if child.process.poll() is None:
                os.kill(child.pid, signal.SIGCONT)  # a stopped process must die too
            child.kill()


def freeze(child: Child, db: Path) -> None:
    """SIGSTOP the worker, at a moment it holds no SQLite write lock.

    A process frozen inside a write transaction keeps the database locked for every other
    process until it resumes (SQLite has one writer; no lease can take that over), so
    freeze, check the lock is free, and thaw and try again if not.
    """
    for _ in range(200):
        child.send(signal.SIGSTOP)
        with contextlib.closing(sqlite3.connect(db, timeout=0.05, isolation_level=None)) as c:
            try:
                c.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError:  # locked: the frozen worker was writing
                child.send(signal.SIGCONT)
                time.sleep(0.003)
                continue
            c.execute("ROLLBACK")
            return
    raise AssertionError("the worker never stopped outside a write transaction")


@contextlib.contextmanager
def workers(tmp_path: Path) -> Iterator[tuple[Workers, App]]:
    db = tmp_path / "oncue.db"
    client = make_app(str(db))  # no handlers: every task is left to the worker processes
    client.deploy()
    pool = Workers(db=db, effects=tmp_path / "effects.log", logs=tmp_path)
    try:
        yield pool, client
    finally:
        pool.reap()
        client.close()


# --- reading the outcome -------------------------------------------------------------------


def start(client: App, machine: str, name: str, input: Any) -> str:
    response = client.control.start_execution(client.arn(machine), json.dumps(input), name)
    return str(response["executionArn"])


def running(client: App, machine: str) -> int:
    page = client.control.list_executions(
        client.arn(machine), status_filter="RUNNING", max_results=1000
    )
    executions = page["executions"]
    assert isinstance(executions, list)
    return len(executions)


def wait_until_finished(client: App, machine: str, children: list[Child], timeout: float) -> float:
    """Poll until no execution of ``machine`` runs; the (monotonic) time that happened."""
    deadline = time.monotonic() + timeout
    while running(client, machine):
        for child in children:
            child.assert_alive()
        assert time.monotonic() < deadline, f"executions still running after {timeout} s"
        time.sleep(0.02)
    return time.monotonic()


def history(client: App, arn: str) -> list[dict[str, Any]]:
    page = client.control.get_execution_history(arn, max_results=1000)
    assert "nextToken" not in page
    events = page["events"]
    assert isinstance(events, list)
    return [e for e in events if isinstance(e, dict)]


def types(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]


@dataclass(frozen=True, slots=True)
class Effect:
    when: float
    pid: int
    key: str


def read_effects(path: Path) -> list[Effect]:
    if not path.exists():
        return []
    effects = []
    for line in path.read_text().splitlines():
        when, pid, key = line.split(" ")  # a torn line fails here: each is one write()
        effects.append(Effect(when=float(when), pid=int(pid), key=key))
    return effects


def wall(monotonic: float) -> float:
    """A monotonic reading as wall-clock time (handlers stamp effects with time.time())."""
    return time.time() - (time.monotonic() - monotonic)


def timestamp(event: dict[str, Any]) -> float:
    return datetime.fromisoformat(event["timestamp"]).timestamp()


@functools.cache
def reference(name: str, n: int) -> tuple[ExecutionResult, tuple[str, ...]]:
    """An uninterrupted in-memory run of FLOW: its result and the task attempts it made."""
    keys: list[str] = []
    result = execute(
        FLOW,
        flow_input(n),
        handlers=make_handlers(keys.append),
        name=name,
        state_machine_name="crash-flow",
    )
    assert result.status == "SUCCEEDED"
    assert len(keys) == len(set(keys))
    return result, tuple(keys)


def entered(events: list[dict[str, Any]]) -> Counter[str]:
    return Counter(
        e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e
    )


def check_history(events: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    assert all(0 <= e["previousEventId"] < e["id"] for e in events)
    terminal = [t for t in types(events) if t in TERMINAL]
    assert terminal == ["ExecutionSucceeded"] and events[-1]["type"] == "ExecutionSucceeded"
    # The sequence of types is that of the uninterrupted run: no state entered, task
    # scheduled or result recorded twice, none lost; and each state is entered as often.
    assert types(events) == types(expected)
    assert entered(events) == entered(expected)


def check_flow_executions(client: App, arns: dict[str, tuple[str, int]], effects: Path) -> int:
    """Every FLOW execution ended as its uninterrupted run; the redelivered handler calls."""
    listed = client.control.list_executions(client.arn("crash-flow"), max_results=1000)
    executions = listed["executions"]
    assert isinstance(executions, list)
    # Each accepted execution exists once; a restart started none of them again.
    assert sorted(e["executionArn"] for e in executions if isinstance(e, dict)) == sorted(
        arn for arn, _ in arns.values()
    )
    expected_keys: set[str] = set()
    for name, (arn, n) in arns.items():
        result, keys = reference(name, n)
        expected_keys.update(keys)
        description = client.control.describe_execution(arn)
        assert description["status"] == "SUCCEEDED", (name, description)
        assert isinstance(description["output"], str)
        assert json.loads(description["output"]) == result.output, name
        check_history(history(client, arn), result.history)
    seen = Counter(e.key for e in read_effects(effects))
    # Every task attempt ran at least once, and none that an uninterrupted run does not make
    # (task ids are allocated deterministically, so the keys are the reference run's).
    assert set(seen) == expected_keys
    return sum(seen.values()) - len(seen)


# --- the tests -----------------------------------------------------------------------------


def test_kill_9_repeatedly_while_executions_run(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    count = 40
    names = [f"crash-{n:02d}" for n in range(count)]
    kills = rng.randint(5, 8)
    windows = [rng.uniform(0.2, 1.5) for _ in range(kills)]
    lives: list[tuple[int, float]] = []  # (pid, spawned) of each worker process
    at_kill: list[int] = []  # executions running at each kill
    with workers(tmp_path) as (pool, client):
        arns: dict[str, tuple[str, int]] = {}

        def start_flows(numbers: range) -> None:
            for n in numbers:
                arns[names[n]] = (start(client, "crash-flow", names[n], flow_input(n)), n)

        start_flows(range(count // 2))  # before any worker runs
        for number, window in enumerate(windows):
            child = pool.spawn()
            child.wait_ready()
            if number == 0:
                start_flows(range(count // 2, count))  # while a worker process writes too
            time.sleep(max(0.0, child.ready + window - time.monotonic()))
            child.assert_alive()
            at_kill.append(running(client, "crash-flow"))
            child.kill()
            lives.append((child.pid, child.spawned))
        # Each execution takes over 3.5 s (a 1 s Wait, retries after 1 and 1.5 s): the first kill,
        # at most 1.5 s after the worker started, always interrupts every one of them.
        assert at_kill[0] == count

        child = pool.spawn()
        child.wait_ready()
        lives.append((child.pid, child.spawned))
        done = wait_until_finished(client, "crash-flow", [child], FINISH_TIMEOUT)
        assert child.terminate() == 0, child.stderr.read_text()
        redelivered = check_flow_executions(client, arns, pool.effects)

    effects = read_effects(pool.effects)
    recoveries = []
    for pid, spawned in lives:
        # Python start-up included: from the spawn to the first handler call of the process
        # (about LEASE_SECONDS more when all the work left was leased to the killed one).
        calls = [e.when for e in effects if e.pid == pid]
        recoveries.append(round(min(calls) - wall(spawned), 2) if calls else None)
    print(
        f"\nkill -9 (seed {SEED}): {count} executions, {kills} kills after "
        f"{[round(w, 2) for w in windows]} s of work, running at each kill {at_kill}; "
        f"{len(effects)} handler calls for {len(effects) - redelivered} task attempts "
        f"({redelivered} redelivered); spawn to first handler call (s): {recoveries}; "
        f"last restart to all finished: {done - lives[-1][1]:.2f} s"
    )


def test_overdue_timers_fire_at_once_after_a_restart(tmp_path: Path) -> None:
    count = 20
    with workers(tmp_path) as (pool, client):
        arns = [start(client, "crash-wait", f"wait-{n}", {"n": n}) for n in range(count)]
        child = pool.spawn()
        child.wait_ready()
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            last = [types(history(client, arn))[-1] for arn in arns]
            if all(t == "WaitStateEntered" for t in last):
                break
            child.assert_alive()
            assert time.monotonic() < deadline, last
            time.sleep(0.05)
        child.kill()

        # Dead while every execution sleeps; come back after all their timers are due.
        due = max(timestamp(history(client, arn)[-1]) for arn in arns) + WAIT_SECONDS
        time.sleep(max(0.0, due - time.time()) + 0.5)
        assert running(client, "crash-wait") == count

        child = pool.spawn()
        ready = child.wait_ready()
        done = wait_until_finished(client, "crash-wait", [child], FINISH_TIMEOUT)
        assert child.terminate() == 0, child.stderr.read_text()
        print(
            f"\noverdue timers: {count} executions due {wall(ready) - due:.2f} s before the "
            f"restart; spawn to ready {ready - child.spawned:.2f} s, ready to all finished "
            f"{done - ready:.2f} s"
        )
        assert done - ready < 1.0

        for n, arn in enumerate(arns):
            description = client.control.describe_execution(arn)
            assert description["status"] == "SUCCEEDED"
            assert isinstance(description["output"], str)
            assert json.loads(description["output"]) == (n + 1) * 2
            events = history(client, arn)
            (slept,) = [e for e in events if e["type"] == "WaitStateEntered"]
            (woke,) = [e for e in events if e["type"] == "WaitStateExited"]
            # Not early (the timer is durable), and at once on the restart (not a poll later).
            assert timestamp(woke) - timestamp(slept) >= WAIT_SECONDS - 0.001
            assert timestamp(woke) <= wall(ready) + 1.0


def test_a_frozen_worker_cannot_report_what_another_took_over(tmp_path: Path) -> None:
    """SIGSTOP, not SIGKILL: the frozen worker wakes up after its leases went to another.

    Its late results must be refused (the lease fence), so each execution still ends as an
    uninterrupted run, with two live worker processes sharing the file.
    """
    count = 20
    with workers(tmp_path) as (pool, client):
        arns = {
            f"frozen-{n:02d}": (start(client, "crash-flow", f"frozen-{n:02d}", flow_input(n)), n)
            for n in range(count)
        }
        frozen = pool.spawn()
        frozen.wait_ready()
        deadline = time.monotonic() + FINISH_TIMEOUT
        while len(read_effects(pool.effects)) < 3 * count:  # freeze it amid the fan-outs
            frozen.assert_alive()
            assert time.monotonic() < deadline
            time.sleep(0.01)
        freeze(frozen, pool.db)
        other = pool.spawn()
        other.wait_ready()
        time.sleep(LEASE_SECONDS * 1.5)  # the frozen worker's leases run out
        frozen.send(signal.SIGCONT)
        wait_until_finished(client, "crash-flow", [frozen, other], FINISH_TIMEOUT)
        assert frozen.terminate() == 0, frozen.stderr.read_text()
        assert other.terminate() == 0, other.stderr.read_text()
        redelivered = check_flow_executions(client, arns, pool.effects)
    by_worker = Counter(e.pid for e in read_effects(pool.effects))
    assert by_worker[other.pid] > 0
    print(
        f"\nfrozen worker: {count} executions; handler calls by the frozen worker "
        f"{by_worker[frozen.pid]}, by the other {by_worker[other.pid]}, {redelivered} redelivered"
    )


def test_a_frozen_workers_callback_does_not_outrun_its_refused_result(tmp_path: Path) -> None:
    """A .waitForTaskToken handler completing its own token, frozen past its lease.

    Timeline: the frozen worker's handler runs (2.5 s); it is frozen at 0.3 s; the other
    worker claims the task at about 1.4 s (lease 1 s) and runs the handler again (2.5 s); the
    frozen worker resumes at 2 s, its handler returns at 2.5 s: its TaskSubmitted result is
    refused (the task is leased to the other worker) but the callback it made is applied, so
    the history reads TaskSucceeded without TaskSubmitted. An uninterrupted run (and AWS)
    records TaskSubmitted, then TaskSucceeded.
    """
    with workers(tmp_path) as (pool, client):
        arn = start(client, "crash-callback", "callback", {"n": 4})
        frozen = pool.spawn(latency=2.5)
        frozen.wait_ready()
        deadline = time.monotonic() + READY_TIMEOUT
        while not read_effects(pool.effects):  # the handler runs in the frozen worker
            assert time.monotonic() < deadline
            time.sleep(0.02)
        time.sleep(0.3)
        freeze(frozen, pool.db)
        other = pool.spawn(latency=2.5)
        other.wait_ready()
        time.sleep(max(0.0, frozen.ready + 2.0 - time.monotonic()))
        frozen.send(signal.SIGCONT)
        wait_until_finished(client, "crash-callback", [frozen, other], FINISH_TIMEOUT)
        time.sleep(0.1)
        frozen.kill()
        other.kill()
        assert client.control.describe_execution(arn)["status"] == "SUCCEEDED"
        events = history(client, arn)
    assert len(read_effects(pool.effects)) == 2  # both workers ran the handler
    expected = execute(
        CALLBACK, {"n": 4}, handlers=make_handlers(lambda key: None), name="callback"
    )
    assert types(events) == types(expected.history)


def test_an_execution_started_before_the_worker_runs_starts_at_once(tmp_path: Path) -> None:
    """A script that starts an execution, then runs the worker (``async with app``).

    The execution's first task is leased to this App's worker at once, while the worker
    does not run yet; the worker, once running, does not know it holds that lease and
    ``claim_tasks`` skips tasks whose lease has not run out.
    """

    async def main() -> None:
        app = make_app(str(tmp_path / "oncue.db"), lambda key: None)
        await app.worker.db(app.deploy)
        arn = await app.start_execution("crash-callback", {"n": 1})
        async with app:
            await asyncio.wait_for(app.wait(arn), timeout=LEASE_SECONDS * 0.8)

    asyncio.run(main())

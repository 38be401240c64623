"""``oncue worker`` processes shut down gracefully on SIGTERM (SQLite and PostgreSQL).

A handler that finishes within the grace period has its result recorded and the transition
it leads to run before the process exits, so the execution goes on at once (its next task
waits, unleased, for any worker). A handler that outlives the grace period has its task
handed back: a second worker takes it at once, not when the lease runs out. A second signal
exits at once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from oncue.app import App

pytestmark = pytest.mark.slow

_SCRIPT = Path(sys.executable).with_name("oncue")
COMMAND = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "oncue.cli"]
LAMBDA = "arn:aws:lambda:us-east-1:123456789012:function:"
MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:flow"
#: Long enough that a pick-up after a lease expiry could never pass for a prompt one.
LEASE_SECONDS = 30

HANDLERS = """
import os
import time
from pathlib import Path

MARKS = Path(os.environ["ONCUE_TEST_MARKS"])


def slow(event):
    # Slow only on its first delivery: the worker that takes a handed-back task is quick.
    first = not any(MARKS.glob("started-" + event["id"] + "-*"))
    (MARKS / f"started-{event['id']}-{os.getpid()}").write_text(str(time.time()))
    if first:
        time.sleep(event["seconds"])
    return {"id": event["id"], "slept": event["seconds"] if first else 0}


def after(event):
    (MARKS / f"after-{event['id']}-{os.getpid()}").write_text(str(time.time()))
    return {"after": event}
"""

FLOW = {
    "StartAt": "Slow",
    "States": {
        "Slow": {"Type": "Task", "Resource": LAMBDA + "slow", "Next": "After"},
        "After": {"Type": "Task", "Resource": LAMBDA + "after", "End": True},
    },
}


@dataclass
class Workers:
    """``oncue worker`` processes on one database; none outlives the test."""

    root: Path
    url: str
    started: list[tuple[subprocess.Popen[bytes], Path]] = field(default_factory=list)

    def spawn(self, *, grace: float, poll: float = 1.0) -> subprocess.Popen[bytes]:
        log = self.root / f"worker-{len(self.started)}.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [
                    *COMMAND,
                    "worker",
                    "--handlers",
                    "handlers.py",
                    "--state-machine",
                    "flow=flow.json",
                    "--lease-seconds",
                    str(LEASE_SECONDS),
                    "--poll-seconds",
                    str(poll),
                    "--grace-seconds",
                    str(grace),
                    "--database-url",
                    self.url,
                ],
                cwd=self.root,
                env={**os.environ, "ONCUE_TEST_MARKS": str(self.root)},
                stdout=sink,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self.started.append((process, log))
        wait_for(lambda: "oncue worker on" in log.read_text() or process.poll() is not None)
        assert process.poll() is None, log.read_text()
        return process

    def log(self, process: subprocess.Popen[bytes]) -> str:
        return next(log for p, log in self.started if p is process).read_text()

    def marks(self, kind: str, execution: str) -> dict[int, float]:
        """pid -> when, of the handler calls of that kind for that input id."""
        return {
            int(path.name.rsplit("-", 1)[1]): float(path.read_text())
            for path in self.root.glob(f"{kind}-{execution}-*")
        }

    def reap(self) -> None:
        for process, _ in self.started:
            if process.poll() is None:
                process.kill()
                process.wait(10)


def wait_for(predicate: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {predicate}")
        time.sleep(0.01)
    return value


@pytest.fixture(params=["sqlite", "postgresql"])
def workers(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Workers]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'shared.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    (tmp_path / "handlers.py").write_text(HANDLERS)
    (tmp_path / "flow.json").write_text(json.dumps(FLOW))
    running = Workers(root=tmp_path, url=url)
    try:
        yield running
    finally:
        running.reap()


@pytest.fixture
def client(workers: Workers) -> Iterator[App]:
    """An app with no handlers: starts executions and reads them (runs no tasks)."""
    app = App(workers.url, strict=False)
    try:
        yield app
    finally:
        app.close()


def start(client: App, execution: str, seconds: float) -> str:
    document = json.dumps({"id": execution, "seconds": seconds})
    arn: str = client.control.start_execution(MACHINE, document, name=execution)["executionArn"]
    return arn


def history_types(client: App, arn: str) -> list[str]:
    events = client.control.get_execution_history(arn, max_results=1000)["events"]
    assert isinstance(events, list)
    return [str(event["type"]) for event in events if isinstance(event, dict)]


def finished(client: App, arn: str, timeout: float = 30.0) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        description = client.control.describe_execution(arn)
        return description if description["status"] != "RUNNING" else None

    result: dict[str, Any] = wait_for(done, timeout)
    return result


def test_a_handler_finishing_in_the_grace_period_moves_its_execution_on(
    workers: Workers, client: App
) -> None:
    first = workers.spawn(grace=10)
    arn = start(client, "a", 1.5)
    wait_for(lambda: workers.marks("started", "a"))
    began = time.monotonic()
    first.send_signal(signal.SIGTERM)
    assert first.wait(15) == 0, workers.log(first)
    took = time.monotonic() - began
    assert took < 8, took  # the handler's 1.5 s, not the grace period's 10
    log = workers.log(first)
    assert "Traceback" not in log
    # No worker runs now: the result and the transition it led to were committed before the
    # exit (the next task is scheduled, not a message waiting for some worker to apply).
    types = history_types(client, arn)
    assert types.count("LambdaFunctionSucceeded") == 1, types
    assert types.count("TaskStateEntered") == 2, types  # "After" was entered
    assert types.count("LambdaFunctionScheduled") == 2, types
    assert client.control.describe_execution(arn)["status"] == "RUNNING"
    # The next task waits unleased: a worker starting now takes it in its first cycle.
    second = workers.spawn(grace=10)
    result = finished(client, arn)
    assert result["status"] == "SUCCEEDED"
    assert json.loads(str(result["output"])) == {"after": {"id": "a", "slept": 1.5}}
    assert list(workers.marks("started", "a")) == [first.pid]  # the slow handler ran once
    assert list(workers.marks("after", "a")) == [second.pid]
    second.send_signal(signal.SIGTERM)
    assert second.wait(15) == 0


def test_a_task_outliving_the_grace_period_is_handed_back_at_once(
    workers: Workers, client: App
) -> None:
    first = workers.spawn(grace=1)
    arn = start(client, "b", 120)
    wait_for(lambda: workers.marks("started", "b"))
    # A second worker, idle, polling every second (and woken by NOTIFY on PostgreSQL).
    second = workers.spawn(grace=1)
    signalled = time.time()
    first.send_signal(signal.SIGTERM)
    assert first.wait(15) == 0, workers.log(first)
    assert "abandoned" in workers.log(first)  # its handler thread was still sleeping
    taken = wait_for(lambda: workers.marks("started", "b").get(second.pid), timeout=20)
    delay = taken - (signalled + 1)  # from the end of the grace period
    # The lease (30 s) had not run out: the task was handed back. On PostgreSQL the second
    # worker hears of it at once; on SQLite at its next poll (1 s).
    assert delay < 3, delay
    result = finished(client, arn)
    assert result["status"] == "SUCCEEDED", workers.log(second)
    assert json.loads(str(result["output"])) == {"after": {"id": "b", "slept": 0}}
    print(f"handed back and taken {delay * 1000:.0f} ms after the grace period ended")
    second.send_signal(signal.SIGTERM)
    assert second.wait(15) == 0


def test_a_second_signal_exits_at_once(workers: Workers, client: App) -> None:
    first = workers.spawn(grace=60)
    start(client, "c", 120)
    wait_for(lambda: workers.marks("started", "c"))
    first.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    assert first.poll() is None  # within its grace period, waiting for the handler
    began = time.monotonic()
    first.send_signal(signal.SIGTERM)
    assert first.wait(10) == 128 + signal.SIGTERM
    assert time.monotonic() - began < 3
    assert "second signal" in workers.log(first)

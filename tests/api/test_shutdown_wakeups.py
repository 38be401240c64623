"""``oncue serve`` processes: readiness fails as soon as a shutdown begins, a second signal
exits at once, and a GetActivityTask long poll is woken by a task another process schedules
(PostgreSQL's LISTEN/NOTIFY) instead of finding it at its next poll."""

from __future__ import annotations

import http.client
import json
import signal
import statistics
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from test_serve_process import Processes, get

from conftest import LAMBDA, client, finished, wait_until

pytestmark = pytest.mark.slow

HANDLERS = """
import time


def prep(event):
    return {"n": event["n"], "prepared": time.time()}


def slow(event):
    time.sleep(event["seconds"])
    return {"slept": event["seconds"]}
"""


@dataclass
class OnDatabase(Processes):
    """Processes on a database URL of the test's choice."""

    url: str = ""

    @property
    def database_url(self) -> str:
        return self.url


@pytest.fixture
def sqlite_processes(tmp_path: Path) -> Iterator[OnDatabase]:
    (tmp_path / "handlers.py").write_text(HANDLERS)
    running = OnDatabase(root=tmp_path, url=f"sqlite:///{tmp_path / 'shared.db'}")
    try:
        yield running
    finally:
        running.reap()


@pytest.fixture
def pg_processes(tmp_path: Path, postgres_url: str) -> Iterator[OnDatabase]:
    (tmp_path / "handlers.py").write_text(HANDLERS)
    running = OnDatabase(root=tmp_path, url=postgres_url)
    try:
        yield running
    finally:
        running.reap()


def machine(sfn: Any, name: str, states: dict[str, Any], start: str) -> str:
    definition = json.dumps({"StartAt": start, "States": states})
    arn: str = sfn.create_state_machine(
        name=name, definition=definition, roleArn="arn:aws:iam::123456789012:role/x"
    )["stateMachineArn"]
    return arn


def test_readiness_fails_once_shutdown_begins_and_a_second_signal_exits(
    sqlite_processes: OnDatabase,
) -> None:
    processes = sqlite_processes
    port = processes.serve("--handlers", "handlers.py", "--grace-seconds", "60")
    server = processes.started[-1][0]
    sfn = client("stepfunctions", f"http://127.0.0.1:{port}")
    slow = machine(
        sfn, "slow", {"S": {"Type": "Task", "Resource": LAMBDA + "slow", "End": True}}, "S"
    )
    sfn.start_execution(stateMachineArn=slow, input='{"seconds": 120}')
    # A probe on a connection kept open: ready now.
    probe = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    probe.request("GET", "/readyz")
    answer = probe.getresponse()
    assert answer.status == 200
    answer.read()
    server.send_signal(signal.SIGTERM)
    # From the signal on, no probe is answered "ready": 503 while requests drain, then the
    # port is closed.
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        try:
            status, document = get(port, "/readyz")
        except OSError:
            break
        assert status == 503, document
        assert document["checks"]["shutdown"]["ok"] is False
    # The handler runs on (grace period 60 s); a second signal ends the process at once.
    time.sleep(0.5)
    assert server.poll() is None
    began = time.monotonic()
    server.send_signal(signal.SIGTERM)
    assert server.wait(10) == 128 + signal.SIGTERM
    assert time.monotonic() - began < 3
    assert "second signal" in processes.log(server)
    probe.close()


def test_a_task_scheduled_elsewhere_wakes_a_long_poll_at_once(pg_processes: OnDatabase) -> None:
    processes = pg_processes
    # The API process runs a worker too, without the handler: ``prep`` runs in the other
    # process, whose transition schedules the activity task.
    port = processes.serve("--no-strict")
    url = f"http://127.0.0.1:{port}"
    sfn = client("stepfunctions", url)
    activity = sfn.create_activity(name="review")["activityArn"]
    flow = machine(
        sfn,
        "review",
        {
            "Prep": {"Type": "Task", "Resource": LAMBDA + "prep", "Next": "Review"},
            "Review": {"Type": "Task", "Resource": activity, "End": True},
        },
        "Prep",
    )
    worker = processes.spawn(
        "worker", "--handlers", "handlers.py", "--no-strict", "--poll-seconds", "5"
    )
    wait_until(lambda: "oncue worker on" in processes.log(worker), 30, "the worker to start")
    latencies = []
    for n in range(7):
        polled: dict[str, Any] = {}

        def poll(into: dict[str, Any] = polled) -> None:
            into["answer"] = sfn.get_activity_task(activityArn=activity, workerName="w")
            into["at"] = time.time()

        poller = threading.Thread(target=poll)
        poller.start()
        time.sleep(0.3)  # the long poll waits (the first answer was empty)
        arn = sfn.start_execution(stateMachineArn=flow, input=json.dumps({"n": n}))["executionArn"]
        poller.join(30)
        task = polled["answer"]
        assert json.loads(task["input"])["n"] == n
        # From the activity task's scheduling (its history event) to the answer.
        events = sfn.get_execution_history(executionArn=arn)["events"]
        scheduled = next(e for e in events if e["type"] == "ActivityScheduled")
        latencies.append(polled["at"] - scheduled["timestamp"].timestamp())
        sfn.send_task_success(taskToken=task["taskToken"], output='{"ok": true}')
        assert finished(sfn, arn)["status"] == "SUCCEEDED"
    median = statistics.median(latencies)
    print(f"activity task scheduled -> GetActivityTask answered: median {median * 1000:.0f} ms")
    # The long poll looks again only every second by itself: this is the notification.
    assert median < 0.3, latencies
    assert processes.terminate(worker) == 0
    assert "Traceback" not in processes.log(worker)

"""Cross-process wake-ups: GetActivityTask long polls, and tasks handed back on shutdown.

Run: ``.venv/bin/python benchmarks/bench_wakeups.py`` (``--url`` names PostgreSQL's
maintenance database, default ``postgresql://postgres@127.0.0.1:5432/test``; a database of
its own is created per measurement and dropped afterwards; SQLite uses a temporary file).
Both measurements run on PostgreSQL and on SQLite, with real processes:

1. Activity long poll (``--rounds``, default 30): an ``oncue serve`` process (API and a
   worker without the handler) and an ``oncue worker`` process that runs the execution's
   first Task, whose transition schedules an activity task. A client long-polls
   GetActivityTask on the API process; reports the time from the task's scheduling (its
   ActivityScheduled event) to GetActivityTask's answer (median and 90th percentile). On
   PostgreSQL the poll is woken by NOTIFY; on SQLite it finds the task at its next look.
2. Hand-back on SIGTERM (``--handbacks``, default 5): a worker running a handler longer than
   its grace period (1 s) is stopped; reports the time from the grace period's end to the
   handler starting in a second, idle worker (lease 30 s, poll 1 s).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import boto3
import psycopg
from botocore.config import Config

__all__ = ["main"]

_SCRIPT = Path(sys.executable).with_name("oncue")
COMMAND = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "oncue.cli"]
LAMBDA = "arn:aws:lambda:us-east-1:123456789012:function:"
LISTENING = re.compile(r"oncue serve on http://127\.0\.0\.1:(\d+) ")
HANDLERS = """
import os
import time
from pathlib import Path

MARKS = Path(os.environ["BENCH_MARKS"])


def prep(event):
    return event


def slow(event):
    first = not any(MARKS.glob("started-" + event["id"] + "-*"))
    (MARKS / f"started-{event['id']}-{os.getpid()}").write_text(str(time.time()))
    if first:
        time.sleep(event["seconds"])
    return event
"""


@contextmanager
def database(kind: str, admin_url: str, root: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{root / f'bench-{secrets.token_hex(4)}.db'}"
        return
    name = f"oncue_bench_{secrets.token_hex(4)}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(admin_url)
    try:
        yield urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, ""))
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Processes:
    def __init__(self, root: Path, url: str) -> None:
        self.root, self.url = root, url
        self.started: list[tuple[subprocess.Popen[bytes], Path]] = []

    def spawn(self, *args: str) -> tuple[subprocess.Popen[bytes], Path]:
        log = self.root / f"process-{secrets.token_hex(4)}.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [*COMMAND, *args, "--database-url", self.url],
                cwd=self.root,
                env={**os.environ, "BENCH_MARKS": str(self.root)},
                stdout=sink,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self.started.append((process, log))
        return process, log

    def stop(self) -> None:
        for process, _ in self.started:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process, _ in self.started:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_for(predicate: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {predicate}")
        time.sleep(0.01)
    return value


def sfn_client(port: int) -> Any:
    return boto3.client(
        "stepfunctions",
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        config=Config(retries={"total_max_attempts": 1}, read_timeout=90),
    )


def activity_latency(url: str, root: Path, rounds: int) -> list[float]:
    """Seconds from ActivityScheduled to GetActivityTask's answer, per round."""
    processes = Processes(root, url)
    try:
        _, log = processes.spawn("serve", "--port", "0", "--no-strict", "--log-level", "warning")
        port = int(wait_for(lambda: LISTENING.search(log.read_text()))[1])
        sfn = sfn_client(port)
        activity = sfn.create_activity(name="review")["activityArn"]
        definition = {
            "StartAt": "Prep",
            "States": {
                "Prep": {"Type": "Task", "Resource": LAMBDA + "prep", "Next": "Review"},
                "Review": {"Type": "Task", "Resource": activity, "End": True},
            },
        }
        machine = sfn.create_state_machine(
            name="review", definition=json.dumps(definition), roleArn="arn:aws:iam::1:role/r"
        )["stateMachineArn"]
        _, worker_log = processes.spawn(
            "worker", "--handlers", "handlers.py", "--no-strict", "--poll-seconds", "5"
        )
        wait_for(lambda: "oncue worker on" in worker_log.read_text())
        latencies = []
        for n in range(rounds):
            polled: dict[str, Any] = {}

            def poll(into: dict[str, Any] = polled) -> None:
                into["task"] = sfn.get_activity_task(activityArn=activity, workerName="bench")
                into["at"] = time.time()

            poller = threading.Thread(target=poll)
            poller.start()
            time.sleep(0.2)
            arn = sfn.start_execution(stateMachineArn=machine, input=json.dumps({"n": n}))[
                "executionArn"
            ]
            poller.join(90)
            events = sfn.get_execution_history(executionArn=arn)["events"]
            scheduled = next(e for e in events if e["type"] == "ActivityScheduled")
            latencies.append(polled["at"] - scheduled["timestamp"].timestamp())
            sfn.send_task_success(taskToken=polled["task"]["taskToken"], output="{}")
        return latencies
    finally:
        processes.stop()


def handback_delay(url: str, root: Path, key: str) -> float:
    """Seconds from the end of a stopped worker's grace period to the second worker running
    the handed-back task."""
    processes = Processes(root, url)
    worker = [
        "worker",
        "--handlers",
        "handlers.py",
        "--lease-seconds",
        "30",
        "--poll-seconds",
        "1",
        "--grace-seconds",
        "1",
    ]
    definition = {
        "StartAt": "S",
        "States": {"S": {"Type": "Task", "Resource": LAMBDA + "slow", "End": True}},
    }
    (root / "slow.json").write_text(json.dumps(definition))
    try:
        first, first_log = processes.spawn(*worker, "--state-machine", "slow=slow.json")
        wait_for(lambda: "oncue worker on" in first_log.read_text())
        from oncue.app import App

        client = App(url, strict=False)
        try:
            client.control.start_execution(
                client.arn("slow"), json.dumps({"id": key, "seconds": 120})
            )
        finally:
            client.close()
        wait_for(lambda: list(root.glob(f"started-{key}-{first.pid}")))
        second, second_log = processes.spawn(*worker)
        wait_for(lambda: "oncue worker on" in second_log.read_text())
        time.sleep(0.5)
        signalled = time.time()
        first.send_signal(signal.SIGTERM)
        mark = root / f"started-{key}-{second.pid}"
        wait_for(mark.exists)
        return float(mark.read_text()) - (signalled + 1.0)
    finally:
        processes.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--handbacks", type=int, default=5)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        (root / "handlers.py").write_text(HANDLERS)
        for kind in ("postgresql", "sqlite"):
            with database(kind, options.url, root) as url:
                latencies = sorted(activity_latency(url, root, options.rounds))
            p90 = latencies[int(0.9 * (len(latencies) - 1))]
            print(
                f"{kind}: activity task scheduled -> GetActivityTask answered "
                f"({len(latencies)} rounds): median {statistics.median(latencies) * 1000:.0f} ms, "
                f"p90 {p90 * 1000:.0f} ms"
            )
            delays = []
            for n in range(options.handbacks):
                with database(kind, options.url, root) as url:
                    delays.append(handback_delay(url, root, f"{kind}{n}"))
            print(
                f"{kind}: task handed back on SIGTERM -> running in another worker "
                f"({len(delays)} runs, lease 30 s, poll 1 s): median "
                f"{statistics.median(delays) * 1000:.0f} ms, max {max(delays) * 1000:.0f} ms"
            )


if __name__ == "__main__":
    main()

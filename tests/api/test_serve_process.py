"""``oncue serve`` as a real process: SIGTERM shuts it down gracefully, and an API-only server
works with a separate ``oncue worker`` process on the same SQLite file."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from conftest import LAMBDA, client, finished, wait_until
from oncue.cli.main import cli

pytestmark = pytest.mark.slow

LISTENING = re.compile(r"oncue serve on http://127\.0\.0\.1:(\d+) ")
_SCRIPT = Path(sys.executable).with_name("oncue")
COMMAND = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "oncue.cli"]

HANDLERS = """
import os
import time
from pathlib import Path

MARKS = Path(os.environ["ONCUE_TEST_MARKS"])


def double(event):
    return {"value": event["value"] * 2}


def slow(event):
    (MARKS / ("started-" + event["id"])).write_text(str(os.getpid()))
    time.sleep(event["seconds"])
    return {"slept": event["seconds"]}
"""


def machine(handler: str) -> str:
    return json.dumps(
        {
            "StartAt": "T",
            "States": {"T": {"Type": "Task", "Resource": LAMBDA + handler, "End": True}},
        }
    )


def get(port: int, path: str) -> tuple[int, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


@dataclass
class Processes:
    """The processes a test starts; none outlives it."""

    root: Path
    started: list[tuple[subprocess.Popen[bytes], Path]] = field(default_factory=list)

    @property
    def database_url(self) -> str:
        return f"sqlite:///{self.root / 'shared.db'}"

    def spawn(self, *args: str) -> subprocess.Popen[bytes]:
        log = self.root / f"process-{len(self.started)}.log"
        env = {**os.environ, "ONCUE_TEST_MARKS": str(self.root)}
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [*COMMAND, *args, "--database-url", self.database_url],
                cwd=self.root,
                env=env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self.started.append((process, log))
        return process

    def log(self, process: subprocess.Popen[bytes]) -> str:
        return next(log for p, log in self.started if p is process).read_text()

    def serve(self, *args: str) -> int:
        """Start ``oncue serve`` on a port the OS picks and wait until it is ready; the port
        (from the line it prints once it listens)."""
        process = self.spawn("serve", "--port", "0", *args)

        def listening() -> int | None:
            if process.poll() is not None:
                raise AssertionError(f"oncue serve exited:\n{self.log(process)}")
            found = LISTENING.search(self.log(process))
            return int(found[1]) if found else None

        port: int = wait_until(listening, 30, "oncue serve to listen")

        def ready() -> bool:
            try:
                return get(port, "/readyz")[0] == 200
            except OSError:
                return False

        wait_until(ready, 30, "oncue serve to be ready")
        return port

    def terminate(self, process: subprocess.Popen[bytes], timeout: float = 30) -> int:
        process.send_signal(signal.SIGTERM)
        return process.wait(timeout)

    def reap(self) -> None:
        for process, _ in self.started:
            if process.poll() is None:
                process.kill()
                process.wait(10)


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    (tmp_path / "handlers.py").write_text(HANDLERS)
    (tmp_path / "double.json").write_text(machine("double"))
    (tmp_path / "slow.json").write_text(machine("slow"))
    running = Processes(root=tmp_path)
    try:
        yield running
    finally:
        running.reap()


def test_sigterm_drains_requests_finishes_handlers_and_exits_zero(processes: Processes) -> None:
    port = processes.serve(
        "--handlers", "handlers.py", "--state-machine", "slow=slow.json", "--log-level", "info"
    )
    server = processes.started[-1][0]
    url = f"http://127.0.0.1:{port}"
    sfn = client("stepfunctions", url)
    arn = "arn:aws:states:us-east-1:123456789012:stateMachine:slow"
    execution_arn = sfn.start_execution(stateMachineArn=arn, input='{"id": "a", "seconds": 2}')[
        "executionArn"
    ]
    wait_until((processes.root / "started-a").exists, 15, "the handler to start")
    # An in-flight long poll: it must get its (empty) answer, not a dropped connection.
    activity = sfn.create_activity(name="idle")["activityArn"]
    long_poll = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    long_poll.request(
        "POST",
        "/",
        body=json.dumps({"activityArn": activity}),
        headers={"X-Amz-Target": "AWSStepFunctions.GetActivityTask"},
    )
    time.sleep(0.5)  # the request is sent; let the server take it up before the signal
    began = time.monotonic()
    assert processes.terminate(server) == 0, processes.log(server)
    answer = long_poll.getresponse()
    assert (answer.status, json.loads(answer.read())) == (200, {})
    long_poll.close()
    assert time.monotonic() - began < 15
    log = processes.log(server)
    assert "Traceback" not in log
    assert "Shutting down" in log
    with pytest.raises(OSError):
        get(port, "/healthz")
    # The handler running at SIGTERM finished within the grace period and its result was
    # recorded before the exit: a restarted server completes the execution with that result,
    # without calling the handler again.
    (processes.root / "started-a").unlink()
    port = processes.serve("--handlers", "handlers.py")
    result = finished(client("stepfunctions", f"http://127.0.0.1:{port}"), execution_arn)
    assert result["status"] == "SUCCEEDED"
    assert json.loads(result["output"]) == {"slept": 2}
    assert not (processes.root / "started-a").exists()


def test_api_only_server_and_a_separate_worker_share_the_database(processes: Processes) -> None:
    port = processes.serve("--no-worker", "--state-machine", "double=double.json")
    server = processes.started[-1][0]
    status, readiness = get(port, "/readyz")
    assert status == 200 and "worker" not in readiness["checks"]
    sfn = client("stepfunctions", f"http://127.0.0.1:{port}")
    arn = "arn:aws:states:us-east-1:123456789012:stateMachine:double"
    execution = sfn.start_execution(stateMachineArn=arn, input='{"value": 4}')["executionArn"]
    # No worker yet: the task waits in the database.
    assert sfn.describe_execution(executionArn=execution)["status"] == "RUNNING"
    worker = processes.spawn("worker", "--handlers", "handlers.py", "--poll-seconds", "0.1")
    result = finished(sfn, execution, timeout=30)
    assert result["status"] == "SUCCEEDED", processes.log(worker)
    assert json.loads(result["output"]) == {"value": 8}
    assert processes.terminate(worker) == 0
    assert processes.terminate(server) == 0
    assert "Traceback" not in processes.log(server) + processes.log(worker)


def test_serve_refuses_contradictory_or_bad_arguments(tmp_path: Path) -> None:
    runner = CliRunner()
    database = ["--database-url", f"sqlite:///{tmp_path / 'x.db'}"]
    result = runner.invoke(cli, ["serve", "--no-worker", "--handlers", "h.py", *database])
    assert result.exit_code == 2
    assert "--handlers needs a worker" in result.output
    (tmp_path / "bad.json").write_text('{"StartAt": "Missing", "States": {}}')
    result = runner.invoke(
        cli, ["serve", "--state-machine", f"bad={tmp_path / 'bad.json'}", *database]
    )
    assert result.exit_code == 2
    assert "InvalidDefinition" in result.output
    assert "Traceback" not in result.output


def test_a_port_in_use_is_one_message_and_exit_one(processes: Processes) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = processes.spawn("serve", "--port", str(port))
        assert process.wait(30) == 1
    log = processes.log(process)
    assert "address already in use" in log
    assert "Traceback" not in log

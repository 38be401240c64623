"""Executions through the CLI with a real ``oncue worker`` process running the handlers."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import HANDLERS, LAMBDA, Oncue, make_oncue, stop_worker


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Oncue]:
    """A database served by one worker (stopped with SIGTERM at the end, which must exit 0)."""
    cli = make_oncue(tmp_path_factory.mktemp("served"))
    handlers = cli.write("handlers.py", HANDLERS)
    process = cli.worker("--handlers", handlers, "--poll-seconds", "0.05")
    try:
        yield cli
    finally:
        stop_worker(process)
        shutil.rmtree(cli.directory, ignore_errors=True)


def task_machine(cli: Oncue, name: str, function: str) -> str:
    definition = {
        "StartAt": "Work",
        "States": {"Work": {"Type": "Task", "Resource": LAMBDA + function, "End": True}},
    }
    cli("state-machine", "create", name, cli.write(f"{name}.json", definition))
    return name


def test_start_then_describe_list_and_history(served: Oncue) -> None:
    task_machine(served, "doubler", "double")
    arn = served("start", "doubler", "--input", '{"n": 21}', "--name", "first").stdout.strip()
    assert arn == "arn:aws:states:us-east-1:123456789012:execution:doubler:first"

    described = served.wait_until_finished(arn)
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"]) == {"n": 42}
    assert described["input"] == '{"n": 21}'
    assert (
        isinstance(described["startDate"], float)
        and described["stopDate"] >= described["startDate"]
    )

    panel = served("describe", arn).stdout
    assert "SUCCEEDED" in panel and '{"n":42}' in panel and arn in panel

    listed = served.json("list", "--state-machine", "doubler", "--status", "SUCCEEDED")
    assert [e["executionArn"] for e in listed["executions"]] == [arn]
    assert served.json("list", "--status", "FAILED", "--state-machine", "doubler") == {
        "executions": []
    }
    assert served.json("list", "--state-machine", "doubler", "--since", "1h")["executions"]
    assert not served.json("list", "--until", "2001-01-01T00:00:00Z")["executions"]
    table = served("list", "--state-machine", "doubler").stdout.splitlines()
    assert table[0].split() == ["EXECUTION", "ARN", "STATUS", "STARTED", "STOPPED"]
    assert table[1].split()[:2] == [arn, "SUCCEEDED"]

    events = served.json("history", arn)["events"]
    assert [e["type"] for e in events] == [
        "ExecutionStarted",
        "TaskStateEntered",
        "LambdaFunctionScheduled",
        "LambdaFunctionStarted",
        "LambdaFunctionSucceeded",
        "TaskStateExited",
        "ExecutionSucceeded",
    ]
    assert events[-1]["executionSucceededEventDetails"]["output"] == '{"n":42}'

    rows = served("history", arn).stdout.splitlines()
    assert rows[0].split() == ["ID", "TIMESTAMP", "TYPE", "PREVIOUS", "DETAILS"]
    assert rows[2].split()[0] == "2" and "TaskStateEntered" in rows[2] and "Work" in rows[2]
    assert "LambdaFunctionScheduled" in rows[3] and "function:double" in rows[3]

    page = served.json("history", arn, "--reverse", "--limit", "2")
    assert [e["id"] for e in page["events"]] == [7, 6]
    rest = served.json("history", arn, "--reverse", "--next-token", page["nextToken"])
    assert [e["id"] for e in rest["events"]] == [5, 4, 3, 2, 1]
    bare = served.json("history", arn, "--no-data")["events"]
    assert "input" not in bare[0]["executionStartedEventDetails"]


def test_start_wait_then_redrive_a_failed_execution(served: Oncue) -> None:
    task_machine(served, "flaky", "flaky")
    failed = served("start", "flaky", "--wait", "--timeout", "20", "--json", check=False)
    assert failed.returncode == 1, failed.stderr
    described = json.loads(failed.stdout)
    assert described["status"] == "FAILED" and described["error"] == "RuntimeError"
    assert "the first attempt fails" in described["cause"]

    arn = described["executionArn"]
    redriven = served.json("redrive", arn)
    assert redriven["redriveDate"] >= described["stopDate"]
    after = served.wait_until_finished(arn)
    assert after["status"] == "SUCCEEDED" and after["redriveCount"] == 1
    assert json.loads(after["output"]) == {"recovered": True}

    again = served("redrive", arn, check=False)
    assert again.returncode == 2
    assert again.stderr.startswith("error: ExecutionNotRedrivable: ")


def test_start_wait_prints_the_outcome_and_exits_0(served: Oncue) -> None:
    task_machine(served, "doubler-wait", "double")
    done = served("start", "doubler-wait", "--input", '{"n": 2}', "--wait", "--timeout", "20")
    lines = done.stdout.splitlines()
    assert lines[0].startswith("arn:aws:states:us-east-1:123456789012:execution:doubler-wait:")
    assert any(line.split() == ["status:", "SUCCEEDED"] for line in lines)
    assert any(line.split() == ["output:", '{"n":4}'] for line in lines)


def test_a_callback_token_completes_a_wait_for_task_token_task(served: Oncue) -> None:
    definition = {
        "StartAt": "Approve",
        "States": {
            "Approve": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                "Parameters": {"FunctionName": "park", "Payload": {"token.$": "$$.Task.Token"}},
                "End": True,
            }
        },
    }
    served("state-machine", "create", "approval", served.write("approval.json", definition))
    arn = served("start", "approval").stdout.strip()
    token_file = Path(served.directory / "token.txt")
    deadline = time.monotonic() + 20
    while not token_file.exists():
        assert time.monotonic() < deadline, "the handler never wrote its task token"
        time.sleep(0.05)
    token = token_file.read_text()

    served("send-task-heartbeat", token)
    assert served.json("describe", arn)["status"] == "RUNNING"
    served("send-task-success", token, "--output", '{"approved": true}')
    described = served.wait_until_finished(arn)
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"]) == {"approved": True}

    late = served("send-task-failure", token, "--error", "Late", check=False)
    assert late.returncode == 2 and late.stderr.startswith("error: TaskTimedOut: ")

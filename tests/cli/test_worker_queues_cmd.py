"""``oncue worker --state-machine``: the names it takes, the ones it refuses, and how."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest
from cli_support import COMMAND, HANDLERS, LAMBDA, Oncue, make_oncue, stop_worker

MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:"
DOUBLE = {
    "StartAt": "Double",
    "States": {"Double": {"Type": "Task", "Resource": LAMBDA + "double", "End": True}},
}


@pytest.fixture
def oncue(tmp_path: Path) -> Oncue:
    cli = make_oncue(tmp_path)
    cli.write("handlers.py", HANDLERS)
    return cli


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ("nope", f"'{MACHINE}nope'"),
        (MACHINE + "gone", f"'{MACHINE}gone'"),
    ],
)
def test_an_unknown_state_machine_is_refused_at_start(oncue: Oncue, value: str, named: str) -> None:
    oncue("state-machine", "create", "known", oncue.write("d.json", DOUBLE))
    done = oncue(
        "worker", "--handlers", "handlers.py", "--state-machine", "known",
        "--state-machine", value, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stdout == ""  # it never started
    assert done.stderr.startswith("error: StateMachineDoesNotExist: State Machine Does Not Exist")
    assert named in done.stderr
    assert f"'{MACHINE}known'" not in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("bad name", "error: InvalidName: Invalid Name: 'bad name'"),
        (MACHINE + "flow:1", "error: InvalidArn: Invalid Arn: "),
        ("arn:aws:states:us-east-1:123456789012:activity:a", "error: InvalidArn: Invalid Arn: "),
        ("flow=", "Invalid value for --state-machine: 'flow=': expected NAME, ARN or NAME=FILE"),
        ("=flow.json", "expected NAME, ARN or NAME=FILE"),
    ],
)
def test_a_malformed_state_machine_is_refused(oncue: Oncue, value: str, message: str) -> None:
    done = oncue("worker", "--handlers", "handlers.py", "--state-machine", value, check=False)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_a_version_arn_says_what_to_give_instead(oncue: Oncue) -> None:
    done = oncue("worker", "--state-machine", MACHINE + "flow:1", check=False)
    assert "give its unqualified ARN or its name" in done.stderr


def test_name_equals_file_deploys_and_serves_it(oncue: Oncue) -> None:
    """``NAME=FILE`` creates the state machine, then serves it (and only it)."""
    oncue("state-machine", "create", "other", oncue.write("o.json", DOUBLE))
    path = oncue.write("double.json", DOUBLE)
    worker = oncue.worker("--handlers", "handlers.py", "--state-machine", f"double={path}")
    try:
        served = oncue.json("start", "double", "--input", '{"n": 21}')["executionArn"]
        other = oncue.json("start", "other", "--input", '{"n": 1}')["executionArn"]
        finished = oncue.wait_until_finished(served)
        assert finished["status"] == "SUCCEEDED"
        assert finished["output"] == '{"n":42}'
        assert oncue.json("describe", other)["status"] == "RUNNING"
    finally:
        stop_worker(worker, signal.SIGTERM)


def test_the_startup_line_names_what_the_worker_serves(oncue: Oncue) -> None:
    oncue("state-machine", "create", "double", oncue.write("d.json", DOUBLE))
    for args, expected in (
        (("--state-machine", "double", "--state-machine", MACHINE + "double"), "double\n"),
        ((), "all\n"),
    ):
        process = subprocess.Popen(
            [*COMMAND, "worker", "--handlers", "handlers.py", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=oncue.directory,
            env=oncue.env(),
        )
        assert process.stdout is not None
        line = process.stdout.readline()
        # Only the line matters here (the graceful stop is tested elsewhere).
        process.kill()
        process.communicate()
        assert line.endswith(f"handlers: double, flaky, park; state machines: {expected}")

"""State machines, stop, activities, retention and errors through the CLI (no worker needed).

Pass, Wait and activity tasks need no handler: the CLI's own transaction advances them, and an
activity task waits in the database for ``activity get-task``.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
from cli_support import Oncue, make_oncue, stop_worker

PASS = {"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": {"ok": 1}, "End": True}}}
WAIT = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 3600, "End": True}}}
MACHINE_ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:"


@pytest.fixture
def oncue(tmp_path: Path) -> Oncue:
    return make_oncue(tmp_path)


def test_state_machine_create_update_versions_describe_delete(oncue: Oncue) -> None:
    path = oncue.write("m.json", PASS)
    created = oncue.json("state-machine", "create", "flow", path, "--publish")
    assert created["stateMachineArn"] == MACHINE_ARN + "flow"
    assert created["stateMachineVersionArn"] == MACHINE_ARN + "flow:1"
    # Creating the same machine again is idempotent; another definition under the name is not.
    assert oncue.json("state-machine", "create", "flow", path)["stateMachineArn"].endswith("flow")
    clash = oncue("state-machine", "create", "flow", oncue.write("w.json", WAIT), check=False)
    assert clash.returncode == 2 and "StateMachineAlreadyExists" in clash.stderr

    yaml_path = oncue.write(
        "w.yaml", "StartAt: W\nStates:\n  W: {Type: Wait, Seconds: 5, End: true}\n"
    )
    updated = oncue.json("state-machine", "update", "flow", yaml_path, "--publish")
    assert updated["stateMachineVersionArn"] == MACHINE_ARN + "flow:2"
    versions = oncue.json("state-machine", "versions", "flow")["stateMachineVersions"]
    assert [v["stateMachineVersionArn"] for v in versions] == [
        MACHINE_ARN + "flow:2",
        MACHINE_ARN + "flow:1",
    ]
    assert json.loads(oncue.json("state-machine", "describe", "flow:1")["definition"]) == PASS
    panel = oncue("state-machine", "describe", MACHINE_ARN + "flow").stdout
    assert "ACTIVE" in panel and '"Type": "Wait"' in panel

    table = oncue("state-machine", "list").stdout.splitlines()
    assert table[0].split() == ["NAME", "TYPE", "CREATED", "ARN"]
    assert table[1].split()[0] == "flow" and table[1].endswith(MACHINE_ARN + "flow")

    assert oncue("state-machine", "delete", "flow").stdout.strip() == f"deleted {MACHINE_ARN}flow"
    gone = oncue("state-machine", "describe", "flow", check=False)
    assert gone.returncode == 2 and gone.stderr.startswith("error: StateMachineDoesNotExist: ")
    bad = oncue.write("bad.json", {"StartAt": "X", "States": {"X": {"Type": "Pass"}}})
    invalid = oncue("state-machine", "create", "bad", bad, check=False)
    assert invalid.returncode == 2 and "InvalidDefinition" in invalid.stderr
    assert "/States/X" in invalid.stderr


def test_stop_a_running_execution(oncue: Oncue) -> None:
    oncue("state-machine", "create", "sleepy", oncue.write("w.json", WAIT))
    arn = oncue("start", "sleepy", "--input-file", oncue.write("in.json", {"a": 1})).stdout.strip()
    assert oncue.json("describe", arn)["status"] == "RUNNING"
    stopped = oncue("stop", arn, "--error", "Operator", "--cause", "not needed")
    assert stopped.stdout.startswith(f"stopped {arn} at ")
    described = oncue.json("describe", arn)
    assert (described["status"], described["error"], described["cause"]) == (
        "ABORTED",
        "Operator",
        "not needed",
    )
    assert oncue.json("history", arn)["events"][-1]["type"] == "ExecutionAborted"
    assert "ABORTED" in oncue("list", "--status", "aborted").stdout


def test_activity_worker_takes_a_task_and_sends_its_result(oncue: Oncue) -> None:
    activity_arn = oncue("activity", "create", "review").stdout.strip()
    assert activity_arn == "arn:aws:states:us-east-1:123456789012:activity:review"
    definition = {
        "StartAt": "R",
        "States": {"R": {"Type": "Task", "Resource": activity_arn, "End": True}},
    }
    oncue("state-machine", "create", "reviewed", oncue.write("r.json", definition))
    assert oncue.json("activity", "get-task", "review", "--wait", "0") == {}

    arn = oncue("start", "reviewed", "--input", '{"doc": 7}').stdout.strip()
    task = oncue.json("activity", "get-task", activity_arn, "--worker-name", "me", "--wait", "5")
    assert json.loads(task["input"]) == {"doc": 7}
    oncue("send-task-success", task["taskToken"], "--output", '{"verdict": "ok"}')
    described = oncue.json("describe", arn)
    assert described["status"] == "SUCCEEDED" and json.loads(described["output"]) == {
        "verdict": "ok"
    }
    started = [e for e in oncue.json("history", arn)["events"] if e["type"] == "ActivityStarted"]
    assert started[0]["activityStartedEventDetails"]["workerName"] == "me"

    assert oncue.json("activity", "describe", "review")["name"] == "review"
    assert "review" in oncue("activity", "list").stdout
    oncue("activity", "delete", activity_arn)
    assert oncue.json("activity", "list") == {"activities": []}


def test_prune_archives_then_deletes_finished_executions(oncue: Oncue) -> None:
    oncue("state-machine", "create", "quick", oncue.write("p.json", PASS))
    oncue("state-machine", "create", "slow", oncue.write("w.json", WAIT))
    finished = [oncue("start", "quick", "--name", f"q{i}").stdout.strip() for i in range(3)]
    running = oncue("start", "slow").stdout.strip()

    assert oncue.json("prune", "--older-than", "1h", "--dry-run") == {"wouldDelete": 0}
    assert oncue.json("prune", "--older-than", "0s", "--dry-run") == {"wouldDelete": 3}
    archive = oncue.directory / "archive.jsonl"
    done = oncue("prune", "--older-than", "0s", "--archive", str(archive))
    assert done.stdout.strip() == f"archived 3 execution(s) to {archive}; deleted 3"

    lines = [json.loads(line) for line in archive.read_text().splitlines()]
    assert sorted(line["execution"]["executionArn"] for line in lines) == sorted(finished)
    for line in lines:
        assert line["execution"]["status"] == "SUCCEEDED"
        assert [e["id"] for e in line["history"]] == list(range(1, len(line["history"]) + 1))
        assert line["history"][0]["type"] == "ExecutionStarted"
        assert line["history"][-1]["type"] == "ExecutionSucceeded"
    gone = oncue("describe", finished[0], check=False)
    assert gone.returncode == 2 and "ExecutionDoesNotExist" in gone.stderr
    assert oncue.json("describe", running)["status"] == "RUNNING"
    assert oncue("prune", "--older-than", "30d").stdout.strip() == "deleted 0 execution(s)"


@pytest.fixture(scope="module")
def with_machine(tmp_path_factory: pytest.TempPathFactory) -> Oncue:
    cli = make_oncue(tmp_path_factory.mktemp("errors"))
    cli("state-machine", "create", "m", cli.write("m.json", PASS))
    return cli


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["describe", "arn:aws:states:us-east-1:123456789012:execution:m:nope"],
            "error: ExecutionDoesNotExist: ",
        ),
        (["describe", "not-an-arn"], "error: InvalidArn: "),
        (["history", "arn:aws:states:us-east-1:123456789012:activity:a"], "error: InvalidArn: "),
        (["start", "m", "--input", "{not json"], "error: InvalidExecutionInput: "),
        (["start", "missing"], "error: StateMachineDoesNotExist: "),
        (["start", "m", "--name", "has space"], "error: InvalidName: "),
        (["send-task-success", "nonsense", "--output", "{}"], "error: InvalidToken: "),
        (["send-task-success", "a" * 64, "--output", "{}"], "error: TaskDoesNotExist: "),
        (["activity", "get-task", "nobody", "--wait", "0"], "error: ActivityDoesNotExist: "),
        (["prune", "--older-than", "soon"], "invalid duration 'soon'"),
        (["list", "--since", "yesterday"], "invalid duration 'yesterday'"),
    ],
)
def test_bad_input_exits_2_with_one_clear_line(
    with_machine: Oncue, args: list[str], expected: str
) -> None:
    done = with_machine(*args, check=False)
    assert done.returncode == 2, done
    assert expected in done.stderr and "Traceback" not in done.stderr
    if expected.startswith("error: "):
        assert done.stderr.startswith(expected) and done.stderr.count("\n") == 1


def test_database_url_option_and_a_worker_serving_an_app_stopped_by_sigint(tmp_path: Path) -> None:
    cli = make_oncue(tmp_path)
    cli.write(
        "service.py",
        "from oncue.app import App\n"
        "app = App()\n"
        "@app.handler('greet')\n"
        "def greet(event):\n"
        "    return 'hello ' + event['who']\n"
        "app.state_machine('greeter', {'StartAt': 'G', 'States': {'G': {'Type': 'Task',\n"
        "    'Resource': 'arn:aws:lambda:us-east-1:123456789012:function:greet', 'End': True}}})\n",
    )
    url = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    process = cli.worker("service.py:app", "--database-url", url)
    try:
        done = cli(
            "start",
            "greeter",
            "--input",
            '{"who": "you"}',
            "--wait",
            "--timeout",
            "20",
            "--json",
            "--database-url",
            url,
        )
        assert json.loads(done.stdout)["output"] == '"hello you"'
        assert cli.json("state-machine", "list")["stateMachines"] == []  # the default database
    finally:
        stop_worker(process, signal.SIGINT)
    not_an_app = cli("worker", "service.py:greet", check=False)
    assert not_an_app.returncode == 2 and "is not an oncue.App" in not_an_app.stderr

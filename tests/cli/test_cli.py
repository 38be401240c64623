"""The CLI contract of ARCHITECTURE.md §5, through a real process where it matters."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ORDER_FLOW = ROOT / "examples" / "order_flow"


def oncue(*args: str, input_text: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "oncue.cli", *args],
        capture_output=True,
        text=True,
        check=False,
        input=input_text,
        timeout=60,
    )


def write(tmp_path: Path, name: str, content: object) -> str:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(path)


PASS = {"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": {"ok": True}, "End": True}}}


def test_execute_succeeds_and_prints_one_json_object(tmp_path: Path) -> None:
    done = oncue("execute", write(tmp_path, "m.json", PASS), "--input", '{"a": 1}')
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"status": "SUCCEEDED", "output": {"ok": True}}


def test_execute_with_history_has_get_execution_history_events(tmp_path: Path) -> None:
    done = oncue("execute", write(tmp_path, "m.json", PASS), "--history")
    events = json.loads(done.stdout)["history"]
    assert [e["type"] for e in events] == [
        "ExecutionStarted",
        "PassStateEntered",
        "PassStateExited",
        "ExecutionSucceeded",
    ]
    assert events[3]["executionSucceededEventDetails"]["output"] == '{"ok":true}'


def test_a_failed_execution_exits_1_with_error_and_cause(tmp_path: Path) -> None:
    machine = {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Nope", "Cause": "why"}}}
    done = oncue("execute", write(tmp_path, "f.yaml", json.dumps(machine)))
    assert done.returncode == 1
    assert json.loads(done.stdout) == {"status": "FAILED", "error": "Nope", "cause": "why"}


def test_a_timed_out_execution_exits_1(tmp_path: Path) -> None:
    machine = {
        "TimeoutSeconds": 5,
        "StartAt": "W",
        "States": {"W": {"Type": "Wait", "Seconds": 3600, "End": True}},
    }
    done = oncue("execute", write(tmp_path, "t.json", machine), "--time-skipping")
    assert done.returncode == 1
    assert json.loads(done.stdout)["status"] == "TIMED_OUT"


def test_yaml_definitions_and_input_files(tmp_path: Path) -> None:
    yaml_text = "StartAt: P\nStates:\n  P:\n    Type: Pass\n    InputPath: $.x\n    End: true\n"
    done = oncue(
        "execute",
        write(tmp_path, "m.yaml", yaml_text),
        "--input-file",
        write(tmp_path, "in.json", {"x": [1, 2]}),
    )
    assert json.loads(done.stdout)["output"] == [1, 2]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"StartAt": "P", "States": {', "line 1"),
        ({"StartAt": "P", "States": {"P": {"Type": "Pass", "Next": "Q"}}}, "/States/P/Next"),
        (
            {"StartAt": "P", "States": {"P": {"Type": "Pass", "InputPath": "$..[", "End": True}}},
            "/States/P/InputPath",
        ),
        (
            {
                "StartAt": "P",
                "States": {
                    "P": {"Type": "Pass", "End": True, "Parameters": {"x.$": "States.Format()"}}
                },
            },
            "/States/P/Parameters/x.$",
        ),
    ],
)
def test_a_bad_definition_exits_2_naming_file_and_pointer(
    tmp_path: Path, content: object, expected: str
) -> None:
    path = write(tmp_path, "bad.json", content)
    done = oncue("execute", path)
    assert done.returncode == 2
    assert done.stdout == ""
    assert "bad.json" in done.stderr and expected in done.stderr
    assert "Traceback" not in done.stderr


def test_every_problem_is_reported(tmp_path: Path) -> None:
    machine = {
        "StartAt": "A",
        "States": {
            "A": {"Type": "Pass", "Next": "Missing", "Bogus": 1},
            "B": {"Type": "Wait", "End": True},
        },
    }
    done = oncue("validate", write(tmp_path, "m.json", machine))
    assert done.returncode == 2
    for pointer in ("/States/A/Bogus", "/States/A/Next", "/States/B"):
        assert pointer in done.stderr


def test_validate_accepts_a_good_definition(tmp_path: Path) -> None:
    done = oncue("validate", str(ORDER_FLOW / "order_flow.asl.json"))
    assert done.returncode == 0 and "valid" in done.stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--input", "{not json"], "not valid JSON"),
        (["--input-file", "BIG"], "256 KiB"),
        (["--handlers", "no_such_module_anywhere"], "no_such_module_anywhere"),
    ],
)
def test_bad_input_and_handlers_exit_2(tmp_path: Path, args: list[str], expected: str) -> None:
    big = write(tmp_path, "big.json", {"x": "y" * 262_144})
    args = [big if arg == "BIG" else arg for arg in args]
    done = oncue("execute", write(tmp_path, "m.json", PASS), *args)
    assert done.returncode == 2
    assert expected in done.stderr and "Traceback" not in done.stderr


def test_a_handler_file_that_raises_on_import_exits_2(tmp_path: Path) -> None:
    handlers = write(tmp_path, "h.py", "raise RuntimeError('broken at import')\n")
    done = oncue("execute", write(tmp_path, "m.json", PASS), "--handlers", handlers)
    assert done.returncode == 2
    assert "h.py" in done.stderr and "broken at import" in done.stderr


def test_handlers_by_module_file_and_plain_functions(tmp_path: Path) -> None:
    handlers = write(tmp_path, "h.py", "def shout(event):\n    return event['w'].upper()\n")
    machine = {
        "StartAt": "T",
        "States": {
            "T": {
                "Type": "Task",
                "Resource": "arn:aws:lambda:us-east-1:123456789012:function:shout",
                "End": True,
            }
        },
    }
    done = oncue(
        "execute",
        write(tmp_path, "m.json", machine),
        "--input",
        '{"w": "hi"}',
        "--handlers",
        handlers,
    )
    assert json.loads(done.stdout) == {"status": "SUCCEEDED", "output": "HI"}


def test_the_bundled_order_flow_example_runs(tmp_path: Path) -> None:
    done = oncue(
        "execute",
        str(ORDER_FLOW / "order_flow.asl.json"),
        "--handlers",
        str(ORDER_FLOW / "handlers.py"),
        "--input-file",
        str(ORDER_FLOW / "order.json"),
        "--time-skipping",
        "--history",
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["output"] == {
        "orderId": "o-1001",
        "status": "COMPLETED",
        "deliveredAt": "2026-01-01T12:30:00Z",
    }
    names = [
        e["stateEnteredEventDetails"]["name"]
        for e in result["history"]
        if "stateEnteredEventDetails" in e
    ]
    assert names == [
        "Notify Restaurant",
        "Accepted?",
        "Notify User",
        "Wait For Delivery",
        "Order Completed",
    ]

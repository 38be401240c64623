"""`oncue execute` and `oncue validate` with JSONata definitions, through real processes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ORDER_FLOW = ROOT / "examples" / "order_flow"


def oncue(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "oncue.cli", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def write(tmp_path: Path, content: object) -> str:
    path = tmp_path / "machine.json"
    path.write_text(json.dumps(content))
    return str(path)


def test_the_jsonata_order_flow_validates_and_runs() -> None:
    definition = str(ORDER_FLOW / "order_flow.jsonata.asl.json")
    assert oncue("validate", definition).returncode == 0
    done = oncue(
        "execute",
        definition,
        "--handlers",
        str(ORDER_FLOW / "handlers.py"),
        "--input-file",
        str(ORDER_FLOW / "order.json"),
        "--time-skipping",
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["output"]["status"] == "COMPLETED"


def test_bad_expressions_exit_2_naming_each_pointer(tmp_path: Path) -> None:
    machine = {
        "QueryLanguage": "JSONata",
        "StartAt": "A",
        "States": {
            "A": {
                "Type": "Pass",
                "Output": {"total": "{% $sum($states.input.( %}"},
                "Assign": {"states": 1},
                "InputPath": "$.x",
                "End": True,
            }
        },
    }
    path = write(tmp_path, machine)
    for command in ("validate", "execute"):
        done = oncue(command, path)
        assert done.returncode == 2, done.stdout
        assert done.stdout == ""
        for pointer in ("/States/A/Output/total", "/States/A/Assign/states", "/States/A/InputPath"):
            assert pointer in done.stderr
        assert "Traceback" not in done.stderr


def test_a_failing_expression_is_an_execution_failure_not_a_crash(tmp_path: Path) -> None:
    machine = {
        "QueryLanguage": "JSONata",
        "StartAt": "A",
        "States": {"A": {"Type": "Pass", "Output": "{% $states.input.n(1) %}", "End": True}},
    }
    done = oncue("execute", write(tmp_path, machine), "--input", '{"n": 1}')
    assert done.returncode == 1, done.stderr
    result = json.loads(done.stdout)  # nothing but the result on stdout
    assert result["status"] == "FAILED"
    assert result["error"] == "States.QueryEvaluationError"
    assert "T1006" in result["cause"]

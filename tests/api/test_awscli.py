"""The AWS CLI (``aws``, from the awscli package) against ``oncue serve`` with --endpoint-url."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import DOUBLE, ROLE, Served, finished

_BESIDE = Path(sys.executable).with_name("aws")
AWS = str(_BESIDE) if _BESIDE.exists() else shutil.which("aws")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(AWS is None, reason="the AWS CLI (pip install awscli) is not installed"),
]


def aws(served: Served, *args: str) -> subprocess.CompletedProcess[str]:
    assert AWS is not None
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "dummy-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_MAX_ATTEMPTS": "1",
    }
    return subprocess.run(
        [AWS, "--endpoint-url", served.url, "--output", "json", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout) if result.stdout.strip() else None


def test_the_aws_cli_runs_a_workflow_and_puts_events(served: Served, tmp_path: Path) -> None:
    definition = tmp_path / "double.json"
    definition.write_text(json.dumps(DOUBLE))
    created = ok(
        aws(
            served,
            "stepfunctions",
            "create-state-machine",
            "--name",
            "double",
            "--definition",
            f"file://{definition}",
            "--role-arn",
            ROLE,
        )
    )
    started = ok(
        aws(
            served,
            "stepfunctions",
            "start-execution",
            "--state-machine-arn",
            created["stateMachineArn"],
            "--input",
            '{"value": 5}',
        )
    )
    assert json.loads(finished(served.sfn, started["executionArn"])["output"]) == {"value": 10}
    put = ok(
        aws(
            served,
            "events",
            "put-events",
            "--entries",
            json.dumps([{"Source": "cli", "DetailType": "test", "Detail": "{}"}]),
        )
    )
    assert put["FailedEntryCount"] == 0 and put["Entries"][0]["EventId"]


def test_the_aws_cli_reports_aws_errors(served: Served) -> None:
    missing = aws(
        served,
        "stepfunctions",
        "describe-state-machine",
        "--state-machine-arn",
        "arn:aws:states:us-east-1:123456789012:stateMachine:nope",
    )
    assert missing.returncode in (254, 255)  # a service error: 255 in AWS CLI v1, 254 in v2
    assert "(StateMachineDoesNotExist)" in missing.stderr
    assert "Traceback" not in missing.stderr

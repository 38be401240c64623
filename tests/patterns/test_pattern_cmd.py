"""``oncue test-event-pattern``, invoked directly through click's test runner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from oncue.cli.pattern_cmd import test_event_pattern as command
from oncue.patterns import REQUIRED_TEST_EVENT_FIELDS

EVENT = {
    "version": "0",
    "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
    "detail-type": "EC2 Instance State-change Notification",
    "source": "aws.ec2",
    "account": "111122223333",
    "time": "2017-12-22T18:43:48Z",
    "region": "us-west-1",
    "resources": ["arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0"],
    "detail": {"instance-id": "i-1234567890abcdef0", "state": "terminated"},
}


def run(pattern: str, event: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(command, ["--pattern", pattern, "--event", event])
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [({"source": ["aws.ec2"]}, "true\n"), ({"detail": {"state": ["running"]}}, "false\n")],
)
def test_prints_true_or_false(pattern: dict[str, object], expected: str) -> None:
    assert run(json.dumps(pattern), json.dumps(EVENT)) == (0, expected, "")


def test_reads_files_after_at(tmp_path: Path) -> None:
    (tmp_path / "p.json").write_text('{"detail": {"state": ["terminated"]}}', encoding="utf-8")
    (tmp_path / "e.json").write_text(json.dumps(EVENT), encoding="utf-8")
    assert run(f"@{tmp_path / 'p.json'}", f"@{tmp_path / 'e.json'}") == (0, "true\n", "")


def test_invalid_pattern_exits_2_with_one_line() -> None:
    code, out, err = run('{"source": "aws.ec2"}', json.dumps(EVENT))
    assert (code, out) == (2, "")
    reason = 'Value must be an object or an array at field "source"'
    assert err == f"Event pattern is not valid. Reason: {reason}\n"


def test_pattern_that_is_not_json_exits_2() -> None:
    code, _, err = run("{nope", json.dumps(EVENT))
    assert code == 2
    assert err.startswith("Event pattern is not valid. Reason: Invalid JSON")
    assert err.count("\n") == 1


@pytest.mark.parametrize("missing", REQUIRED_TEST_EVENT_FIELDS)
def test_event_must_carry_the_envelope(missing: str) -> None:
    event = {k: v for k, v in EVENT.items() if k != missing}
    code, out, err = run('{"source": ["aws.ec2"]}', json.dumps(event))
    assert (code, out) == (2, "")
    assert err == f'Parameter Event is not valid. Reason: missing required field "{missing}"\n'


def test_event_that_is_not_json_or_not_an_object() -> None:
    assert run('{"source": ["a"]}', "[1]")[0:2] == (2, "")
    code, _, err = run('{"source": ["a"]}', "{")
    assert code == 2
    assert err.startswith("Parameter Event is not valid. Reason: Invalid JSON")


def test_missing_file_exits_2(tmp_path: Path) -> None:
    code, out, err = run(f"@{tmp_path / 'absent.json'}", json.dumps(EVENT))
    assert (code, out) == (2, "")
    assert err.startswith("--pattern: cannot read")

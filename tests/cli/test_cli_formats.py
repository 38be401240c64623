"""The CLI's small parsers and formatters, in process."""

from __future__ import annotations

from datetime import UTC, datetime

import click
import pytest
from hypothesis import given
from hypothesis import strategies as st

from oncue.cli.common import parse_duration, parse_moment
from oncue.cli.output import event_summary, format_time, shorten

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


@given(st.integers(0, 10_000), st.sampled_from(sorted(UNITS)))
def test_a_duration_is_a_number_and_a_unit(number: int, unit: str) -> None:
    assert parse_duration(f"{number}{unit}") == number * UNITS[unit]


def test_durations_add_up_and_bad_ones_are_usage_errors() -> None:
    assert parse_duration("1h30m") == 5400
    assert parse_duration("1.5d") == 129_600
    for bad in ("", "10", "1y", "h", "1h x", "-1h"):
        with pytest.raises(click.BadParameter):
            parse_duration(bad)


def test_moments_are_iso_times_in_utc_or_durations_ago() -> None:
    assert parse_moment("2h", NOW) == NOW.timestamp() - 7200
    assert parse_moment("2025-06-01T10:00:00Z", NOW) == NOW.timestamp() - 7200
    assert parse_moment("2025-06-01T10:00:00", NOW) == NOW.timestamp() - 7200  # naive: UTC
    assert parse_moment("2025-06-01T12:00:00+02:00", NOW) == NOW.timestamp() - 7200
    with pytest.raises(click.BadParameter):
        parse_moment("last tuesday", NOW)


def test_times_print_in_utc_with_milliseconds() -> None:
    assert format_time(NOW.timestamp() + 0.25) == "2025-06-01 12:00:00.250Z"
    assert format_time(NOW.timestamp(), millis=False) == "2025-06-01 12:00:00Z"
    assert format_time("2025-06-01T14:00:00.100+02:00") == "2025-06-01 12:00:00.100Z"
    assert format_time(None) == ""


def test_event_summaries_name_the_state_resource_and_failure_or_payload() -> None:
    entered = {
        "type": "TaskStateEntered",
        "stateEnteredEventDetails": {"name": "Pay", "input": "{}"},
    }
    assert event_summary(entered) == "Pay {}"
    scheduled = {
        "type": "TaskScheduled",
        "taskScheduledEventDetails": {
            "resourceType": "lambda",
            "resource": "invoke",
            "parameters": '{"a":1}',
        },
    }
    assert event_summary(scheduled) == 'lambda:invoke {"a":1}'
    failed = {
        "type": "ExecutionFailed",
        "executionFailedEventDetails": {"error": "Boom", "cause": "it\nbroke"},
    }
    assert event_summary(failed) == "Boom it broke"
    assert event_summary({"type": "LambdaFunctionStarted"}) == ""
    assert len(event_summary({"type": "X", "xEventDetails": {"output": "y" * 500}})) == 100
    assert shorten("a  b\nc", 60) == "a b c" and shorten("abcdef", 4) == "abc…"

"""RetryPolicy and DeadLetterConfig: the documented defaults and ranges, the back-off, giving up."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oncue.bus import (
    EXHAUSTED_EVENT_AGE,
    EXHAUSTED_RETRY_ATTEMPTS,
    DeadLetterConfig,
    RetryPolicy,
    dead_letter_attributes,
)
from oncue.errors import InvalidInput


def test_defaults_are_24_hours_and_185_retries() -> None:
    # "By default, EventBridge retries sending the event for 24 hours and up to 185 times".
    policy = RetryPolicy()
    assert policy.maximum_retry_attempts == 185
    assert policy.maximum_event_age_seconds == 86400
    assert RetryPolicy.from_api(None) == policy
    assert RetryPolicy.from_api({}) == policy
    assert policy.to_api() == {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400}


@pytest.mark.parametrize(
    "document",
    [
        {"MaximumRetryAttempts": 0, "MaximumEventAgeInSeconds": 60},
        {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400},
        {"MaximumRetryAttempts": 3},
        {"MaximumEventAgeInSeconds": 3600},
    ],
)
def test_documented_ranges_are_accepted(document: dict[str, int]) -> None:
    policy = RetryPolicy.from_api(document)
    assert {k: v for k, v in policy.to_api().items() if k in document} == document


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"MaximumRetryAttempts": -1}, "maximumRetryAttempts"),
        ({"MaximumRetryAttempts": 186}, "maximumRetryAttempts"),
        ({"MaximumRetryAttempts": 1.5}, "maximumRetryAttempts"),
        ({"MaximumRetryAttempts": True}, "maximumRetryAttempts"),
        ({"MaximumEventAgeInSeconds": 59}, "maximumEventAgeInSeconds"),
        ({"MaximumEventAgeInSeconds": 86401}, "maximumEventAgeInSeconds"),
    ],
)
def test_values_outside_the_ranges_are_rejected(document: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput, match=f"retryPolicy.{field}"):
        RetryPolicy.from_api(document)


def test_unknown_fields_are_rejected() -> None:
    with pytest.raises(InvalidInput, match="unknown fields: MaxAttempts"):
        RetryPolicy.from_api({"MaxAttempts": 3})


def test_back_off_doubles_up_to_the_cap_and_scales_by_the_draw() -> None:
    policy = RetryPolicy()
    assert [policy.next_delay(attempt, 0.5) for attempt in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 4.0]
    assert policy.next_delay(11, 0.5) == 450.0  # 1024 s capped at 900 s
    assert policy.next_delay(185, 0.999) == pytest.approx(899.1)
    assert policy.next_delay(3, 0.0) == 0.0
    assert policy.next_delay(3, 1.0) == 4.0  # a draw of exactly 1 gives the ceiling


def test_the_default_back_off_spans_about_the_default_day() -> None:
    policy = RetryPolicy()
    mean_total = sum(policy.next_delay(attempt, 0.5) for attempt in range(1, 186))
    assert 20 * 3600 < mean_total < 24 * 3600


@pytest.mark.parametrize(("attempt", "draw"), [(0, 0.5), (1, -0.1), (1, 1.5)])
def test_next_delay_rejects_bad_arguments(attempt: int, draw: float) -> None:
    with pytest.raises(InvalidInput):
        RetryPolicy().next_delay(attempt, draw)


def test_give_up_after_the_last_retry() -> None:
    policy = RetryPolicy(maximum_retry_attempts=2, maximum_event_age_seconds=3600)
    # Attempt n has failed; n - 1 retries have been made.
    assert not policy.give_up(1, 10) and not policy.give_up(2, 10)
    assert policy.give_up(3, 10)
    assert policy.exhausted(3, 10) == EXHAUSTED_RETRY_ATTEMPTS


def test_give_up_when_the_event_is_too_old() -> None:
    policy = RetryPolicy(maximum_retry_attempts=185, maximum_event_age_seconds=60)
    assert not policy.give_up(1, 59.9)
    assert policy.give_up(1, 60)
    assert policy.exhausted(1, 60) == EXHAUSTED_EVENT_AGE


def test_no_retries_at_all() -> None:
    assert RetryPolicy(maximum_retry_attempts=0).give_up(1, 0)


@given(
    st.integers(0, 185),
    st.integers(60, 86400),
    st.integers(1, 400),
    st.floats(0, 200000, allow_nan=False),
    st.floats(0, 1),
)
def test_back_off_is_bounded_and_giving_up_is_monotone(
    retries: int, age_limit: int, attempt: int, age: float, draw: float
) -> None:
    policy = RetryPolicy(maximum_retry_attempts=retries, maximum_event_age_seconds=age_limit)
    delay = policy.next_delay(attempt, draw)
    assert 0 <= delay <= min(900.0, 2.0 ** (attempt - 1))
    assert delay <= policy.next_delay(attempt + 1, draw)
    if policy.give_up(attempt, age):
        assert policy.give_up(attempt + 1, age) and policy.give_up(attempt, age + 1)
    assert policy.give_up(attempt, age) == (attempt > retries or age >= age_limit)


def test_dead_letter_config() -> None:
    arn = "arn:aws:sqs:us-west-2:123456789012:MyEventDLQ"
    assert DeadLetterConfig.from_api({"Arn": arn}) == DeadLetterConfig(arn=arn)
    assert DeadLetterConfig.from_api(None) is None
    for bad in ({"Arn": ""}, {"Arn": "x" * 1601}, {"Arn": "MyEventDLQ"}, {"Queue": arn}):
        with pytest.raises(InvalidInput):
            DeadLetterConfig.from_api(bad)


def test_dead_letter_attributes_name_what_the_documentation_lists() -> None:
    attributes = dead_letter_attributes(
        rule_arn="arn:aws:events:us-west-2:123456789012:rule/MyTestRule",
        target_arn="arn:aws:lambda:us-west-2:123456789012:function:f",
        error_code="SDK_CLIENT_ERROR",
        error_message="Unable to invoke the function",
        retry_attempts=185,
        exhausted_condition=EXHAUSTED_RETRY_ATTEMPTS,
    )
    assert attributes == {
        "ERROR_CODE": "SDK_CLIENT_ERROR",
        "ERROR_MESSAGE": "Unable to invoke the function",
        "RULE_ARN": "arn:aws:events:us-west-2:123456789012:rule/MyTestRule",
        "TARGET_ARN": "arn:aws:lambda:us-west-2:123456789012:function:f",
        "RETRY_ATTEMPTS": "185",
        "EXHAUSTED_RETRY_CONDITION": "MaximumRetryAttempts",
    }
    no_retry = dead_letter_attributes(
        rule_arn="r",
        target_arn="t",
        error_code="NO_PERMISSIONS",
        error_message="denied",
        retry_attempts=0,
        exhausted_condition=None,
    )
    assert "EXHAUSTED_RETRY_CONDITION" not in no_retry

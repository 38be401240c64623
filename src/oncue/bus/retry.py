"""Delivery retries of a target: RetryPolicy, back-off with full jitter, DeadLetterConfig.

*Event retry policy and using dead-letter queues*: "By default, EventBridge retries sending the
event for 24 hours and up to 185 times with an exponential back off and jitter, or randomized
delay. If an event isn't delivered after all retry attempts are exhausted, the event is dropped"
— or sent to the target's dead-letter queue. The RetryPolicy API reference gives the ranges:
``MaximumRetryAttempts`` 0 to 185, ``MaximumEventAgeInSeconds`` 60 to 86400, and "Retry attempts
continue until either the maximum number of attempts is made or until the duration of the
MaximumEventAgeInSeconds is met."

AWS does not publish the back-off constants. oncue doubles from 1 second up to a 15-minute cap
and draws the delay uniformly below that ("full jitter", the scheme of the AWS Architecture Blog
post the documentation links, *Exponential Backoff And Jitter*); with the defaults, 185 retries
then span about 22 hours on average, in line with the documented "24 hours and up to 185
times". The caller passes the random draw, so the policy is pure and replayable.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, NoReturn

from oncue.errors import ValidationException
from oncue.types import Json

__all__ = [
    "DEFAULT_MAXIMUM_EVENT_AGE_SECONDS",
    "DEFAULT_MAXIMUM_RETRY_ATTEMPTS",
    "EXHAUSTED_EVENT_AGE",
    "EXHAUSTED_RETRY_ATTEMPTS",
    "DeadLetterConfig",
    "RetryPolicy",
    "dead_letter_attributes",
]

DEFAULT_MAXIMUM_RETRY_ATTEMPTS: Final = 185
DEFAULT_MAXIMUM_EVENT_AGE_SECONDS: Final = 86400
_RETRY_RANGE: Final = range(186)
_AGE_RANGE: Final = range(60, 86401)
#: What ran out, named after the RetryPolicy field (a dead-lettered event records it as its
#: "Exhausted Retry Condition").
EXHAUSTED_RETRY_ATTEMPTS: Final = "MaximumRetryAttempts"
EXHAUSTED_EVENT_AGE: Final = "MaximumEventAgeInSeconds"
#: DeadLetterConfig.Arn is a ResourceArn: "min": 1, "max": 1600.
_MAX_ARN: Final = 1600


def _invalid(message: str) -> NoReturn:
    raise ValidationException(message)


def _integer(value: Json, name: str, allowed: range) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value not in allowed:
        _invalid(
            f"1 validation error detected: Value '{value}' at 'retryPolicy.{name}' failed to "
            f"satisfy constraint: Member must have value between {allowed.start} and "
            f"{allowed.stop - 1}"
        )
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """A target's retry policy. ``attempt`` below counts failed deliveries: 1 after the first
    delivery fails, so ``attempt - 1`` retries have been made."""

    maximum_retry_attempts: int = DEFAULT_MAXIMUM_RETRY_ATTEMPTS
    maximum_event_age_seconds: int = DEFAULT_MAXIMUM_EVENT_AGE_SECONDS
    #: The back-off before the first retry is drawn below this, doubling per retry...
    base_delay_seconds: float = 1.0
    #: ... up to this cap.
    max_delay_seconds: float = 900.0

    def __post_init__(self) -> None:
        _integer(self.maximum_retry_attempts, "maximumRetryAttempts", _RETRY_RANGE)
        _integer(self.maximum_event_age_seconds, "maximumEventAgeInSeconds", _AGE_RANGE)
        if not 0 < self.base_delay_seconds <= self.max_delay_seconds < math.inf:
            _invalid("The back-off needs 0 < base_delay_seconds <= max_delay_seconds.")

    @classmethod
    def from_api(cls, document: Json) -> RetryPolicy:
        """From a target's ``RetryPolicy`` (either field may be left out: its default holds)."""
        if document is None:
            return cls()
        if not isinstance(document, Mapping):
            _invalid("RetryPolicy must be an object.")
        unknown = set(document) - {"MaximumRetryAttempts", "MaximumEventAgeInSeconds"}
        if unknown:
            _invalid(f"RetryPolicy has unknown fields: {', '.join(sorted(unknown))}.")
        return cls(
            maximum_retry_attempts=document.get(
                "MaximumRetryAttempts", DEFAULT_MAXIMUM_RETRY_ATTEMPTS
            ),
            maximum_event_age_seconds=document.get(
                "MaximumEventAgeInSeconds", DEFAULT_MAXIMUM_EVENT_AGE_SECONDS
            ),
        )

    def to_api(self) -> dict[str, int]:
        return {
            "MaximumRetryAttempts": self.maximum_retry_attempts,
            "MaximumEventAgeInSeconds": self.maximum_event_age_seconds,
        }

    def next_delay(self, attempt: int, rng_value: float) -> float:
        """Seconds to wait before the retry that follows failed delivery number ``attempt``:
        ``rng_value`` (uniform in [0, 1], drawn by the caller) times the exponential ceiling."""
        if attempt < 1:
            _invalid(f"attempt counts failed deliveries from 1, not {attempt}")
        if not 0.0 <= rng_value <= 1.0:
            _invalid(f"rng_value must be in [0, 1], not {rng_value}")
        # min() before the power would overflow: 2**1024 is past a float.
        exponent = min(attempt - 1, 64)
        ceiling = min(self.max_delay_seconds, self.base_delay_seconds * 2.0**exponent)
        return rng_value * ceiling

    def exhausted(self, attempt: int, event_age_seconds: float) -> str | None:
        """Which limit stops further retries after failed delivery number ``attempt``, for an
        event this old: :data:`EXHAUSTED_RETRY_ATTEMPTS`, :data:`EXHAUSTED_EVENT_AGE`, or None
        while retrying goes on."""
        if attempt - 1 >= self.maximum_retry_attempts:
            return EXHAUSTED_RETRY_ATTEMPTS
        if event_age_seconds >= self.maximum_event_age_seconds:
            return EXHAUSTED_EVENT_AGE
        return None

    def give_up(self, attempt: int, event_age_seconds: float) -> bool:
        """Whether delivery stops (drop, or dead-letter) after failed delivery ``attempt``."""
        return self.exhausted(attempt, event_age_seconds) is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class DeadLetterConfig:
    """Where events go once retries are exhausted (a target's ``DeadLetterConfig``)."""

    arn: str

    def __post_init__(self) -> None:
        if not isinstance(self.arn, str) or not 1 <= len(self.arn) <= _MAX_ARN:
            _invalid(
                "1 validation error detected: Value at 'deadLetterConfig.arn' failed to satisfy "
                f"constraint: Member must have length between 1 and {_MAX_ARN}"
            )
        if not self.arn.startswith("arn:"):
            _invalid(f"The dead-letter queue {self.arn} is not an ARN.")

    @classmethod
    def from_api(cls, document: Json) -> DeadLetterConfig | None:
        """From a target's ``DeadLetterConfig`` (``{"Arn": ...}``); None when there is none."""
        if document is None:
            return None
        if not isinstance(document, Mapping) or set(document) - {"Arn"}:
            _invalid('DeadLetterConfig must be an object with one field, "Arn".')
        arn = document.get("Arn")
        if arn is None:
            return None
        return cls(arn=arn)


def dead_letter_attributes(
    *,
    rule_arn: str,
    target_arn: str,
    error_code: str,
    error_message: str,
    retry_attempts: int,
    exhausted_condition: str | None,
) -> dict[str, str]:
    """The message attributes of a dead-lettered event: "the Error Code, Error Message, the
    Exhausted Retry Condition, Rule ARN, Retry Attempts, and the Target ARN" (*Considerations
    for using a dead-letter queue*). The condition is None for an error that is not retried."""
    attributes = {
        "ERROR_CODE": error_code,
        "ERROR_MESSAGE": error_message,
        "RULE_ARN": rule_arn,
        "TARGET_ARN": target_arn,
        "RETRY_ATTEMPTS": str(retry_attempts),
    }
    if exhausted_condition is not None:
        attributes["EXHAUSTED_RETRY_CONDITION"] = exhausted_condition
    return attributes

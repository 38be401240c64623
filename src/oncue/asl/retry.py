"""Which retrier or catcher handles an error, and how long a retry waits.

AWS "Handling errors in Step Functions workflows":
- ``States.ALL`` matches any error name except the terminal ``States.DataLimitExceeded``
  and ``States.Runtime``.
- ``States.TaskFailed`` matches any error except ``States.Timeout`` (and so the heartbeat
  timeout, which is a kind of timeout), and the terminal ones.
- ``States.Timeout`` also covers a missed heartbeat (``States.HeartbeatTimeout``).
- ``States.Runtime`` "will always cause the execution to fail": no retrier or catcher
  handles it, even one that names it. ``States.DataLimitExceeded`` can be named explicitly.
- Retriers are scanned in order and the first whose ErrorEquals matches decides; when its
  MaxAttempts are used up, the Catch field is consulted (later retriers are not).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from oncue.asl.model import Catcher, Retrier

__all__ = ["TERMINAL_ERRORS", "backoff_seconds", "error_matches", "find_catcher", "find_retrier"]

TERMINAL_ERRORS = frozenset({"States.Runtime", "States.DataLimitExceeded"})
_TIMEOUTS = frozenset({"States.Timeout", "States.HeartbeatTimeout"})


def error_matches(error_equals: Sequence[str], error: str) -> bool:
    if error == "States.Runtime":
        return False
    for name in error_equals:
        if name == error:
            return True
        if error in TERMINAL_ERRORS:
            continue
        if name == "States.ALL":
            return True
        if name == "States.TaskFailed" and error not in _TIMEOUTS:
            return True
        if name == "States.Timeout" and error == "States.HeartbeatTimeout":
            return True
    return False


def find_retrier(retriers: Sequence[Retrier], error: str) -> int | None:
    """Index of the first retrier matching ``error``, or None."""
    for index, retrier in enumerate(retriers):
        if error_matches(retrier.error_equals, error):
            return index
    return None


def find_catcher(catchers: Sequence[Catcher], error: str) -> Catcher | None:
    for catcher in catchers:
        if error_matches(catcher.error_equals, error):
            return catcher
    return None


def backoff_seconds(retrier: Retrier, attempt: int, rng: random.Random) -> float:
    """Delay before retry number ``attempt`` (1 for the first retry).

    IntervalSeconds x BackoffRate^(attempt-1), capped by MaxDelaySeconds; with
    ``JitterStrategy: FULL`` a uniformly random delay between 0 and that value.
    """
    delay = retrier.interval_seconds * retrier.backoff_rate ** (attempt - 1)
    if retrier.max_delay_seconds is not None:
        delay = min(delay, float(retrier.max_delay_seconds))
    if retrier.jitter_strategy == "FULL":
        delay = rng.uniform(0.0, delay)
    return delay

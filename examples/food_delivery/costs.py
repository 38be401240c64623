"""What a run would cost on AWS, from what it did (pure).

- **Step Functions Standard**: $25 per million state transitions (us-east-1; $0.025 per 1,000).
  A transition is each state entered plus each retry of a Task ("including retries"), and —
  as the article notes — the execution's start and end count too.
- **Step Functions Express**: $1.00 per million executions plus duration at $0.00001667 per
  GB-second (the first pricing tier), each execution billed in 100 ms increments at the
  minimum 64 MB of memory::

      express = executions * 1.00 / 10⁶
              + Σ ceil(duration / 0.1 s) * 0.1 s * (64 / 1024) GB * $0.00001667

  A workflow that waits for a human cannot run as Express at all: Express workflows run
  at most five minutes and do not support ``.waitForTaskToken``. The figure says what the
  same work would cost if it could; :attr:`Costs.express_possible` says whether it can.
- **EventBridge**: $1.00 per million custom events published (PutEvents entries), in every
  style — choreography pays it too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

__all__ = [
    "EVENTBRIDGE_PER_MILLION",
    "EXPRESS_GB_SECOND",
    "EXPRESS_MAX_SECONDS",
    "EXPRESS_PER_MILLION",
    "STANDARD_PER_MILLION",
    "Costs",
    "costs",
]

STANDARD_PER_MILLION: Final = 25.0
EXPRESS_PER_MILLION: Final = 1.0
EXPRESS_GB_SECOND: Final = 0.00001667
EXPRESS_MEMORY_GB: Final = 64 / 1024
EXPRESS_MAX_SECONDS: Final = 300.0
EVENTBRIDGE_PER_MILLION: Final = 1.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Costs:
    standard: float
    express: float
    express_possible: bool
    eventbridge: float


def costs(
    *,
    transitions: int,
    execution_seconds: Sequence[float],
    events: int,
    waits_for_callbacks: bool,
) -> Costs:
    billed = sum(math.ceil(max(d, 0.0) / 0.1 - 1e-9) * 0.1 for d in execution_seconds)
    express = (
        len(execution_seconds) * EXPRESS_PER_MILLION / 1e6
        + billed * EXPRESS_MEMORY_GB * EXPRESS_GB_SECOND
    )
    possible = not waits_for_callbacks and all(d <= EXPRESS_MAX_SECONDS for d in execution_seconds)
    return Costs(
        standard=transitions * STANDARD_PER_MILLION / 1e6,
        express=express,
        express_possible=possible or not execution_seconds,
        eventbridge=events * EVENTBRIDGE_PER_MILLION / 1e6,
    )

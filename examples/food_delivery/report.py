"""The demo's report: what one run of one style did, measured, and the side-by-side table.

Everything is read back from where the system keeps it — the orders table, the analytics
archive, the executions' histories, the mail sink — not from counters the simulator keeps
about itself, so the report shows what a user of each style would see.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from food_delivery.analytics import percentile
from food_delivery.costs import Costs
from food_delivery.domain import Order, Status

__all__ = ["Latency", "RunReport", "latency", "outcomes"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Latency:
    count: int
    p50: float | None
    p90: float | None
    p99: float | None

    def json(self) -> dict[str, Any]:
        return {"count": self.count, "p50": self.p50, "p90": self.p90, "p99": self.p99}


def latency(values: list[float]) -> Latency:
    return Latency(
        count=len(values),
        p50=percentile(values, 0.50),
        p90=percentile(values, 0.90),
        p99=percentile(values, 0.99),
    )


def outcomes(orders: list[Order]) -> Counter[str]:
    """Orders by outcome; an order still open at the end is ``stalled`` (by its status)."""
    found: Counter[str] = Counter()
    for order in orders:
        if order.terminal:
            found[order.status.value.lower()] += 1
        elif order.status == Status.PLACED:
            found["stalled: never answered"] += 1
        else:
            found["stalled: never delivered"] += 1
    return found


@dataclass(kw_only=True)
class RunReport:
    style: str
    orders: int
    outcomes: Counter[str]
    acceptance: Latency
    confirmation: Latency
    completion: Latency
    transitions: int
    executions: int
    events: Counter[str]
    mails: int
    mail_refusals: int
    vouchers: int
    late_answers_refused: int
    costs: Costs
    simulated_seconds: float
    real_seconds: float
    traces_per_order: float = 0.0
    execution_status: Counter[str] = field(default_factory=Counter)
    daily: dict[str, Any] = field(default_factory=dict)

    @property
    def stalled(self) -> int:
        return sum(n for k, n in self.outcomes.items() if k.startswith("stalled"))

    @property
    def stalled_silently(self) -> int:
        """Open orders that nothing is watching: no execution owns their timeout.

        Under orchestration an open order has a running execution whose timer will end it;
        under choreography nobody owns the timeout, so it waits forever and no event says so.
        """
        return max(0, self.stalled - self.execution_status.get("RUNNING", 0))

    def json(self) -> dict[str, Any]:
        return {
            "style": self.style,
            "orders": self.orders,
            "outcomes": dict(self.outcomes),
            "stalledSilently": self.stalled_silently,
            "latencySeconds": {
                "acceptance": self.acceptance.json(),
                "confirmationEmail": self.confirmation.json(),
                "completion": self.completion.json(),
            },
            "tracesPerOrder": round(self.traces_per_order, 2),
            "stateTransitions": self.transitions,
            "executions": self.executions,
            "executionStatus": dict(self.execution_status),
            "events": sum(self.events.values()),
            "eventsByType": dict(self.events),
            "mails": self.mails,
            "mailRetries": self.mail_refusals,
            "vouchers": self.vouchers,
            "lateAnswersRefused": self.late_answers_refused,
            "costUSD": {
                "stepFunctionsStandard": round(self.costs.standard, 6),
                "stepFunctionsExpress": round(self.costs.express, 6),
                "expressPossible": self.costs.express_possible,
                "eventBridge": round(self.costs.eventbridge, 6),
            },
            "dailyReport": self.daily,
            "simulatedSeconds": round(self.simulated_seconds, 1),
            "realSeconds": round(self.real_seconds, 2),
        }

"""Simulated traffic: who orders what, when, and how each restaurant answers (pure).

:func:`generate` draws ``n`` orders from a seeded random source, so the same seed gives the
same traffic to every style — the comparison measures the styles, not the luck of the draw.
Each order carries how its restaurant behaves:

- ``accept``: accepts after 30 s-5 min, delivers 15-45 min later;
- ``late``: accepts after 11-15 min, past the 10-minute acceptance timeout;
- ``silent``: never answers (a tablet left in a drawer);
- ``reject``: rejects after 1-4 min;
- ``undelivered``: accepts, then never confirms delivery (past the order deadline).

Some customers' mail servers refuse the first delivery attempt (``flaky_mailbox``), which
exercises the notification retries.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Final

from food_delivery.catalog import RESTAURANTS

__all__ = ["BEHAVIOURS", "PlannedOrder", "generate"]

#: (behaviour, weight): most orders go well; the rest are what a real system must survive.
BEHAVIOURS: Final = (
    ("accept", 60),
    ("late", 10),
    ("silent", 10),
    ("reject", 15),
    ("undelivered", 5),
)
_NAMES: Final = ("ann", "bob", "chen", "dara", "eve", "femi", "gus", "hana", "ivan", "jo")


@dataclass(frozen=True, slots=True, kw_only=True)
class PlannedOrder:
    index: int
    at: float  # simulated seconds after the start
    request: dict[str, Any]
    behaviour: str
    decide_after: float | None  # seconds after the restaurant was notified; None = never
    deliver_after: float | None  # seconds after acceptance; None = never
    flaky_mailbox: bool

    @property
    def email(self) -> str:
        return str(self.request["email"])


def generate(n: int, *, seed: int = 7, pace: float = 60.0) -> list[PlannedOrder]:
    """``n`` orders, one every ``pace`` simulated seconds on average (exponential gaps)."""
    if n < 0:
        raise ValueError(f"the number of orders must not be negative, got {n}")
    draw = random.Random(seed)
    kinds = [k for k, _ in BEHAVIOURS]
    weights = [w for _, w in BEHAVIOURS]
    shops = sorted(RESTAURANTS)
    at = 0.0
    planned: list[PlannedOrder] = []
    for index in range(n):
        at += draw.expovariate(1 / pace) if index else 0.0
        shop = RESTAURANTS[draw.choice(shops)]
        items = [
            {"item": m.id, "quantity": draw.randint(1, 3)}
            for m in draw.sample(shop.menu, draw.randint(1, len(shop.menu)))
        ]
        name = draw.choice(_NAMES)
        behaviour = draw.choices(kinds, weights)[0]
        decide: float | None = {
            "accept": draw.uniform(30, 300),
            "late": draw.uniform(660, 900),
            "silent": None,
            "reject": draw.uniform(60, 240),
            "undelivered": draw.uniform(30, 300),
        }[behaviour]
        deliver = draw.uniform(900, 2700) if behaviour in ("accept", "late") else None
        planned.append(
            PlannedOrder(
                index=index,
                at=round(at, 3),
                request={
                    "restaurant": shop.id,
                    "items": items,
                    "address": f"{draw.randint(1, 200)} {draw.choice(('High', 'Mill', 'Park'))} St",
                    "email": f"{name}.{index}@customers.example",
                },
                behaviour=behaviour,
                decide_after=decide,
                deliver_after=deliver,
                flaky_mailbox=draw.random() < 0.15,
            )
        )
    return planned

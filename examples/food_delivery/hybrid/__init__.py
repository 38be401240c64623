"""The hybrid — the article's recommendation and the demo's default.

"Use orchestration within the bounded context of a microservice, but use choreography between
bounded contexts." Inside the orders context, the order flow is the state machine
``order_flow.asl.json`` (the orchestrated flow without its promotions step); between
contexts, the machine's events are all the other services see:

- the promo-code service (:mod:`food_delivery.promo`) issues a voucher on ``order_completed``
  and emails it to the customer, once per order;
- the analytics sink (:mod:`food_delivery.analytics`) archives every event for the data lake
  and produces the daily report.

Neither knows the state machine exists; the machine knows neither exists. Each side can change,
scale and fail on its own, which is the point of the split.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from food_delivery import promo
from food_delivery.context import Context
from food_delivery.orchestration import OrchestrationDriver
from food_delivery.orchestration import install as install_orchestration

__all__ = ["DEFINITION", "install"]

DEFINITION: Final = Path(__file__).with_name("order_flow.asl.json")


def install(ctx: Context) -> OrchestrationDriver:
    driver = install_orchestration(ctx, DEFINITION)
    promo.install(ctx)
    return driver

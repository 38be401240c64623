"""The promo-code service: another bounded context, built on the orders' events.

The article: "a promo-code service might be interested in the order_completed event and send
out discount vouchers to the customer". It listens to ``order_completed`` on the ``orders``
bus and knows nothing of how orders flow — in the choreographed and the hybrid styles alike.
It issues one voucher per order and emails it exactly once, however often the event is
delivered (the bus delivers at least once; see :func:`food_delivery.actions.send_voucher`).
"""

from __future__ import annotations

from typing import Any

from food_delivery.actions import send_voucher
from food_delivery.context import Context
from food_delivery.events import BUS, SOURCE

__all__ = ["PATTERN", "install"]

PATTERN = {"source": [SOURCE], "detail-type": ["order_completed"]}


def install(ctx: Context) -> None:
    @ctx.app.on(
        PATTERN,
        bus=BUS,
        name="promo-code-service",
        retry_policy={"MaximumRetryAttempts": 5, "MaximumEventAgeInSeconds": 3600},
    )
    async def issue_voucher(event: dict[str, Any]) -> None:
        detail = event["detail"]
        await send_voucher(ctx, detail["orderId"], detail["email"])

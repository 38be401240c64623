"""The promo-code service: another bounded context, built on the orders' events.

The article: "a promo-code service might be interested in the order_completed event and send
out discount vouchers to the customer". It listens to ``order_completed`` on the ``orders``
bus and knows nothing of how orders flow — in the choreographed and the hybrid styles alike.
It issues one voucher per order and emails it exactly once, however often the event is
delivered (the bus delivers at least once; see :func:`food_delivery.actions.send_voucher`).
"""

from __future__ import annotations

import hashlib
from typing import Any, Final

from food_delivery.context import Context
from food_delivery.events import BUS, SOURCE

__all__ = ["PATTERN", "VOUCHER_PERCENT", "install", "send_voucher", "voucher_code"]

PATTERN: Final = {"source": [SOURCE], "detail-type": ["order_completed"]}
VOUCHER_PERCENT: Final = 10


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


def voucher_code(order_id: str) -> str:
    """The order's voucher code: derived from the order id, so every retry issues the same."""
    digest = hashlib.sha256(f"voucher:{order_id}".encode()).hexdigest()[:8].upper()
    return f"THANKS-{digest}"


async def send_voucher(ctx: Context, order_id: str, email: str) -> str:
    """Issue the order's voucher and email it exactly once; its code.

    The email is claimed before it is sent and released if sending fails, so a retry sends
    it again but a redelivered event after success does not.
    """
    code = ctx.orders.issue_voucher(
        order_id, voucher_code(order_id), email, VOUCHER_PERCENT, ctx.now()
    )
    if not ctx.orders.voucher_emailed(order_id, ctx.now()):
        return code  # already emailed: a redelivered event or a retried task
    try:
        await ctx.mailer.send(
            email,
            f"{VOUCHER_PERCENT}% off your next order",
            f"Thank you for ordering with us (order {order_id}).\n\n"
            f"Your voucher code: {code} — {VOUCHER_PERCENT}% off your next order.\n",
            {"X-Order-Id": order_id, "X-Mail-Kind": "voucher"},
        )
    except BaseException:
        ctx.orders.release_voucher_email(order_id)
        raise
    return code

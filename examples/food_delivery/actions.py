"""The side effects of the flow, shared by every style: notify the restaurant, email the
customer, issue a voucher. Each is safe to repeat (at-least-once delivery and retries repeat
them): the restaurant screen shows an order once however often it is pushed, and each
notification flag and voucher is recorded once, by a conditional update.
"""

from __future__ import annotations

import hashlib
from typing import Final

from food_delivery.catalog import RESTAURANTS
from food_delivery.context import Context
from food_delivery.domain import Order
from food_delivery.views import order_json

__all__ = [
    "VOUCHER_PERCENT",
    "push_to_restaurant",
    "send_confirmation",
    "send_voucher",
    "voucher_code",
]

VOUCHER_PERCENT: Final = 10


def push_to_restaurant(ctx: Context, order: Order) -> None:
    """Publish the order on the restaurant's topic (its screen subscribes to it)."""
    ctx.topics.publish(
        f"restaurant:{order.restaurant}", {"type": "new", "order": order_json(order)}
    )


async def send_confirmation(ctx: Context, order: Order) -> None:
    """Email the order confirmation; NotificationFailed when the mail server refuses."""
    shop = RESTAURANTS[order.restaurant]
    lines = "\n".join(f"  {ln.quantity} x {ln.name}" for ln in order.lines)
    body = (
        f"Good news: {shop.name} accepted your order {order.id}.\n\n{lines}\n\n"
        f"Total: {order.total_cents / 100:.2f}\nDelivery to: {order.address}\n"
        + (f"\nFollow it at {ctx.base_url}/customer?order={order.id}\n" if ctx.base_url else "")
    )
    await ctx.mailer.send(
        order.email,
        f"Your order {order.id} is confirmed",
        body,
        {"X-Order-Id": order.id, "X-Mail-Kind": "confirmation"},
    )


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

"""The notifications of the flow, shared by every style: put the order on the restaurant's
screen, email the customer. Each is safe to repeat (at-least-once delivery and retries repeat
them): the restaurant screen shows an order once however often it is pushed, and each
notification flag is recorded once, by a conditional update.
"""

from __future__ import annotations

from food_delivery.catalog import RESTAURANTS
from food_delivery.context import Context
from food_delivery.domain import Order
from food_delivery.views import order_json

__all__ = ["push_to_restaurant", "send_confirmation"]


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

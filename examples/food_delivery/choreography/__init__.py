"""The order flow choreographed: the article's five functions, no one owning the whole.

1. ``place-order`` (the API) publishes ``order_placed``;
2. ``notify-restaurant`` runs on ``order_placed``, puts the order on the restaurant's
   screen and publishes ``restaurant_notified``;
3. ``accept-order`` (the API, when the restaurant presses Accept) publishes
   ``order_accepted`` (``reject`` publishes ``order_rejected``);
4. ``notify-user`` runs on ``order_accepted``, emails the confirmation and publishes
   ``user_notified``;
5. ``complete-order`` (the API, when the restaurant delivered) publishes ``order_completed``.

Each function knows only the events it listens to and the one it publishes. That is the
article's point against this style for a workflow inside one bounded context: nothing here
can notice that a restaurant never answered, because no component owns the flow, so such an
order waits forever and no event ever says so (the demo's report counts them).
"""

from __future__ import annotations

from typing import Any

from food_delivery.actions import push_to_restaurant, send_confirmation
from food_delivery.context import Context
from food_delivery.domain import Order
from food_delivery.events import BUS, SOURCE
from food_delivery.views import order_detail

__all__ = ["ChoreographyDriver", "install"]

#: Notifications are retried by the bus (EventBridge's RetryPolicy) with back-off.
RETRY_POLICY = {"MaximumRetryAttempts": 5, "MaximumEventAgeInSeconds": 3600}


def _on(detail_type: str) -> dict[str, Any]:
    return {"source": [SOURCE], "detail-type": [detail_type]}


def install(ctx: Context) -> ChoreographyDriver:
    """Register the rule-triggered functions on the app; the driver for the API functions."""
    app = ctx.app

    @app.on(_on("order_placed"), bus=BUS, name="notify-restaurant", retry_policy=RETRY_POLICY)
    async def notify_restaurant(event: dict[str, Any]) -> None:
        order = ctx.orders.get(event["detail"]["orderId"])
        push_to_restaurant(ctx, order)
        if ctx.orders.mark(order.id, "restaurant_notified_at", ctx.now()):
            await ctx.publish("restaurant_notified", order_detail(order, ctx.now()))
            ctx.status_changed(order.id)

    @app.on(_on("order_accepted"), bus=BUS, name="notify-user", retry_policy=RETRY_POLICY)
    async def notify_user(event: dict[str, Any]) -> None:
        order = ctx.orders.get(event["detail"]["orderId"])
        if order.user_notified_at is not None:
            return  # a redelivery after the email went out
        await send_confirmation(ctx, order)
        if ctx.orders.mark(order.id, "user_notified_at", ctx.now()):
            detail = {**order_detail(order, ctx.now()), "email": order.email}
            await ctx.publish("user_notified", detail)
            ctx.status_changed(order.id)

    return ChoreographyDriver(ctx)


class ChoreographyDriver:
    """The API functions: each changes the order and publishes its event, nothing more."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def placed(self, order: Order) -> None:  # place-order
        detail = {
            **order_detail(order, order.placed_at),
            "email": order.email,
            "address": order.address,
            "items": [{"item": ln.item, "quantity": ln.quantity} for ln in order.lines],
            "totalCents": order.total_cents,
        }
        await self.ctx.publish("order_placed", detail)

    async def decide(self, order_id: str, action: str, reason: str | None) -> Order:
        step = self.ctx.orders.apply(order_id, action, self.ctx.now(), reason)  # accept-order
        order = step.order
        detail = order_detail(order, self.ctx.now())
        if action == "accept":
            waited = (order.decided_at or order.placed_at) - order.placed_at
            detail.update(email=order.email, acceptanceSeconds=round(waited, 3))
        else:
            detail.update(reason=order.reason)
        await self.ctx.publish(step.action.event, detail)
        return order

    async def complete(self, order_id: str) -> Order:  # complete-order
        order = self.ctx.orders.apply(order_id, "complete", self.ctx.now()).order
        detail = {
            **order_detail(order, self.ctx.now()),
            "email": order.email,
            "totalCents": order.total_cents,
        }
        await self.ctx.publish("order_completed", detail)
        return order

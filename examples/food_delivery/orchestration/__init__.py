"""The order flow orchestrated: one state machine, ``order_flow.asl.json``, owns it.

The machine notifies the restaurant, waits for its decision on a task token with the
article's 10-minute timeout, notifies the customer, then waits for the delivery until the
order deadline; rejection, timeout and missed deadline each have their branch, and the
notifications are retried when they fail (``NotificationFailed``). Its Task states publish
the same eight events through ``arn:aws:states:::events:putEvents``, so whatever listens to
the events works as it did under choreography.

In this style the machine also runs the promotions step (``Issue Voucher``): everything is
orchestrated, even what belongs to another bounded context. The hybrid style moves that step
out, onto the bus (see :mod:`food_delivery.hybrid`).

The handlers here are the machine's Lambda functions; the driver is the orders API's side:
a restaurant's decision or delivery completes the task token the machine waits on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from food_delivery.actions import push_to_restaurant, send_confirmation
from food_delivery.context import Context
from food_delivery.domain import ACTIONS, Order, Status, plan
from food_delivery.errors import OrderStateConflict
from food_delivery.events import iso
from food_delivery.promo import send_voucher
from oncue.errors import TaskDoesNotExist, TaskTimedOut

__all__ = ["DEFINITION", "MACHINE", "OrchestrationDriver", "install"]

MACHINE: Final = "food-order-flow"
DEFINITION: Final = Path(__file__).with_name("order_flow.asl.json")


def install(ctx: Context, definition: Path = DEFINITION) -> OrchestrationDriver:
    """Register the state machine and its task handlers; the driver for the orders API."""
    app = ctx.app
    app.state_machine(MACHINE, str(definition))
    orders = ctx.orders

    @app.handlers.handler("notify-restaurant")
    async def notify_restaurant(payload: dict[str, Any]) -> dict[str, Any]:
        order = orders.get(payload["orderId"])
        push_to_restaurant(ctx, order)
        if orders.mark(order.id, "restaurant_notified_at", ctx.now()):
            ctx.status_changed(order.id)
        return {"notifiedAt": iso(ctx.now())}

    @app.handlers.handler("await-decision")
    async def await_decision(payload: dict[str, Any], context: Any) -> None:
        async with ctx.decisions:
            order = orders.get(payload["orderId"])
            if order.status in (Status.ACCEPTED, Status.REJECTED):
                # The restaurant decided before this task started: answer at once.
                context.send_task_success(payload["taskToken"], _decision(order))
            else:
                orders.set_token(order.id, "decision", payload["taskToken"])

    @app.handlers.handler("notify-user")
    async def notify_user(payload: dict[str, Any]) -> dict[str, Any]:
        order = orders.get(payload["orderId"])
        if order.user_notified_at is None:
            await send_confirmation(ctx, order)
            if orders.mark(order.id, "user_notified_at", ctx.now()):
                ctx.status_changed(order.id)
        return {"emailedTo": order.email}

    @app.handlers.handler("await-delivery")
    async def await_delivery(payload: dict[str, Any], context: Any) -> None:
        async with ctx.decisions:
            order = orders.get(payload["orderId"])
            if order.status == Status.COMPLETED:
                context.send_task_success(payload["taskToken"], _delivered(order))
            else:
                orders.set_token(order.id, "completion", payload["taskToken"])

    @app.handlers.handler("record-outcome")
    async def record_outcome(payload: dict[str, Any]) -> dict[str, Any]:
        async with ctx.decisions:
            order = orders.get(payload["orderId"])
            action = payload["action"]
            try:
                order = orders.apply(order.id, action, ctx.now(), payload.get("reason")).order
            except OrderStateConflict:
                # A redelivered task finds its own outcome recorded: answer the same.
                if order.status != ACTIONS[action].to:
                    raise
            ctx.status_changed(order.id)
            return {"status": order.status.value, "reason": order.reason}

    @app.handlers.handler("issue-voucher")
    async def issue_voucher(payload: dict[str, Any]) -> dict[str, Any]:
        order = orders.get(payload["orderId"])
        return {"code": await send_voucher(ctx, order.id, order.email)}

    return OrchestrationDriver(ctx)


def _decision(order: Order) -> dict[str, Any]:
    waited = (order.decided_at or order.placed_at) - order.placed_at
    decision = "accept" if order.status == Status.ACCEPTED else "reject"
    return {"decision": decision, "reason": order.reason, "acceptanceSeconds": round(waited, 3)}


def _delivered(order: Order) -> dict[str, Any]:
    return {"deliveredAt": iso(order.ended_at or order.placed_at)}


class OrchestrationDriver:
    """Starts an execution per order; completes its task tokens on decisions."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def placed(self, order: Order) -> None:
        document = {
            "orderId": order.id,
            "restaurant": order.restaurant,
            "email": order.email,
            "address": order.address,
            "items": [{"item": ln.item, "quantity": ln.quantity} for ln in order.lines],
            "totalCents": order.total_cents,
        }
        arn = await self.ctx.app.start_execution(MACHINE, {"order": document}, name=order.id)
        self.ctx.orders.set_execution(order.id, arn)

    async def _send(self, token: str, output: dict[str, Any], order: Order, why: str) -> None:
        try:
            await self.ctx.app.send_task_success(token, output)
        except (TaskTimedOut, TaskDoesNotExist):
            raise OrderStateConflict(f"order {order.id}: {why}") from None

    async def decide(self, order_id: str, action: str, reason: str | None) -> Order:
        orders = self.ctx.orders
        async with self.ctx.decisions:
            now = self.ctx.now()
            current = orders.get(order_id)
            decided = plan(current, action, now, reason).order  # a conflict changes nothing
            token = orders.token(order_id, "decision")
            if token is not None:
                why = f"cannot {action}: it timed out: the restaurant did not answer in time"
                await self._send(token, _decision(decided), current, why)
                orders.set_token(order_id, "decision", None)
            return orders.apply(order_id, action, now, reason).order

    async def complete(self, order_id: str) -> Order:
        orders = self.ctx.orders
        async with self.ctx.decisions:
            now = self.ctx.now()
            current = orders.get(order_id)
            done = plan(current, "complete", now).order
            token = orders.token(order_id, "completion")
            if token is not None:
                why = "cannot complete: the delivery deadline passed"
                await self._send(token, _delivered(done), current, why)
                orders.set_token(order_id, "completion", None)
            return orders.apply(order_id, "complete", now).order

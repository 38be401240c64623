"""The orders API: what the customer page, the restaurant screen and the simulator call.

Placing an order validates it, stores it, and hands it to the style's *driver*; a
restaurant's decision and its delivery go through the driver too. The driver is where the
styles differ:

- choreography: the API functions publish ``order_placed`` / ``order_accepted`` /
  ``order_rejected`` / ``order_completed`` and the rest follows from rules on the bus;
- orchestration and hybrid: placing an order starts the order-flow state machine; a decision
  or a delivery completes the task token the machine waits on.

Every request is checked against the order's status before anything happens, so a bad
request changes nothing and publishes nothing (see :mod:`food_delivery.domain`).
"""

from __future__ import annotations

from typing import Any, Protocol

from food_delivery.catalog import validate_order
from food_delivery.context import Context
from food_delivery.domain import Order
from food_delivery.errors import InvalidOrder

__all__ = ["Driver", "OrdersService"]


class Driver(Protocol):
    """What a style does when an order is placed, decided or delivered."""

    async def placed(self, order: Order) -> None: ...

    async def decide(self, order_id: str, action: str, reason: str | None) -> Order: ...

    async def complete(self, order_id: str) -> Order: ...


class OrdersService:
    def __init__(self, ctx: Context, driver: Driver) -> None:
        self.ctx = ctx
        self.driver = driver

    async def place(self, request: Any) -> Order:
        """Validate and store the order, then start its flow (the place-order function)."""
        checked = validate_order(request)
        order = self.ctx.orders.insert(checked, self.ctx.now())
        await self.driver.placed(order)
        self.ctx.status_changed(order.id)
        return order

    async def accept(self, order_id: str) -> Order:
        return await self._decide(order_id, "accept", None)

    async def reject(self, order_id: str, reason: str | None = None) -> Order:
        if reason is not None and (not isinstance(reason, str) or len(reason) > 200):
            raise InvalidOrder("reason: a string of at most 200 characters")
        return await self._decide(order_id, "reject", reason or "the restaurant declined")

    async def _decide(self, order_id: str, action: str, reason: str | None) -> Order:
        order = await self.driver.decide(order_id, action, reason)
        self.ctx.status_changed(order_id)
        return order

    async def complete(self, order_id: str) -> Order:
        order = await self.driver.complete(order_id)
        self.ctx.status_changed(order_id)
        return order

    def get(self, order_id: str) -> Order:
        return self.ctx.orders.get(order_id)

    def all(self, restaurant: str | None = None) -> list[Order]:
        return self.ctx.orders.all(restaurant)

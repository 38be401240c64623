"""JSON views of orders and events for the API, the pages and the event details."""

from __future__ import annotations

from typing import Any

from food_delivery.catalog import RESTAURANTS
from food_delivery.domain import Order
from food_delivery.events import iso

__all__ = ["display_status", "order_detail", "order_json"]


def display_status(order: Order) -> str:
    """What the customer sees: the status, refined by the notification flags."""
    if order.status == "PLACED":
        return "waiting for the restaurant" if order.restaurant_notified_at else "placed"
    if order.status == "ACCEPTED":
        return "accepted — confirmation emailed" if order.user_notified_at else "accepted"
    return order.status.lower().replace("_", " ")


def order_json(order: Order) -> dict[str, Any]:
    def when(value: float | None) -> str | None:
        return None if value is None else iso(value)

    return {
        "orderId": order.id,
        "restaurant": order.restaurant,
        "restaurantName": RESTAURANTS[order.restaurant].name,
        "items": [
            {"item": ln.item, "name": ln.name, "quantity": ln.quantity} for ln in order.lines
        ],
        "totalCents": order.total_cents,
        "address": order.address,
        "email": order.email,
        "status": order.status.value,
        "display": display_status(order),
        "placedAt": when(order.placed_at),
        "restaurantNotifiedAt": when(order.restaurant_notified_at),
        "decidedAt": when(order.decided_at),
        "userNotifiedAt": when(order.user_notified_at),
        "endedAt": when(order.ended_at),
        "reason": order.reason,
    }


def order_detail(order: Order, now: float) -> dict[str, Any]:
    """The common detail fields of an event about ``order`` at ``now`` (events.SCHEMA)."""
    return {"orderId": order.id, "restaurant": order.restaurant, "at": iso(now)}

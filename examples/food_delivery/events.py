"""The eight events of the order flow, in EventBridge envelopes on the ``orders`` bus.

Every event has ``"source": "food.orders"``, its name as ``detail-type``, and a ``detail``
with at least ``orderId``, ``restaurant`` and ``at`` (ISO 8601, UTC). :data:`SCHEMA` is the
documented table (docs/food-delivery.md prints it); :func:`entry` builds a PutEvents entry
and refuses a detail that misses a field of its schema, so every publisher — a choreographed
function, a state machine's Task state through the same builder, the tests — agrees.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import orjson

__all__ = ["BUS", "EVENT_TYPES", "SCHEMA", "SOURCE", "EventType", "entry", "iso"]

SOURCE: Final = "food.orders"
BUS: Final = "orders"


@dataclass(frozen=True, slots=True, kw_only=True)
class EventType:
    name: str
    meaning: str
    fields: tuple[str, ...]


_COMMON: Final = ("orderId", "restaurant", "at")

#: detail-type → what it means and the detail fields beyond orderId, restaurant, at.
SCHEMA: Final[Mapping[str, EventType]] = {
    e.name: e
    for e in (
        EventType(
            name="order_placed",
            meaning="a customer placed an order",
            fields=("email", "address", "items", "totalCents"),
        ),
        EventType(
            name="restaurant_notified",
            meaning="the order reached the restaurant's screen",
            fields=(),
        ),
        EventType(
            name="order_accepted",
            meaning="the restaurant accepted the order",
            fields=("email", "acceptanceSeconds"),
        ),
        EventType(
            name="user_notified",
            meaning="the confirmation email was delivered to the customer's mail server",
            fields=("email",),
        ),
        EventType(
            name="order_completed",
            meaning="the restaurant delivered the order",
            fields=("email", "totalCents"),
        ),
        EventType(
            name="order_rejected",
            meaning="the restaurant rejected the order",
            fields=("reason",),
        ),
        EventType(
            name="order_timed_out",
            meaning="the restaurant did not answer within the acceptance timeout",
            fields=("timeoutSeconds",),
        ),
        EventType(
            name="order_cancelled",
            meaning="the order was cancelled (by the customer, or its deadline passed)",
            fields=("reason",),
        ),
    )
}
EVENT_TYPES: Final = tuple(SCHEMA)


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")


def entry(detail_type: str, detail: Mapping[str, Any]) -> dict[str, Any]:
    """A PutEvents entry for the ``orders`` bus; the detail must follow :data:`SCHEMA`."""
    kind = SCHEMA.get(detail_type)
    if kind is None:
        raise ValueError(f"unknown event type '{detail_type}'")
    missing = [f for f in (*_COMMON, *kind.fields) if f not in detail]
    if missing:
        raise ValueError(f"{detail_type}: the detail misses {', '.join(missing)}")
    return {
        "Source": SOURCE,
        "DetailType": detail_type,
        "Detail": orjson.dumps(dict(detail)).decode(),
        "EventBusName": BUS,
    }

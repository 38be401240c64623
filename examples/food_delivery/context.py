"""What every part of the food-ordering system shares: one object handed to each style.

The style (``choreography``, ``orchestration`` or ``hybrid``) decides who drives an order
after it is placed; the orders table, the topics, the mailer and the clock are the same in
all three, so the three styles differ only where the article says they do.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from food_delivery.events import entry
from food_delivery.notify import Mailer, Topics
from food_delivery.orders import OrdersTable
from food_delivery.views import order_json
from oncue import App

__all__ = [
    "ACCEPTANCE_TIMEOUT_SECONDS",
    "DELIVERY_DEADLINE_SECONDS",
    "STYLES",
    "Context",
]

STYLES: Final = ("choreography", "orchestration", "hybrid")
#: The article's acceptance timeout: "timeout the order if the restaurant doesn't accept or
#: reject the order within 10 minutes".
ACCEPTANCE_TIMEOUT_SECONDS: Final = 600
#: After acceptance, the delivery must be confirmed within this time or the order is cancelled.
DELIVERY_DEADLINE_SECONDS: Final = 5400


class _Clock(Protocol):
    def now(self) -> Any: ...


@dataclass(kw_only=True)
class Context:
    style: str
    app: App
    orders: OrdersTable
    topics: Topics
    mailer: Mailer
    clock: _Clock
    base_url: str = ""
    #: Serialises a decision with the state machine's view of it (see service.py).
    decisions: asyncio.Lock = field(default_factory=asyncio.Lock)
    published: int = 0

    def now(self) -> float:
        return float(self.clock.now().timestamp())

    async def publish(self, detail_type: str, detail: dict[str, Any]) -> None:
        """Put one event on the ``orders`` bus; raise if the bus refused it."""
        response: Any = await self.app.put_events([entry(detail_type, detail)])
        if response.get("FailedEntryCount"):
            failure = response["Entries"][0]
            raise RuntimeError(
                f"the bus refused {detail_type}: {failure.get('ErrorCode')} "
                f"{failure.get('ErrorMessage')}"
            )
        self.published += 1

    def status_changed(self, order_id: str) -> None:
        """Tell the customer page and the restaurant screen that an order changed."""
        order = self.orders.get(order_id)
        message = {"type": "order", "order": order_json(order)}
        self.topics.publish("orders", message)
        self.topics.publish(f"restaurant:{order.restaurant}", message)

"""The article's food-ordering system, in all three styles: oncue's reference application.

``examples/food_delivery`` in the repository, installed with oncue as the package
``food_delivery``; ``oncue demo`` runs it. The modules, from the pure core outwards:

- :mod:`.catalog`, :mod:`.domain`, :mod:`.events`, :mod:`.traffic`, :mod:`.costs`: pure —
  restaurants and order validation, the order's actions table, the eight events' schema,
  simulated traffic, AWS prices;
- :mod:`.orders`, :mod:`.notify`, :mod:`.mailsink`, :mod:`.analytics`: the edges — the orders
  table (SQLite), topics and SMTP, the local mail sink, the data-lake archive;
- :mod:`.choreography`, :mod:`.orchestration`, :mod:`.hybrid`, :mod:`.promo`: the styles;
- :mod:`.service`, :mod:`.system`, :mod:`.web`: the orders API, the wiring, the pages;
- :mod:`.simulator`, :mod:`.run`, :mod:`.report`, :mod:`.render`, :mod:`.live`: the demo.

docs/food-delivery.md describes the system, its events and what the comparison shows.
"""

from __future__ import annotations

from food_delivery.context import ACCEPTANCE_TIMEOUT_SECONDS, STYLES
from food_delivery.errors import (
    InvalidOrder,
    NotificationFailed,
    OrderNotFound,
    OrderStateConflict,
    UnknownRestaurant,
)
from food_delivery.events import EVENT_TYPES, SCHEMA
from food_delivery.system import FoodSystem

__all__ = [
    "ACCEPTANCE_TIMEOUT_SECONDS",
    "EVENT_TYPES",
    "SCHEMA",
    "STYLES",
    "FoodSystem",
    "InvalidOrder",
    "NotificationFailed",
    "OrderNotFound",
    "OrderStateConflict",
    "UnknownRestaurant",
]

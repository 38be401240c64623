"""The restaurants, their menus, and the validation of an order request (pure: no I/O).

A request is a JSON object as the customer page or the simulator sends it::

    {"restaurant": "luigis", "items": [{"item": "margherita", "quantity": 2}],
     "address": "1 Long Lane", "email": "ann@example.com"}

:func:`validate_order` either returns an :class:`OrderRequest` or raises
:class:`~food_delivery.errors.InvalidOrder` / :class:`~food_delivery.errors.UnknownRestaurant`
naming the field at fault, so a bad request never reaches the orders table or the bus.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from food_delivery.errors import InvalidOrder, UnknownRestaurant

__all__ = [
    "MAX_ITEMS",
    "MAX_QUANTITY",
    "RESTAURANTS",
    "Line",
    "MenuItem",
    "OrderRequest",
    "Restaurant",
    "restaurant",
    "validate_order",
]

MAX_ITEMS: Final = 20
MAX_QUANTITY: Final = 50
#: A pragmatic address check (RFC 5322 allows more; a mail server would refuse most of it).
_EMAIL = re.compile(r"^[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}$")


@dataclass(frozen=True, slots=True, kw_only=True)
class MenuItem:
    id: str
    name: str
    price_cents: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Restaurant:
    id: str
    name: str
    menu: tuple[MenuItem, ...]

    def item(self, item_id: str) -> MenuItem | None:
        return next((m for m in self.menu if m.id == item_id), None)


@dataclass(frozen=True, slots=True, kw_only=True)
class Line:
    item: str
    name: str
    quantity: int
    price_cents: int


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderRequest:
    restaurant: str
    lines: tuple[Line, ...]
    address: str
    email: str

    @property
    def total_cents(self) -> int:
        return sum(line.quantity * line.price_cents for line in self.lines)


def _menu(*items: tuple[str, str, int]) -> tuple[MenuItem, ...]:
    return tuple(MenuItem(id=i, name=n, price_cents=p) for i, n, p in items)


RESTAURANTS: Final[Mapping[str, Restaurant]] = {
    r.id: r
    for r in (
        Restaurant(
            id="luigis",
            name="Luigi's Pizzeria",
            menu=_menu(("margherita", "Margherita", 900), ("diavola", "Diavola", 1100)),
        ),
        Restaurant(
            id="sakura",
            name="Sakura Sushi",
            menu=_menu(("maki", "Salmon maki", 750), ("ramen", "Tonkotsu ramen", 1250)),
        ),
        Restaurant(
            id="curry-house",
            name="The Curry House",
            menu=_menu(("korma", "Chicken korma", 1050), ("dal", "Tarka dal", 800)),
        ),
        Restaurant(
            id="green-bowl",
            name="Green Bowl",
            menu=_menu(("salad", "Harvest salad", 950), ("soup", "Soup of the day", 600)),
        ),
    )
}


def restaurant(restaurant_id: str) -> Restaurant:
    found = RESTAURANTS.get(restaurant_id)
    if found is None:
        known = ", ".join(sorted(RESTAURANTS))
        raise UnknownRestaurant(
            f"restaurant: unknown restaurant '{restaurant_id}' (known: {known})"
        )
    return found


def _text(request: Mapping[str, Any], field: str, limit: int) -> str:
    value = request.get(field)
    if not isinstance(value, str) or not value.strip():
        raise InvalidOrder(f"{field}: required, a non-empty string")
    if len(value) > limit:
        raise InvalidOrder(f"{field}: longer than {limit} characters")
    return value.strip()


def _lines(shop: Restaurant, items: Any) -> tuple[Line, ...]:
    if not isinstance(items, list) or not items:
        raise InvalidOrder("items: the order is empty; add at least one item")
    if len(items) > MAX_ITEMS:
        raise InvalidOrder(f"items: at most {MAX_ITEMS} lines per order")
    lines: list[Line] = []
    for index, entry in enumerate(items):
        where = f"items[{index}]"
        if not isinstance(entry, Mapping):
            raise InvalidOrder(f"{where}: an object with 'item' and 'quantity'")
        item_id = entry.get("item")
        menu_item = shop.item(item_id) if isinstance(item_id, str) else None
        if menu_item is None:
            raise InvalidOrder(f"{where}.item: '{item_id}' is not on {shop.name}'s menu")
        quantity = entry.get("quantity", 1)
        if isinstance(quantity, bool) or not isinstance(quantity, int):
            raise InvalidOrder(f"{where}.quantity: a whole number")
        if not 1 <= quantity <= MAX_QUANTITY:
            raise InvalidOrder(f"{where}.quantity: between 1 and {MAX_QUANTITY}, got {quantity}")
        lines.append(
            Line(
                item=menu_item.id,
                name=menu_item.name,
                quantity=quantity,
                price_cents=menu_item.price_cents,
            )
        )
    return tuple(lines)


def validate_order(request: Any) -> OrderRequest:
    """The checked request, or an error naming the field at fault."""
    if not isinstance(request, Mapping):
        raise InvalidOrder("the order must be a JSON object")
    shop = restaurant(_text(request, "restaurant", 64))
    lines = _lines(shop, request.get("items"))
    address = _text(request, "address", 200)
    email = _text(request, "email", 254)
    if not _EMAIL.match(email):
        raise InvalidOrder(f"email: '{email}' is not a valid email address")
    return OrderRequest(restaurant=shop.id, lines=lines, address=address, email=email)

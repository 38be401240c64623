"""Bad requests get a clear error and change nothing: no order row, no event, no mail."""

from __future__ import annotations

import pytest
from food_support import ORDER, events_of, quiet, until

from food_delivery.catalog import validate_order
from food_delivery.domain import Status
from food_delivery.errors import InvalidOrder, OrderNotFound, OrderStateConflict, UnknownRestaurant
from food_delivery.mailsink import MailSink
from food_delivery.system import FoodSystem

BAD = [
    ({**ORDER, "restaurant": "nowhere"}, UnknownRestaurant, "unknown restaurant 'nowhere'"),
    ({**ORDER, "items": []}, InvalidOrder, "items: the order is empty"),
    ({**ORDER, "email": "ann@"}, InvalidOrder, "email: 'ann@' is not a valid email address"),
    ({**ORDER, "items": [{"item": "sushi"}]}, InvalidOrder, r"items\[0\].item: 'sushi'"),
    ({**ORDER, "items": [{"item": "diavola", "quantity": 0}]}, InvalidOrder, "quantity"),
    ({**ORDER, "address": " "}, InvalidOrder, "address: required"),
    ([], InvalidOrder, "a JSON object"),
]


@pytest.mark.parametrize(("request_body", "error", "message"), BAD)
def test_validation_names_the_field(request_body: object, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        validate_order(request_body)


async def test_a_bad_order_changes_nothing(system: FoodSystem, sink: MailSink) -> None:
    for body, error, _ in BAD:
        with pytest.raises(error):
            await system.service.place(body)
    await quiet(system)
    assert system.orders.all() == []
    assert system.archive.events() == []
    assert sink.received == []
    if system.style != "choreography":
        listed = system.app.control.list_executions(system.app.arn("food-order-flow"))
        assert listed["executions"] == []


async def test_wrong_order_actions_are_refused_without_side_effects(
    system: FoodSystem, sink: MailSink
) -> None:
    with pytest.raises(OrderNotFound, match="order 'o-99999' does not exist"):
        await system.service.accept("o-99999")
    order = await system.service.place(ORDER)
    await until(lambda: system.orders.get(order.id).restaurant_notified_at)
    with pytest.raises(OrderStateConflict, match="cannot complete: it was never accepted"):
        await system.service.complete(order.id)
    await system.service.accept(order.id)
    with pytest.raises(OrderStateConflict, match="cannot accept: it was already accepted"):
        await system.service.accept(order.id)
    with pytest.raises(OrderStateConflict, match="cannot reject: it was already accepted"):
        await system.service.reject(order.id)
    await until(lambda: "user_notified" in events_of(system, order.id))
    await quiet(system)
    assert system.orders.get(order.id).status == Status.ACCEPTED
    assert events_of(system, order.id).count("order_accepted") == 1
    assert len(sink.received) == 1
    await system.service.complete(order.id)
    with pytest.raises(OrderStateConflict, match="cannot complete: it is already completed"):
        await system.service.complete(order.id)
    await until(lambda: "order_completed" in events_of(system, order.id))
    await quiet(system)
    assert events_of(system, order.id).count("order_completed") == 1

"""The order flow end to end in each style: real bus, real engine, real SMTP to the sink."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from food_support import ORDER, events_of, make_system, quiet, until

from food_delivery.domain import Status
from food_delivery.errors import OrderStateConflict
from food_delivery.events import SCHEMA
from food_delivery.mailsink import MailSink
from food_delivery.system import FoodSystem
from oncue import VirtualClock

HAPPY = [
    "order_placed",
    "restaurant_notified",
    "order_accepted",
    "user_notified",
    "order_completed",
]


async def _placed_and_notified(system: FoodSystem, request: dict | None = None) -> str:
    order = await system.service.place(request or ORDER)
    await until(lambda: system.orders.get(order.id).restaurant_notified_at)
    await until(lambda: "restaurant_notified" in events_of(system, order.id))
    return order.id


def _mails(sink: MailSink, kind: str) -> list:
    return [m for m in sink.received if m.headers.get("X-Mail-Kind") == kind]


async def test_happy_path_publishes_the_five_events_once(
    system: FoodSystem, sink: MailSink
) -> None:
    with system.topics.listen("restaurant:luigis") as screen:
        order_id = await _placed_and_notified(system)
        shown = await until(lambda: not screen.empty() and screen.get_nowait())
    assert shown["order"]["orderId"] == order_id
    await system.service.accept(order_id)
    await until(lambda: _mails(sink, "confirmation"))
    await until(lambda: "user_notified" in events_of(system, order_id))
    await system.service.complete(order_id)
    await until(lambda: _mails(sink, "voucher"))
    await until(lambda: "order_completed" in events_of(system, order_id))

    assert system.orders.get(order_id).status == Status.COMPLETED
    assert sorted(events_of(system, order_id)) == sorted(HAPPY)
    confirmation = _mails(sink, "confirmation")
    assert len(confirmation) == 1
    assert confirmation[0].to == (ORDER["email"],)
    assert f"order {order_id}" in confirmation[0].body
    voucher = system.orders.vouchers()
    assert [v["orderId"] for v in voucher] == [order_id]
    assert voucher[0]["code"] in _mails(sink, "voucher")[0].body
    for event in system.archive.events():  # every event follows the documented schema
        kind = SCHEMA[event["detail-type"]]
        assert {"orderId", "restaurant", "at", *kind.fields} <= set(event["detail"])
        assert event["source"] == "food.orders"


async def test_rejection(system: FoodSystem, sink: MailSink) -> None:
    order_id = await _placed_and_notified(system)
    order = await system.service.reject(order_id, "out of dough")
    assert order.status == Status.REJECTED
    await until(lambda: "order_rejected" in events_of(system, order_id))
    assert system.orders.get(order_id).reason == "out of dough"
    with pytest.raises(OrderStateConflict, match="it was rejected"):
        await system.service.accept(order_id)
    assert sink.received == []
    assert sorted(events_of(system, order_id)) == sorted(
        ["order_placed", "restaurant_notified", "order_rejected"]
    )
    if system.style != "choreography":
        arn = system.app.arn("food-order-flow").replace("stateMachine", "execution")
        described = await system.app.wait(f"{arn}:{order_id}")
        assert described["status"] == "SUCCEEDED"


async def test_acceptance_timeout_and_late_acceptance(
    system: FoodSystem, sink: MailSink, clock: VirtualClock
) -> None:
    order_id = await _placed_and_notified(system)
    clock.advance(601)  # the restaurant let the article's 10 minutes pass
    if system.style == "choreography":
        # Nobody owns the timeout: the order waits, and no event says so.
        await quiet(system)
        assert system.orders.get(order_id).status == Status.PLACED
        assert "order_timed_out" not in events_of(system, order_id)
        late = await system.service.accept(order_id)  # accepted 10 minutes too late
        assert late.status == Status.ACCEPTED
        return
    await until(lambda: system.orders.get(order_id).status == Status.TIMED_OUT)
    await until(lambda: "order_timed_out" in events_of(system, order_id))
    with pytest.raises(OrderStateConflict, match="timed out"):
        await system.service.accept(order_id)
    assert system.orders.get(order_id).status == Status.TIMED_OUT
    assert sorted(events_of(system, order_id)) == sorted(
        ["order_placed", "restaurant_notified", "order_timed_out"]
    )
    assert sink.received == []


@pytest.mark.parametrize("style", ["orchestration", "hybrid"])  # choreography has no timeout
async def test_accept_racing_the_timeout_answers_consistently(
    style: str, tmp_path: Path, sink: MailSink, clock: VirtualClock
) -> None:
    async with make_system(style, tmp_path, sink, clock) as system:
        await _race(system, clock)


async def _race(system: FoodSystem, clock: VirtualClock) -> None:
    order_id = await _placed_and_notified(system)
    await until(lambda: system.orders.token(order_id, "decision"))
    clock.advance(601)
    try:
        outcome = (await system.service.accept(order_id)).status
    except OrderStateConflict:
        outcome = Status.TIMED_OUT
    await until(lambda: system.orders.get(order_id).terminal or outcome == Status.ACCEPTED)
    events = events_of(system, order_id)
    if outcome == Status.ACCEPTED:
        await until(lambda: "order_accepted" in events_of(system, order_id))
        assert "order_timed_out" not in events_of(system, order_id)
    else:
        await until(lambda: "order_timed_out" in events_of(system, order_id))
        assert "order_accepted" not in events


async def test_notification_retries_deliver_the_email_once(
    system: FoodSystem, sink: MailSink, clock: VirtualClock
) -> None:
    sink.refuse_first_attempt(ORDER["email"])  # the first attempt gets 451, like greylisting
    order_id = await _placed_and_notified(system)
    await system.service.accept(order_id)
    await until(lambda: _mails(sink, "confirmation"), clock=clock, tick=1.0)
    await until(lambda: "user_notified" in events_of(system, order_id), clock=clock, tick=1.0)
    assert sink.refused == 1
    assert len(_mails(sink, "confirmation")) == 1
    assert events_of(system, order_id).count("user_notified") == 1
    if system.style != "choreography":
        arn = system.app.arn("food-order-flow").replace("stateMachine", "execution")
        history = system.app.control.get_execution_history(f"{arn}:{order_id}", max_results=1000)
        failed = [e for e in history["events"] if e["type"] == "LambdaFunctionFailed"]
        assert [e["lambdaFunctionFailedEventDetails"]["error"] for e in failed] == [
            "NotificationFailed"
        ]


async def test_promo_code_exactly_once_per_completed_order(
    system: FoodSystem, sink: MailSink
) -> None:
    ids = []
    for n in range(2):
        order_id = await _placed_and_notified(system, {**ORDER, "email": f"c{n}@x.example"})
        await system.service.accept(order_id)
        ids.append(order_id)
    await system.service.complete(ids[0])
    await until(lambda: len(_mails(sink, "voucher")) == 1)
    await until(lambda: "order_completed" in events_of(system, ids[0]))
    completed = next(
        e for e in system.archive.events()
        if e["detail-type"] == "order_completed" and e["detail"]["orderId"] == ids[0]
    )  # fmt: skip
    # The bus delivers at least once: the same event again must not send a second voucher.
    entry = {
        "Source": "food.orders",
        "DetailType": "order_completed",
        "Detail": json.dumps(completed["detail"]),
        "EventBusName": "orders",
    }
    response = await system.app.put_events([entry])
    assert response["FailedEntryCount"] == 0
    await until(lambda: events_of(system, ids[0]).count("order_completed") == 2)
    await quiet(system)
    assert len(_mails(sink, "voucher")) == 1
    assert [v["orderId"] for v in system.orders.vouchers()] == [ids[0]]
    assert _mails(sink, "voucher")[0].to == ("c0@x.example",)


@pytest.mark.parametrize("style", ["orchestration", "hybrid"])  # choreography has no deadline
async def test_the_delivery_deadline_cancels_the_order(
    style: str, tmp_path: Path, sink: MailSink, clock: VirtualClock
) -> None:
    async with make_system(style, tmp_path, sink, clock) as system:
        order_id = await _placed_and_notified(system)
        await system.service.accept(order_id)
        await until(lambda: system.orders.token(order_id, "completion"))
        clock.advance(5401)  # 90 minutes and no delivery
        await until(lambda: system.orders.get(order_id).status == Status.CANCELLED)
        await until(lambda: "order_cancelled" in events_of(system, order_id))
        cancelled = next(
            e for e in system.archive.events() if e["detail-type"] == "order_cancelled"
        )
        assert cancelled["detail"]["reason"] == "not delivered before the order deadline"
        with pytest.raises(OrderStateConflict, match="cannot complete: it was cancelled"):
            await system.service.complete(order_id)
        await quiet(system)
        assert "order_completed" not in events_of(system, order_id)
        assert system.orders.vouchers() == []


@pytest.mark.parametrize("style", ["orchestration", "hybrid"])
async def test_a_mail_server_down_does_not_stop_the_order(
    style: str, tmp_path: Path, clock: VirtualClock
) -> None:
    with socket.socket() as closed:  # a port nothing listens on: connection refused
        closed.bind(("127.0.0.1", 0))
        dead = f"smtp://127.0.0.1:{closed.getsockname()[1]}"
    options = {"time_skipping": False, "poll_seconds": 0.02}
    system = FoodSystem(style, tmp_path, smtp_url=dead, clock=clock, app_options=options)
    async with system:
        order_id = await _placed_and_notified(system)
        await system.service.accept(order_id)
        # The first attempt and four retries (MaxAttempts), 5 s apart and doubling; then the
        # flow goes on without the email.
        await until(lambda: system.orders.token(order_id, "completion"), clock=clock, tick=3.0)
        arn = system.app.arn("food-order-flow").replace("stateMachine", "execution")
        history = system.app.control.get_execution_history(f"{arn}:{order_id}", max_results=1000)
        failures = [e for e in history["events"] if e["type"] == "LambdaFunctionFailed"]
        assert len(failures) == 5
        cause = failures[0]["lambdaFunctionFailedEventDetails"]["cause"]
        assert "cannot reach the SMTP server" in cause
        assert system.orders.get(order_id).user_notified_at is None
        await system.service.complete(order_id)
        await until(lambda: "order_completed" in events_of(system, order_id))
        assert "user_notified" not in events_of(system, order_id)

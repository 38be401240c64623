"""The pure parts: the order table of actions, events, costs, traffic, the daily report."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from food_support import ORDER

from food_delivery.analytics import Archive, daily_report, percentile
from food_delivery.catalog import validate_order
from food_delivery.clock import ScaledClock
from food_delivery.costs import costs
from food_delivery.domain import ACTIONS, Order, Status, plan
from food_delivery.errors import OrderStateConflict
from food_delivery.events import EVENT_TYPES, SCHEMA, entry
from food_delivery.hybrid import DEFINITION as HYBRID
from food_delivery.orchestration import DEFINITION as ORCHESTRATED
from food_delivery.traffic import generate
from oncue.asl.validate import validate_definition


def _order(status: Status) -> Order:
    request = validate_order(ORDER)
    return Order(
        id="o-1", restaurant=request.restaurant, lines=request.lines, address=request.address,
        email=request.email, status=status, placed_at=0.0,
    )  # fmt: skip


@pytest.mark.parametrize("status", list(Status))
@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_every_action_from_every_status(status: Status, action: str) -> None:
    rule = ACTIONS[action]
    if status in rule.allowed_from:
        assert plan(_order(status), action, 5.0).order.status == rule.to
    else:
        with pytest.raises(
            OrderStateConflict, match=f"order o-1: cannot {action.replace('_', ' ')}"
        ):
            plan(_order(status), action, 5.0)


def test_the_eight_events_and_their_schema() -> None:
    assert EVENT_TYPES == (
        "order_placed", "restaurant_notified", "order_accepted", "user_notified",
        "order_completed", "order_rejected", "order_timed_out", "order_cancelled",
    )  # fmt: skip
    built = entry("order_rejected", {"orderId": "o-1", "restaurant": "x", "at": "t", "reason": "r"})
    assert built["Source"] == "food.orders" and built["EventBusName"] == "orders"
    assert json.loads(built["Detail"])["reason"] == "r"
    with pytest.raises(ValueError, match="order_accepted: the detail misses email"):
        entry("order_accepted", {"orderId": "o-1", "restaurant": "x", "at": "t"})


def test_the_machines_are_valid_and_differ_only_by_the_voucher_step() -> None:
    orchestrated = json.loads(ORCHESTRATED.read_text())
    hybrid = json.loads(HYBRID.read_text())
    assert validate_definition(orchestrated) == [] and validate_definition(hybrid) == []
    assert set(orchestrated["States"]) - set(hybrid["States"]) == {"Issue Voucher"}
    assert orchestrated["States"]["Wait For Decision"]["TimeoutSeconds"] == 600
    published = {
        s["Parameters"]["Entries"][0]["DetailType"]
        for s in hybrid["States"].values()
        if s.get("Resource") == "arn:aws:states:::events:putEvents"
    }
    assert published == set(SCHEMA)  # every event comes from a Task state


def test_costs_follow_the_documented_formulas() -> None:
    result = costs(transitions=1_000_000, execution_seconds=[0.25, 1.0], events=2_000_000,
                   waits_for_callbacks=False)  # fmt: skip
    assert result.standard == pytest.approx(25.0)
    billed = (0.3 + 1.0) * (64 / 1024) * 0.00001667
    assert result.express == pytest.approx(2 / 1e6 + billed)
    assert result.eventbridge == pytest.approx(2.0)
    assert result.express_possible
    long = costs(transitions=10, execution_seconds=[301.0], events=0, waits_for_callbacks=False)
    assert not long.express_possible


def test_traffic_is_deterministic_per_seed() -> None:
    assert generate(40, seed=3) == generate(40, seed=3)
    assert generate(40, seed=3) != generate(40, seed=4)
    kinds = {p.behaviour for p in generate(200, seed=1)}
    assert kinds == {"accept", "late", "silent", "reject", "undelivered"}
    for planned in generate(50, seed=2):
        validate_order(planned.request)  # the simulator only places valid orders


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 0.5) is None
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert percentile(list(map(float, range(1, 101))), 0.9) == 90.0


def test_daily_report_from_the_archive(tmp_path: Path) -> None:
    archive = Archive(tmp_path)

    def event(n: int, kind: str, **detail: object) -> dict[str, object]:
        body = {"orderId": f"o-{n}", "restaurant": "luigis", "at": "x", **detail}
        return {"id": f"{n}-{kind}", "time": "2026-01-02T10:00:00Z", "detail-type": kind,
                "detail": body}  # fmt: skip

    for n in (1, 2, 3):
        assert archive.append(event(n, "order_placed"))
    archive.append(event(1, "order_accepted", acceptanceSeconds=60.0))
    archive.append(event(2, "order_accepted", acceptanceSeconds=180.0))
    assert not archive.append(event(2, "order_accepted", acceptanceSeconds=180.0))  # redelivery
    archive.append(event(3, "order_timed_out"))
    report = daily_report(Archive(tmp_path), "2026-01-02")  # read back from the files
    assert report["orders"] == 3 and report["timeouts"] == 1 and report["events"] == 6
    assert report["restaurants"]["luigis"]["accepted"] == 2
    assert report["restaurants"]["luigis"]["acceptanceSeconds"]["max"] == 180.0
    assert (tmp_path / "date=2026-01-02" / "events.jsonl").exists()


def test_scaled_clock_runs_faster() -> None:
    clock = ScaledClock(600)
    before = clock.now()
    assert math.isclose(clock.real_seconds(600), 1.0)
    assert clock.now() >= before
    with pytest.raises(ValueError, match="speed must be positive"):
        ScaledClock(0)


def test_the_package_exports_its_public_names() -> None:
    import food_delivery

    for name in food_delivery.__all__:
        assert hasattr(food_delivery, name), name
    assert food_delivery.STYLES == ("choreography", "orchestration", "hybrid")

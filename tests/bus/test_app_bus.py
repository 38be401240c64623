"""The event bus through ``oncue.App`` on a real SQLite file: declared buses and rules, handler,
state machine, bus-to-bus and queue targets, retries and dead letters, an execution's
putEvents reaching a rule's handler.

The apps poll only every 30 s: everything here must happen because one loop woke the other,
never because a poll came round.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from oncue.app import App
from oncue.bus.handlers import DeliveryContext
from oncue.clock import VirtualClock
from oncue.errors import PatternError, ResourceNotFoundException, ValidationException

START = datetime(2026, 1, 1, tzinfo=UTC)
PLACED = {"source": ["shop"], "detail-type": ["order_placed"]}


def placed(order: int, bus: str | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "Source": "shop",
        "DetailType": "order_placed",
        "Detail": json.dumps({"order": order}),
    }
    if bus is not None:
        entry["EventBusName"] = bus
    return entry


def make_app(tmp_path: Path, clock: VirtualClock | None = None) -> App:
    return App(
        f"sqlite:///{tmp_path / 'oncue.db'}",
        clock=clock or VirtualClock(START),
        poll_seconds=30.0,
        lease_seconds=60.0,
    )


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.002)


async def test_on_delivers_to_the_handler_with_its_context(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    app.event_bus("orders")
    seen: list[tuple[dict[str, Any], DeliveryContext]] = []

    @app.on(PLACED, bus="orders")
    async def notify_restaurant(event: dict[str, Any], context: DeliveryContext) -> None:
        seen.append((event, context))

    async with app:
        response = await app.put_events([placed(7, "orders"), {"Source": "shop"}])
        await until(lambda: len(seen) == 1)
    assert response["FailedEntryCount"] == 1
    entries = response["Entries"]
    assert isinstance(entries, list)
    assert entries[1]["ErrorCode"] == "InvalidArgument"
    event, context = seen[0]
    assert event["detail"] == {"order": 7} and event["source"] == "shop"
    assert context.event_id == entries[0]["EventId"] == event["id"]
    assert context.attempt == 1
    assert context.rule_name == "notify_restaurant"
    assert context.idempotency_key.startswith(f"{event['id']}/")
    assert app.handler_arn("x") == "arn:aws:lambda:us-east-1:123456789012:function:x"
    assert app.bus_arn("orders") == "arn:aws:events:us-east-1:123456789012:event-bus/orders"


async def test_deploy_creates_then_updates_rules_and_targets(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    app.handler("a")(lambda event: None)
    app.handler("b")(lambda event: None)
    app.rule("r", event_pattern=PLACED, targets=[{"Id": "1", "Arn": app.handler_arn("a")}])
    async with app:
        pass
    described = app.events.describe_rule("r")
    assert json.loads(str(described["EventPattern"])) == PLACED
    # A new declaration replaces the pattern and the targets; a second deploy changes nothing.
    again = make_app(tmp_path)
    again.rule(
        "r",
        event_pattern={"source": ["kitchen"]},
        targets=[{"Id": "2", "Arn": again.handler_arn("b"), "Input": '{"x": 1}'}],
    )
    again.deploy()
    revision = _revision(again)
    again.deploy()
    assert _revision(again) == revision
    assert json.loads(str(again.events.describe_rule("r")["EventPattern"])) == {
        "source": ["kitchen"]
    }
    assert again.events.list_targets_by_rule("r")["Targets"] == [
        {"Id": "2", "Arn": again.handler_arn("b"), "Input": '{"x": 1}'}
    ]
    again.close()


def _revision(app: App) -> str:
    with app.store.read() as tx:
        return str(tx.one("SELECT revision FROM event_buses WHERE name = 'default'")[0])


def test_bad_declarations_fail_at_registration(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    with pytest.raises(PatternError):
        app.rule("r", event_pattern={"source": "not-a-list"}, targets=[])
    with pytest.raises(ValidationException, match="EventPattern or ScheduleExpression"):
        app.rule("r")
    with pytest.raises(ValidationException):
        app.rule("bad name!", event_pattern=PLACED)
    with pytest.raises(ValidationException, match="not valid"):
        app.rule("r", event_pattern=PLACED, targets=[{"Id": "1", "Arn": "arn:nope"}])
    with pytest.raises(ValidationException):
        app.rule("r", schedule="rate(0 minutes)")


async def test_put_events_to_an_undeclared_bus_is_reported_per_entry(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app:
        response = await app.put_events([placed(1, "nowhere")])
        with pytest.raises(ResourceNotFoundException):
            app.events.describe_event_bus("nowhere")
    entries = response["Entries"]
    assert isinstance(entries, list)
    assert entries[0]["ErrorCode"] == "ResourceNotFoundException"


async def test_state_machine_queue_and_bus_targets(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    app.event_bus("audit")
    machine = app.state_machine(
        "fulfil",
        {
            "StartAt": "Pack",
            "States": {"Pack": {"Type": "Task", "Resource": app.handler_arn("pack"), "End": True}},
        },
    )
    packed: list[Any] = []
    audited: list[Any] = []

    @app.handler("pack")
    def pack(order: dict[str, Any]) -> dict[str, Any]:
        packed.append(order)
        return {"packed": order["order"]}

    app.rule(
        "fan-out",
        event_pattern=PLACED,
        targets=[
            {"Id": "machine", "Arn": machine, "InputPath": "$.detail"},
            {"Id": "queue", "Arn": "arn:aws:sqs:us-east-1:123456789012:orders"},
            {"Id": "bus", "Arn": app.bus_arn("audit")},
        ],
    )

    @app.on({"source": ["shop"]}, bus="audit")
    def audit(event: dict[str, Any]) -> None:
        audited.append(event["detail"])

    async with app:
        await app.put_events([placed(3)])
        await until(lambda: packed == [{"order": 3}] and audited == [{"order": 3}])
        executions = app.control.list_executions(machine)["executions"]
        assert isinstance(executions, list) and len(executions) == 1
        result = await app.wait(str(executions[0]["executionArn"]))
        messages = app.events.receive_messages("orders", 10)["Messages"]
    assert result["status"] == "SUCCEEDED" and json.loads(str(result["output"])) == {"packed": 3}
    assert isinstance(messages, list) and len(messages) == 1
    assert json.loads(str(messages[0]["Body"]))["detail"] == {"order": 3}


async def test_failing_target_retries_then_dead_letters(tmp_path: Path) -> None:
    clock = VirtualClock(START)
    app = make_app(tmp_path, clock)
    calls: list[tuple[int, datetime]] = []
    steady: list[int] = []

    @app.on(PLACED, retry_policy={"MaximumRetryAttempts": 2}, dead_letter_queue="dlq")
    def flaky(event: dict[str, Any], context: DeliveryContext) -> None:
        calls.append((context.attempt, clock.now()))
        raise RuntimeError("kitchen offline")

    @app.on(PLACED)
    def steady_handler(event: dict[str, Any]) -> None:
        steady.append(event["detail"]["order"])

    async with app:
        await app.put_events([placed(1)])
        await until(lambda: len(app.events.list_dead_letters()["DeadLetters"]) == 1)
        dead = app.events.list_dead_letters()["DeadLetters"]
        queued = app.events.receive_messages("dlq", 10)["Messages"]
    assert steady == [1]  # a failing target never holds up another
    assert [attempt for attempt, _ in calls] == [1, 2, 3]
    assert calls[0][1] < calls[1][1] < calls[2][1]  # backed off on the virtual clock
    assert isinstance(dead, list) and dead[0]["ErrorCode"] == "ERROR_FROM_TARGET"
    assert "kitchen offline" in str(dead[0]["ErrorMessage"])
    assert isinstance(queued, list) and len(queued) == 1


async def test_execution_put_events_reaches_a_rule_handler_promptly(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    machine = app.state_machine(
        "order",
        {
            "StartAt": "Publish",
            "States": {
                "Publish": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::events:putEvents",
                    "Parameters": {
                        "Entries": [
                            {
                                "Source": "shop",
                                "DetailType": "order_placed",
                                "Detail": {"order.$": "$.order"},
                            }
                        ]
                    },
                    "End": True,
                }
            },
        },
    )
    got: list[Any] = []

    @app.on(PLACED)
    async def notify(event: dict[str, Any]) -> None:
        got.append(event["detail"])

    async with app:
        loop = asyncio.get_running_loop()
        began = loop.time()
        result = await app.execute(machine, {"order": 9})
        await until(lambda: got == [{"order": 9}])
        elapsed = loop.time() - began
    assert result["status"] == "SUCCEEDED"
    assert elapsed < 5.0  # the poll interval is 30 s: the worker woke the dispatcher


async def test_execution_put_events_fails_the_task_on_bad_entries(tmp_path: Path) -> None:
    """Step Functions: a non-zero FailedEntryCount fails the Task with EventBridge.FailedEntry;
    the good entries are still published, with the execution and machine ARNs in Resources."""
    app = make_app(tmp_path)
    publish: dict[str, Any] = {
        "Type": "Task",
        "Resource": "arn:aws:states:::events:putEvents",
        "Parameters": {
            "Entries": [
                {"Source": "shop", "DetailType": "order_placed", "Detail": {"order": 1}},
                {"DetailType": "order_placed", "Detail": {"order": 2}},
                {"Source": "shop", "DetailType": "x", "Detail": {}, "EventBusName": "nowhere"},
            ]
        },
        "End": True,
    }
    machine = app.state_machine("publish", {"StartAt": "P", "States": {"P": publish}})
    bad_request = app.state_machine(
        "too-many",
        {
            "StartAt": "P",
            "States": {
                "P": {**publish, "Parameters": {"Entries": [{"Source": "s"}] * 11}},
            },
        },
    )
    got: list[dict[str, Any]] = []

    @app.on(PLACED)
    def notify(event: dict[str, Any]) -> None:
        got.append(event)

    async with app:
        result = await app.execute(machine)
        too_many = await app.execute(bad_request)
        await until(lambda: len(got) == 1)
    assert result["status"] == "FAILED" and result["error"] == "EventBridge.FailedEntry"
    cause = json.loads(str(result["cause"]))
    assert cause["FailedEntryCount"] == 2
    assert cause["Entries"][1]["ErrorCode"] == "InvalidArgument"
    assert cause["Entries"][2] == {
        "ErrorCode": "ResourceNotFoundException",
        "ErrorMessage": "Event bus nowhere does not exist.",
    }
    assert got[0]["detail"] == {"order": 1}
    assert got[0]["id"] == cause["Entries"][0]["EventId"]
    assert got[0]["resources"] == [str(result["executionArn"]), machine]
    assert too_many["status"] == "FAILED"
    assert too_many["error"] == "EventBridge.ValidationException"

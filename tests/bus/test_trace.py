"""Tracing choreography through the App on a real SQLite file: one business transaction,
handler -> event -> rule -> execution -> putEvents -> handler (and a failing target that is
retried, then dead-lettered), is one trace; ``oncue trace`` prints its causal tree from any
of its event ids, an execution ARN, or the trace id.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from oncue.app import App
from oncue.bus.handlers import DeliveryContext
from oncue.bus.trace import trace_tree
from oncue.clock import VirtualClock
from oncue.errors import ExecutionNotFound, ResourceNotFoundException
from oncue.tracing import current_trace, parse_trace_header

START = datetime(2026, 1, 1, tzinfo=UTC)
_SCRIPT = Path(sys.executable).with_name("oncue")
COMMAND = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "oncue.cli"]


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.002)


def entry(source: str, detail_type: str, **detail: Any) -> dict[str, Any]:
    return {"Source": source, "DetailType": detail_type, "Detail": json.dumps(detail)}


def build(db: Path, clock: VirtualClock) -> tuple[App, dict[str, list[Any]]]:
    app = App(f"sqlite:///{db}", clock=clock, poll_seconds=30.0, lease_seconds=60.0)
    seen: dict[str, list[Any]] = {"place": [], "prepare": [], "notify": [], "audit": []}
    cooking = app.state_machine(
        "cooking",
        {
            "StartAt": "Prepare",
            "States": {
                "Prepare": {
                    "Type": "Task",
                    "Resource": app.handler_arn("prepare"),
                    "Next": "Ready",
                },
                "Ready": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::events:putEvents",
                    "Parameters": {
                        "Entries": [
                            {
                                "Source": "kitchen",
                                "DetailType": "ready",
                                "Detail": {"order.$": "$.order"},
                            }
                        ]
                    },
                    "ResultPath": None,
                    "End": True,
                },
            },
        },
    )
    app.rule(
        "cook",
        event_pattern={"source": ["shop"], "detail-type": ["cook"]},
        targets=[{"Id": "kitchen", "Arn": cooking, "InputPath": "$.detail"}],
    )

    @app.on({"source": ["shop"], "detail-type": ["order_placed"]})
    async def place(event: dict[str, Any], context: DeliveryContext) -> None:
        seen["place"].append(context.trace_id)
        # Published while handling an event: joins its trace without being told.
        await app.put_events([entry("shop", "cook", order=event["detail"]["order"])])

    @app.handler("prepare")
    async def prepare(order: dict[str, Any]) -> dict[str, Any]:
        trace = current_trace()
        seen["prepare"].append(trace.trace_id if trace else None)
        await app.put_events([entry("kitchen", "prepared", order=order["order"])])
        return order

    @app.on({"source": ["kitchen"], "detail-type": ["ready"]})
    def notify(event: dict[str, Any], context: DeliveryContext) -> None:
        seen["notify"].append(context.trace_id)

    @app.on(
        {"source": ["kitchen"], "detail-type": ["ready"]}, retry_policy={"MaximumRetryAttempts": 1}
    )
    def audit(event: dict[str, Any], context: DeliveryContext) -> None:
        seen["audit"].append(context.attempt)
        raise ConnectionError("the audit log is down")

    return app, seen


def settled(app: App, seen: dict[str, list[Any]]) -> bool:
    dead = app.events.list_dead_letters()["DeadLetters"]
    return bool(seen["notify"]) and isinstance(dead, list) and len(dead) == 1


def pending(app: App) -> int:
    with app.store.read() as tx:
        return int(tx.one("SELECT COUNT(*) FROM bus_deliveries")[0])


def oncue(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*COMMAND, *args], check=False, capture_output=True, text=True, env=env, timeout=60
    )


def nodes(tree: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    stack = list(tree["roots"])
    while stack:
        node = stack.pop()
        found.append(node)
        stack.extend(node["children"])
    return found


async def test_one_business_transaction_is_one_trace(tmp_path: Path) -> None:
    clock = VirtualClock(START)
    app, seen = build(tmp_path / "oncue.db", clock)
    async with app:
        response = await app.put_events([entry("shop", "order_placed", order=42)])
        await until(
            lambda: bool(seen["notify"]) and len(app.events.list_dead_letters()["DeadLetters"]) == 1
        )  # type: ignore[arg-type]
        store = app.store
        first = str(response["Entries"][0]["EventId"])  # type: ignore[index]
        tree = trace_tree(store, first)
    trace_id = tree["traceId"]
    # Every handler, task and delivery saw the one trace.
    assert seen["place"] == [trace_id] and seen["notify"] == [trace_id]
    assert seen["prepare"] == [trace_id] and seen["audit"] == [1, 2]
    assert tree["events"] == 4 and tree["executions"] == 1
    # The causal chain: order_placed -> place -> cook -> rule cook -> execution -> ready, and
    # prepared (published by the execution's task handler) under the execution too.
    (root,) = tree["roots"]
    assert root["type"] == "event" and root["detailType"] == "order_placed"
    (place,) = root["children"]
    assert place["type"] == "delivery" and place["rule"] == "place"
    assert place["status"] == "DELIVERED" and len(place["attempts"]) == 1
    (cook,) = place["children"]
    assert cook["detailType"] == "cook" and cook["publisher"] is None
    (started,) = cook["children"]
    assert started["rule"] == "cook" and started["status"] == "DELIVERED"
    (execution,) = started["children"]
    assert execution["type"] == "execution" and execution["status"] == "SUCCEEDED"
    assert started["executionArn"] == execution["executionArn"]
    published = {child["detailType"]: child for child in execution["children"]}
    assert set(published) == {"prepared", "ready"}
    assert published["ready"]["publisher"] == execution["executionArn"]
    assert published["prepared"]["children"] == []  # no rule wants it; it is still traced
    deliveries = {child["rule"]: child for child in published["ready"]["children"]}
    assert deliveries["notify"]["status"] == "DELIVERED"
    dead = deliveries["audit"]
    assert dead["status"] == "DEAD_LETTERED"
    assert [a["outcome"] for a in dead["attempts"]] == ["retry", "dead"]
    assert dead["attempts"][0]["errorCode"] == "ERROR_FROM_TARGET"
    assert "the audit log is down" in dead["attempts"][1]["errorMessage"]
    # The same tree from the execution ARN, from a later event id, and from the trace id.
    reopened = App(f"sqlite:///{tmp_path / 'oncue.db'}")
    try:
        assert trace_tree(reopened.store, execution["executionArn"]) == tree
        assert trace_tree(reopened.store, published["ready"]["eventId"]) == tree
        assert trace_tree(reopened.store, trace_id) == tree
        with pytest.raises(ResourceNotFoundException):
            trace_tree(reopened.store, "no-such-event")
        with pytest.raises(ExecutionNotFound):
            trace_tree(reopened.store, execution["executionArn"] + "x")
        with reopened.store.read() as tx:
            header = tx.one(
                "SELECT trace_header FROM executions WHERE arn = ?", (execution["executionArn"],)
            )[0]
        parsed = parse_trace_header(header)
        assert parsed is not None and parsed.trace_id == trace_id
    finally:
        reopened.close()
    assert {n["type"] for n in nodes(tree)} == {"event", "delivery", "execution"}


async def test_separate_publications_are_separate_traces(tmp_path: Path) -> None:
    app = App(f"sqlite:///{tmp_path / 'oncue.db'}", clock=VirtualClock(START), poll_seconds=30)
    got: dict[str, str] = {}

    @app.on({"source": ["shop"]})
    def seen(event: dict[str, Any], context: DeliveryContext) -> None:
        got[event["detail-type"]] = context.trace_id

    header = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    async with app:
        await app.put_events([entry("shop", "a"), entry("shop", "b")])
        joined = await app.put_events([{**entry("shop", "c"), "TraceHeader": header}])
        await until(lambda: len(got) == 3)
        event_c = str(joined["Entries"][0]["EventId"])  # type: ignore[index]
        tree = trace_tree(app.store, event_c)
    assert got["a"] != got["b"]  # outside any handler: a new trace per event
    assert got["c"] == "0af7651916cd43dd8448eb211c80319c"  # an entry's TraceHeader joins it
    assert tree["traceId"] == got["c"] and tree["events"] == 1


async def test_oncue_trace_prints_the_tree(tmp_path: Path) -> None:
    clock = VirtualClock(START)
    db = tmp_path / "oncue.db"
    app, seen = build(db, clock)
    async with app:
        response = await app.put_events([entry("shop", "order_placed", order=7)])
        await until(
            lambda: bool(seen["notify"]) and len(app.events.list_dead_letters()["DeadLetters"]) == 1
        )  # type: ignore[arg-type]
    first = str(response["Entries"][0]["EventId"])  # type: ignore[index]
    env = {"ONCUE_DATABASE_URL": f"sqlite:///{db}", "PATH": "/usr/bin:/bin", "COLUMNS": "200"}
    done = oncue(env, "trace", first, "--json")
    assert done.returncode == 0, done.stderr
    tree = json.loads(done.stdout)
    assert tree["events"] == 4
    printed = oncue(env, "trace", tree["traceId"])
    assert printed.returncode == 0, printed.stderr
    text = printed.stdout
    assert f"trace {tree['traceId']}: 4 events" in text
    for expected in ("shop / order_placed", "rule cook", "SUCCEEDED", "DEAD_LETTERED"):
        assert expected in text, (expected, text)
    assert "ERROR_FROM_TARGET" in text and "the audit log is down" in text
    missing = oncue(env, "trace", "nope")
    assert missing.returncode == 2
    assert missing.stderr.startswith("error: ResourceNotFoundException: ")
    # Retention: prune forgets trace records older than its cut-off, with the executions.
    pruned = oncue(env, "prune", "--older-than", "1d", "--json")
    assert pruned.returncode == 0, pruned.stderr
    # 4 events; attempts: place, cook, notify once each, audit twice.
    assert json.loads(pruned.stdout) == {"deleted": 1, "traceRecordsDeleted": 9}
    assert oncue(env, "trace", tree["traceId"]).returncode == 2


async def test_child_executions_and_their_events_stay_in_the_trace(tmp_path: Path) -> None:
    app = App(f"sqlite:///{tmp_path / 'oncue.db'}", clock=VirtualClock(START), poll_seconds=30)
    child = app.state_machine(
        "child",
        {
            "StartAt": "Publish",
            "States": {
                "Publish": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::events:putEvents",
                    "Parameters": {
                        "Entries": [{"Source": "child", "DetailType": "done", "Detail": {}}]
                    },
                    "End": True,
                }
            },
        },
    )
    parent = app.state_machine(
        "parent",
        {
            "StartAt": "Child",
            "States": {
                "Child": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::states:startExecution.sync:2",
                    "Parameters": {"StateMachineArn": child, "Input": {}},
                    "End": True,
                }
            },
        },
    )
    app.rule("go", event_pattern={"source": ["shop"]}, targets=[{"Id": "p", "Arn": parent}])
    done: list[str] = []

    @app.on({"source": ["child"]})
    def finished(event: dict[str, Any], context: DeliveryContext) -> None:
        done.append(context.trace_id)

    async with app:
        response = await app.put_events([entry("shop", "go")])
        await until(lambda: bool(done) and not pending(app))
        tree = trace_tree(app.store, str(response["Entries"][0]["EventId"]))  # type: ignore[index]
    assert done == [tree["traceId"]] and tree["executions"] == 2
    (root,) = tree["roots"]
    (delivery,) = root["children"]
    (parent_node,) = delivery["children"]
    assert parent_node["stateMachineArn"] == parent
    (child_node,) = parent_node["children"]
    assert child_node["type"] == "execution" and child_node["stateMachineArn"] == child
    (event,) = child_node["children"]
    assert event["source"] == "child" and event["publisher"] == child_node["executionArn"]
    assert event["children"][0]["status"] == "DELIVERED"


async def test_a_sync_handler_publishing_through_the_api_stays_in_the_trace(
    tmp_path: Path,
) -> None:
    app = App(f"sqlite:///{tmp_path / 'oncue.db'}", clock=VirtualClock(START), poll_seconds=30)
    traces: dict[str, str] = {}

    @app.on({"source": ["shop"], "detail-type": ["first"]})
    def first(event: dict[str, Any], context: DeliveryContext) -> None:  # runs in a thread
        traces["first"] = context.trace_id
        app.events.put_events([entry("shop", "second")])

    @app.on({"source": ["shop"], "detail-type": ["second"]})
    def second(event: dict[str, Any], context: DeliveryContext) -> None:
        traces["second"] = context.trace_id

    async with app:
        await app.put_events([entry("shop", "first")])
        await until(lambda: len(traces) == 2)
    assert traces["first"] == traces["second"]

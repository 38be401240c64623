"""The durable engine end to end on a real database: API semantics and errors.

Every test runs on a SQLite file and on PostgreSQL (a schema of its own; skipped without a
server, failed with ONCUE_REQUIRE_SERVICES=1).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from oncue.app import App
from oncue.engine.clock import VirtualClock
from oncue.errors import (
    DefinitionError,
    ExecutionAlreadyExists,
    ExecutionNotFound,
    ExecutionNotRedrivable,
    InvalidArn,
    InvalidInput,
    InvalidName,
    InvalidToken,
    StateMachineNotFound,
    TaskDoesNotExist,
    TaskTimedOut,
)
from oncue.store import open_store

LAMBDA = "arn:aws:lambda:us-east-1:123456789012:function:"
START = datetime(2026, 1, 1, tzinfo=UTC)


def task(name: str, **rest: Any) -> dict[str, Any]:
    return {"Type": "Task", "Resource": LAMBDA + name, **rest}


class Database:
    """The database a test runs on, and plain SQL against it (``?`` placeholders)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        store = open_store(self.url)
        try:
            with store.transaction() as tx:
                return [tuple(row) for row in tx.all(sql, params)]
        finally:
            store.close()

    def execute(self, *statements: tuple[str, tuple[Any, ...]]) -> None:
        store = open_store(self.url)
        try:
            with store.transaction() as tx:
                for sql, params in statements:
                    tx.run(sql, params)
        finally:
            store.close()

    def counts(self) -> dict[str, int]:
        """Row counts of every table: 'nothing changed' is checked against these."""
        if self.url.startswith("sqlite"):
            listing = "SELECT name FROM sqlite_master WHERE type = 'table'"
        else:
            listing = (
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = current_schema()"
            )
        tables = [row[0] for row in self.rows(listing)]
        return {t: self.rows(f"SELECT COUNT(*) FROM {t}")[0][0] for t in tables}


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    if request.param == "postgresql":
        return Database(str(request.getfixturevalue("postgres_url")))
    return Database(f"sqlite:///{tmp_path / 'oncue.db'}")


def make_app(db: Database, clock: VirtualClock | None = None, **kw: Any) -> App:
    app = App(db.url, clock=clock or VirtualClock(START), poll_seconds=0.05, **kw)

    @app.handler
    def double(event: Any) -> Any:
        return {"v": event["v"] * 2}

    @app.handler
    def boom(event: Any) -> Any:
        raise ValueError("boom")

    return app


@pytest.fixture
async def app(db: Database) -> AsyncIterator[App]:
    app = make_app(db)
    app.state_machine("double", {"StartAt": "D", "States": {"D": task("double", End=True)}})
    async with app:
        yield app


async def call(app: App, function: Callable[..., Any], *args: Any, **kw: Any) -> Any:
    return await app.worker.db(function, *args, **kw)


# --- executions ------------------------------------------------------------------------


async def test_start_runs_to_completion_and_describe_shows_aws_fields(app: App) -> None:
    arn = await app.start_execution("double", {"v": 21}, name="first")
    result = await app.wait(arn)
    assert result["status"] == "SUCCEEDED"
    assert result["output"] == '{"v":42}'
    assert result["name"] == "first"
    assert result["executionArn"] == arn
    assert arn == "arn:aws:states:us-east-1:123456789012:execution:double:first"
    assert result["stopDate"] >= result["startDate"]
    events = (await call(app, app.control.get_execution_history, arn))["events"]
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    assert events[-1]["type"] == "ExecutionSucceeded"


async def test_name_idempotency_follows_aws(db: Database) -> None:
    # No time skipping: the Wait must still be waiting when the counts are compared.
    app = make_app(db, VirtualClock(START), time_skipping=False)
    app.state_machine("double", {"StartAt": "D", "States": {"D": task("double", End=True)}})
    app.state_machine(
        "waits", {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 99999, "End": True}}}
    )
    async with app:
        arn = app.arn("waits")
        first = await call(app, app.control.start_execution, arn, '{"a":1}', "same")
        again = await call(app, app.control.start_execution, arn, '{"a":1}', "same")
        assert again == first  # same name, same input, still running: the same execution
        # Let the running worker take the execution into its Wait state first, so the counts
        # below change only if the refused start wrote something.
        for _ in range(500):
            if db.counts()["timers"] == 1:
                break
            await asyncio.sleep(0.01)
        before = db.counts()
        assert before["timers"] == 1
        with pytest.raises(ExecutionAlreadyExists):
            await call(app, app.control.start_execution, arn, '{"a":2}', "same")
        assert db.counts() == before
        done = await app.execute("double", {"v": 1}, name="done")
        assert done["status"] == "SUCCEEDED"
        with pytest.raises(ExecutionAlreadyExists):
            await call(app, app.control.start_execution, app.arn("double"), '{"v":1}', "done")


async def test_bad_requests_leave_the_database_as_it_was(app: App, db: Database) -> None:
    arn = app.arn("double")
    before = db.counts()
    with pytest.raises(InvalidInput, match="256 KiB"):
        await app.start_execution("double", {"blob": "x" * 300_000})
    with pytest.raises(InvalidInput, match="not valid JSON"):
        await call(app, app.control.start_execution, arn, "{nope", None)
    with pytest.raises(StateMachineNotFound):
        await app.start_execution("missing", {})
    with pytest.raises(InvalidName):
        await call(app, app.control.start_execution, arn, "{}", "bad name")
    with pytest.raises(InvalidArn):
        await call(app, app.control.describe_execution, "not-an-arn")
    with pytest.raises(ExecutionNotFound):
        await call(
            app, app.control.describe_execution, arn.replace("stateMachine", "execution") + ":x"
        )
    with pytest.raises(DefinitionError) as info:
        await call(app, app.control.create_state_machine, "broken", {"StartAt": "X", "States": {}})
    assert [p.pointer for p in info.value.problems] == ["/States"]
    for token, error in (("garbage", InvalidToken), ("0" * 64, TaskDoesNotExist)):
        with pytest.raises(error):
            await call(app, app.control.send_task_success, token, "{}")
    assert db.counts() == before


async def test_list_filters_and_pages(app: App) -> None:
    arns = [await app.start_execution("double", {"v": i}, name=f"e{i}") for i in range(5)]
    for arn in arns:
        await app.wait(arn)
    failing = app.state_machine(
        "failing", {"StartAt": "B", "States": {"B": task("boom", End=True)}}
    )
    await call(app, app.deploy)
    failed = await app.execute("failing", {})
    assert failed["status"] == "FAILED"
    assert failed["error"] == "ValueError"
    page = await call(app, app.control.list_executions, app.arn("double"), None, 2)
    assert len(page["executions"]) == 2
    seen = [e["name"] for e in page["executions"]]
    while "nextToken" in page:
        page = await call(
            app, app.control.list_executions, app.arn("double"), None, 2, page["nextToken"]
        )
        seen += [e["name"] for e in page["executions"]]
    assert sorted(seen) == [f"e{i}" for i in range(5)]
    only_failed = await call(app, app.control.list_executions, None, "FAILED")
    assert [e["stateMachineArn"] for e in only_failed["executions"]] == [failing]
    with pytest.raises(InvalidInput):
        await call(app, app.control.list_executions, None, "BROKEN")


async def test_history_pages_forwards_and_backwards(app: App) -> None:
    steps: dict[str, Any] = {f"P{i}": {"Type": "Pass", "Next": f"P{i + 1}"} for i in range(30)}
    steps["P30"] = {"Type": "Pass", "End": True}
    app.state_machine("passes", {"StartAt": "P0", "States": steps})
    await call(app, app.deploy)
    result = await app.execute("passes", {})
    arn = str(result["executionArn"])
    whole = (await call(app, app.control.get_execution_history, arn, 1000))["events"]
    forward: list[Any] = []
    token = None
    while True:
        page = await call(app, app.control.get_execution_history, arn, 7, token)
        forward += page["events"]
        token = page.get("nextToken")
        if token is None:
            break
    assert forward == whole
    backward: list[Any] = []
    token = None
    while True:
        page = await call(app, app.control.get_execution_history, arn, 10, token, True)
        backward += page["events"]
        token = page.get("nextToken")
        if token is None:
            break
    assert backward == list(reversed(whole))
    stripped = await call(app, app.control.get_execution_history, arn, 3, None, False, False)
    assert "input" not in stripped["events"][0]["executionStartedEventDetails"]


# --- timers ------------------------------------------------------------------------------


async def test_a_long_wait_takes_no_time_with_the_virtual_clock(app: App) -> None:
    app.state_machine(
        "year",
        {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 31_536_000, "End": True}}},
    )
    await call(app, app.deploy)
    result = await asyncio.wait_for(app.execute("year", {"x": 1}), timeout=10)
    assert result["status"] == "SUCCEEDED"
    assert result["stopDate"] - result["startDate"] == pytest.approx(31_536_000, abs=1)


async def test_timers_survive_a_restart_and_overdue_ones_fire_at_once(db: Database) -> None:
    clock = VirtualClock(START)
    definition = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 3600, "End": True}}}
    first = make_app(db, clock)
    first.state_machine("hour", definition)
    first.deploy()
    arn = first.control.start_execution(first.arn("hour"), "{}", "sleeper")["executionArn"]
    first.close()
    # A new process, two hours later: the timer is overdue and fires on the first cycle.
    clock = VirtualClock(START.replace(hour=2))
    second = make_app(db, clock)
    second.state_machine("hour", definition)
    async with second:
        result = await asyncio.wait_for(second.wait(str(arn)), timeout=10)
    assert result["status"] == "SUCCEEDED"
    assert result["stopDate"] == pytest.approx(START.replace(hour=2).timestamp())


async def test_a_short_wait_in_real_time(db: Database) -> None:
    app = App(db.url, poll_seconds=0.05)
    app.state_machine(
        "short", {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 1, "End": True}}}
    )
    async with app:
        loop = asyncio.get_running_loop()
        began = loop.time()
        result = await asyncio.wait_for(app.execute("short", {}), timeout=10)
        took = loop.time() - began
    assert result["status"] == "SUCCEEDED"
    assert 0.9 <= took < 3.0


async def test_task_timeout_fires_on_a_durable_timer(db: Database) -> None:
    app = make_app(db, grace_seconds=0.1)

    @app.handler
    async def hang(event: Any) -> Any:
        await asyncio.sleep(3600)

    app.state_machine(
        "slow", {"StartAt": "H", "States": {"H": task("hang", TimeoutSeconds=5, End=True)}}
    )
    async with app:
        started = asyncio.get_running_loop().time()
        # The handler never returns; the 5 s timeout timer must fail the task.
        arn = await app.start_execution("slow", {})
        app.clock.advance(6)  # type: ignore[attr-defined]
        app.worker.wake()
        result = await asyncio.wait_for(app.wait(arn), timeout=10)
        assert asyncio.get_running_loop().time() - started < 5
    assert result["status"] == "FAILED"
    assert result["error"] == "States.Timeout"


# --- stop and redrive ------------------------------------------------------------------


async def test_stop_aborts_with_error_and_cause(app: App) -> None:
    app.state_machine(
        "waits", {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 99999, "End": True}}}
    )
    await call(app, app.deploy)
    arn = (await call(app, app.control.start_execution, app.arn("waits"), "{}", "s"))[
        "executionArn"
    ]
    await call(app, app.control.stop_execution, arn, "Operator", "not needed")
    described = await call(app, app.control.describe_execution, arn)
    assert (described["status"], described["error"], described["cause"]) == (
        "ABORTED",
        "Operator",
        "not needed",
    )
    history = (await call(app, app.control.get_execution_history, arn))["events"]
    assert history[-1]["type"] == "ExecutionAborted"
    assert sum(e["type"] == "ExecutionAborted" for e in history) == 1


async def test_redrive_reruns_only_the_failed_state(db: Database) -> None:
    app = make_app(db)
    calls: list[str] = []
    healthy = False

    @app.handler
    def first(event: Any) -> Any:
        calls.append("first")
        return {"n": 1}

    @app.handler
    def flaky(event: Any) -> Any:
        calls.append("flaky")
        if not healthy:
            raise RuntimeError("not yet")
        return {"n": event["n"] + 1}

    app.state_machine(
        "flow",
        {"StartAt": "A", "States": {"A": task("first", Next="B"), "B": task("flaky", End=True)}},
    )
    async with app:
        failed = await app.execute("flow", {})
        assert failed["status"] == "FAILED"
        arn = str(failed["executionArn"])
        healthy = True
        await call(app, app.control.redrive_execution, arn)
        result = await app.wait(arn)
        assert result["status"] == "SUCCEEDED"
        assert result["output"] == '{"n":2}'
        assert result["redriveCount"] == 1
        assert calls == ["first", "flaky", "flaky"]
        with pytest.raises(ExecutionNotRedrivable):
            await call(app, app.control.redrive_execution, arn)
        types = [
            e["type"]
            for e in (await call(app, app.control.get_execution_history, arn, 1000))["events"]
        ]
    assert "ExecutionRedriven" in types
    assert types.count("ExecutionFailed") == 1 and types[-1] == "ExecutionSucceeded"


# --- callbacks and activities ---------------------------------------------------------


async def test_task_token_callbacks_and_their_errors(db: Database) -> None:
    app = make_app(db, time_skipping=False)  # the heartbeat timer must not be skipped to
    tokens: asyncio.Queue[str] = asyncio.Queue()

    @app.handler
    async def park(event: Any) -> Any:
        await tokens.put(event["token"])
        return "parked"

    app.state_machine(
        "cb",
        {
            "StartAt": "P",
            "States": {
                "P": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                    "Parameters": {"FunctionName": "park", "Payload": {"token.$": "$$.Task.Token"}},
                    "HeartbeatSeconds": 60,
                    "End": True,
                }
            },
        },
    )
    async with app:
        arn = await app.start_execution("cb", {})
        token = await asyncio.wait_for(tokens.get(), 10)
        await call(app, app.control.send_task_heartbeat, token)
        await call(app, app.control.send_task_success, token, '{"ok":true}')
        result = await app.wait(arn)
        assert result["output"] == '{"ok":true}'
        with pytest.raises(TaskTimedOut):
            await call(app, app.control.send_task_success, token, "{}")
        types = [
            e["type"] for e in (await call(app, app.control.get_execution_history, arn))["events"]
        ]
    assert types.index("TaskSubmitted") < types.index("TaskSucceeded")


async def test_the_app_answers_callbacks_and_stops_executions(db: Database) -> None:
    app = make_app(db)
    tokens: asyncio.Queue[str] = asyncio.Queue()

    @app.handler
    async def park(event: Any) -> Any:
        await tokens.put(event["token"])
        return "parked"

    waiting = {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
        "Parameters": {"FunctionName": "park", "Payload": {"token.$": "$$.Task.Token"}},
    }
    app.state_machine(
        "cb",
        {
            "StartAt": "P",
            "States": {
                "P": {
                    **waiting,
                    "Catch": [{"ErrorEquals": ["Refused"], "ResultPath": "$.why", "Next": "R"}],
                    "End": True,
                },
                "R": {"Type": "Pass", "End": True},
            },
        },
    )
    async with app:
        ok = await app.start_execution("cb", {"n": 1})
        token = await asyncio.wait_for(tokens.get(), 10)
        await app.send_task_heartbeat(token)
        await app.send_task_success(token, {"ok": True})
        assert (await app.wait(ok))["output"] == '{"ok":true}'
        with pytest.raises(TaskTimedOut):
            await app.send_task_success(token, {})
        with pytest.raises(TaskDoesNotExist):
            await app.send_task_failure(token[:-4] + "0000", error="Refused")

        refused = await app.start_execution("cb", {"n": 2})
        token = await asyncio.wait_for(tokens.get(), 10)
        await app.send_task_failure(token, error="Refused", cause="closed")
        done = await app.wait(refused)
        assert done["status"] == "SUCCEEDED"
        assert '"Error":"Refused"' in str(done["output"])

        stopped = await app.start_execution("cb", {"n": 3})
        await asyncio.wait_for(tokens.get(), 10)
        await app.stop_execution(stopped, error="Cancelled", cause="by the customer")
        described = await app.describe_execution(stopped)
        assert described["status"] == "ABORTED"
        with pytest.raises(ExecutionNotFound):
            await app.describe_execution(stopped + "-missing")


async def test_activities_are_served_by_get_activity_task(app: App) -> None:
    created = await call(app, app.control.create_activity, "review")
    activity = created["activityArn"]
    app.state_machine(
        "reviewed",
        {"StartAt": "R", "States": {"R": {"Type": "Task", "Resource": activity, "End": True}}},
    )
    await call(app, app.deploy)
    arn = await app.start_execution("reviewed", {"doc": 7})
    claimed = await call(app, app.control.get_activity_task, activity, "reviewer-1")
    assert claimed["input"] == '{"doc":7}'
    assert await call(app, app.control.get_activity_task, activity) == {}
    await call(app, app.control.send_task_success, claimed["taskToken"], '{"approved":true}')
    result = await app.wait(arn)
    assert result["output"] == '{"approved":true}'
    events = (await call(app, app.control.get_execution_history, arn))["events"]
    started = next(e for e in events if e["type"] == "ActivityStarted")
    assert started["activityStartedEventDetails"] == {"workerName": "reviewer-1"}
    listed = await call(app, app.control.list_activities)
    assert [a["name"] for a in listed["activities"]] == ["review"]


# --- service integrations ------------------------------------------------------------


def child_flow(pattern: str) -> dict[str, Any]:
    return {
        "StartAt": "Child",
        "States": {
            "Child": {
                "Type": "Task",
                "Resource": f"arn:aws:states:::states:startExecution{pattern}",
                "Parameters": {
                    "StateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:double",
                    "Input": {"v.$": "$.v"},
                },
                "End": True,
            }
        },
    }


@pytest.mark.parametrize("pattern", [".sync", ".sync:2", ""])
async def test_child_executions(app: App, pattern: str) -> None:
    app.state_machine("parent", child_flow(pattern))
    await call(app, app.deploy)
    result = await app.execute("parent", {"v": 4})
    assert result["status"] == "SUCCEEDED"
    output = __import__("json").loads(result["output"])
    child_arn = output["ExecutionArn"]
    child = await call(app, app.control.describe_execution, child_arn)
    assert child["parentExecutionArn"] == result["executionArn"]
    if pattern == ".sync":
        assert output["Output"] == '{"v":8}' and output["Status"] == "SUCCEEDED"
    elif pattern == ".sync:2":
        assert output["Output"] == {"v": 8}
    else:
        assert set(output) == {"ExecutionArn", "StartDate"}


async def test_a_failed_child_fails_the_parent_task(app: App) -> None:
    app.state_machine("failing", {"StartAt": "B", "States": {"B": task("boom", End=True)}})
    flow = child_flow(".sync")
    flow["States"]["Child"]["Parameters"]["StateMachineArn"] = app.arn("failing")
    app.state_machine("parent", flow)
    await call(app, app.deploy)
    result = await app.execute("parent", {"v": 1})
    assert result["status"] == "FAILED"
    assert result["error"] == "States.TaskFailed"
    assert '"Status":"FAILED"' in result["cause"]


async def test_put_events_writes_the_outbox_in_the_transition(app: App, db: Database) -> None:
    app.state_machine(
        "publish",
        {
            "StartAt": "P",
            "States": {
                "P": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::events:putEvents",
                    "Parameters": {
                        "Entries": [
                            {
                                "Source": "orders",
                                "DetailType": "order_placed",
                                "Detail": {"id.$": "$.id"},
                            }
                        ]
                    },
                    "End": True,
                }
            },
        },
    )
    await call(app, app.deploy)
    queue = f"arn:aws:sqs:{app.region}:{app.account}:published"
    await call(app, app.events.put_rule, "capture", event_pattern='{"source": ["orders"]}')
    await call(app, app.events.put_targets, "capture", [{"Id": "q", "Arn": queue}])
    result = await app.execute("publish", {"id": "o-1"})
    output = __import__("json").loads(result["output"])
    assert output["FailedEntryCount"] == 0
    # The running app relays the outbox row onto the bus (the row leaves the outbox in the
    # relay's transaction) and the rule's queue target receives the event with the id the
    # task reported, once.
    messages: list[Any] = []
    for _ in range(200):
        received = await call(app, app.events.receive_messages, "published", 10)
        messages += received["Messages"]
        if messages:
            break
        await asyncio.sleep(0.02)
    assert len(messages) == 1
    envelope = __import__("json").loads(messages[0]["Body"])
    assert envelope["id"] == output["Entries"][0]["EventId"]
    assert envelope["detail"] == {"id": "o-1"}
    assert db.rows("SELECT COUNT(*) FROM outbox") == [(0,)]


# --- state machines ------------------------------------------------------------------


async def test_versions_and_running_executions_keep_their_definition(app: App) -> None:
    control = app.control
    created = await call(
        app,
        control.create_state_machine,
        "ver",
        {
            "StartAt": "W",
            "States": {
                "W": {"Type": "Wait", "Seconds": 10, "Next": "R"},
                "R": {"Type": "Pass", "Result": "v1", "End": True},
            },
        },
        publish=True,
    )
    assert created["stateMachineVersionArn"].endswith(":ver:1")
    arn = str(created["stateMachineArn"])
    running = (await call(app, control.start_execution, arn, "{}", "old"))["executionArn"]
    updated = await call(
        app,
        control.update_state_machine,
        arn,
        definition={"StartAt": "R", "States": {"R": {"Type": "Pass", "Result": "v2", "End": True}}},
        publish=True,
    )
    assert updated["stateMachineVersionArn"].endswith(":ver:2")
    old = await app.wait(str(running))
    assert old["output"] == '"v1"'
    on_v1 = await app.wait(
        (await call(app, control.start_execution, arn + ":1", "{}", "pinned"))["executionArn"]
    )
    assert on_v1["output"] == '"v1"' and on_v1["stateMachineVersionArn"] == arn + ":1"
    on_version = await call(app, control.list_executions, arn + ":1")
    assert [e["name"] for e in on_version["executions"]] == ["pinned"]
    versions = await call(app, control.list_state_machine_versions, arn)
    assert [v["stateMachineVersionArn"] for v in versions["stateMachineVersions"]] == [
        arn + ":2",
        arn + ":1",
    ]


async def test_retention_deletes_finished_executions_only(db: Database) -> None:
    clock = VirtualClock(START)
    app = make_app(db, clock, time_skipping=False)
    app.state_machine("double", {"StartAt": "D", "States": {"D": task("double", End=True)}})
    app.state_machine(
        "waits", {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 10**7, "End": True}}}
    )
    async with app:
        done = [await app.execute("double", {"v": i}) for i in range(3)]
        running = (await call(app, app.control.start_execution, app.arn("waits"), "{}", "r"))[
            "executionArn"
        ]
        clock.advance(86400 * 31)
        removed = await call(app, app.control.delete_finished_executions, 86400 * 30)
        assert removed == 3
        with pytest.raises(ExecutionNotFound):
            await call(app, app.control.describe_execution, done[0]["executionArn"])
        assert (await call(app, app.control.describe_execution, running))["status"] == "RUNNING"
    assert db.rows("SELECT COUNT(*) FROM history WHERE execution_arn <> ?", (running,)) == [(0,)]


async def test_get_activity_task_long_polls_until_a_task_arrives(app: App) -> None:
    activity = (await call(app, app.control.create_activity, "pack"))["activityArn"]
    app.state_machine(
        "packing",
        {"StartAt": "P", "States": {"P": {"Type": "Task", "Resource": activity, "End": True}}},
    )
    await call(app, app.deploy)
    assert await app.get_activity_task(activity, "w", wait_seconds=0.2) == {}
    poll = asyncio.create_task(app.get_activity_task(activity, "w", wait_seconds=30))
    await asyncio.sleep(0.05)
    loop = asyncio.get_running_loop()
    began = loop.time()
    arn = await app.start_execution("packing", {"box": 1})
    claimed = await asyncio.wait_for(poll, 10)
    assert loop.time() - began < 0.5  # woken by the scheduling, not by a poll interval
    assert claimed["input"] == '{"box":1}'
    await call(app, app.control.send_task_failure, claimed["taskToken"], "Broken", "no tape")
    result = await app.wait(arn)
    assert (result["status"], result["error"], result["cause"]) == ("FAILED", "Broken", "no tape")


async def test_an_engine_defect_fails_one_execution_not_the_worker(app: App, db: Database) -> None:
    arn = await app.start_execution("double", {"v": 1}, name="victim")
    await app.wait(arn)
    # A corrupt stored state, as a defect would leave it: the execution it belongs to fails
    # with States.Runtime, and the worker goes on with the others.
    db.execute(
        (
            "INSERT INTO executions (arn, name, state_machine_arn, revision_id, status, input,"
            " start_date, version, state) SELECT arn || '-x', name || '-x', state_machine_arn,"
            " revision_id, 'RUNNING', input, start_date, 1, ? FROM executions WHERE name = ?",
            ('{"v": 1, "broken": true}', "victim"),
        ),
        (
            "INSERT INTO inbox (execution_arn, body) VALUES (?, ?)",
            (arn + "-x", '{"type": "TimerFired", "timer_id": "t"}'),
        ),
    )
    app.worker.wake()
    after = await app.execute("double", {"v": 3}, name="after")
    assert after["output"] == '{"v":6}'
    broken = await call(app, app.control.describe_execution, arn + "-x")
    assert broken["status"] == "FAILED" and broken["error"] == "States.Runtime"
    assert "StoreError" in broken["cause"]
    history = (await call(app, app.control.get_execution_history, arn + "-x"))["events"]
    assert [e["type"] for e in history] == ["ExecutionFailed"]

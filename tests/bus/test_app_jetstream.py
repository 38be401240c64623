"""``oncue.App`` with ``ONCUE_NATS_URL``: handler targets over JetStream, the inline targets and
the execution outbox as before, all woken without polling (the app polls every 30 s).
Also the configuration's errors."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from nats_support import shared_nats_url, unique
from oncue.app import App
from oncue.bus.streams import Layout, layout_from_environment
from oncue.errors import InvalidInput
from oncue.store.trace_sql import TraceTx
from oncue.transport import MemoryTransport, open_transport
from oncue.transport.jetstream import JetStreamTransport

PLACED = {"source": ["shop"], "detail-type": ["order_placed"]}


@pytest.fixture
async def stream(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[str]:
    url = shared_nats_url()
    name = unique("A")
    monkeypatch.setenv("ONCUE_NATS_URL", url)
    monkeypatch.setenv("ONCUE_NATS_STREAM", name)
    monkeypatch.setenv("ONCUE_NATS_SUBJECT_PREFIX", name.lower())
    yield name
    cleaner = JetStreamTransport(url)
    await cleaner.delete_stream(name)
    await cleaner.close()


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.002)


async def test_the_app_delivers_handler_targets_over_jetstream(tmp_path: Path, stream: str) -> None:
    app = App(f"sqlite:///{tmp_path / 'oncue.db'}", poll_seconds=30.0)
    publisher = app.state_machine(
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
    packer = app.state_machine(
        "pack",
        {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}},
    )
    app.rule(
        "to-machine",
        event_pattern=PLACED,
        targets=[{"Id": "m", "Arn": packer, "InputPath": "$.detail"}],
    )
    got: list[Any] = []

    @app.on(PLACED)
    async def notify(event: dict[str, Any]) -> None:
        got.append(event["detail"]["order"])

    async with app:
        assert app.jetstream is not None
        response = await app.put_events(
            [{"Source": "shop", "DetailType": "order_placed", "Detail": json.dumps({"order": 1})}]
        )
        assert response["FailedEntryCount"] == 0
        result = await app.execute(publisher, {"order": 2})
        await until(lambda: sorted(got) == [1, 2])
        # The state machine target stays on the database path, delivered in a transaction.
        await until(lambda: len(app.control.list_executions(packer)["executions"]) == 2)
        stats = dict(app.jetstream.stats)
    assert result["status"] == "SUCCEEDED"
    assert stats["published"] == 2 and stats["delivered"] == 2


async def test_without_a_nats_url_events_stay_in_the_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ONCUE_NATS_URL", raising=False)
    app = App(f"sqlite:///{tmp_path / 'oncue.db'}")
    assert app.jetstream is None
    app.close()


def test_bad_configuration_is_refused_with_the_variable_named() -> None:
    with pytest.raises(InvalidInput, match="ONCUE_NATS_URL='http://x'"):
        open_transport("http://x")
    assert isinstance(open_transport("memory://"), MemoryTransport)
    assert isinstance(open_transport("nats://127.0.0.1:4222"), JetStreamTransport)
    assert layout_from_environment({}) == Layout()
    assert layout_from_environment(
        {"ONCUE_NATS_REPLICAS": "3", "ONCUE_NATS_STORAGE": "memory"}
    ) == Layout(replicas=3, storage="memory")
    for variable, value, message in [
        ("ONCUE_NATS_STREAM", "a.b", "is not a stream name"),
        ("ONCUE_NATS_SUBJECT_PREFIX", "a.>", "is not a subject prefix"),
        ("ONCUE_NATS_STORAGE", "disk", "must be file or memory"),
        ("ONCUE_NATS_REPLICAS", "2.5", "from 1 to 5"),
        ("ONCUE_NATS_REPLICAS", "three", "is not a number"),
        ("ONCUE_NATS_DUPLICATE_WINDOW", "0", "must be a positive number"),
    ]:
        with pytest.raises(InvalidInput, match=message) as raised:
            layout_from_environment({variable: value})
        assert variable in str(raised.value)


async def test_events_published_by_a_handler_over_jetstream_stay_in_its_trace(
    tmp_path: Path, stream: str
) -> None:
    app = App(f"sqlite:///{tmp_path / 'oncue.db'}", poll_seconds=30.0)
    notified: list[Any] = []

    @app.on(PLACED)
    async def place(event: dict[str, Any]) -> None:
        await app.put_events(
            [{"Source": "kitchen", "DetailType": "ready", "Detail": json.dumps({"n": 1})}]
        )

    @app.on({"source": ["kitchen"]})
    async def ready(event: dict[str, Any]) -> None:
        notified.append(event["id"])

    async with app:
        response = await app.put_events(
            [{"Source": "shop", "DetailType": "order_placed", "Detail": json.dumps({"n": 0})}]
        )
        first = str(response["Entries"][0]["EventId"])  # type: ignore[index]
        await until(lambda: len(notified) == 1)

        def read() -> tuple[str | None, str | None, list[Any], list[Any]]:
            with app.store.read() as tx:
                trace = TraceTx(tx)
                trace_id = trace.trace_of_event(first)
                events = trace.events(trace_id or "")
                attempts = trace.attempts(trace_id or "")
                return trace_id, trace.trace_of_event(notified[0]), events, attempts

        # The attempts are written to the trace in the background, in batches.
        await until(lambda: len(read()[3]) >= 2)
        trace_id, second, events, attempts = read()
    assert trace_id is not None and second == trace_id  # one trace, over JetStream
    assert {e.event_id for e in events} == {first, notified[0]}
    assert sorted(a.outcome for a in attempts) == ["delivered", "delivered"]

"""Internal queues over a real SQLite file: receive, acknowledge, visibility timeout."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from oncue.bus.service import EventBus
from oncue.engine.clock import VirtualClock
from oncue.errors import InvalidInput
from oncue.store import SQLiteStore


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    opened = SQLiteStore(f"sqlite:///{tmp_path / 'oncue.db'}")
    yield opened
    opened.close()


def bodies(response: dict[str, Any]) -> list[Any]:
    return [json.loads(m["Body"]) for m in response["Messages"]]


def test_a_message_not_deleted_in_time_is_received_again(store: SQLiteStore) -> None:
    clock = VirtualClock(datetime(2025, 1, 1, tzinfo=UTC))
    bus = EventBus(store, clock=clock)
    for n in range(3):
        sent = bus.send_message("jobs", json.dumps({"n": n}))
        assert len(str(sent["MD5OfMessageBody"])) == 32

    first = bus.receive_messages("jobs", max_messages=2, visibility_timeout=30)
    assert bodies(first) == [{"n": 0}, {"n": 1}]
    assert [m["Attributes"]["ApproximateReceiveCount"] for m in first["Messages"]] == ["1", "1"]
    second = bus.receive_messages("jobs", max_messages=10, visibility_timeout=30)
    assert bodies(second) == [{"n": 2}]
    assert bus.receive_messages("jobs", max_messages=10)["Messages"] == []
    assert bus.delete_message("jobs", second["Messages"][0]["ReceiptHandle"]) == {}

    clock.advance(29)
    assert bus.receive_messages("jobs", max_messages=10)["Messages"] == []
    clock.advance(2)  # the visibility timeout ran out without a delete
    again = bus.receive_messages("jobs", max_messages=10, visibility_timeout=30)
    assert bodies(again) == [{"n": 0}, {"n": 1}]
    assert [m["Attributes"]["ApproximateReceiveCount"] for m in again["Messages"]] == ["2", "2"]
    old = [m["ReceiptHandle"] for m in first["Messages"]]
    new = [m["ReceiptHandle"] for m in again["Messages"]]
    assert set(old).isdisjoint(new)
    assert [m["MessageId"] for m in again["Messages"]] == [
        m["MessageId"] for m in first["Messages"]
    ]

    # A delete with the handle of an earlier receive succeeds but deletes nothing (SQS).
    assert bus.delete_message("jobs", old[0]) == {}
    assert bus.delete_message("jobs", new[1]) == {}
    clock.advance(31)
    assert bodies(bus.receive_messages("jobs", max_messages=10)) == [{"n": 0}]


def test_queues_are_separate_and_requests_are_checked(store: SQLiteStore) -> None:
    bus = EventBus(store)
    bus.send_message("a", "one", {"kind": "test"})
    assert bus.receive_messages("b")["Messages"] == []
    (message,) = bus.receive_messages("a", visibility_timeout=0)["Messages"]
    assert message["Body"] == "one"
    assert message["MessageAttributes"] == {"kind": {"DataType": "String", "StringValue": "test"}}
    checks: list[Callable[[], object]] = [
        lambda: bus.receive_messages("a", max_messages=0),
        lambda: bus.receive_messages("a", max_messages=11),
        lambda: bus.receive_messages("a", visibility_timeout=-1),
        lambda: bus.receive_messages("a", visibility_timeout=12 * 3600 + 1),
        lambda: bus.receive_messages("not a name"),
        lambda: bus.send_message("a", ""),
        lambda: bus.delete_message("a", ""),
    ]
    for bad in checks:
        with pytest.raises(InvalidInput):
            bad()

"""Schedules, archives and replays through ``oncue.App``: a scheduled rule's handler runs on a
virtual clock that the app jumps; a replay started through ``app.events`` reaches an ``@app.on``
handler with ``replay-name``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from oncue.app import App
from oncue.clock import VirtualClock

START = datetime(2026, 1, 1, tzinfo=UTC)


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.005)


async def test_a_scheduled_rule_runs_its_handler_on_the_virtual_clock(tmp_path: Path) -> None:
    clock = VirtualClock(START)
    app = App(f"sqlite:///{tmp_path / 'oncue.db'}", clock=clock, time_skipping=True)
    ticks: list[dict[str, Any]] = []

    @app.handler("nightly")
    def nightly(event: dict[str, Any]) -> None:
        ticks.append(event)

    rule = app.rule(
        "nightly-report",
        schedule="cron(0 2 * * ? *)",
        targets=[{"Id": "1", "Arn": app.handler_arn("nightly")}],
    )
    async with app:
        await until(lambda: len(ticks) >= 3)
    assert [t["time"] for t in ticks[:3]] == [
        "2026-01-01T02:00:00Z",
        "2026-01-02T02:00:00Z",
        "2026-01-03T02:00:00Z",
    ]
    assert ticks[0]["detail-type"] == "Scheduled Event"
    assert ticks[0]["resources"] == [rule]


async def test_a_replay_reaches_the_apps_handler(tmp_path: Path) -> None:
    app = App(f"sqlite:///{tmp_path / 'oncue.db'}", poll_seconds=30.0)
    seen: list[tuple[int, str | None]] = []

    @app.on({"source": ["shop"]})
    def record(event: dict[str, Any]) -> None:
        seen.append((event["detail"]["n"], event.get("replay-name")))

    async with app:
        events = app.events
        events.create_archive("shop", "default", event_pattern=json.dumps({"source": ["shop"]}))
        now = datetime.now(UTC).replace(microsecond=0)  # an event's time is whole seconds
        await app.put_events(
            [
                {
                    "Source": "shop",
                    "DetailType": "Placed",
                    "Detail": json.dumps({"n": n}),
                    "Time": (now - timedelta(minutes=10 - n)).isoformat(),
                }
                for n in range(5)
            ]
        )
        await until(lambda: len(seen) == 5)
        events.start_replay(
            "again",
            "arn:aws:events:us-east-1:123456789012:archive/shop",
            now - timedelta(minutes=8),
            now,
            {"Arn": "default"},
        )
        await until(lambda: len(seen) == 8)
        await until(lambda: events.describe_replay("again")["State"] == "COMPLETED")
        assert events.describe_archive("shop")["EventCount"] == 5  # replays not archived
    assert sorted(n for n, name in seen if name == "again") == [2, 3, 4]

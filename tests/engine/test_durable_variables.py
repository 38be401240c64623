"""Workflow variables live in the durable execution state: they survive a restart."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from oncue import App, VirtualClock

START = datetime(2026, 1, 1, tzinfo=UTC)

DEFINITION: dict[str, Any] = {
    "QueryLanguage": "JSONata",
    "StartAt": "Remember",
    "States": {
        "Remember": {
            "Type": "Pass",
            "Assign": {"order": "{% $states.input.order %}", "seen": "{% $now() %}"},
            "Output": {},
            "Next": "Fan out",
        },
        "Fan out": {
            "Type": "Parallel",
            "Branches": [
                {
                    "StartAt": "Note",
                    "States": {
                        "Note": {"Type": "Pass", "Assign": {"inner": "kept"}, "Next": "Sleep"},
                        "Sleep": {"Type": "Wait", "Seconds": 3600, "Next": "Read"},
                        "Read": {
                            "Type": "Pass",
                            "Output": "{% $inner & ':' & $order.id %}",
                            "End": True,
                        },
                    },
                }
            ],
            "Next": "Report",
        },
        "Report": {
            "Type": "Pass",
            "Output": {
                "branch": "{% $states.input[0] %}",
                "seen": "{% $seen %}",
                "id": "{% $order.id %}",
            },
            "End": True,
        },
    },
}


def make_app(db: Path, clock: VirtualClock) -> App:
    app = App(f"sqlite:///{db}", clock=clock, poll_seconds=0.05)
    app.state_machine("remember", DEFINITION)
    return app


async def test_variables_of_every_scope_survive_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "oncue.db"
    first = make_app(db, VirtualClock(START))
    first.deploy()
    started = first.control.start_execution(
        first.arn("remember"), json.dumps({"order": {"id": "o-7"}}), "remembering"
    )
    first.close()
    # Another process, two hours later: the Wait is overdue; the variables come from the store.
    second = make_app(db, VirtualClock(START.replace(hour=2)))
    async with second:
        result = await asyncio.wait_for(second.wait(str(started["executionArn"])), timeout=10)
    assert result["status"] == "SUCCEEDED", result
    assert json.loads(result["output"]) == {
        "branch": "kept:o-7",
        "seen": "2026-01-01T00:00:00.000Z",
        "id": "o-7",
    }

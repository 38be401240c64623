"""During the grace period, what finishes is committed at once (with its transitions), not
when the slowest handler ends; the worker claims nothing new."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from oncue.app import App

LAMBDA = "arn:aws:lambda:us-east-1:123456789012:function:"
FLOW = {
    "StartAt": "Work",
    "States": {
        "Work": {"Type": "Task", "Resource": LAMBDA + "work", "Next": "Next"},
        "Next": {"Type": "Task", "Resource": LAMBDA + "next", "End": True},
    },
}


async def test_results_in_the_grace_period_are_committed_as_they_come(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'drain.db'}"
    app = App(url, grace_seconds=10, poll_seconds=0.05)
    started: dict[str, asyncio.Event] = {"quick": asyncio.Event(), "slow": asyncio.Event()}
    release_slow = asyncio.Event()
    calls: list[str] = []

    @app.handler("work")
    async def work(event: Any) -> Any:
        started[event["id"]].set()
        if event["id"] == "quick":
            await asyncio.sleep(0.3)
        else:
            await release_slow.wait()
        return event

    @app.handler("next")
    async def next_(event: Any) -> Any:
        calls.append(event["id"])
        return event

    app.state_machine("flow", FLOW)
    await app.start()
    quick = await app.start_execution("flow", {"id": "quick"})
    slow = await app.start_execution("flow", {"id": "slow"})
    await asyncio.wait_for(asyncio.gather(*(e.wait() for e in started.values())), 10)
    stopping = asyncio.create_task(app.stop())
    try:
        # The quick handler finished inside the grace period while the slow one still runs:
        # its result and the transition to "Next" are committed now.
        client = App(url, strict=False)
        try:

            async def entered_next() -> None:
                while True:
                    events = await asyncio.to_thread(
                        client.control.get_execution_history, quick, 1000
                    )
                    names = [
                        e.get("stateEnteredEventDetails", {}).get("name")
                        for e in events["events"]  # type: ignore[union-attr]
                        if isinstance(e, dict)
                    ]
                    if "Next" in names:
                        return
                    await asyncio.sleep(0.05)

            await asyncio.wait_for(entered_next(), 5)
            assert not stopping.done()
            # The stopping worker does not run the new task: it is left for other workers.
            assert calls == []
        finally:
            client.close()
    finally:
        release_slow.set()
        await asyncio.wait_for(stopping, 15)
    # Both "Next" tasks wait, unleased, for the next worker.
    app = App(url, poll_seconds=0.05)
    app.add_handlers({"work": work, "next": next_})
    app.state_machine("flow", FLOW)
    async with app:
        for arn in (quick, slow):
            result = await asyncio.wait_for(app.wait(arn), 10)
            assert result["status"] == "SUCCEEDED"
    assert sorted(calls) == ["quick", "slow"]

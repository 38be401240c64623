"""The shared run loop: an external notifier ends the idle wait; loops sharing a virtual clock
jump time together, to the earliest due time, and never while one of them holds work."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Hashable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from oncue.bus.dispatch import Dispatcher
from oncue.bus.service import EventBus
from oncue.clock import VirtualClock
from oncue.cycleloop import CycleLoop, TimeSkip
from oncue.store import SQLiteStore

START = datetime(2026, 1, 1, tzinfo=UTC)


async def test_a_notifier_wakes_an_idle_dispatcher(tmp_path: Path) -> None:
    store = SQLiteStore(f"sqlite:///{tmp_path / 'oncue.db'}")
    api = EventBus(store)  # another "process": no listener tells the dispatcher anything
    api.put_rule("r", event_pattern=json.dumps({"source": ["shop"]}))
    api.put_targets("r", [{"Id": "1", "Arn": "arn:aws:lambda:us-east-1:123456789012:function:f"}])
    signal = asyncio.Event()
    notified = 0

    async def notifier() -> None:
        nonlocal notified
        await signal.wait()
        signal.clear()
        notified += 1

    got: list[str] = []
    dispatcher = Dispatcher(
        store, {"f": lambda event: got.append(event["id"])}, poll_seconds=60, notifier=notifier
    )
    stop = asyncio.Event()
    task = asyncio.create_task(dispatcher.run(stop))
    try:
        await asyncio.sleep(0.05)  # idle now, for a minute
        response = api.put_events([{"Source": "shop", "DetailType": "x", "Detail": "{}"}])
        signal.set()  # what LISTEN/NOTIFY would do
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        while not got:
            assert loop.time() < deadline, "the notifier did not wake the dispatcher"
            await asyncio.sleep(0.005)
    finally:
        stop.set()
        await task
        store.close()
    entries = response["Entries"]
    assert isinstance(entries, list)
    assert got == [entries[0]["EventId"]] and notified >= 1


async def test_a_broken_notifier_does_not_spin_the_loop(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = SQLiteStore(f"sqlite:///{tmp_path / 'oncue.db'}")
    calls = 0

    async def broken() -> None:
        nonlocal calls
        calls += 1
        raise ConnectionError("LISTEN connection lost")

    dispatcher = Dispatcher(store, {}, poll_seconds=0.1, notifier=broken)
    stop = asyncio.Event()
    task = asyncio.create_task(dispatcher.run(stop))
    await asyncio.sleep(0.5)
    stop.set()
    await task
    store.close()
    # About one idle wait per poll interval, each trying the notifier once: not thousands.
    assert 1 <= calls <= 10 and dispatcher.stats["cycles"] <= 12
    assert "the notifier failed" in caplog.text


class _Timers(CycleLoop[str]):
    """A loop whose only work is timers at fixed virtual times; it records when each fired."""

    def __init__(self, clock: VirtualClock, dues: list[float], hold: asyncio.Event) -> None:
        super().__init__(
            clock=clock,
            concurrency=1,
            lease_seconds=30,
            poll_seconds=0.05,
            grace_seconds=1,
            time_skipping=True,
            thread_name="test-loop",
        )
        self.dues = sorted(dues)
        self.fired: list[float] = []
        self.hold = hold
        self.vclock = clock

    async def _cycle(self) -> bool:
        now = self.vclock.now().timestamp()
        while self.dues and self.dues[0] <= now:
            self.fired.append(self.dues.pop(0))
            self._queued.append(f"work-{len(self.fired)}")
            self._start_queued()
        return False

    def _key(self, work: str) -> Hashable:
        return work

    async def _execute(self, work: str) -> None:
        await self.hold.wait()  # work in hand: no loop of the group may jump time

    def _pending(self) -> bool:
        return False

    def _next_due(self) -> float | None:
        return self.dues[0] if self.dues else None


async def test_loops_sharing_a_clock_skip_time_together() -> None:
    clock = VirtualClock(START)
    base = START.timestamp()
    held = asyncio.Event()
    free = asyncio.Event()
    free.set()
    slow = _Timers(clock, [base + 10], held)  # its first timer's work is held
    fast = _Timers(clock, [base + 20, base + 3600], free)
    TimeSkip().join(slow, fast)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(slow.run(stop)), asyncio.create_task(fast.run(stop))]
    try:
        while slow.fired != [base + 10]:
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.3)
        # slow holds work: fast's timers are due only in virtual time nobody may skip to.
        assert fast.fired == []
        assert clock.now() == START + timedelta(seconds=10)
        held.set()
        while len(fast.fired) < 2:
            await asyncio.sleep(0.005)
        assert fast.fired == [base + 20, base + 3600]
    finally:
        held.set()
        stop.set()
        await asyncio.gather(*tasks)

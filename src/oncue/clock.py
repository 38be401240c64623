"""Clocks: the real one, and a virtual one that time-skipping runs advance at will.

Shared by the engine and the bus (both drivers read time only through a clock).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Protocol

__all__ = ["Clock", "SystemClock", "VirtualClock"]


class Clock(Protocol):
    def now(self) -> datetime: ...

    async def sleep_until(self, due: datetime) -> None: ...


class SystemClock:
    """Wall-clock time in UTC; sleeping really sleeps."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep_until(self, due: datetime) -> None:
        delay = (due - self.now()).total_seconds()
        if delay > 0:
            await asyncio.sleep(delay)


class VirtualClock:
    """Time that only moves when told: a Wait of a year takes no time at all.

    Like trio's MockClock with ``autojump``: when nothing else can happen, the runner jumps
    the clock to the next timer instead of sleeping.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime.now(UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)

    async def sleep_until(self, due: datetime) -> None:
        self._now = max(self._now, due)

"""The clock the bus reads: wall-clock time by default, any object with the same two methods
otherwise (the engine's ``VirtualClock`` fits, so tests jump over back-off delays)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Protocol

__all__ = ["Clock", "SystemClock"]


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

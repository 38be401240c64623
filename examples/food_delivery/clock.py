"""A clock that runs faster than the wall clock: the demo's time compression.

``ScaledClock(60)`` makes one real second one simulated minute, so the order flow's
10-minute acceptance timeout fires after 10 real seconds. It satisfies oncue's ``Clock``
protocol (``now()`` and ``sleep_until()``), so the App's engine and bus, the simulator and
the reports all read the same simulated time: the timeouts in the state machine stay the
real ones (600 seconds), only the clock runs faster.

The engine and the bus poll when idle; their poll interval and leases are in *real* and
*clock* seconds respectively, which is why :func:`app_options` scales them.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = ["ScaledClock", "app_options"]


class ScaledClock:
    """Simulated time = start + (real time elapsed) * ``speed``."""

    def __init__(self, speed: float = 60.0, start: datetime | None = None) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be positive, got {speed}")
        self.speed = speed
        self._start = start or datetime.now(UTC)
        self._origin = time.monotonic()

    def now(self) -> datetime:
        elapsed = (time.monotonic() - self._origin) * self.speed
        return self._start + timedelta(seconds=elapsed)

    def timestamp(self) -> float:
        return self.now().timestamp()

    def real_seconds(self, simulated: float) -> float:
        return simulated / self.speed

    async def sleep_until(self, due: datetime) -> None:
        delay = (due - self.now()).total_seconds()
        if delay > 0:
            await asyncio.sleep(delay / self.speed)

    async def sleep(self, simulated_seconds: float) -> None:
        if simulated_seconds > 0:
            await asyncio.sleep(simulated_seconds / self.speed)


def app_options(speed: float) -> dict[str, Any]:
    """App options for a clock ``speed`` times faster than real time.

    A lease is measured on the clock, so it is stretched to last 30 real seconds; the idle
    poll is real time, so it is shortened to keep timers within about 10 simulated seconds.
    """
    return {
        "lease_seconds": 30.0 * speed,
        "poll_seconds": max(0.005, min(1.0, 10.0 / speed)),
    }

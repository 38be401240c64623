"""The clock the bus reads (see :mod:`oncue.clock`): wall-clock time by default; the
``VirtualClock`` lets tests jump over back-off delays."""

from __future__ import annotations

from oncue.clock import Clock, SystemClock

__all__ = ["Clock", "SystemClock"]

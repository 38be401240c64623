"""The engine's clocks (see :mod:`oncue.clock`)."""

from __future__ import annotations

from oncue.clock import Clock, SystemClock, VirtualClock

__all__ = ["Clock", "SystemClock", "VirtualClock"]

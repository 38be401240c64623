"""A store's wake-ups as an awaitable: ``await notifier()`` returns once another process
committed work of a topic (``engine`` or ``bus``), see :meth:`oncue.store.base.Store.watch`.

This is the shape a run loop's idle wait takes as its external wake hook: it awaits a fresh
call in each idle wait and cancels it when it wakes for another reason. A notification that
arrives while nobody waits is kept, so the next wait returns at once (the work it announced
is still there to find). With SQLite nothing ever arrives, and loops keep polling.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from oncue.store.base import Store

__all__ = ["StoreNotifier"]


class StoreNotifier:
    """``await notifier()``: until another process commits work of ``topic``."""

    def __init__(self, store: Store, topic: str) -> None:
        self.store = store
        self.topic = topic
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None
        self._unwatch: Callable[[], None] | None = None

    async def __call__(self) -> None:
        loop = asyncio.get_running_loop()
        if self._event is None or self._loop is not loop:
            self._loop, self._event = loop, asyncio.Event()
        if self._unwatch is None:
            self._unwatch = self.store.watch(self.topic, self._heard)
        await self._event.wait()
        self._event.clear()

    def _heard(self) -> None:
        """(The store's listener thread.) Hop to the waiting loop."""
        loop, event = self._loop, self._event
        if loop is not None and event is not None:
            with contextlib.suppress(RuntimeError):  # that loop has closed
                loop.call_soon_threadsafe(event.set)

    def close(self) -> None:
        if self._unwatch is not None:
            self._unwatch()
            self._unwatch = None

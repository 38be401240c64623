"""A store's wake-ups as an awaitable: ``await notifier()`` returns once another process
committed work of a topic (``engine`` or ``bus``), see :meth:`oncue.store.base.Store.watch`.

:class:`StoreNotifier` is the shape a run loop's idle wait takes as its external wake hook:
it awaits a fresh call in each idle wait and cancels it when it wakes for another reason. A
notification that arrives while nobody waits is kept, so the next wait returns at once (the
work it announced is still there to find). :class:`StoreWakeups` wakes many waiters at once
(the API's long polls). With SQLite nothing ever arrives, and waiters keep polling.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from oncue.store.base import Store

__all__ = ["StoreNotifier", "StoreWakeups"]


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


class StoreWakeups:
    """Wake-ups for many waiters at once (long polls): each notification of ``topic`` from
    another process, and each :meth:`fire` from this one, wakes every waiter.

    A waiter takes a :meth:`mark` before it looks for work and passes it to :meth:`wait`,
    which returns at once if a wake-up came in between: none is lost to that race.
    """

    def __init__(self, store: Store, topic: str) -> None:
        self.store = store
        self.topic = topic
        #: How many wake-ups there were (what a mark records).
        self.generation = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._changed: asyncio.Event | None = None
        self._unwatch: Callable[[], None] | None = None

    def start(self) -> None:
        """(On the event loop that waits.) Start listening."""
        self._loop = asyncio.get_running_loop()
        self._changed = asyncio.Event()
        if self._unwatch is None:
            self._unwatch = self.store.watch(self.topic, self.fire)

    def mark(self) -> int:
        return self.generation

    async def wait(self, mark: int, timeout: float) -> None:
        """Until a wake-up after ``mark``, or ``timeout``."""
        changed = self._changed
        if self.generation != mark:
            return
        if changed is None:  # not started: nothing wakes it
            await asyncio.sleep(timeout)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(changed.wait(), timeout)

    def fire(self) -> None:
        """Wake every waiter (from any thread)."""
        loop = self._loop
        if loop is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._bump()
        else:
            with contextlib.suppress(RuntimeError):  # that loop has closed
                loop.call_soon_threadsafe(self._bump)

    def _bump(self) -> None:
        self.generation += 1
        if self._changed is not None:
            self._changed.set()
            self._changed = asyncio.Event()

    def close(self) -> None:
        if self._unwatch is not None:
            self._unwatch()
            self._unwatch = None
        self._loop = None

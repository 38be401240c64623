"""The run loop the engine worker and the bus dispatcher share.

Both drivers work the same way: one *cycle* is one store transaction (a group commit) that
records what finished, takes new work and leases it; after the commit the leased work runs as
asyncio tasks, at most ``concurrency`` at a time, while the next cycle commits. This module is
that loop, written once; a driver supplies only its cycle (:meth:`CycleLoop._cycle`), what one
piece of work is and how it runs (:meth:`CycleLoop._execute`), and its store queries.

What the loop owns:

- **one store thread**: :meth:`CycleLoop.db` runs store work there (SQLite connections are per
  thread), so tasks keep running while a cycle commits;
- **retrying a failed cycle**: a cycle the database refused (locked too long, disk full)
  committed nothing and keeps its work in memory; it is tried again shortly;
- **idling**: with nothing in hand it waits until the next due time the driver reports (a
  timer, a retry), a :meth:`CycleLoop.wake`, an external *notifier* (a coroutine that returns
  when another process signalled new work, e.g. PostgreSQL's LISTEN/NOTIFY), or a poll;
- **time skipping** with a virtual clock: when no loop of its :class:`TimeSkip` group holds any
  work, time jumps to the earliest due time among them instead of being waited for (like
  trio's MockClock autojump), so a loop never jumps over another loop's timer or a running
  handler;
- **lease renewal** every third of ``lease_seconds`` while it holds work;
- **shutdown** with a grace period: the driver takes no new work; running tasks get
  ``grace_seconds`` to finish, and what finishes meanwhile is committed at once (the driver's
  drain) while the others still run; then the rest are cancelled and the driver's final commit
  records what finished and hands the rest back (their leases released, so another process
  takes them at once instead of after the lease expires).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Generic, Protocol, TypeVar

__all__ = ["CycleLoop", "Notifier", "TimeSkip"]

log = logging.getLogger("oncue.loop")
T = TypeVar("T")
W = TypeVar("W")

#: Returns when new work may be waiting elsewhere (another process committed some); the loop
#: awaits a fresh call in each idle wait and cancels it when it wakes for another reason.
Notifier = Callable[[], Awaitable[object]]


class _Clock(Protocol):
    # oncue.clock.Clock's shape (the two modules sit in the same layer and stay independent).
    def now(self) -> datetime: ...

    async def sleep_until(self, due: datetime) -> None: ...


class TimeSkip:
    """Loops sharing one virtual clock: time jumps only when all of them are idle with empty
    hands, to the earliest due time any of them has."""

    def __init__(self) -> None:
        self.members: list[CycleLoop[Any]] = []

    def join(self, *loops: CycleLoop[Any]) -> None:
        for loop in loops:
            loop.skip_group = self
            self.members.append(loop)

    def target(self) -> tuple[float, timedelta] | None:
        """The earliest due time (and its loop's margin) if every member is idle; else None."""
        best: tuple[float, timedelta] | None = None
        for member in self.members:
            if not member._resting:
                return None
            due = member._resting_due
            if due is not None and (best is None or due < best[0]):
                best = (due, member.skip_margin)
        return best


class CycleLoop(Generic[W]):
    """The shared loop; ``W`` is one piece of work the driver runs after a commit."""

    #: Exceptions of a failed cycle that are retried (anything else stops the loop).
    retried_errors: ClassVar[tuple[type[Exception], ...]] = (Exception,)
    #: How far past a due time a time skip lands (a datetime rounds floats to microseconds).
    skip_margin: ClassVar[timedelta] = timedelta(0)

    def __init__(
        self,
        *,
        clock: _Clock,
        concurrency: int,
        lease_seconds: float,
        poll_seconds: float,
        grace_seconds: float,
        time_skipping: bool,
        thread_name: str,
        notifier: Notifier | None = None,
    ) -> None:
        self.clock = clock
        self.concurrency = concurrency
        self.lease_seconds = lease_seconds
        self.poll_seconds = poll_seconds
        self.grace_seconds = grace_seconds
        self.time_skipping = time_skipping
        self.notifier = notifier
        self._thread_name = thread_name
        self._thread: ThreadPoolExecutor | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._queued: deque[W] = deque()
        self._running: dict[Hashable, asyncio.Task[None]] = {}
        self._stopping = False
        self.skip_group: TimeSkip | None = None
        self._resting = False
        self._resting_due: float | None = None
        self.errors = 0

    # --- what a driver supplies -------------------------------------------------------

    async def _cycle(self) -> bool:
        """One cycle; True when more work is waiting right away."""
        raise NotImplementedError

    def _key(self, work: W) -> Hashable:
        raise NotImplementedError

    async def _execute(self, work: W) -> None:
        """Run one piece of leased work and keep its result for the next cycle."""
        raise NotImplementedError

    def _pending(self) -> bool:
        """Results or requests in memory that the next cycle must commit."""
        raise NotImplementedError

    def _next_due(self) -> float | None:
        """(Store thread.) The earliest time work falls due, as epoch seconds."""
        raise NotImplementedError

    def _look(self) -> None:
        """Make the next cycle look for work in the store (a poll or a notification)."""

    def _has_room(self) -> bool:
        return True

    async def _renew(self) -> None:
        """Extend the leases of the work held (called every third of ``lease_seconds``)."""

    def _stop_taking(self) -> None:
        """Shutdown began: take no new work (what is held runs on, within the grace)."""

    async def _drain(self) -> None:
        """(During the grace period.) Commit what finished while other work still runs, so
        that its effects do not wait for the slowest handler; default: the final commit
        records everything."""

    async def _final(self) -> None:
        """The last commit: record what finished, hand the rest back."""

    # --- plumbing ----------------------------------------------------------------------

    async def db(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run store work on the store thread (a thread of its own when not running)."""
        if self._thread is None:
            return await asyncio.to_thread(function, *args, **kwargs)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, lambda: function(*args, **kwargs))

    def _poke(self) -> None:
        """End the idle wait (from any thread)."""
        self._resting = False
        loop, event = self._loop, self._wake
        if loop is None or event is None:
            return
        try:
            current = asyncio.get_running_loop()
        except RuntimeError:
            current = None
        if current is loop:
            event.set()
        else:
            loop.call_soon_threadsafe(event.set)

    def room(self) -> int:
        """How much more work a cycle may lease (twice the concurrency, less what is held)."""
        return max(0, self.concurrency * 2 - len(self._running) - len(self._queued))

    # --- the loop ----------------------------------------------------------------------

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Run until ``stop`` is set (or the task is cancelled), then shut down gracefully."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._stopping = False
        self._thread = ThreadPoolExecutor(1, thread_name_prefix=self._thread_name)
        stop = stop or asyncio.Event()
        renewer = asyncio.create_task(self._renew_leases())
        try:
            while not stop.is_set():
                self._resting = False
                try:
                    busy = await self._cycle()
                except self.retried_errors as error:
                    # Nothing of the cycle committed and its work is still in memory (or in
                    # the store): try again shortly.
                    self.errors += 1
                    log.error("%s: a cycle failed, retrying: %s", self._thread_name, error)
                    await asyncio.sleep(min(self.poll_seconds, 0.5))
                    continue
                if busy:
                    await asyncio.sleep(0)
                    continue
                await self._idle(stop)
        finally:
            self._resting = False
            renewer.cancel()
            await self._shutdown()

    async def _idle(self, stop: asyncio.Event) -> None:
        assert self._wake is not None
        self._wake.clear()
        if self._pending():
            return
        due = await self.db(self._next_due)
        if self._wake.is_set():
            return
        now = self.clock.now().timestamp()
        if due is not None and due <= now:
            if self._has_room():
                self._look()
                return
            due = None  # due already, but no room: wait for running work to finish
        if self.time_skipping and not self._running and not self._queued:
            self._resting, self._resting_due = True, due
            skip = self.skip_group.target() if self.skip_group is not None else None
            if self.skip_group is None and due is not None:
                skip = (due, self.skip_margin)
            if skip is not None:
                # Time skipping: nothing runs anywhere, so jump instead of sleeping.
                await self.clock.sleep_until(datetime.fromtimestamp(skip[0], UTC) + skip[1])
                if self.skip_group is not None:
                    for member in self.skip_group.members:
                        if member is not self:
                            member._look()
                            member._poke()
                self._look()
                return
        delay = self.poll_seconds if due is None else min(self.poll_seconds, due - now)
        if not await self._wait(stop, delay):
            self._look()  # a poll, or a notification: work other processes made, leases ran out

    async def _wait(self, stop: asyncio.Event, delay: float) -> bool:
        """Until stop, a wake, a notification or ``delay``; True when woken by a wake."""
        assert self._wake is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + delay
        notified = asyncio.ensure_future(self.notifier()) if self.notifier is not None else None
        waits: set[asyncio.Future[object]] = {
            asyncio.ensure_future(stop.wait()),
            asyncio.ensure_future(self._wake.wait()),
        }
        try:
            await asyncio.wait(
                waits | ({notified} if notified else set()),
                timeout=delay,
                return_when="FIRST_COMPLETED",
            )
            if notified is not None and notified.done() and notified.exception() is not None:
                # A broken notifier must not turn the wait into a busy loop: log it and wait
                # out the rest as if there were none (the next idle wait tries it again).
                log.warning("%s: the notifier failed: %r", self._thread_name, notified.exception())
                remaining = deadline - loop.time()
                if remaining > 0 and not any(w.done() for w in waits):
                    await asyncio.wait(waits, timeout=remaining, return_when="FIRST_COMPLETED")
        finally:
            for waiting in waits:
                waiting.cancel()
            if notified is not None:
                notified.cancel()
        return self._wake.is_set()

    async def _renew_leases(self) -> None:
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            try:
                await self._renew()
            except Exception as error:  # the next renewal tries again; leases are long
                log.warning("%s: renewing leases failed: %s", self._thread_name, error)

    async def _shutdown(self) -> None:
        """Take no new work; let running work finish within the grace period (committing
        results as they come); record what finished, hand the rest back."""
        self._stopping = True
        self._stop_taking()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.grace_seconds
        while self._running:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            await asyncio.wait(
                list(self._running.values()), timeout=remaining, return_when="FIRST_COMPLETED"
            )
            if self._running and self._pending():
                try:
                    await self._drain()
                except Exception as error:  # its work is kept: the final commit tries again
                    log.warning("%s: a commit while stopping failed: %s", self._thread_name, error)
        for task in list(self._running.values()):
            task.cancel()
        self._queued.clear()
        try:
            await self._final()
        finally:
            if self._thread is not None:
                self._thread.shutdown(wait=True)
                self._thread = None
            self._loop = None
            self._wake = None

    # --- work --------------------------------------------------------------------------

    def _start_queued(self) -> None:
        while self._queued and len(self._running) < self.concurrency and not self._stopping:
            work = self._queued.popleft()
            key = self._key(work)
            if key in self._running:
                continue
            self._running[key] = asyncio.create_task(self._guarded(key, work))

    async def _guarded(self, key: Hashable, work: W) -> None:
        try:
            await self._execute(work)
        finally:
            self._running.pop(key, None)
            self._start_queued()
            self._poke()

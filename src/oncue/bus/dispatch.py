"""The dispatcher: an asyncio loop that delivers the bus's events to their targets.

One cycle is one transaction (a group commit, :mod:`.cycle`): record the results of finished
handler calls (success deletes the delivery; failure schedules a retry or dead-letters it),
store the PutEvents calls made through :meth:`Dispatcher.put_events` since the last cycle, relay
the outbox, lease due deliveries, and deliver to every inline target (state machine, event bus,
queue) in that same transaction. After the commit the
handler deliveries run, at most ``concurrency`` at a time, outside any transaction; sync
handlers in threads. Store work runs on one dedicated thread, so handlers keep running while a
cycle commits. PutEvents made here create their deliveries already leased to this dispatcher:
an event reaches its handlers right after the commit that accepted it, with no claim between.

Delivery is at least once. A delivery is leased (``lease_seconds``, renewed while this
dispatcher holds it); if the process dies the lease runs out and any dispatcher claims the
delivery again, and a result from a dispatcher whose lease was lost is refused (the fence). A
failing target never holds up the others: each delivery is a row of its own, retried on its own
schedule.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from oncue.bus import deadletters
from oncue.bus.clock import Clock, SystemClock
from oncue.bus.cycle import Cycle, CycleOutcome, PutRequest, Result
from oncue.bus.delivery import StartExecution, Work, render
from oncue.bus.handlers import DeliveryContext, Failure, Handler, call_handler, payload_of
from oncue.bus.router import Router
from oncue.store.base import Store
from oncue.store.bus_sql import BusTx, DeliveryKey
from oncue.types import DEFAULT_ACCOUNT, DEFAULT_REGION, Json

__all__ = ["Dispatcher"]

log = logging.getLogger("oncue.bus")
T = TypeVar("T")
_MICROSECOND = timedelta(microseconds=1)
_Put = tuple[PutRequest, "asyncio.Future[dict[str, Json]]"]


class Dispatcher:
    def __init__(
        self,
        store: Store,
        handlers: Mapping[str, Handler],
        start_execution: StartExecution | None = None,
        *,
        router: Router | None = None,
        clock: Clock | None = None,
        concurrency: int = 100,
        lease_seconds: float = 30.0,
        poll_seconds: float = 1.0,
        batch: int = 500,
        region: str = DEFAULT_REGION,
        account: str = DEFAULT_ACCOUNT,
        name: str | None = None,
        offload_sync_handlers: bool = True,
        draw: Callable[[], float] | None = None,
        time_skipping: bool = False,
        grace_seconds: float = 5.0,
        backoff: tuple[float, float] | None = None,
        on_started: Callable[[], None] | None = None,
    ) -> None:
        """``draw`` gives the jitter draws (uniform in [0, 1)); ``backoff`` replaces the
        RetryPolicy's back-off (first ceiling 1 s, cap 15 min) by ``(first, cap)`` seconds;
        ``time_skipping`` (with a virtual clock) jumps to the next due retry whenever nothing
        else can happen; ``on_started`` is called (on the loop) after a commit that started
        executions for state machine targets: the app wakes its engine worker with it."""
        self.store = store
        self.handlers = dict(handlers)
        self.router = router or Router(region=region, account=account)
        self.clock = clock or SystemClock()
        self.concurrency = concurrency
        self.lease_seconds = lease_seconds
        self.poll_seconds = poll_seconds
        self.offload = offload_sync_handlers
        self.time_skipping = time_skipping
        self.grace_seconds = grace_seconds
        self.on_started = on_started
        self.owner = name or f"dispatcher-{uuid.uuid4()}"
        self.cycle = Cycle(
            store=store,
            router=self.router,
            owner=self.owner,
            handlers=self.handlers,
            start_execution=start_execution,
            lease_seconds=lease_seconds,
            batch=batch,
            draw=draw or random.random,
            backoff=backoff,
        )
        self._thread: ThreadPoolExecutor | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._results: list[Result] = []
        self._puts: list[_Put] = []
        self._queued: deque[Work] = deque()
        self._running: dict[DeliveryKey, asyncio.Task[None]] = {}
        #: Keys leased to this dispatcher and not yet recorded: renewed, released at the end.
        self._held: set[DeliveryKey] = set()
        self._claim_wanted = True
        self._stopping = False
        self.stats = {
            "cycles": 0,
            "delivered": 0,
            "retried": 0,
            "dead_lettered": 0,
            "relayed": 0,
            "refused": 0,
            "errors": 0,
        }

    # --- plumbing ----------------------------------------------------------------------

    async def db(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run store work on the store thread (a thread of its own when not running)."""
        if self._thread is None:
            return await asyncio.to_thread(function, *args, **kwargs)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, lambda: function(*args, **kwargs))

    def wake(self) -> None:
        """New deliveries may be waiting (call from any thread): look for them at once."""
        self._claim_wanted = True
        self._poke()

    def _poke(self) -> None:
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

    async def put_events(self, entries: Json) -> dict[str, Json]:
        """PutEvents in the next cycle's transaction (a group commit); the PutEvents response
        once committed. When :meth:`run` is not running, in a transaction of its own."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._stopping:
            response = await self.db(self.cycle.put_alone, entries, self.clock.now())
            # A loop starting meanwhile may have claimed before this commit: look again.
            self.wake()
            return response
        future: asyncio.Future[dict[str, Json]] = loop.create_future()
        self._puts.append((PutRequest(entries), future))
        self._poke()
        return await future

    # --- the loop ----------------------------------------------------------------------

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Deliver until ``stop`` is set (or the task is cancelled), then shut down gracefully:
        running handlers get ``grace_seconds``, unfinished deliveries are handed back."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._stopping = False
        self._claim_wanted = True
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="oncue-bus")
        stop = stop or asyncio.Event()
        renewer = asyncio.create_task(self._renew_leases())
        try:
            while not stop.is_set():
                try:
                    busy = await self._cycle()
                except Exception:
                    # The database refused the cycle (disk full, locked too long...): nothing of
                    # it committed and its results are kept; try again shortly.
                    self.stats["errors"] += 1
                    log.exception("a dispatcher cycle failed, retrying")
                    await asyncio.sleep(min(self.poll_seconds, 0.5))
                    continue
                if busy:
                    await asyncio.sleep(0)
                    continue
                await self._idle(stop)
        finally:
            renewer.cancel()
            await self._shutdown()

    async def _cycle(self) -> bool:
        results, self._results = self._results, []
        puts, self._puts = self._puts, []
        claim = self._claim_wanted
        self._claim_wanted = False
        room = max(0, self.concurrency * 2 - len(self._running) - len(self._queued))
        requests = [request for request, _ in puts]
        try:
            outcome = await self.db(
                self.cycle.run, results, requests, claim=claim, room=room, now=self.clock.now()
            )
        except BaseException as error:
            for _, future in puts:
                if not future.done():
                    future.set_exception(error)
            self._results[:0] = results  # nothing committed: record them next time
            self._claim_wanted = self._claim_wanted or claim
            raise
        _answer(puts)
        for work, _ in results:
            self._held.discard(work.key)
        self._count(outcome)
        if outcome.started and self.on_started is not None:
            self.on_started()
        for work in outcome.handler_work:
            self._held.add(work.key)
            self._queued.append(work)
        self._start_queued()
        if outcome.relayed or outcome.more:
            self._claim_wanted = True
        return bool(self._results or self._puts or self._claim_wanted)

    def _count(self, outcome: CycleOutcome) -> None:
        self.stats["cycles"] += 1
        self.stats["relayed"] += outcome.relayed
        self.stats["delivered"] += outcome.delivered
        self.stats["retried"] += outcome.retried
        self.stats["dead_lettered"] += outcome.dead
        self.stats["refused"] += outcome.refused

    async def _idle(self, stop: asyncio.Event) -> None:
        assert self._wake is not None
        self._wake.clear()
        if self._results or self._puts or self._claim_wanted:
            return
        due = await self.db(self.cycle.next_due)
        now = self.clock.now().timestamp()
        room = len(self._running) + len(self._queued) < self.concurrency * 2
        if due is not None and due <= now and room:
            self._claim_wanted = True
            return
        if (
            self.time_skipping
            and due is not None
            and due > now
            and not self._running
            and not self._queued
        ):
            # Time skipping: nothing runs, so jump to the next retry instead of sleeping (a
            # microsecond past it: a datetime rounds the float to microseconds).
            await self.clock.sleep_until(datetime.fromtimestamp(due, UTC) + _MICROSECOND)
            self._claim_wanted = True
            return
        delay = self.poll_seconds
        if due is not None and due > now:
            delay = min(delay, due - now)
        stopper = asyncio.ensure_future(stop.wait())
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({stopper, waker}, timeout=delay, return_when="FIRST_COMPLETED")
        finally:
            stopper.cancel()
            waker.cancel()
        if not self._wake.is_set():
            self._claim_wanted = True  # a poll: other processes' deliveries, expired leases

    async def _renew_leases(self) -> None:
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            if self._held:
                until = self.clock.now().timestamp() + self.lease_seconds
                await self.db(self.cycle.renew, list(self._held), until)

    async def _shutdown(self) -> None:
        """Let running handlers finish briefly, record their results, hand the rest back."""
        self._stopping = True
        if self._running:
            await asyncio.wait(list(self._running.values()), timeout=self.grace_seconds)
        for task in list(self._running.values()):
            task.cancel()
        self._queued.clear()
        puts, self._puts = self._puts, []
        results, self._results = self._results, []
        try:
            outcome = await self.db(
                self.cycle.final,
                results,
                [request for request, _ in puts],
                list(self._held),
                self.clock.now(),
            )
        except Exception as error:
            log.exception("the dispatcher's last commit failed")
            for _, future in puts:
                if not future.done():
                    future.set_exception(error)
        else:
            self._count(outcome)
            _answer(puts)
        self._held.clear()
        if self._thread is not None:
            self._thread.shutdown(wait=True)
            self._thread = None
        self._loop = None
        self._wake = None

    # --- handlers ----------------------------------------------------------------------

    def _start_queued(self) -> None:
        while self._queued and len(self._running) < self.concurrency and not self._stopping:
            work = self._queued.popleft()
            if work.key in self._running:
                continue
            self._running[work.key] = asyncio.create_task(self._run(work))

    async def _run(self, work: Work) -> None:
        try:
            target = work.target
            assert target is not None
            text = render(work, target)
            failure: Failure | None
            if isinstance(text, Failure) or text is None:
                failure = text
            else:
                handler = self.handlers.get(target.name)
                if handler is None:  # the target changed to a handler this process lacks
                    failure = Failure(
                        code="NO_RESOURCE", message=f"no handler is registered as {target.name}"
                    )
                else:
                    context = DeliveryContext(
                        event_id=work.event_id,
                        event_bus_name=work.bus,
                        rule_name=work.key[1],
                        rule_arn=work.rule_arn,
                        target_id=target.id,
                        target_arn=target.arn,
                        attempt=work.attempt + 1,
                        idempotency_key=f"{work.event_id}/{work.rule_arn}/{target.id}",
                    )
                    failure = await call_handler(
                        handler, payload_of(text), context, offload=self.offload
                    )
            self._results.append((work, failure))
        finally:
            self._running.pop(work.key, None)
            self._start_queued()
            self._poke()

    # --- dead letters ------------------------------------------------------------------

    def list_dead_letters(
        self, bus: str | None = None, next_token: str | None = None, limit: int | None = None
    ) -> dict[str, Json]:
        """The dead letters (of one bus, or all), as :meth:`EventBus.list_dead_letters`."""
        with self.store.read() as tx:
            return deadletters.list_dead_letters(
                BusTx(tx), self.router, bus=bus, next_token=next_token, limit=limit
            )

    def redrive_dead_letters(self, ids: Sequence[int]) -> dict[str, Json]:
        """Queue dead letters for delivery again, and look for them at once."""
        with self.store.transaction() as tx:
            response = deadletters.redrive(BusTx(tx), self.router, ids, self.clock.now())
        self.wake()
        return response


def _answer(puts: Sequence[_Put]) -> None:
    for request, future in puts:
        if future.done():
            continue
        if request.error is not None:
            future.set_exception(request.error)
        elif request.response is not None:
            future.set_result(request.response)

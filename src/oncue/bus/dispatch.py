"""The dispatcher: an asyncio loop that delivers the bus's events to their targets.

One cycle is one transaction (a group commit, :mod:`.cycle`): record the results of finished
handler calls (success deletes the delivery; failure schedules a retry or dead-letters it),
store the PutEvents calls made through :meth:`Dispatcher.put_events` since the last cycle, relay
the outbox, lease due deliveries, and deliver to every inline target (state machine, event bus,
queue) in that same transaction. After the commit the
handler deliveries run, at most ``concurrency`` at a time, outside any transaction; sync
handlers in threads. The loop itself (store thread, retried cycles, idling until the next due
retry, time skipping, lease renewal, graceful shutdown) is the shared
:class:`~oncue.cycleloop.CycleLoop`. PutEvents made here create their deliveries already
leased to this dispatcher: an event reaches its handlers right after the commit that accepted
it, with no claim between.

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
from collections.abc import Callable, Hashable, Mapping, Sequence
from datetime import timedelta
from typing import ClassVar

from oncue.bus import deadletters
from oncue.bus.clock import Clock, SystemClock
from oncue.bus.cycle import Cycle, CycleOutcome, PutRequest, Result
from oncue.bus.delivery import StartExecution, Work, render
from oncue.bus.handlers import DeliveryContext, Failure, Handler, call_handler, payload_of
from oncue.bus.http_target import ApiCaller
from oncue.bus.router import Router
from oncue.cycleloop import CycleLoop, Notifier
from oncue.store.base import Store
from oncue.store.bus_sql import BusTx, DeliveryKey
from oncue.tracing import current_trace, using
from oncue.types import DEFAULT_ACCOUNT, DEFAULT_REGION, Json

__all__ = ["Dispatcher"]

log = logging.getLogger("oncue.bus")
_Put = tuple[PutRequest, "asyncio.Future[dict[str, Json]]"]


class Dispatcher(CycleLoop[Work]):
    # A time skip lands a microsecond past the due retry: a datetime rounds the float.
    skip_margin: ClassVar[timedelta] = timedelta(microseconds=1)

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
        notifier: Notifier | None = None,
        api_caller: ApiCaller | None = None,
    ) -> None:
        """``draw`` gives the jitter draws (uniform in [0, 1)); ``backoff`` replaces the
        RetryPolicy's back-off (first ceiling 1 s, cap 15 min) by ``(first, cap)`` seconds;
        ``time_skipping`` (with a virtual clock) jumps to the next due retry whenever nothing
        else can happen; ``on_started`` is called (on the loop) after a commit that started
        executions for state machine targets: the app wakes its engine worker with it;
        ``notifier`` ends an idle wait when another process made deliveries."""
        super().__init__(
            clock=clock or SystemClock(),
            concurrency=concurrency,
            lease_seconds=lease_seconds,
            poll_seconds=poll_seconds,
            grace_seconds=grace_seconds,
            time_skipping=time_skipping,
            thread_name="oncue-bus",
            notifier=notifier,
        )
        self.store = store
        self.handlers = dict(handlers)
        self.router = router or Router(region=region, account=account)
        self.offload = offload_sync_handlers
        self.on_started = on_started
        self.owner = name or f"dispatcher-{uuid.uuid4()}"
        #: Calls API destination targets (HTTP), outside the transaction like handlers.
        self.api_caller = api_caller or ApiCaller(store)
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
        self._results: list[Result] = []
        self._puts: list[_Put] = []
        #: Keys leased to this dispatcher and not yet recorded: renewed, released at the end.
        self._held: set[DeliveryKey] = set()
        self._claim_wanted = True
        self.stats = {
            "cycles": 0,
            "delivered": 0,
            "retried": 0,
            "dead_lettered": 0,
            "relayed": 0,
            "refused": 0,
        }

    # --- plumbing ----------------------------------------------------------------------

    def wake(self) -> None:
        """New deliveries may be waiting (call from any thread): look for them at once."""
        self._claim_wanted = True
        self._poke()

    async def put_events(self, entries: Json) -> dict[str, Json]:
        """PutEvents in the next cycle's transaction (a group commit); the PutEvents response
        once committed. When :meth:`run` is not running, in a transaction of its own."""
        loop = asyncio.get_running_loop()
        trace = current_trace()  # the handler this is called from, if any: same trace
        if self._loop is not loop or self._stopping:
            response = await self.db(self.cycle.put_alone, entries, self.clock.now(), trace)
            # A loop starting meanwhile may have claimed before this commit: look again.
            self.wake()
            return response
        future: asyncio.Future[dict[str, Json]] = loop.create_future()
        self._puts.append((PutRequest(entries, trace=trace), future))
        self._poke()
        return await future

    # --- the loop ----------------------------------------------------------------------

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Deliver until ``stop`` is set (or the task is cancelled), then shut down gracefully:
        running handlers get ``grace_seconds``, unfinished deliveries are handed back."""
        self._claim_wanted = True
        await super().run(stop)

    async def _cycle(self) -> bool:
        results, self._results = self._results, []
        puts, self._puts = self._puts, []
        claim = self._claim_wanted
        self._claim_wanted = False
        room = self.room()
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

    def _pending(self) -> bool:
        return bool(self._results or self._puts or self._claim_wanted)

    def _look(self) -> None:
        self._claim_wanted = True  # other processes' deliveries, retries due, expired leases

    def _has_room(self) -> bool:
        return len(self._running) + len(self._queued) < self.concurrency * 2

    def _next_due(self) -> float | None:
        return self.cycle.next_due()

    async def _renew(self) -> None:
        if self._held:
            until = self.clock.now().timestamp() + self.lease_seconds
            await self.db(self.cycle.renew, list(self._held), until)

    async def _final(self) -> None:
        """Record the results in hand, store waiting PutEvents, hand the rest back."""
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
        await self.api_caller.aclose()

    # --- handlers ----------------------------------------------------------------------

    def _key(self, work: Work) -> Hashable:
        return work.key

    async def _execute(self, work: Work) -> None:
        target = work.target
        assert target is not None
        text = render(work, target)
        failure: Failure | None
        if isinstance(text, Failure) or text is None:
            failure = text
        elif target.kind == "api_destination":
            failure = await self.api_caller.deliver(target, work.event, text)
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
                    trace_id=work.trace_id,
                )
                # What the handler publishes or starts through the app joins the trace.
                with using(work.trace):
                    failure = await call_handler(
                        handler, payload_of(text), context, offload=self.offload
                    )
        self._results.append((work, failure))

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

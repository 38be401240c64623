"""The bus over NATS JetStream: the database accepts events, JetStream carries them to handlers.

Chosen when ``ONCUE_NATS_URL`` is set. The database stays the source of truth for what was
accepted: PutEvents (and the relay of an execution's outbox) writes the event and one delivery
row per (matching rule, target) in the accepting transaction, exactly as without NATS. Then:

1. **Relay** (one loop per process): in one transaction it stores the PutEvents calls made
   through :meth:`JetStreamBus.put_events` since the last cycle (a group commit, their handler
   rows leased to this relay), relays the execution outbox onto the buses, and leases any other
   due handler rows (accepted by another process, or left by a relay that died). After the
   commit it publishes each row to its target's subject (:mod:`.streams`) with a message id
   derived from the event id, and once JetStream acked them deletes the rows. An event is
   therefore published if and only if its transaction committed; a relay that dies between
   publishing and deleting leaves leased rows that are published again when the lease runs
   out, and JetStream drops them as duplicates (the id is the same, within the window).
2. **Delivery** (:mod:`.jetstream_delivery`): a durable pull consumer per handler target,
   shared by every process with that handler; retries are naks with the RetryPolicy's
   back-off, exhausted deliveries go to the same dead letters as on the database path.

Targets delivered inside a transaction (state machine, event bus, queue) keep the database
path: their rows are left to the database dispatcher (``on_inline`` wakes it).
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from oncue.bus.cycle import PutRequest
from oncue.bus.handlers import Handler
from oncue.bus.jetstream_delivery import Deliverer, wait_any
from oncue.bus.relay import relay_outbox
from oncue.bus.router import Router
from oncue.bus.streams import Layout, Relayed, message_id
from oncue.clock import Clock, SystemClock
from oncue.errors import OncueError, TransportError
from oncue.store.base import Store
from oncue.store.bus_relay import RelayTx
from oncue.store.bus_sql import BusTx, DeliveryKey
from oncue.tracing import TraceContext, current_trace
from oncue.transport.base import Transport
from oncue.types import DEFAULT_ACCOUNT, DEFAULT_REGION, Json

__all__ = ["JetStreamBus"]

log = logging.getLogger("oncue.bus")
T = TypeVar("T")
#: Seconds to wait before trying NATS again after it refused (it is likely restarting).
_RETRY_SECONDS = 0.25
#: How long published rows may wait for a cycle with PutEvents to delete them in.
_SETTLE_SECONDS = 0.05
#: Batches a relay publishes at once (each while the following cycles commit).
_PUBLISHING = 4


@dataclass(frozen=True, slots=True, kw_only=True)
class _Outgoing:
    key: DeliveryKey
    subject: str
    msg_id: str
    payload: bytes


@dataclass(slots=True)
class _RelayOutcome:
    outgoing: list[_Outgoing] = field(default_factory=list)
    inline: int = 0
    relayed_outbox: int = 0
    #: The claim was full: more rows may be due.
    more: bool = False


class JetStreamBus:
    def __init__(
        self,
        store: Store,
        handlers: Mapping[str, Handler],
        transport: Transport,
        *,
        router: Router | None = None,
        clock: Clock | None = None,
        layout: Layout | None = None,
        concurrency: int = 100,
        lease_seconds: float = 30.0,
        poll_seconds: float = 1.0,
        refresh_seconds: float = 2.0,
        batch: int = 500,
        max_ack_pending: int = 65536,
        region: str = DEFAULT_REGION,
        account: str = DEFAULT_ACCOUNT,
        name: str | None = None,
        offload_sync_handlers: bool = True,
        draw: Callable[[], float] | None = None,
        backoff: tuple[float, float] | None = None,
        grace_seconds: float = 5.0,
        relay: bool = True,
        deliver: bool = True,
        on_inline: Callable[[], None] | None = None,
    ) -> None:
        """``concurrency`` bounds the handler calls of each target in this process;
        ``lease_seconds`` is both the relay's lease on rows and the consumers' ``ack_wait``;
        ``relay``/``deliver`` turn either half off (a process that only accepts events, or only
        delivers them); ``on_inline`` is called after a commit that left deliveries for the
        database dispatcher (state machine, bus and queue targets)."""
        self.store = store
        self.handlers = dict(handlers)
        self.transport = transport
        self.router = router or Router(region=region, account=account)
        self.clock = clock or SystemClock()
        self.layout = layout or Layout()
        self.concurrency = concurrency
        self.lease_seconds = lease_seconds
        self.poll_seconds = poll_seconds
        self.refresh_seconds = refresh_seconds
        self.batch = batch
        self.max_ack_pending = max_ack_pending
        self.owner = name or f"relay-{uuid.uuid4()}"
        self.offload = offload_sync_handlers
        self.draw = draw or random.random
        self.backoff = backoff
        self.grace_seconds = grace_seconds
        self.relay_enabled = relay
        self.deliver_enabled = deliver
        self.on_inline = on_inline
        self._thread: ThreadPoolExecutor | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._puts: list[tuple[PutRequest, asyncio.Future[dict[str, Json]]]] = []
        #: Rows published (or not) since the last relay transaction, to settle in the next.
        self._published: list[DeliveryKey] = []
        self._unpublished: list[DeliveryKey] = []
        self._publishing: set[asyncio.Task[None]] = set()
        self._stopping = False
        #: Look for rows this relay did not store itself (at start, when woken, on a poll).
        self._claim_wanted = True
        self._stream_ready = False
        self.stats = {
            "published": 0,
            "duplicates": 0,
            "relayed_outbox": 0,
            "delivered": 0,
            "retried": 0,
            "dead_lettered": 0,
            "dropped": 0,
            "errors": 0,
        }
        self.deliverer = Deliverer(
            store=store,
            handlers=self.handlers,
            transport=transport,
            router=self.router,
            clock=self.clock,
            layout=self.layout,
            concurrency=concurrency,
            ack_wait=lease_seconds,
            poll_seconds=poll_seconds,
            refresh_seconds=refresh_seconds,
            batch=batch,
            max_ack_pending=max_ack_pending,
            offload=offload_sync_handlers,
            draw=self.draw,
            backoff=backoff,
            stats=self.stats,
            db=self.db,
            ensure_stream=self.ensure_stream,
        )

    # --- plumbing ----------------------------------------------------------------------

    async def db(self, function: Callable[..., T], *args: Any) -> T:
        if self._thread is None:
            return await asyncio.to_thread(function, *args)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, lambda: function(*args))

    def wake(self) -> None:
        """Rows may be waiting to be relayed (call from any thread)."""
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
        """PutEvents, committed in the relay's next transaction (a group commit); the response
        once committed. Without a running relay, in a transaction of its own."""
        loop = asyncio.get_running_loop()
        trace = current_trace()  # the handler this is called from, if any: same trace
        if self._loop is not loop or self._stopping or not self.relay_enabled:
            return await self.db(self._put_alone, entries, self.clock.now(), trace)
        future: asyncio.Future[dict[str, Json]] = loop.create_future()
        self._puts.append((PutRequest(entries, trace=trace), future))
        self._poke()
        return await future

    def _put_alone(
        self, entries: Json, now: datetime, trace: TraceContext | None = None
    ) -> dict[str, Json]:
        with self.store.transaction() as tx:
            result = self.router.put_events_in_tx(tx, entries, now, trace=trace)
        if any(a.target.kind != "handler" for a in result.accepted) and self.on_inline:
            self.on_inline()
        return result.response

    # --- the loop ----------------------------------------------------------------------

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Relay and deliver until ``stop`` is set, then stop gracefully: running handlers get
        ``grace_seconds``, the rest of their messages are handed back (nak)."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._stopping = False
        self._claim_wanted = True
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="oncue-jetstream")
        stop = stop or asyncio.Event()
        # The loops end on ``halt`` rather than being cancelled: a relay transaction under way
        # finishes, so no PutEvents caller is told "failed" about events that committed.
        halt = asyncio.Event()
        tasks: list[asyncio.Task[None]] = []
        try:
            # PutEvents needs only the database: the relay runs while NATS is still away, and
            # publishes (after ensuring the stream) once it is there.
            if self.relay_enabled:
                tasks.append(asyncio.create_task(self._relay_loop(halt)))
            if self.deliver_enabled:
                tasks.append(asyncio.create_task(self.deliverer.run(halt)))
            await stop.wait()
        finally:
            self._stopping = True
            halt.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._shutdown()

    async def ensure_stream(self, again: bool = False) -> bool:
        """Create or update the stream (once, and ``again`` after a fetch or a publish failed:
        a server that lost a memory-stored stream gets it back); whether it is there."""
        if self._stream_ready and not again:
            return True
        try:
            await self.transport.ensure_stream(self.layout.stream_config())
        except TransportError as error:
            self.stats["errors"] += 1
            log.warning("JetStream is not ready (%s); trying again", error)
            return False
        self._stream_ready = True
        return True

    # --- relay -------------------------------------------------------------------------

    async def _relay_loop(self, stop: asyncio.Event) -> None:
        assert self._wake is not None
        while not stop.is_set():
            puts, self._puts = self._puts, []
            claim, self._claim_wanted = self._claim_wanted, False
            done, failed = self._published, self._unpublished
            self._published, self._unpublished = [], []
            try:
                outcome = await self.db(
                    self._relay_tx, [p for p, _ in puts], done, failed, claim, self.clock.now()
                )
            except BaseException as error:
                _fail(puts, error)
                self._published[:0], self._unpublished[:0] = done, failed  # not committed
                self._claim_wanted = self._claim_wanted or claim
                if not isinstance(error, Exception):
                    raise
                self.stats["errors"] += 1
                log.exception("a relay transaction failed, retrying")
                await wait_any(stop, _RETRY_SECONDS)
                continue
            _answer(puts)
            if (outcome.inline or outcome.relayed_outbox) and self.on_inline is not None:
                self.on_inline()
            self.stats["relayed_outbox"] += outcome.relayed_outbox
            if outcome.outgoing and not await self.ensure_stream():
                self._unpublished.extend(item.key for item in outcome.outgoing)
                await wait_any(stop, _RETRY_SECONDS)
                continue
            if outcome.outgoing:
                # Published while the next cycles commit; a cycle after it deletes the rows.
                task = asyncio.create_task(self._publish(outcome.outgoing))
                self._publishing.add(task)
                task.add_done_callback(self._published_one)
                if len(self._publishing) >= _PUBLISHING:
                    await asyncio.wait(self._publishing, return_when=asyncio.FIRST_COMPLETED)
            if outcome.more:
                self._claim_wanted = True
            if self._puts or outcome.relayed_outbox or outcome.more:
                continue
            await self._relay_idle(stop)

    def _published_one(self, task: asyncio.Task[None]) -> None:
        self._publishing.discard(task)
        self._poke()  # its rows are to be deleted

    async def _relay_idle(self, stop: asyncio.Event) -> None:
        assert self._wake is not None
        self._wake.clear()
        if self._puts or self._claim_wanted:
            return
        if self._published or self._unpublished:
            # Deleting published rows can wait a moment for the next PutEvents to share its
            # commit: at a low rate that keeps a second commit out of every event's path.
            await wait_any(stop, _SETTLE_SECONDS, self._wake)
            return
        delay = self.poll_seconds
        due = await self.db(self._next_due)
        if due is not None:
            delay = max(0.0, min(delay, due - self.clock.now().timestamp()))
        if delay > 0:
            await wait_any(stop, delay, self._wake)
        if not self._wake.is_set():
            self._claim_wanted = True  # a poll: rows of other processes, leases run out

    def _next_due(self) -> float | None:
        with self.store.read() as tx:
            return RelayTx(tx).next_due()

    def _relay_tx(
        self,
        puts: Sequence[PutRequest],
        published: Sequence[DeliveryKey],
        unpublished: Sequence[DeliveryKey],
        claim: bool,
        now: datetime,
    ) -> _RelayOutcome:
        """One cycle's transaction: delete the rows the last cycle published (and hand back
        those it could not), store the waiting PutEvents, relay the outbox, and (when ``claim``,
        or the outbox had rows) lease due rows: the rows of this relay's own PutEvents are
        leased as they are stored, so a cycle of those alone needs no claim query."""
        outcome = _RelayOutcome()
        until = now.timestamp() + self.lease_seconds
        with self.store.transaction() as tx:
            btx = BusTx(tx)
            btx.finish_deliveries(published, self.owner)
            btx.release_leases(unpublished, self.owner)
            btx.forget_events(key[0] for key in published)
            for put in puts:
                try:
                    with tx.savepoint():
                        result = self.router.put_events_in_tx(
                            tx,
                            put.entries,
                            now,
                            owner=self.owner,
                            lease_until=until,
                            leases=lambda target: target.kind == "handler",
                            trace=put.trace,
                        )
                except OncueError as error:
                    put.error = error
                    continue
                put.response = result.response
                for accepted in result.accepted:
                    delivery = accepted.delivery
                    if delivery.kind != "handler":
                        outcome.inline += 1
                        continue
                    relayed = Relayed(
                        event_id=delivery.event_id,
                        bus=delivery.bus,
                        rule=delivery.rule,
                        target_id=delivery.target_id,
                        envelope=accepted.envelope,
                        ingested=accepted.ingested,
                        trace_id=accepted.trace_id,
                    )
                    outcome.outgoing.append(self._outgoing(relayed, delivery.due))
            outcome.relayed_outbox = relay_outbox(tx, now, self.batch, router=self.router)
            room = self.batch - len(outcome.outgoing)
            claimed = (
                RelayTx(tx).claim(owner=self.owner, now=now.timestamp(), until=until, limit=room)
                if (claim or outcome.relayed_outbox or unpublished) and room > 0
                else []
            )
            outcome.more = len(claimed) >= room > 0
            for row in claimed:
                relayed = Relayed(
                    event_id=row.event_id,
                    bus=row.bus,
                    rule=row.rule,
                    target_id=row.target_id,
                    envelope=row.envelope,
                    ingested=row.ingested,
                    trace_id=row.trace_id,
                )
                outcome.outgoing.append(self._outgoing(relayed, row.due))
        return outcome

    def _outgoing(self, relayed: Relayed, due: float) -> _Outgoing:
        return _Outgoing(
            key=(relayed.event_id, relayed.rule, relayed.target_id),
            subject=self.layout.subject(relayed.bus, relayed.rule, relayed.target_id),
            msg_id=message_id(relayed.event_id, relayed.rule, relayed.target_id, due),
            payload=relayed.encode(),
        )

    async def _publish(self, outgoing: Sequence[_Outgoing]) -> None:
        """Publish; the next cycle deletes the published rows and hands the others back."""
        results = await asyncio.gather(
            *(self.transport.publish(o.subject, o.payload, msg_id=o.msg_id) for o in outgoing),
            return_exceptions=True,
        )
        problem: BaseException | None = None
        failed: list[DeliveryKey] = []
        for item, result in zip(outgoing, results, strict=True):
            if isinstance(result, BaseException):
                if not isinstance(result, Exception):
                    raise result
                failed.append(item.key)
                problem = problem or result
                continue
            self._published.append(item.key)
            self.stats["duplicates" if result.duplicate else "published"] += 1
        if problem is not None:
            self._stream_ready = False
            self.stats["errors"] += 1
            log.warning("deliveries not published yet (trying again): %s", problem)
            await asyncio.sleep(_RETRY_SECONDS)  # NATS refused: it is likely restarting
        self._unpublished.extend(failed)

    def _settle_relayed(self) -> None:
        """The last cycle's outcome, when no further cycle runs (shutdown)."""
        published, unpublished = self._published, self._unpublished
        self._published, self._unpublished = [], []
        if not published and not unpublished:
            return
        with self.store.transaction() as tx:
            btx = BusTx(tx)
            btx.finish_deliveries(published, self.owner)
            btx.release_leases(unpublished, self.owner)
            btx.forget_events(key[0] for key in published)

    # --- shutdown ----------------------------------------------------------------------

    async def _shutdown(self) -> None:
        await self.deliverer.stop(self.grace_seconds)
        if self._publishing:
            await asyncio.wait(self._publishing)
        try:
            await self.db(self._settle_relayed)
        except Exception:  # the rows stay leased; another relay publishes them again later
            log.exception("the relay's last commit failed")
        puts, self._puts = self._puts, []
        if puts:  # stored for whichever relay runs next
            try:
                now = self.clock.now()
                responses = [
                    await self.db(self._put_alone, p.entries, now, p.trace) for p, _ in puts
                ]
            except Exception as error:
                _fail(puts, error)
            else:
                for (_, future), response in zip(puts, responses, strict=True):
                    if not future.done():
                        future.set_result(response)
        if self._thread is not None:
            self._thread.shutdown(wait=True)
            self._thread = None
        self._loop = None
        self._wake = None


def _answer(puts: Sequence[tuple[PutRequest, asyncio.Future[dict[str, Json]]]]) -> None:
    for request, future in puts:
        if future.done():
            continue
        if request.error is not None:
            future.set_exception(request.error)
        else:
            assert request.response is not None
            future.set_result(request.response)


def _fail(puts: Sequence[tuple[PutRequest, asyncio.Future[Any]]], error: BaseException) -> None:
    for _, future in puts:
        if not future.done():
            future.set_exception(error)

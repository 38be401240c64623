"""The delivering half of the bus over JetStream: per-target durable consumers to handlers.

For every handler target whose handler this process has, :class:`Deliverer` ensures the
target's durable pull consumer (:meth:`~oncue.bus.streams.Layout.consumer_config`; one per
target, shared by every process) and fetches from it, at most ``concurrency`` handler calls per
target at a time, so a slow or failing target never holds up another. Each message is one
delivery (:class:`~oncue.bus.streams.Relayed`):

- the handler returns: the message is acked (JetStream deletes it: the stream is a work queue);
- it raises: :func:`~oncue.bus.streams.decide` applies the target's RetryPolicy — a retry is a
  ``nak`` with the back-off as its delay; when MaximumRetryAttempts or MaximumEventAgeInSeconds
  runs out (or the failure is not retryable) the delivery is written to the dead-letter table
  (and the target's dead-letter queue), as on the database path, then acked;
- the process dies: the message was never acked and JetStream delivers it again after
  ``ack_wait``; while a handler runs, in-progress acks every third of ``ack_wait`` keep its
  message from being redelivered meanwhile.

The rules are read again every ``refresh_seconds``: a new handler target gets its consumer; a
removed one is drained (its messages are dropped, as the database path drops deliveries whose
target is gone) and left.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

from oncue.asl.jsonutil import loads
from oncue.bus.deadletters import DeadLetter, dead_letter
from oncue.bus.delivery import Work, attempt_row, record_attempt, render
from oncue.bus.handlers import DeliveryContext, Failure, Handler, call_handler, payload_of
from oncue.bus.router import Router
from oncue.bus.streams import Layout, Relayed, decide
from oncue.bus.targets import Target
from oncue.clock import Clock
from oncue.errors import InvalidInput, OncueError, TransportError
from oncue.store.base import Store
from oncue.store.bus_relay import RelayTx
from oncue.store.bus_sql import BusTx
from oncue.store.trace_sql import TracedAttempt, TraceTx
from oncue.tracing import using
from oncue.transport.base import ConsumerConfig, Message, Transport

__all__ = ["Deliverer", "wait_any"]

log = logging.getLogger("oncue.bus")
T = TypeVar("T")
#: Seconds to wait before fetching again after NATS refused (it is likely restarting).
_RETRY_SECONDS = 0.25
#: Seconds between two writes of delivery attempts to the trace.
_TRACE_SECONDS = 0.05
_TargetKey = tuple[str, str, str]


@dataclass(slots=True)
class _Consumer:
    target: Target | None
    config: ConsumerConfig
    #: The deliveries running, with their messages (kept from redelivery while they run).
    running: dict[asyncio.Task[None], Message] = field(default_factory=dict)
    task: asyncio.Task[None] | None = None


class Deliverer:
    def __init__(
        self,
        *,
        store: Store,
        handlers: Mapping[str, Handler],
        transport: Transport,
        router: Router,
        clock: Clock,
        layout: Layout,
        concurrency: int,
        ack_wait: float,
        poll_seconds: float,
        refresh_seconds: float,
        batch: int,
        max_ack_pending: int,
        offload: bool,
        draw: Callable[[], float],
        backoff: tuple[float, float] | None,
        stats: dict[str, int],
        db: Callable[..., Awaitable[Any]],
        ensure_stream: Callable[[bool], Awaitable[bool]],
    ) -> None:
        """``handlers`` is read, not copied: a handler registered later is delivered to."""
        self.store = store
        self.handlers = handlers
        self.transport = transport
        self.router = router
        self.clock = clock
        self.layout = layout
        self.concurrency = concurrency
        self.ack_wait = ack_wait
        self.poll_seconds = poll_seconds
        self.refresh_seconds = refresh_seconds
        self.batch = batch
        self.max_ack_pending = max_ack_pending
        self.offload = offload
        self.draw = draw
        self.backoff = backoff
        self.stats = stats
        self.db = db
        self.ensure_stream = ensure_stream
        self.consumers: dict[_TargetKey, _Consumer] = {}
        #: Delivery attempts waiting to be written to the trace.
        self.traced: list[TracedAttempt] = []
        self.traced_ready = asyncio.Event()
        self._trace_stop = asyncio.Event()
        self._tracer: asyncio.Task[None] | None = None

    async def run(self, stop: asyncio.Event) -> None:
        self._trace_stop = asyncio.Event()
        self._tracer = asyncio.create_task(self._record_traces(self._trace_stop))
        await self._refresh_loop(stop)

    async def stop(self, grace_seconds: float) -> None:
        """Stop fetching; running handlers get ``grace_seconds``, then are cancelled (their
        messages handed back with a nak)."""
        consumers = list(self.consumers.values())
        for consumer in consumers:
            if consumer.task is not None:
                consumer.task.cancel()
        running = [task for c in consumers for task in c.running]
        if running:
            await asyncio.wait(running, timeout=grace_seconds)
        for task in running:
            task.cancel()
        await asyncio.gather(
            *running, *(c.task for c in consumers if c.task), return_exceptions=True
        )
        self.consumers.clear()
        if self._tracer is not None:  # the last attempts reach the trace
            self._trace_stop.set()
            await asyncio.gather(self._tracer, return_exceptions=True)
            self._tracer = None

    def _handler_targets(self) -> dict[_TargetKey, Target]:
        found: dict[_TargetKey, Target] = {}
        with self.store.read() as tx:
            btx = BusTx(tx)
            for bus, revision in btx.bus_revisions().items():
                rules = self.router.rules(btx, bus, revision)
                if rules is None:
                    continue
                for targets in rules.targets.values():
                    for target in targets:
                        if target.kind == "handler" and target.name in self.handlers:
                            found[(target.bus, target.rule, target.id)] = target
        return found

    async def _refresh_loop(self, stop: asyncio.Event) -> None:
        """Follow the rules: a consumer for each handler target this process can deliver to."""
        while not stop.is_set():
            try:
                targets = await self.db(self._handler_targets)
                for key, target in targets.items():
                    consumer = self.consumers.get(key)
                    if consumer is not None:
                        consumer.target = target  # its settings may have changed
                        continue
                    config = self.layout.consumer_config(
                        *key, ack_wait=self.ack_wait, max_ack_pending=self.max_ack_pending
                    )
                    if not await self.ensure_stream(False):
                        break
                    await self.transport.ensure_consumer(self.layout.stream, config)
                    consumer = _Consumer(target=target, config=config)
                    consumer.task = asyncio.create_task(self._consume(key, consumer, stop))
                    self.consumers[key] = consumer
                for key, consumer in self.consumers.items():
                    if key not in targets:
                        consumer.target = None  # removed: what is left is dropped
            except (TransportError, OncueError) as error:
                self.stats["errors"] += 1
                log.warning("could not follow the bus's targets: %s", error)
            await wait_any(stop, self.refresh_seconds)

    async def _consume(self, key: _TargetKey, consumer: _Consumer, stop: asyncio.Event) -> None:
        keeper = asyncio.create_task(self._keep_alive(consumer))
        try:
            await self._fetch_loop(key, consumer, stop)
        finally:
            keeper.cancel()

    async def _fetch_loop(self, key: _TargetKey, consumer: _Consumer, stop: asyncio.Event) -> None:
        room = asyncio.Event()
        while not stop.is_set():
            free = self.concurrency - len(consumer.running)
            if free <= 0:
                room.clear()
                await wait_any(stop, self.poll_seconds, room)
                continue
            durable = consumer.config.durable
            try:
                messages = await self.transport.fetch(
                    self.layout.stream, durable, min(free, self.batch), self.poll_seconds
                )
            except TransportError as error:
                # NATS is away, or came back without the consumer (a server that lost its
                # store): ensure the stream and the consumer again, then go on fetching.
                self.stats["errors"] += 1
                log.debug("fetch from %s failed: %s", durable, error)
                await wait_any(stop, _RETRY_SECONDS)
                with contextlib.suppress(TransportError):
                    if await self.ensure_stream(True):
                        await self.transport.ensure_consumer(self.layout.stream, consumer.config)
                continue
            if not messages and consumer.target is None:
                self.consumers.pop(key, None)  # a removed target, drained
                return
            for message in messages:
                task = asyncio.create_task(self._deliver(consumer, message))
                consumer.running[task] = message
                task.add_done_callback(partial(_finished, consumer.running, room))

    async def _deliver(self, consumer: _Consumer, message: Message) -> None:
        try:
            relayed = Relayed.decode(message.payload)
        except InvalidInput as error:
            log.error("dropped message %s on %s: %s", message.msg_id, message.subject, error)
            await self._settle(self.transport.term(message))
            return
        target = consumer.target
        if target is None:  # its rule or target was removed: nothing to deliver to
            self.stats["dropped"] += 1
            await self._settle(self.transport.ack(message))
            return
        work = Work(
            key=(relayed.event_id, relayed.rule, relayed.target_id),
            bus=relayed.bus,
            attempt=message.deliveries - 1,
            event=loads(relayed.envelope),
            envelope=relayed.envelope,
            ingested=relayed.ingested,
            target=target,
            rule_arn=self.router.rule_arn(relayed.bus, relayed.rule),
            trace_id=relayed.trace_id,
        )
        try:
            # What the handler publishes or starts through the app joins the event's trace.
            with using(work.trace):
                failure = await self._call(work, target)
        except asyncio.CancelledError:
            # Shutting down: hand the message back for another process at once.
            with contextlib.suppress(TransportError):
                await asyncio.shield(self.transport.nak(message))
            raise
        if failure is None:
            self.stats["delivered"] += 1
            self._trace(work, target, "delivered")
            await self._settle(self.transport.ack(message))
            return
        log.info("delivery of %s to %s failed: %s", work.event_id, target.arn, failure.message)
        policy = target.retry
        if self.backoff is not None:
            first, cap = self.backoff
            policy = replace(policy, base_delay_seconds=first, max_delay_seconds=cap)
        now = self.clock.now()
        decision = decide(
            policy, failure, message.deliveries, now.timestamp() - work.ingested, self.draw()
        )
        if decision.retry:
            self.stats["retried"] += 1
            self._trace(work, target, "retry", failure)
            await self._settle(self.transport.nak(message, decision.delay))
            return
        why = DeadLetter(
            code=failure.code,
            message=failure.message,
            attempts=decision.attempts,
            exhausted=decision.exhausted,
        )
        try:
            await self.db(self._dead_letter, work, target, why, failure, now)
        except Exception:  # the database refused: keep the message, try again shortly
            self.stats["errors"] += 1
            log.exception("could not dead-letter %s; it is delivered again", work.event_id)
            await self._settle(self.transport.nak(message, self.poll_seconds))
            return
        self.stats["dead_lettered"] += 1
        await self._settle(self.transport.ack(message))

    async def _settle(self, action: Any) -> None:
        try:
            await action
        except TransportError as error:
            # The message comes back after ack_wait: delivery stays at least once.
            self.stats["errors"] += 1
            log.warning("could not settle a message (it will be redelivered): %s", error)

    async def _keep_alive(self, consumer: _Consumer) -> None:
        """In-progress acks for the messages whose handlers still run: an ack_wait restarts
        for each, so a slow handler's message is not delivered again meanwhile."""
        while True:
            await asyncio.sleep(self.ack_wait / 3)
            for message in list(consumer.running.values()):
                with contextlib.suppress(TransportError):
                    await self.transport.in_progress(message)

    async def _call(self, work: Work, target: Target) -> Failure | None:
        text = render(work, target)
        if isinstance(text, Failure) or text is None:
            return text
        handler = self.handlers.get(target.name)
        if handler is None:
            return Failure(code="NO_RESOURCE", message=f"no handler is registered as {target.name}")
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
        return await call_handler(handler, payload_of(text), context, offload=self.offload)

    def _trace(
        self, work: Work, target: Target, outcome: str, failure: Failure | None = None
    ) -> None:
        """Keep the attempt for the trace; :meth:`_record_traces` writes them in batches."""
        row = attempt_row(work, target, outcome, self.clock.now(), failure)
        if row is not None:
            self.traced.append(row)
            self.traced_ready.set()

    async def _record_traces(self, stop: asyncio.Event) -> None:
        """Write the attempts kept for the trace, many per transaction (observability: an
        attempt a crash cut short before it was written is missing from the trace)."""
        while not stop.is_set() or self.traced:
            if not self.traced:
                self.traced_ready.clear()
                await wait_any(stop, self.refresh_seconds, self.traced_ready)
                continue
            rows, self.traced = self.traced, []
            try:
                await self.db(self._write_traces, rows)
            except Exception:
                log.exception("could not record %d delivery attempts in the trace", len(rows))
                if stop.is_set():
                    return
            await wait_any(stop, _TRACE_SECONDS)

    def _write_traces(self, rows: list[TracedAttempt]) -> None:
        with self.store.transaction() as tx:
            TraceTx(tx).record_attempts(rows)

    def _dead_letter(
        self, work: Work, target: Target, why: DeadLetter, failure: Failure, now: datetime
    ) -> None:
        with self.store.transaction() as tx:
            if RelayTx(tx).has_dead_letter(work.key):
                return  # dead-lettered before a crash, acked never: once is enough
            record_attempt(tx, work, target, "dead", now, failure)
            dead_letter(
                BusTx(tx),
                event_id=work.event_id,
                envelope=work.envelope,
                ingested=work.ingested,
                target=target,
                rule_arn=work.rule_arn,
                why=why,
                now=now,
            )


def _finished(
    running: dict[asyncio.Task[None], Message], room: asyncio.Event, task: asyncio.Task[None]
) -> None:
    running.pop(task, None)
    room.set()


async def wait_any(stop: asyncio.Event, seconds: float, wake: asyncio.Event | None = None) -> None:
    """Until ``stop`` (or ``wake``) is set, at most ``seconds``."""
    events = [stop] if wake is None else [stop, wake]
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()

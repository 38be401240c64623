"""The durable worker: an asyncio loop that advances executions and runs their tasks.

One cycle is one transaction (a group commit): record the results of finished tasks and the
callbacks their handlers made, fire due timers, and apply every pending inbox message
(:mod:`oncue.engine.transitions`). After the commit the worker starts the tasks the cycle
leased to it, at most ``concurrency`` at a time. Store work runs on one dedicated thread, so
handlers keep running while a cycle commits.

Delivery to handlers is at least once: a task is leased (``lease_seconds``, renewed while the
handler runs); if the worker dies the lease runs out and any worker claims the task again.
A result from a worker whose lease was lost is refused by the store (the fence), never
applied twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, TypeVar

from oncue.asl.commands import Event, TaskFailed, TaskHeartbeat, TaskSubmitted, TaskSucceeded
from oncue.asl.jsonutil import loads
from oncue.asl.resources import parse_resource
from oncue.engine.clock import Clock, SystemClock, VirtualClock
from oncue.engine.control import Control, start_in_tx
from oncue.engine.invoke import (
    Handler,
    TaskContext,
    call_handler,
    request_id_for,
    resolve_handler,
)
from oncue.engine.transitions import Completion, Outcome, Transitioner
from oncue.errors import OncueError
from oncue.store.base import Store
from oncue.store.records import TaskClaim
from oncue.store.sql import Tx
from oncue.types import DEFAULT_ACCOUNT, DEFAULT_REGION, Json

__all__ = ["Worker"]

log = logging.getLogger("oncue.worker")
T = TypeVar("T")

#: A held callback: the task whose handler made it, then token, event and whether it closes.
_Callback = tuple[tuple[str, str], str, Callable[[str], Event], bool]
#: How many finished executions started here are remembered for a late wait.
FINISHED_MEMORY = 100_000


class Worker:
    def __init__(
        self,
        store: Store,
        handlers: Mapping[str, Handler],
        *,
        clock: Clock | None = None,
        concurrency: int = 100,
        lease_seconds: float = 30.0,
        poll_seconds: float = 1.0,
        batch: int = 500,
        strict: bool = True,
        offload_sync_handlers: bool = True,
        region: str = DEFAULT_REGION,
        account: str = DEFAULT_ACCOUNT,
        name: str | None = None,
        time_skipping: bool | None = None,
        grace_seconds: float = 5.0,
        on_outbox: Callable[[], None] | None = None,
    ) -> None:
        """``on_outbox`` is called after a commit that wrote outbox rows (from any thread):
        the app wakes its bus dispatcher with it, so an execution's events reach their
        targets at once instead of at the dispatcher's next poll."""
        self.store = store
        self.on_outbox = on_outbox
        self.handlers = dict(handlers)
        self.clock = clock or SystemClock()
        #: On shutdown, how long running handlers may take before their tasks are handed back.
        self.grace_seconds = grace_seconds
        #: With a virtual clock, jump to the next timer whenever nothing else can happen.
        self.time_skipping = (
            isinstance(self.clock, VirtualClock) if time_skipping is None else time_skipping
        )
        self.concurrency = concurrency
        self.lease_seconds = lease_seconds
        self.poll_seconds = poll_seconds
        self.batch = batch
        self.offload = offload_sync_handlers
        self.region = region
        self.account = account
        self.owner = name or f"worker-{uuid.uuid4()}"
        self.transitioner = Transitioner(
            handlers=self.handlers, owner=self.owner, lease_seconds=lease_seconds, strict=strict
        )
        self.control = Control(
            store,
            transitioner=self.transitioner,
            clock=self.clock,
            region=region,
            account=account,
            listener=self._heard,
        )
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="oncue-store")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._completions: list[Completion] = []
        self._starts: list[_StartRequest] = []
        self._activity_signals: dict[str, asyncio.Event] = {}
        self._callbacks: list[_Callback] = []
        self._queued: list[TaskClaim] = []
        self._running: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._claim_wanted = True
        self._stopping = False
        #: Executions that finished while someone may wait for them (cleared by the wait).
        self.finished: OrderedDict[str, None] = OrderedDict()
        self._started_here: set[str] = set()
        self._finish_waiters: dict[str, list[asyncio.Future[None]]] = {}
        #: Counters for reports and benchmarks.
        self.stats = {"cycles": 0, "transitions": 0, "tasks": 0, "refused": 0}

    # --- plumbing ----------------------------------------------------------------------

    async def db(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run store work on the store thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, lambda: function(*args, **kwargs))

    def _heard(self, outcome: Outcome) -> None:
        """A control operation (any thread) ran transitions: pick up their tasks."""
        if outcome.outbox and self.on_outbox is not None:
            self.on_outbox()
        loop = self._loop
        if loop is None:
            # Not running yet: the tasks leased to this worker start when it runs.
            self._queued.extend(outcome.run)
            if outcome.unclaimed:
                self._claim_wanted = True
            return
        loop.call_soon_threadsafe(self._absorb, outcome)

    def _absorb(self, outcome: Outcome) -> None:
        self._signal_activities(outcome)
        self._queued.extend(outcome.run)
        if outcome.unclaimed:
            self._claim_wanted = True
        for arn in outcome.finished:
            self._finished(arn)
        self.stats["transitions"] += outcome.transitions
        self._start_queued()
        self.wake()

    def _signal_activities(self, outcome: Outcome) -> None:
        for arn in outcome.activities:
            signal = self._activity_signals.pop(arn, None)
            if signal is not None:
                signal.set()

    async def activity_scheduled(self, activity_arn: str, timeout: float) -> None:
        """Until a task for the activity is scheduled in this process, or ``timeout``."""
        signal = self._activity_signals.setdefault(activity_arn, asyncio.Event())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(signal.wait(), timeout)

    def wake(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def _finished(self, arn: str) -> None:
        started_here = arn in self._started_here
        self._started_here.discard(arn)
        waiters = self._finish_waiters.pop(arn, [])
        if not waiters and started_here:
            # Someone may still ask; remember a bounded number of recent endings.
            self.finished[arn] = None
            if len(self.finished) > FINISHED_MEMORY:
                self.finished.popitem(last=False)
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def wait_finished(self, arn: str) -> None:
        """Until the execution finishes (in this process's view)."""
        if arn in self.finished:
            del self.finished[arn]
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._finish_waiters.setdefault(arn, []).append(waiter)
        if arn not in self._started_here:
            # Started elsewhere: it may have finished already.
            description = await self.db(self.control.describe_execution, arn)
            if description["status"] != "RUNNING":
                waiting = self._finish_waiters.get(arn, [])
                if waiter in waiting:
                    waiting.remove(waiter)
                return
        await waiter

    async def start_execution(
        self, state_machine_arn: str, input_text: str, name: str | None = None
    ) -> str:
        """StartExecution in the next cycle's transaction (a group commit); the ARN."""
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._starts.append(_StartRequest(state_machine_arn, input_text, name, future))
        self.wake()
        return await future

    # --- the loop ----------------------------------------------------------------------

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Run until ``stop`` is set (or the task is cancelled), then shut down gracefully."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        stop = stop or asyncio.Event()
        renewer = asyncio.create_task(self._renew_leases())
        try:
            while not stop.is_set():
                try:
                    busy = await self._cycle()
                except (OncueError, OSError) as error:
                    # The database refused the cycle (locked too long, disk full...): its
                    # work is still in memory or in the inbox; try again shortly.
                    log.error("a worker cycle failed, retrying: %s", error)
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
        completions, self._completions = self._completions, []
        callbacks, self._callbacks = self._callbacks, []
        starts, self._starts = self._starts, []
        claim = self._claim_wanted
        self._claim_wanted = False
        capacity = max(0, self.concurrency * 2 - len(self._running) - len(self._queued))
        now = self.clock.now()
        try:
            outcome, claimed = await self.db(
                self._transaction, completions, callbacks, starts, claim, capacity, now
            )
        except BaseException as error:
            for request in starts:
                if not request.future.done():
                    request.future.set_exception(error)
            # Nothing of the cycle committed: keep the results for the next one.
            self._completions[:0] = completions
            self._callbacks[:0] = callbacks
            self._claim_wanted = self._claim_wanted or claim
            raise
        for request in starts:
            if request.future.done():
                continue
            if request.error is not None:
                request.future.set_exception(request.error)
            else:
                request.future.set_result(request.arn)
        self.stats["cycles"] += 1
        self.stats["transitions"] += outcome.transitions
        if outcome.outbox and self.on_outbox is not None:
            self.on_outbox()
        self._signal_activities(outcome)
        self._queued.extend(outcome.run)
        self._queued.extend(claimed)
        for arn in outcome.finished:
            self._finished(arn)
        self._start_queued()
        if claim and len(claimed) >= capacity > 0:
            self._claim_wanted = True
        return bool(
            outcome.messages >= self.batch
            or self._completions
            or self._callbacks
            or self._starts
            or self._claim_wanted
        )

    def _transaction(
        self,
        completions: list[Completion],
        callbacks: list[_Callback],
        starts: list[_StartRequest],
        claim: bool,
        capacity: int,
        now: datetime,
    ) -> tuple[Outcome, list[TaskClaim]]:
        with self.store.transaction() as tx:
            self._record(tx, completions, callbacks)
            for request in starts:
                try:
                    with tx.savepoint():
                        record = start_in_tx(
                            tx, request.machine, request.input, request.name, now=now
                        )
                except OncueError as error:
                    request.error = error
                else:
                    request.arn = record.arn
                    self._started_here.add(record.arn)
            outcome = self.transitioner.advance(tx, now, limit=self.batch)
            claimed: list[TaskClaim] = []
            if claim and capacity:
                until = now.timestamp() + self.lease_seconds
                claimed = tx.claim_tasks(
                    owner=self.owner,
                    targets=list(self.handlers),
                    now=now.timestamp(),
                    until=until,
                    limit=capacity,
                )
            return outcome, claimed

    async def _idle(self, stop: asyncio.Event) -> None:
        assert self._wake is not None
        self._wake.clear()
        if self._completions or self._callbacks or self._starts:
            return
        due = await self.db(self._next_timer)
        now = self.clock.now()
        if self.time_skipping and due is not None and not self._running:
            # Time skipping: nothing runs, so jump to the next timer instead of sleeping.
            await self.clock.sleep_until(datetime.fromtimestamp(due, UTC))
            return
        delay = self.poll_seconds
        if due is not None:
            delay = min(delay, max(0.0, due - now.timestamp()))
        stopper = asyncio.ensure_future(stop.wait())
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({stopper, waker}, timeout=delay, return_when="FIRST_COMPLETED")
        finally:
            stopper.cancel()
            waker.cancel()
        if not self._wake.is_set():
            self._claim_wanted = True  # a poll: tasks other processes created, expired leases

    def _next_timer(self) -> float | None:
        with self.store.read() as tx:
            return tx.next_timer()

    async def _renew_leases(self) -> None:
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            if self._running or self._queued:
                until = self.clock.now().timestamp() + self.lease_seconds
                await self.db(self._renew, until)

    def _renew(self, until: float) -> None:
        with self.store.transaction() as tx:
            tx.renew_leases(self.owner, until)

    async def _shutdown(self) -> None:
        """Let running handlers finish briefly, record their results, hand the rest back."""
        self._stopping = True
        if self._running:
            await asyncio.wait(list(self._running.values()), timeout=self.grace_seconds)
        for task in self._running.values():
            task.cancel()
        self._queued.clear()
        with contextlib.suppress(Exception):
            await self.db(self._final_commit)
        self._thread.shutdown(wait=True)
        self._loop = None

    def _final_commit(self) -> None:
        completions, self._completions = self._completions, []
        callbacks, self._callbacks = self._callbacks, []
        with self.store.transaction() as tx:
            self._record(tx, completions, callbacks)
            tx.release_leases(self.owner)

    def _record(self, tx: Tx, completions: list[Completion], callbacks: list[_Callback]) -> None:
        """Task results, then the callbacks their handlers made (only for kept results)."""
        kept = self.transitioner.complete(tx, completions)
        self.stats["refused"] += len(completions) - len(kept)
        for task, token, event_for, closes in callbacks:
            if task not in kept:
                continue  # its handler's result was refused (lease lost): so is this
            try:
                Control.callback_in_tx(tx, token, event_for, closes=closes)
            except OncueError as error:
                log.warning("a handler's callback was refused: %s", error)

    # --- tasks -------------------------------------------------------------------------

    def _start_queued(self) -> None:
        while self._queued and len(self._running) < self.concurrency and not self._stopping:
            claim = self._queued.pop(0)
            key = (claim.execution_arn, claim.task_id)
            if key in self._running:
                continue
            self._running[key] = asyncio.create_task(self._run_task(claim))

    async def _run_task(self, claim: TaskClaim) -> None:
        key = (claim.execution_arn, claim.task_id)
        callbacks = _HeldCallbacks(self, claim.token)
        try:
            resolved = resolve_handler(
                claim.resource, loads(claim.payload), self.handlers, self.region, self.account
            )
            context = TaskContext(
                execution_arn=claim.execution_arn,
                state_name=claim.state_name,
                attempt=claim.attempt,
                idempotency_key=f"{claim.execution_arn}/{claim.task_id}",
                task_token=claim.token,
                request_id=request_id_for(claim.execution_arn, claim.task_id),
                _callbacks=callbacks,
            )
            outcome = await call_handler(resolved, context, offload=self.offload)
            if outcome.failed:
                event: Event = TaskFailed(
                    task_id=claim.task_id, error=outcome.error, cause=outcome.cause
                )
            elif _waits(claim.resource):
                event = TaskSubmitted(task_id=claim.task_id, output=outcome.output)
            else:
                event = TaskSucceeded(task_id=claim.task_id, output=outcome.output)
            self.stats["tasks"] += 1
            self._completions.append(Completion(claim.execution_arn, claim.task_id, event))
            self._callbacks.extend(callbacks.release(key))
        finally:
            self._running.pop(key, None)
            self._start_queued()
            self.wake()


class _StartRequest:
    __slots__ = ("arn", "error", "future", "input", "machine", "name")

    def __init__(
        self, machine: str, input: str, name: str | None, future: asyncio.Future[str]
    ) -> None:
        self.machine = machine
        self.input = input
        self.name = name
        self.future = future
        self.arn = ""
        self.error: OncueError | None = None


def _waits(resource: str) -> bool:
    ref = parse_resource(resource)
    return ref is not None and ref.pattern == ".waitForTaskToken"


class _HeldCallbacks:
    """SendTask* calls a handler makes through its context.

    A call for the handler's own token is held until the handler returns and is recorded
    after its result, so history reads TaskSubmitted before TaskSucceeded, as on AWS. Calls
    for other tokens go to the store at once.
    """

    def __init__(self, worker: Worker, token: str | None) -> None:
        self.worker = worker
        self.token = token
        self.held: list[tuple[str, Callable[[str], Event], bool]] = []

    def release(self, task: tuple[str, str]) -> list[_Callback]:
        """The held callbacks, tied to the task whose result they must follow."""
        held, self.held = self.held, []
        self.token = None
        return [(task, token, event_for, closes) for token, event_for, closes in held]

    def _send(self, token: str, event_for: Callable[[str], Event], closes: bool) -> None:
        if token == self.token:
            self.held.append((token, event_for, closes))
            return
        self.worker.control.callback(token, event_for, closes=closes)

    def send_task_success(self, token: str, output: Json) -> None:
        self._send(token, lambda task: TaskSucceeded(task_id=task, output=output), True)

    def send_task_failure(self, token: str, error: str | None, cause: str | None) -> None:
        self._send(token, lambda task: TaskFailed(task_id=task, error=error, cause=cause), True)

    def send_task_heartbeat(self, token: str) -> None:
        self._send(token, lambda task: TaskHeartbeat(task_id=task), False)

"""The durable worker: an asyncio loop that advances executions and runs their tasks.

One cycle is one transaction (a group commit): record the results of finished tasks and the
callbacks their handlers made, fire due timers, and apply every pending inbox message
(:mod:`oncue.engine.transitions`). After the commit the worker starts the tasks the cycle
leased to it, at most ``concurrency`` at a time. The loop itself (store thread, retried
cycles, idling until the next timer, time skipping, lease renewal, graceful shutdown) is the
shared :class:`~oncue.cycleloop.CycleLoop`.

Delivery to handlers is at least once: a task is leased (``lease_seconds``, renewed while the
handler runs); if the worker dies the lease runs out and any worker claims the task again.
A result from a worker whose lease was lost is refused by the store (the fence), never
applied twice.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Mapping
from datetime import datetime
from typing import ClassVar

from oncue.asl.commands import Event, TaskFailed, TaskSubmitted, TaskSucceeded
from oncue.asl.jsonutil import loads
from oncue.asl.resources import waits_for_task_token
from oncue.cycleloop import CycleLoop, Notifier
from oncue.engine.clock import Clock, SystemClock, VirtualClock
from oncue.engine.control import Control
from oncue.engine.held_callbacks import HeldCallback, HeldCallbacks
from oncue.engine.invoke import (
    Handler,
    TaskContext,
    call_handler,
    request_id_for,
    resolve_handler,
)
from oncue.engine.naming import served_state_machines
from oncue.engine.starting import start_in_tx
from oncue.engine.transitions import Completion, Outcome, Transitioner
from oncue.errors import OncueError
from oncue.store.base import Store
from oncue.store.notifier import StoreWakeups
from oncue.store.records import TaskClaim
from oncue.store.sql import Tx
from oncue.tracing import execution_trace, using
from oncue.types import DEFAULT_ACCOUNT, DEFAULT_REGION

__all__ = ["Worker"]

log = logging.getLogger("oncue.worker")

#: A held callback: the task whose handler made it, then token, event and whether it closes.
#: How many finished executions started here are remembered for a late wait.
FINISHED_MEMORY = 100_000


class Worker(CycleLoop[TaskClaim]):
    #: A cycle the database refused is retried; an engine defect stops the worker.
    retried_errors: ClassVar[tuple[type[Exception], ...]] = (OncueError, OSError)

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
        notifier: Notifier | None = None,
        state_machines: Iterable[str] | None = None,
    ) -> None:
        """``on_outbox`` is called after a commit that wrote outbox rows (from any thread):
        the app wakes its bus dispatcher with it, so an execution's events reach their
        targets at once instead of at the dispatcher's next poll. ``notifier`` ends an idle
        wait when another process made work (see :class:`~oncue.cycleloop.CycleLoop`).

        ``state_machines`` (names or ARNs) limits the worker to the executions of those
        state machines (a task queue): it advances only them (their messages and timers) and
        runs only their tasks; None (the default) serves every state machine."""
        #: The served state machines' ARNs (None: all); checked before anything starts.
        self.served = served_state_machines(state_machines, region, account)
        clock = clock or SystemClock()
        super().__init__(
            clock=clock,
            concurrency=concurrency,
            lease_seconds=lease_seconds,
            poll_seconds=poll_seconds,
            grace_seconds=grace_seconds,
            # With a virtual clock, jump to the next timer whenever nothing else can happen.
            time_skipping=(
                isinstance(clock, VirtualClock) if time_skipping is None else time_skipping
            ),
            thread_name="oncue-store",
            notifier=notifier,
        )
        self.store = store
        self.on_outbox = on_outbox
        self.handlers = dict(handlers)
        self.batch = batch
        self.offload = offload_sync_handlers
        self.region = region
        self.account = account
        self.owner = name or f"worker-{uuid.uuid4()}"
        self.transitioner = Transitioner(
            handlers=self.handlers,
            owner=self.owner,
            lease_seconds=lease_seconds,
            strict=strict,
            served=self.served,
        )
        self.control = Control(
            store,
            transitioner=self.transitioner,
            clock=self.clock,
            region=region,
            account=account,
            listener=self._heard,
        )
        self._completions: list[Completion] = []
        self._starts: list[_StartRequest] = []
        #: Wakes activity long polls: tasks this worker schedules, and (PostgreSQL's NOTIFY)
        #: other processes'.
        self.activity_wakeups = StoreWakeups(store, "activity")
        self._callbacks: list[HeldCallback] = []
        self._claim_wanted = True
        #: False once shutdown began (or :meth:`stop_claiming`): no new tasks are taken.
        self._taking = True
        #: Executions that finished while someone may wait for them (cleared by the wait).
        self.finished: OrderedDict[str, None] = OrderedDict()
        self._started_here: set[str] = set()
        self._finish_waiters: dict[str, list[asyncio.Future[None]]] = {}
        #: Counters for reports and benchmarks.
        self.stats = {"cycles": 0, "transitions": 0, "tasks": 0, "refused": 0}

    # --- plumbing ----------------------------------------------------------------------

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
        if outcome.activities:
            self.activity_wakeups.fire()  # this process's own NOTIFY does not come back

    def wake(self) -> None:
        """Something for the next cycle is waiting (call on the loop or from any thread)."""
        self._poke()

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
        self,
        state_machine_arn: str,
        input_text: str,
        name: str | None = None,
        trace_header: str | None = None,
    ) -> str:
        """StartExecution in the next cycle's transaction (a group commit); the ARN."""
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        request = _StartRequest(state_machine_arn, input_text, name, future)
        request.trace_header = trace_header
        self._starts.append(request)
        self.wake()
        return await future

    # --- the loop ----------------------------------------------------------------------

    async def run(self, stop: asyncio.Event | None = None) -> None:
        self._taking = self.transitioner.leasing = True
        self.activity_wakeups.start()
        try:
            await super().run(stop)
        finally:
            self.activity_wakeups.close()

    def stop_claiming(self) -> None:
        """Take no new tasks from now on (the first step of a graceful shutdown): cycles go on
        recording results and running transitions, whose tasks are left for other workers;
        the tasks this worker holds run on."""
        self._taking = self.transitioner.leasing = False
        self._claim_wanted = False

    async def _cycle(self) -> bool:
        completions, self._completions = self._completions, []
        callbacks, self._callbacks = self._callbacks, []
        starts, self._starts = self._starts, []
        claim = self._claim_wanted and self._taking
        self._claim_wanted = False
        capacity = self.room()
        now = self.clock.now()
        try:
            outcome, claimed = await self.db(
                self._transaction, completions, callbacks, starts, claim, capacity, now
            )
        except BaseException as error:
            _fail_starts(starts, error)
            # Nothing of the cycle committed: keep the results for the next one.
            self._completions[:0] = completions
            self._callbacks[:0] = callbacks
            self._claim_wanted = self._claim_wanted or claim
            raise
        self._committed(starts, outcome)
        self._queued.extend(outcome.run)
        self._queued.extend(claimed)
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

    def _committed(self, starts: list[_StartRequest], outcome: Outcome) -> None:
        """After a commit: answer the StartExecution requests, count, and wake the bus
        dispatcher, the activity long polls and whoever waits for a finished execution."""
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
        for arn in outcome.finished:
            self._finished(arn)

    def _transaction(
        self,
        completions: list[Completion],
        callbacks: list[HeldCallback],
        starts: list[_StartRequest],
        claim: bool,
        capacity: int,
        now: datetime,
    ) -> tuple[Outcome, list[TaskClaim]]:
        with self.store.transaction() as tx:
            self._record(tx, completions, callbacks)
            self._start_in_tx(tx, starts, now)
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
                    machines=self.transitioner.served_arns,
                )
            return outcome, claimed

    def _start_in_tx(self, tx: Tx, starts: list[_StartRequest], now: datetime) -> list[str]:
        """StartExecution requests, each in a savepoint; the ARNs started."""
        started: list[str] = []
        for request in starts:
            try:
                with tx.savepoint():
                    record = start_in_tx(
                        tx,
                        request.machine,
                        request.input,
                        request.name,
                        now=now,
                        trace_header=request.trace_header,
                    )
            except OncueError as error:
                request.error = error
            else:
                request.arn = record.arn
                self._started_here.add(record.arn)
                started.append(record.arn)
        return started

    def missing_state_machines(self) -> list[str]:
        """The served state machines that do not exist (sorted ARNs)."""
        if self.served is None:
            return []
        with self.store.read() as tx:
            return sorted(arn for arn in self.served if tx.get_state_machine(arn) is None)

    def _pending(self) -> bool:
        return bool(self._completions or self._callbacks or self._starts)

    def _look(self) -> None:
        self._claim_wanted = True  # tasks other processes created, expired leases

    def _next_due(self) -> float | None:
        with self.store.read() as tx:
            return tx.next_timer(self.transitioner.served_arns)

    async def _renew(self) -> None:
        if self._running or self._queued:
            until = self.clock.now().timestamp() + self.lease_seconds
            await self.db(self._renew_tx, until)

    def _renew_tx(self, until: float) -> None:
        with self.store.transaction() as tx:
            tx.renew_leases(self.owner, until)

    # --- shutdown ----------------------------------------------------------------------

    def _stop_taking(self) -> None:
        self.stop_claiming()

    async def _drain(self) -> None:
        await self._wind_down(release=False)

    async def _final(self) -> None:
        await self._wind_down(release=True)

    async def _wind_down(self, *, release: bool) -> None:
        """Commit the results in hand and the transitions they lead to (their new tasks are
        left for other workers); with ``release``, hand back every task still leased here."""
        completions, self._completions = self._completions, []
        callbacks, self._callbacks = self._callbacks, []
        starts, self._starts = self._starts, []
        now = self.clock.now()
        try:
            outcome = await self.db(
                self._wind_down_tx, completions, callbacks, starts, now, release
            )
        except Exception as error:
            if not release:
                # Nothing committed: keep it all for the next try (the final commit at last).
                self._completions[:0] = completions
                self._callbacks[:0] = callbacks
                self._starts[:0] = starts
                raise
            # The database refused the last commit: the results are lost and the leases run
            # out, so other workers run these tasks again (delivery is at least once).
            log.error("the worker's last commit failed; its tasks run again elsewhere: %s", error)
            _fail_starts(starts, error)
            return
        self._committed(starts, outcome)

    def _wind_down_tx(
        self,
        completions: list[Completion],
        callbacks: list[HeldCallback],
        starts: list[_StartRequest],
        now: datetime,
        release: bool,
    ) -> Outcome:
        with self.store.transaction() as tx:
            kept = self._record(tx, completions, callbacks)
            arns = {arn for arn, _ in kept} | set(self._start_in_tx(tx, starts, now))
            # Only the executions this worker moved: the rest is other workers' business.
            outcome = (
                self.transitioner.advance(tx, now, only=sorted(arns), limit=self.batch)
                if arns
                else Outcome()
            )
            if release:
                tx.release_leases(self.owner)
            return outcome

    def _record(
        self, tx: Tx, completions: list[Completion], callbacks: list[HeldCallback]
    ) -> set[tuple[str, str]]:
        """Task results, then the callbacks their handlers made (only for kept results);
        the (execution ARN, task id) of the results kept."""
        kept = self.transitioner.complete(tx, completions)
        self.stats["refused"] += len(completions) - len(kept)
        for task, token, event_for, closes in callbacks:
            if task not in kept:
                continue  # its handler's result was refused (lease lost): so is this
            try:
                Control.callback_in_tx(tx, token, event_for, closes=closes)
            except OncueError as error:
                log.warning("a handler's callback was refused: %s", error)
        return kept

    # --- tasks -------------------------------------------------------------------------

    def _key(self, work: TaskClaim) -> Hashable:
        return (work.execution_arn, work.task_id)

    async def _execute(self, claim: TaskClaim) -> None:
        key = (claim.execution_arn, claim.task_id)
        callbacks = HeldCallbacks(self.control.callback, claim.token)
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
        # What the handler publishes or starts through the app joins the execution's trace.
        with using(execution_trace(claim.execution_arn, claim.trace_header)):
            outcome = await call_handler(resolved, context, offload=self.offload)
        if outcome.failed:
            event: Event = TaskFailed(
                task_id=claim.task_id, error=outcome.error, cause=outcome.cause
            )
        elif waits_for_task_token(claim.resource):
            event = TaskSubmitted(task_id=claim.task_id, output=outcome.output)
        else:
            event = TaskSucceeded(task_id=claim.task_id, output=outcome.output)
        self.stats["tasks"] += 1
        self._completions.append(Completion(claim.execution_arn, claim.task_id, event))
        self._callbacks.extend(callbacks.release(key))


def _fail_starts(starts: list[_StartRequest], error: BaseException) -> None:
    """Nothing committed: the StartExecution requests still waiting fail with ``error``."""
    for request in starts:
        if not request.future.done():
            request.future.set_exception(error)


class _StartRequest:
    __slots__ = ("arn", "error", "future", "input", "machine", "name", "trace_header")

    def __init__(
        self, machine: str, input: str, name: str | None, future: asyncio.Future[str]
    ) -> None:
        self.machine = machine
        self.input = input
        self.name = name
        self.future = future
        self.arn = ""
        self.error: OncueError | None = None
        self.trace_header: str | None = None

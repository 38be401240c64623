"""What one dispatcher cycle does in its transaction, and the other store work it needs.

A cycle, in one transaction (a group commit):

1. records the results of the handler calls that finished since the last cycle: a success
   deletes the delivery, a failure is retried later or dead-lettered (:func:`.delivery.settle`);
   each write names this dispatcher, so a result whose lease was lost is refused;
2. stores the PutEvents calls made through the dispatcher since the last cycle; their handler
   deliveries are created leased to this dispatcher (while it has room), so they run right after
   the commit without a claim;
3. relays the outbox onto the buses (:mod:`.relay`), and does the bus's timed work
   (:mod:`.jobs`): fires the scheduled rules that are due, replays a batch of archived events,
   prunes archives past their retention;
4. leases due deliveries nobody holds (new ones from other processes, retries that fell due,
   those whose lease ran out);
5. delivers to every inline target it now holds (state machine, bus, queue), each in a
   savepoint, and deletes those deliveries;
6. deletes the events no delivery needs any more.

The handler deliveries it leased are returned, to run after the commit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from oncue.asl.jsonutil import loads
from oncue.bus.delivery import (
    StartExecution,
    Work,
    attempt_row,
    deliver_inline,
    record_attempt,
    render,
    settle,
)
from oncue.bus.handlers import Failure
from oncue.bus.jobs import PRUNE_EVERY_SECONDS, next_job, run_jobs
from oncue.bus.relay import relay_outbox
from oncue.bus.router import Router
from oncue.bus.targets import Target
from oncue.errors import OncueError
from oncue.store.base import Store
from oncue.store.bus_sql import BusTx, DeliveryClaim, DeliveryKey
from oncue.store.sql import Tx
from oncue.store.trace_sql import TracedAttempt, TracedEvent, TraceTx
from oncue.tracing import TraceContext
from oncue.types import Json

__all__ = ["Cycle", "CycleOutcome", "PutRequest", "Result"]

log = logging.getLogger("oncue.bus")

#: A handler call that finished: the delivery, and its failure (None: delivered).
Result = tuple[Work, Failure | None]


@dataclass(slots=True)
class PutRequest:
    """A PutEvents call waiting for the next cycle; the cycle fills in its outcome."""

    entries: Json
    response: dict[str, Json] | None = None
    error: OncueError | None = None
    #: The publisher's trace context (the handler it was made in), captured at the call.
    trace: TraceContext | None = None


@dataclass(slots=True)
class CycleOutcome:
    #: Handler deliveries leased in this cycle, to run after the commit.
    handler_work: list[Work] = field(default_factory=list)
    relayed: int = 0
    claimed: int = 0
    #: Deliveries for this dispatcher may be waiting that it had no room to take.
    more: bool = False
    delivered: int = 0
    #: Deliveries to state machine targets (executions started, or found started).
    started: int = 0
    retried: int = 0
    dead: int = 0
    #: Results refused because the lease had been lost.
    refused: int = 0
    #: Scheduled rules fired, archived events replayed, archived events pruned.
    fired: int = 0
    replayed: int = 0
    pruned: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Cycle:
    """One dispatcher's store work; every method is one transaction."""

    store: Store
    router: Router
    owner: str
    #: The handlers this dispatcher delivers to, by name.
    handlers: Mapping[str, object]
    start_execution: StartExecution | None
    lease_seconds: float
    batch: int
    draw: Callable[[], float]
    backoff: tuple[float, float] | None = None
    #: When this dispatcher last pruned archives (a one-item box: the dataclass is frozen).
    pruned_at: list[float] = field(default_factory=lambda: [float("-inf")])

    @property
    def inline_kinds(self) -> tuple[str, ...]:
        return ("bus", "queue") + (("state_machine",) if self.start_execution else ())

    @property
    def claim_kinds(self) -> tuple[str, ...]:
        """The kinds claimed by kind: inline targets, and API destinations (called outside
        the transaction, like handlers, by any dispatcher)."""
        return (*self.inline_kinds, "api_destination")

    def run(
        self,
        results: Sequence[Result],
        puts: Sequence[PutRequest],
        *,
        claim: bool,
        room: int,
        now: datetime,
    ) -> CycleOutcome:
        outcome = CycleOutcome()
        with self.store.transaction() as tx:
            btx = BusTx(tx)
            touched: list[str] = []
            self._record(btx, results, now, outcome, touched)
            until = now.timestamp() + self.lease_seconds
            work = self._store_puts(tx, puts, now, until, room, outcome)
            room -= sum(
                1
                for item in work
                if item.target and item.target.kind in ("handler", "api_destination")
            )
            outcome.relayed = relay_outbox(tx, now, self.batch, router=self.router)
            prune_due = now.timestamp() - self.pruned_at[0] >= PRUNE_EVERY_SECONDS
            jobs = run_jobs(tx, self.router, now, self.batch, prune_due=prune_due)
            outcome.fired, outcome.replayed, outcome.pruned = jobs.fired, jobs.replayed, jobs.pruned
            outcome.more = outcome.more or jobs.more
            made = bool(jobs.fired or jobs.replayed)
            if (claim or outcome.relayed or made) and room > 0:
                claimed = btx.claim_deliveries(
                    owner=self.owner,
                    kinds=self.claim_kinds,
                    handlers=sorted(self.handlers),
                    now=now.timestamp(),
                    until=until,
                    limit=room,
                )
                outcome.claimed = len(claimed)
                outcome.more = outcome.more or len(claimed) >= room
                if claimed:
                    revisions = btx.bus_revisions()
                    work.extend(self._work(btx, c, revisions) for c in claimed)
            for item in work:
                target = item.target
                if target is None:
                    # Its rule or target was removed since: nothing to deliver to any more.
                    btx.finish_deliveries([item.key], self.owner)
                    touched.append(item.event_id)
                elif target.kind in ("handler", "api_destination"):
                    outcome.handler_work.append(item)
                else:
                    self._inline(tx, btx, item, target, now, outcome)
                    touched.append(item.event_id)
            btx.forget_events(touched)
        if prune_due:
            self.pruned_at[0] = now.timestamp()
        return outcome

    def _store_puts(
        self,
        tx: Tx,
        puts: Sequence[PutRequest],
        now: datetime,
        until: float,
        room: int,
        outcome: CycleOutcome,
    ) -> list[Work]:
        work: list[Work] = []
        # Handler deliveries are leased here only while there is room for them; the rest wait
        # in the store for a claim, so a burst does not pile leases up in one process.
        free = [room]

        def leases(target: Target) -> bool:
            if target.kind not in ("handler", "api_destination"):
                return target.kind in self.inline_kinds  # delivered in this transaction
            if target.kind == "handler" and target.name not in self.handlers:
                return False
            if free[0] <= 0:
                outcome.more = True
                return False
            free[0] -= 1
            return True

        traced: list[TracedEvent] = []
        for put in puts:
            mine: list[TracedEvent] = []
            try:
                with tx.savepoint():
                    result = self.router.put_events_in_tx(
                        tx,
                        put.entries,
                        now,
                        owner=self.owner,
                        lease_until=until,
                        leases=leases,
                        trace=put.trace,
                        traced=mine,
                    )
            except OncueError as error:
                put.error = error
                continue
            traced.extend(mine)
            put.response = result.response
            for accepted in result.accepted:
                delivery = accepted.delivery
                if delivery.owner is None:
                    continue  # another dispatcher delivers it (a handler not registered here)
                work.append(
                    Work(
                        key=(delivery.event_id, delivery.rule, delivery.target_id),
                        bus=delivery.bus,
                        attempt=0,
                        event=accepted.event,
                        envelope=accepted.envelope,
                        ingested=accepted.ingested,
                        target=accepted.target,
                        rule_arn=accepted.rule_arn,
                        trace_id=accepted.trace_id,
                    )
                )
        if traced:
            TraceTx(tx).record_events(traced)  # the cycle's events, in one statement
        return work

    def _work(self, btx: BusTx, claim: DeliveryClaim, revisions: dict[str, str]) -> Work:
        revision = revisions.get(claim.bus)
        rules = self.router.rules(btx, claim.bus, revision) if revision is not None else None
        return Work(
            key=claim.key,
            bus=claim.bus,
            attempt=claim.attempt,
            event=loads(claim.envelope),
            envelope=claim.envelope,
            ingested=claim.ingested,
            target=rules.target(claim.rule, claim.target_id) if rules is not None else None,
            rule_arn=self.router.rule_arn(claim.bus, claim.rule),
            trace_id=claim.trace_id,
        )

    def _inline(
        self, tx: Tx, btx: BusTx, work: Work, target: Target, now: datetime, outcome: CycleOutcome
    ) -> None:
        text = render(work, target)
        failure: Failure | None
        if isinstance(text, Failure):
            failure = text
        elif text is None:
            failure = None  # the InputPath selects nothing: there is nothing to deliver
        else:
            failure = deliver_inline(
                tx,
                work,
                target,
                text,
                now,
                router=self.router,
                start_execution=self.start_execution,
            )
        if failure is None:
            btx.finish_deliveries([work.key], self.owner)
            record_attempt(tx, work, target, "delivered", now)
            outcome.delivered += 1
            if target.kind == "state_machine":
                outcome.started += 1
            elif target.kind == "bus":
                # The event now waits on the other bus for a claim: look again at once.
                outcome.more = True
        else:
            self._fail(btx, work, target, failure, now, outcome)

    def _fail(
        self,
        btx: BusTx,
        work: Work,
        target: Target,
        failure: Failure,
        now: datetime,
        outcome: CycleOutcome,
    ) -> None:
        log.info("delivery of %s to %s failed: %s", work.event_id, target.arn, failure.message)
        settled = settle(
            btx, work, target, failure, now, owner=self.owner, draw=self.draw, backoff=self.backoff
        )
        if settled == "retry":
            outcome.retried += 1
        elif settled == "dead":
            outcome.dead += 1
        else:
            outcome.refused += 1

    def _record(
        self,
        btx: BusTx,
        results: Sequence[Result],
        now: datetime,
        outcome: CycleOutcome,
        touched: list[str],
    ) -> None:
        """The results of handler calls: delete delivered rows, settle the failed ones."""
        done = [work for work, failure in results if failure is None]
        finished_rows = btx.finish_deliveries([w.key for w in done], self.owner)
        traced: list[TracedAttempt] = []
        for work, finished in zip(done, finished_rows, strict=True):
            if finished:
                row = attempt_row(work, work.target, "delivered", now) if work.target else None
                if row is not None:
                    traced.append(row)
                outcome.delivered += 1
            else:
                outcome.refused += 1  # the lease was lost: another delivers it again
        if traced:
            TraceTx(btx.tx).record_attempts(traced)  # one statement for the cycle's results
        for work, failure in results:
            touched.append(work.event_id)
            if failure is not None and work.target is not None:
                self._fail(btx, work, work.target, failure, now, outcome)

    # --- the rest of the dispatcher's store work ----------------------------------------

    def final(
        self,
        results: Sequence[Result],
        puts: Sequence[PutRequest],
        held: Iterable[DeliveryKey],
        now: datetime,
    ) -> CycleOutcome:
        """The last commit of a dispatcher that stops: record the results it has, store the
        PutEvents calls still waiting (for whichever dispatcher runs next), hand the rest of
        its deliveries back."""
        outcome = CycleOutcome()
        with self.store.transaction() as tx:
            btx = BusTx(tx)
            touched: list[str] = []
            self._record(btx, results, now, outcome, touched)
            for put in puts:
                try:
                    with tx.savepoint():
                        put.response = self.router.put_events_in_tx(
                            tx, put.entries, now, trace=put.trace
                        ).response
                except OncueError as error:
                    put.error = error
            recorded = {work.key for work, _ in results}
            btx.release_leases([key for key in held if key not in recorded], self.owner)
            btx.forget_events(touched)
        return outcome

    def put_alone(
        self, entries: Json, now: datetime, trace: TraceContext | None = None
    ) -> dict[str, Json]:
        """PutEvents in a transaction of its own (no dispatcher cycle runs)."""
        with self.store.transaction() as tx:
            return self.router.put_events_in_tx(tx, entries, now, trace=trace).response

    def next_due(self, now: float | None = None) -> float | None:
        """When the next delivery nobody holds, or the next timed job, falls due."""
        with self.store.read() as tx:
            due = BusTx(tx).next_due(kinds=self.claim_kinds, handlers=sorted(self.handlers))
            job = next_job(tx, now if now is not None else 0.0)
        return job if due is None else due if job is None else min(due, job)

    def renew(self, keys: Sequence[DeliveryKey], until: float) -> None:
        with self.store.transaction() as tx:
            BusTx(tx).renew_leases(keys, self.owner, until)

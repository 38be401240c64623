"""PutEvents inside a transaction: validate, store, match the bus's rules, create deliveries.

*PutEvents* and *Event buses*: each accepted entry becomes an event on its bus (the entry's
``EventBusName``, else the default bus), with a fresh id and the ingestion time; every ENABLED
rule of that bus whose pattern matches sends it to each of its targets. Here the event and one
delivery row per (matching rule, target) are written in the caller's transaction, so an event
is accepted if and only if its deliveries exist; delivering them is the dispatcher's work
(:mod:`.dispatch`). An event that no rule matches is not stored: nothing would ever read it.

Matching runs on a :class:`~oncue.patterns.RuleIndex` per bus, cached in the process and
keyed by the bus's ``revision``, which every change to its rules or targets replaces. Each
PutEvents reads the revision (one indexed read) inside its own transaction, so a rule changed by
another process is in force for the next event, as it is in this one.

Every accepted event is recorded in the trace (:mod:`oncue.tracing`) in the same transaction:
its trace is the entry's ``TraceHeader`` when that names one, else the context the caller
passes (the handler or execution that published it), else a new trace.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from oncue.asl.jsonutil import dumps
from oncue.bus.archives import ArchiveMatcher, archive_event, load_archives
from oncue.bus.naming import DEFAULT_BUS, resolve_bus, rule_arn
from oncue.bus.targets import Target, target_from_record
from oncue.errors import InvalidInput, OncueError
from oncue.patterns.compile import compile_pattern
from oncue.patterns.entries import (
    Entry,
    EntryError,
    EntryResult,
    build_envelope,
    put_events_response,
    validate_entries,
)
from oncue.patterns.index import RuleIndex
from oncue.store.bus_sql import BusTx, NewDelivery, RuleRecord
from oncue.store.sql import Tx
from oncue.store.trace_sql import TracedEvent, TraceTx
from oncue.tracing import TraceContext, new_trace_id, parse_trace_header
from oncue.types import DEFAULT_ACCOUNT, DEFAULT_REGION, Json

__all__ = ["Accepted", "BusRules", "PutEventsResult", "Router", "entry_from_event"]

log = logging.getLogger("oncue.bus")


@dataclass(frozen=True, slots=True, kw_only=True)
class BusRules:
    """One revision of a bus's rules and targets, with the index of its enabled patterns."""

    bus: str
    revision: str
    index: RuleIndex
    rules: dict[str, RuleRecord]
    targets: dict[str, tuple[Target, ...]]
    #: The bus's archives (:mod:`.archives`).
    archives: tuple[ArchiveMatcher, ...] = ()

    def target(self, rule: str, target_id: str) -> Target | None:
        for target in self.targets.get(rule, ()):
            if target.id == target_id:
                return target
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class Accepted:
    """A delivery created by this PutEvents, with what delivering it needs."""

    delivery: NewDelivery
    target: Target
    rule_arn: str
    event: dict[str, Json]
    envelope: str
    ingested: float
    trace_id: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class PutEventsResult:
    response: dict[str, Json]
    accepted: list[Accepted]


class Router:
    """Routes events to deliveries; holds the per-bus rule caches of this process."""

    def __init__(
        self,
        *,
        region: str = DEFAULT_REGION,
        account: str = DEFAULT_ACCOUNT,
        new_id: Callable[[], str] | None = None,
    ) -> None:
        self.region = region
        self.account = account
        self.new_id = new_id or (lambda: str(uuid.uuid4()))
        self._cache: dict[str, BusRules] = {}
        # RuleIndex is single-threaded; the API and a dispatcher may share this router.
        self._lock = threading.Lock()

    # --- rule caches -------------------------------------------------------------------

    def rules(self, btx: BusTx, bus: str, revision: str | None = None) -> BusRules | None:
        """The bus's rules at its current revision (read in ``btx`` unless given); None when
        the bus does not exist."""
        if revision is None:
            revision = btx.bus_revision(bus)
            if revision is None:
                return None
        with self._lock:
            cached = self._cache.get(bus)
            if cached is not None and cached.revision == revision:
                return cached
        loaded = self._load(btx, bus, revision)
        with self._lock:
            self._cache[bus] = loaded
        return loaded

    def _load(self, btx: BusTx, bus: str, revision: str) -> BusRules:
        index = RuleIndex()
        rules = {rule.name: rule for rule in btx.rules_of(bus)}
        for rule in rules.values():
            if rule.state == "ENABLED" and rule.event_pattern is not None:
                try:
                    index.add(rule.name, compile_pattern(rule.event_pattern))
                except OncueError as error:  # stored by a version with other pattern rules
                    log.error("rule %s of bus %s matches nothing: %s", rule.name, bus, error)
        targets: dict[str, list[Target]] = {}
        for record in btx.targets_of(bus):
            try:
                targets.setdefault(record.rule, []).append(target_from_record(record))
            except OncueError as error:  # stored by a version with other target rules
                log.error("target %s of rule %s is not valid: %s", record.id, record.rule, error)
        return BusRules(
            bus=bus,
            revision=revision,
            index=index,
            rules=rules,
            targets={rule: tuple(found) for rule, found in targets.items()},
            archives=load_archives(btx.tx, bus),
        )

    def match(self, rules: BusRules, event: dict[str, Json]) -> list[str]:
        with self._lock:
            return sorted(rules.index.match(event))

    def rule_arn(self, bus: str, name: str) -> str:
        return rule_arn(self.region, self.account, bus, name)

    # --- PutEvents ---------------------------------------------------------------------

    def put_events_in_tx(
        self,
        tx: Tx,
        entries: Json,
        now: datetime,
        *,
        allow_aws_sources: bool = False,
        owner: str | None = None,
        lease_until: float | None = None,
        leases: Callable[[Target], bool] | None = None,
        trace: TraceContext | None = None,
        traced: list[TracedEvent] | None = None,
    ) -> PutEventsResult:
        """PutEvents in ``tx``: the AWS response (per-entry results) and the deliveries made.

        Raises :class:`~oncue.errors.InvalidInput` when the whole request is invalid. With
        ``owner`` the deliveries to the targets ``leases`` accepts (all by default) are created
        leased to that dispatcher until ``lease_until``: it delivers them without claiming.
        ``trace`` is the context of the publisher (the handler or execution it runs in);
        with ``traced`` the events' trace records are appended there for the caller to write
        (a dispatcher cycle writes all of its calls' in one statement).
        """
        btx = BusTx(tx)
        checked = validate_entries(entries, allow_aws_sources=allow_aws_sources)
        results: list[EntryResult] = []
        ids: list[str] = []
        accepted: list[Accepted] = []
        buses: dict[str, BusRules | None] = {}  # one revision read per bus and call
        for result in checked:
            if result.entry is None:
                results.append(result)
                continue
            event_id = self.new_id()
            outcome = self.accept(
                btx,
                result.entry,
                event_id=event_id,
                ingested=now,
                owner=owner,
                lease_until=lease_until,
                leases=leases,
                buses=buses,
                trace=trace,
                traced=traced,
            )
            if isinstance(outcome, EntryError):
                results.append(EntryResult(index=result.index, error=outcome))
                continue
            results.append(result)
            ids.append(event_id)
            accepted.extend(outcome)
        return PutEventsResult(response=put_events_response(results, ids), accepted=accepted)

    def accept(
        self,
        btx: BusTx,
        entry: Entry,
        *,
        event_id: str,
        ingested: datetime,
        owner: str | None = None,
        lease_until: float | None = None,
        leases: Callable[[Target], bool] | None = None,
        buses: dict[str, BusRules | None] | None = None,
        trace: TraceContext | None = None,
        publisher: str | None = None,
        traced: list[TracedEvent] | None = None,
    ) -> list[Accepted] | EntryError:
        """Store one valid entry as an event with its deliveries, and record it in the trace
        (``trace``: the publisher's context; ``publisher``: the execution that published it);
        the entry's error when its bus does not exist. ``buses`` memoises the rules read for
        earlier entries of the same transaction."""
        try:
            bus = resolve_bus(entry.event_bus_name) if entry.event_bus_name else DEFAULT_BUS
        except InvalidInput as error:
            return EntryError(code="InvalidArgument", message=str(error))
        if buses is not None and bus in buses:
            rules = buses[bus]
        else:
            rules = self.rules(btx, bus)
            if buses is not None:
                buses[bus] = rules
        if rules is None:
            return EntryError(
                code="ResourceNotFoundException", message=f"Event bus {bus} does not exist."
            )
        event = build_envelope(
            entry,
            event_id=event_id,
            ingestion_time=ingested,
            region=self.region,
            account=self.account,
        )
        context = parse_trace_header(entry.trace_header) or trace
        trace_id = context.trace_id if context is not None else new_trace_id()
        record = TracedEvent(
            event_id=event_id,
            trace_id=trace_id,
            parent_span=context.span_id if context is not None else None,
            bus=bus,
            source=entry.source,
            detail_type=entry.detail_type,
            publisher=publisher,
            created=ingested.timestamp(),
        )
        if traced is not None:
            traced.append(record)
        else:
            TraceTx(btx.tx).record_events([record])
        return self.deliver_event(
            btx,
            rules,
            event,
            ingested=ingested.timestamp(),
            owner=owner,
            lease_until=lease_until,
            leases=leases,
            trace_id=trace_id,
        )

    def deliver_event(
        self,
        btx: BusTx,
        rules: BusRules,
        event: dict[str, Json],
        *,
        ingested: float,
        only: frozenset[str] | None = None,
        matched: list[str] | None = None,
        archive: bool = True,
        owner: str | None = None,
        lease_until: float | None = None,
        leases: Callable[[Target], bool] | None = None,
        trace_id: str | None = None,
        origin: tuple[str, str] | None = None,
    ) -> list[Accepted]:
        """Archive a built event and create its deliveries: to the targets of the rules that
        match it (of those in ``only``, when given), or of the ``matched`` rules as given (a
        scheduled rule fires to its own targets without matching, and is not archived).

        Without ``trace_id`` (a replayed or scheduled event) the event is recorded in the
        trace here: in ``origin`` = (trace id, parent span) when given (a replayed event joins
        its original's trace, under the original event), else in a trace of its own."""
        event_id = str(event["id"])
        bus = rules.bus
        if trace_id is None:
            trace_id, parent = origin if origin is not None else (new_trace_id(), None)
            TraceTx(btx.tx).record_events(
                [
                    TracedEvent(
                        event_id=event_id,
                        trace_id=trace_id,
                        parent_span=parent,
                        bus=bus,
                        source=str(event.get("source")),
                        detail_type=str(event.get("detail-type")),
                        publisher=None,
                        created=ingested,
                    )
                ]
            )
        if matched is None:
            matched = self.match(rules, event) if len(rules.index) else []
            if only is not None:
                matched = [rule for rule in matched if rule in only]
        archives = rules.archives if archive else ()
        if not matched and not archives:
            return []  # the common case of an event nobody wants: no encoding at all
        envelope = dumps(event)
        archive_event(btx.tx, archives, event, envelope, ingested)
        if not matched:
            return []
        made: list[Accepted] = []
        for rule in matched:
            arn = self.rule_arn(bus, rule)
            for target in rules.targets.get(rule, ()):
                leased = owner is not None and (leases is None or leases(target))
                delivery = NewDelivery(
                    event_id=event_id,
                    rule=rule,
                    target_id=target.id,
                    bus=bus,
                    kind=target.kind,
                    target=target.name if target.kind == "handler" else target.arn,
                    due=ingested,
                    owner=owner if leased else None,
                    lease_until=lease_until if leased else None,
                )
                made.append(
                    Accepted(
                        delivery=delivery,
                        target=target,
                        rule_arn=arn,
                        event=event,
                        envelope=envelope,
                        ingested=ingested,
                        trace_id=trace_id,
                    )
                )
        if made:
            btx.insert_events([(event_id, bus, envelope, ingested)], trace_id=trace_id)
            btx.insert_deliveries(a.delivery for a in made)
        return made


def entry_from_event(event: dict[str, Json], bus: str) -> dict[str, Json]:
    """A PutEvents entry that re-publishes ``event`` on ``bus`` (an event bus target)."""
    entry: dict[str, Json] = {
        "Source": event.get("source"),
        "DetailType": event.get("detail-type"),
        "Detail": dumps(event.get("detail", {})),
        "Resources": list(event.get("resources") or []),
        "EventBusName": bus,
    }
    if isinstance(event.get("time"), str):
        entry["Time"] = event["time"]
    return entry

"""Replays: StartReplay, DescribeReplay, ListReplays, CancelReplay (:class:`ReplayApi`), and the
replay work of a dispatcher cycle (:func:`run_replays`).

*Replaying archived events in Amazon EventBridge* and the StartReplay reference:

- a replay reads the archive ``EventSourceArn`` for events whose ``time`` lies in
  ``[EventStartTime, EventEndTime)``, oldest first, and sends them to ``Destination.Arn``,
  which must be the archive's own bus ("You can replay events only to the event bus specified
  to create the archive"); with ``Destination.FilterArns`` only to those rules;
- each replayed event carries ``"replay-name": NAME`` (between ``region`` and ``resources``,
  where EventBridge puts it), so rules may match on it, and it is not archived again;
- at most 10 replays are active (STARTING or RUNNING) at once ("You can have a maximum of 10
  active concurrent replays per account per AWS Region"): LimitExceededException;
- ``State`` goes STARTING, RUNNING, then COMPLETED; CancelReplay makes it CANCELLING, then
  CANCELLED; a replay whose archive or bus disappeared is FAILED; ``EventLastReplayedTime`` is
  the ``time`` of the last event replayed.

Progress is durable: each cycle replays a batch and moves the replay's cursor in the same
transaction that creates the replayed deliveries, so after a crash the replay resumes after the
last committed batch, and no event is replayed twice. The cursor moves by compare-and-set before
the batch is delivered, so two dispatchers never replay the same batch.

A replayed event gets a new id. EventBridge sends archived events to the bus again as new
events (replays are throttled "based on, but separate from, the PutEvents transactions per
second limit"), and does not document that a replayed event keeps its original's id; the one
field it documents as added is ``replay-name``. A handler that deduplicates on the event id
thus sees a replay as new work, and tells it from the original by ``replay-name``. The id is
derived from the replay name and the original id, so the same on a resumed batch. The replayed
event joins the trace of the original event (while the trace records keep it), as a child of
that event, so ``oncue trace`` shows what a replay caused under what the original caused.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Final

from oncue.asl.jsonutil import dumps, loads
from oncue.bus.archive_api import archive_arn
from oncue.bus.archives import REPLAY_NAME
from oncue.bus.clock import Clock
from oncue.bus.naming import bus_arn, check_limit, resolve_bus
from oncue.bus.resources import (
    arn,
    check_description,
    check_name,
    name_from_arn,
    page_after,
    page_token,
    timestamp,
)
from oncue.bus.router import Router
from oncue.errors import (
    IllegalStatusException,
    LimitExceededException,
    ResourceAlreadyExistsException,
    ResourceNotFoundException,
    ValidationException,
)
from oncue.store.base import Store
from oncue.store.bus_archive_sql import ArchiveTx, ReplayRecord
from oncue.store.bus_sql import BusTx
from oncue.store.sql import Tx
from oncue.store.trace_sql import TraceTx
from oncue.tracing import event_span
from oncue.types import Json

__all__ = ["MAX_ACTIVE_REPLAYS", "REPLAY_STATES", "ReplayApi", "replay_arn", "run_replays"]

REPLAY_STATES: Final = ("STARTING", "RUNNING", "CANCELLING", "COMPLETED", "CANCELLED", "FAILED")
_ACTIVE: Final = ("STARTING", "RUNNING")
#: "You can have a maximum of 10 active concurrent replays per account per AWS Region."
MAX_ACTIVE_REPLAYS: Final = 10


def replay_arn(region: str, account: str, name: str) -> str:
    return arn(region, account, "replay", name)


def _rule_name(rule_arn: str, bus: str) -> str:
    """The rule a FilterArns entry names, which must be a rule of the replay's bus."""
    head, _, path = rule_arn.partition(":rule/")
    if not head.startswith("arn:aws") or not path:
        raise ValidationException(f"Parameter FilterArns is not valid: {rule_arn!r}.")
    rule_bus, _, name = path.rpartition("/")
    if (rule_bus or "default") != bus:
        raise ValidationException(
            f"Parameter FilterArns is not valid: rule {rule_arn} is not a rule of event bus {bus}."
        )
    return name


class ReplayApi:
    """The replay actions; mixed into :class:`~oncue.bus.service.EventBus`."""

    store: Store
    router: Router
    clock: Clock
    region: str
    account: str

    def _notify(self) -> None:
        raise NotImplementedError

    def start_replay(
        self,
        replay_name: str,
        event_source_arn: str,
        event_start_time: Json | datetime,
        event_end_time: Json | datetime,
        destination: Json,
        description: str | None = None,
    ) -> dict[str, Json]:
        check_name(replay_name, "replayName")
        check_description(description)
        archive = name_from_arn(event_source_arn, "archive", "EventSourceArn")
        start = timestamp(event_start_time, "EventStartTime")
        end = timestamp(event_end_time, "EventEndTime")
        now = self.clock.now().timestamp()
        if start >= end:
            raise ValidationException("EventStartTime must be before EventEndTime.")
        if end > now:
            raise ValidationException("EventEndTime must not be in the future.")
        if not isinstance(destination, dict) or not isinstance(destination.get("Arn"), str):
            raise ValidationException("Parameter Destination.Arn is required.")
        bus = resolve_bus(destination["Arn"], "destination.arn")
        filters = destination.get("FilterArns")
        if filters is not None and (
            not isinstance(filters, list) or not all(isinstance(f, str) for f in filters)
        ):
            raise ValidationException("Parameter Destination.FilterArns must be a list of ARNs.")
        for rule_arn in filters or ():
            _rule_name(rule_arn, bus)
        with self.store.transaction() as tx:
            archives = ArchiveTx(tx)
            if BusTx(tx).get_bus(bus) is None:
                raise ResourceNotFoundException(f"Event bus {bus} does not exist.")
            record = archives.get_archive(archive)
            if record is None:
                raise ResourceNotFoundException(f"Archive {archive} does not exist.")
            if record.bus != bus:
                raise ValidationException(
                    "Parameter Destination.Arn is not valid. Reason: Cross event bus replay is "
                    f"not permitted (archive {archive} belongs to event bus {record.bus})."
                )
            if archives.get_replay(replay_name) is not None:
                raise ResourceAlreadyExistsException(f"Replay {replay_name} already exists.")
            active = [r for r in archives.active_replays() if r.state in _ACTIVE]
            if len(active) >= MAX_ACTIVE_REPLAYS:
                raise LimitExceededException(
                    f"The limit of {MAX_ACTIVE_REPLAYS} active concurrent replays is reached."
                )
            archives.insert_replay(
                ReplayRecord(
                    name=replay_name,
                    archive=archive,
                    bus=bus,
                    description=description,
                    filter_arns=dumps(filters) if filters else None,
                    event_start=start,
                    event_end=end,
                    state="STARTING",
                    state_reason=None,
                    replay_start=now,
                )
            )
        self._notify()
        return {
            "ReplayArn": replay_arn(self.region, self.account, replay_name),
            "State": "STARTING",
            "ReplayStartTime": now,
        }

    def _replay(self, tx: Tx, name: str) -> ReplayRecord:
        record = ArchiveTx(tx).get_replay(name)
        if record is None:
            raise ResourceNotFoundException(f"Replay {name} does not exist.")
        return record

    def _replay_summary(self, r: ReplayRecord) -> dict[str, Json]:
        document: dict[str, Json] = {
            "ReplayName": r.name,
            "EventSourceArn": archive_arn(self.region, self.account, r.archive),
            "State": r.state,
        }
        if r.state_reason is not None:
            document["StateReason"] = r.state_reason
        document["EventStartTime"] = r.event_start
        document["EventEndTime"] = r.event_end
        if r.last_replayed is not None:
            document["EventLastReplayedTime"] = r.last_replayed
        document["ReplayStartTime"] = r.replay_start
        if r.replay_end is not None:
            document["ReplayEndTime"] = r.replay_end
        return document

    def describe_replay(self, replay_name: str) -> dict[str, Json]:
        check_name(replay_name, "replayName")
        with self.store.read() as tx:
            r = self._replay(tx, replay_name)
        destination: dict[str, Json] = {"Arn": bus_arn(self.region, self.account, r.bus)}
        if r.filter_arns is not None:
            destination["FilterArns"] = loads(r.filter_arns)
        document: dict[str, Json] = {
            "ReplayName": r.name,
            "ReplayArn": replay_arn(self.region, self.account, r.name),
        }
        if r.description is not None:
            document["Description"] = r.description
        document.update(self._replay_summary(r))
        document["Destination"] = destination
        return document

    def list_replays(
        self,
        name_prefix: str | None = None,
        state: str | None = None,
        event_source_arn: str | None = None,
        next_token: str | None = None,
        limit: int | None = None,
    ) -> dict[str, Json]:
        count = check_limit(limit)
        if state is not None and state not in REPLAY_STATES:
            raise ValidationException(f"Value '{state}' at 'state' is not a valid ReplayState.")
        archive = (
            name_from_arn(event_source_arn, "archive", "EventSourceArn")
            if event_source_arn
            else None
        )
        with self.store.read() as tx:
            rows = ArchiveTx(tx).list_replays(
                name_prefix or "", state, archive, page_after(next_token), count + 1
            )
        response: dict[str, Json] = {"Replays": [self._replay_summary(r) for r in rows[:count]]}
        token = page_token([r.name for r in rows], count)
        if token is not None:
            response["NextToken"] = token
        return response

    def cancel_replay(self, replay_name: str) -> dict[str, Json]:
        check_name(replay_name, "replayName")
        with self.store.transaction() as tx:
            record = self._replay(tx, replay_name)
            if not ArchiveTx(tx).set_replay_state(
                replay_name, "CANCELLING", None, expect=_ACTIVE, end=None
            ):
                raise IllegalStatusException(
                    f"Replay {replay_name} is {record.state} and cannot be cancelled."
                )
        self._notify()
        return {
            "ReplayArn": replay_arn(self.region, self.account, replay_name),
            "State": "CANCELLING",
        }


def run_replays(tx: Tx, router: Router, now: datetime, batch: int) -> tuple[int, bool]:
    """Replay up to ``batch`` archived events of the active replays, in ``tx``; (events
    replayed, whether any replay has more to do)."""
    archives = ArchiveTx(tx)
    btx = BusTx(tx)
    traces = TraceTx(tx)
    moment = now.timestamp()
    done = 0
    more = False
    for replay in archives.active_replays():
        name = replay.name
        if replay.state == "CANCELLING":
            archives.set_replay_state(name, "CANCELLED", None, expect=("CANCELLING",), end=moment)
            continue
        room = batch - done
        if room <= 0:
            more = True
            break
        rules = router.rules(btx, replay.bus)
        reason = None
        if archives.get_archive(replay.archive) is None:
            reason = f"Archive {replay.archive} was deleted."
        elif rules is None:
            reason = f"Event bus {replay.bus} was deleted."
        if reason is not None or rules is None:
            archives.set_replay_state(name, "FAILED", reason, expect=_ACTIVE, end=moment)
            continue
        only = None
        if replay.filter_arns is not None:
            only = frozenset(_rule_name(a, replay.bus) for a in loads(replay.filter_arns))
        after = None
        if replay.cursor_time is not None and replay.cursor_id is not None:
            after = (replay.cursor_time, replay.cursor_id)
        page = archives.archived_page(
            replay.archive,
            start=replay.event_start,
            end=replay.event_end,
            after=after,
            limit=room,
        )
        if page:
            last = (page[-1].event_time, page[-1].event_id)
            if not archives.advance_replay(name, replay.cursor_id, last, len(page)):
                continue  # another dispatcher took this batch
            for row in page:
                event = _replayed(loads(row.envelope), name, row.event_id)
                original = traces.trace_of_event(row.event_id)
                origin = None if original is None else (original, event_span(row.event_id))
                router.deliver_event(btx, rules, event, ingested=moment, only=only, origin=origin)
            done += len(page)
        if len(page) < room:
            archives.set_replay_state(name, "COMPLETED", None, expect=_ACTIVE, end=moment)
        else:
            if replay.state == "STARTING":
                archives.set_replay_state(name, "RUNNING", None, expect=("STARTING",), end=None)
            more = True
    return done, more


def _replayed(archived: dict[str, Json], name: str, original_id: str) -> dict[str, Json]:
    """The archived event as the replay sends it: a new id (the same on a resumed batch), and
    ``replay-name`` where EventBridge puts it, between ``region`` and ``resources``."""
    key = f"oncue:replay:{name}/{original_id}"
    event: dict[str, Json] = {}
    for field, value in archived.items():
        if field == "resources":
            event[REPLAY_NAME] = name
        if field != REPLAY_NAME:
            event[field] = value
    event[REPLAY_NAME] = name  # an envelope without resources: at the end
    event["id"] = str(uuid.uuid5(uuid.NAMESPACE_URL, key))
    return event

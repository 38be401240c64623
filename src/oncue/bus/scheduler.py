"""Running scheduled rules: a rule with a ``ScheduleExpression`` fires to its targets on time.

*Creating a rule that runs on a schedule*: a scheduled rule sends its targets this event
(*Amazon EventBridge events*, "Scheduled Event")::

    {"version": "0", "id": "...", "detail-type": "Scheduled Event", "source": "aws.events",
     "account": "...", "time": "2025-01-01T12:00:00Z", "region": "...",
     "resources": ["arn:aws:events:REGION:ACCOUNT:rule/NAME"], "detail": {}}

It goes to the rule's own targets only: it is not put on the bus, so no other rule matches it
and no archive keeps it.

How oncue runs them, durably:

- PutRule stores the next fire time of a scheduled rule (:func:`plan`); a rate counts from the
  rule's creation, and changing the expression plans it again;
- every dispatcher cycle fires the schedules that are due (:func:`fire_due`), in its own
  transaction, with a compare-and-set on the stored fire time: when several dispatchers see the
  same due schedule, one moves it and fires, the others find it moved and do nothing; a crash
  before the commit leaves it due, so it fires after the restart; a fire is committed once;
- **missed fires**: after downtime a schedule fires *once* for everything it missed (with the
  ``time`` of the latest missed fire), then resumes on its grid — like EventBridge, which does
  not send a burst of the invocations it could not make;
- ``at(...)`` fires once, then its fire time is NULL; a DISABLED rule does not fire (its
  schedule moves on), a deleted one loses its schedule;
- time is the injected clock's, so tests jump over hours with the virtual clock.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from oncue.bus.router import Router
from oncue.bus.schedule import Rate, next_fire, parse_schedule
from oncue.patterns.entries import format_time
from oncue.store.bus_archive_sql import ArchiveTx, ScheduleRecord
from oncue.store.bus_sql import BusTx
from oncue.store.sql import Tx
from oncue.types import Json

__all__ = ["fire_due", "next_schedule", "plan", "scheduled_event"]


def _at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def plan(tx: Tx, bus: str, rule: str, expression: str | None, created: float, now: float) -> None:
    """Store (or drop) the schedule of a rule PutRule just wrote. An unchanged expression
    keeps its planned fire time; a new one is planned from now (a rate from creation)."""
    schedules = ArchiveTx(tx)
    if expression is None:
        schedules.delete_schedule(bus, rule)
        return
    existing = schedules.get_schedule(bus, rule)
    if existing is not None and existing.expression == expression:
        return
    upcoming = next_fire(expression, _at(now), start=_at(created))
    schedules.put_schedule(
        ScheduleRecord(
            bus=bus,
            rule=rule,
            expression=expression,
            anchor=created,
            next_fire=None if upcoming is None else upcoming.timestamp(),
        )
    )


def scheduled_event(
    *, event_id: str, region: str, account: str, rule_arn: str, fire_time: datetime
) -> dict[str, Json]:
    return {
        "version": "0",
        "id": event_id,
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": format_time(fire_time),
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    }


def fire_due(tx: Tx, router: Router, now: datetime, limit: int) -> int:
    """Fire the schedules due at ``now`` (at most ``limit``) in ``tx``; how many fired."""
    schedules = ArchiveTx(tx)
    btx = BusTx(tx)
    fired = 0
    for due in schedules.due_schedules(now.timestamp(), limit):
        assert due.next_fire is not None
        rules = router.rules(btx, due.bus)
        rule = None if rules is None else rules.rules.get(due.rule)
        if rules is None or rule is None or rule.schedule_expression != due.expression:
            schedules.delete_schedule(due.bus, due.rule)  # its rule is gone or changed
            continue
        # Missed fires collapse into this one: the next fire is the first one after now.
        upcoming = next_fire(due.expression, now, start=_at(due.anchor))
        # The latest fire time not after now is the one this fire stands for.
        latest = _latest(due, upcoming, now)
        if not schedules.move_schedule(
            due, None if upcoming is None else upcoming.timestamp(), latest
        ):
            continue  # another dispatcher fired it
        if rule.state != "ENABLED":
            continue
        arn = router.rule_arn(due.bus, due.rule)
        event = scheduled_event(
            event_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"oncue:schedule:{arn}/{latest}")),
            region=router.region,
            account=router.account,
            rule_arn=arn,
            fire_time=_at(latest),
        )
        router.deliver_event(
            btx, rules, event, ingested=now.timestamp(), matched=[due.rule], archive=False
        )
        fired += 1
    return fired


def _latest(due: ScheduleRecord, upcoming: datetime | None, now: datetime) -> float:
    """The latest fire time not after ``now`` (the one a catch-up fire stands for)."""
    assert due.next_fire is not None
    schedule = parse_schedule(due.expression)
    if isinstance(schedule, Rate) and upcoming is not None:
        return max(due.next_fire, (upcoming - schedule.period).timestamp())
    latest = due.next_fire
    for _ in range(100_000):  # a cron fires at most once a minute: bounded by the downtime
        following = next_fire(schedule, _at(latest), start=_at(due.anchor))
        if following is None or following > now:
            break
        latest = following.timestamp()
    return latest


def next_schedule(tx: Tx) -> float | None:
    """When the next schedule falls due (None: none is planned)."""
    return ArchiveTx(tx).next_schedule()

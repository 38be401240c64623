"""Schedule expressions: ``rate(...)``, ``cron(...)`` and one-time ``at(...)``, and when they fire.

From *Creating an Amazon EventBridge rule that runs on a schedule* (and EventBridge Scheduler's
*Schedule types* for ``at``). All schedules run in UTC ("All scheduled events use UTC+0 time
zone") at a one-minute resolution ("the minimum precision for a schedule is one minute").

- ``rate(value unit)``: "value: A positive number"; unit ``minute | minutes | hour | hours |
  day | days``; "If the value is equal to 1, then the unit must be singular. If the value is
  greater than 1, the unit must be plural." A rate "starts when you create the scheduled event
  rule": it fires every period after its start.
- ``cron(Minutes Hours Day-of-month Month Day-of-week Year)``: the six fields and wildcards of
  the table in :data:`FIELDS`; names JAN-DEC and SUN-SAT; day-of-week 1 is Sunday; "You can't
  specify the Day-of-month and Day-of-week fields in the same cron expression. If you specify a
  value or a * (asterisk) in one of the fields, you must use a ? (question mark) in the other";
  ``L`` is the last day of the month (day-of-month) or of the week (day-of-week, and ``6L`` the
  last Friday); ``3W`` the weekday closest to the 3rd, within the month; ``3#2`` the second
  Tuesday, and "If you use a '#' character, you can define only one expression in the
  day-of-week field"; ranges may wrap (hours ``20-2``).
- ``at(yyyy-mm-ddThh:mm:ss)``: once, at that UTC time.

The cron grammar is :mod:`.cron`'s; this module parses the three forms and computes
:func:`next_fire`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from oncue.bus.cron import FIELDS, Cron, parse_cron, schedule_invalid

__all__ = [
    "FIELDS",
    "MAX_EXPRESSION_LENGTH",
    "At",
    "Cron",
    "Rate",
    "Schedule",
    "next_fire",
    "parse_schedule",
]

#: ScheduleExpression: "max": 256.
MAX_EXPRESSION_LENGTH: Final = 256
_UNITS: Final = {"minute": 60, "hour": 3600, "day": 86400}
_RATE: Final = re.compile(r"rate\(\s*(\S+)\s+(\S+)\s*\)")
_CRON: Final = re.compile(r"cron\((.*)\)", re.DOTALL)
_AT: Final = re.compile(r"at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)")


@dataclass(frozen=True, slots=True, kw_only=True)
class Rate:
    value: int
    unit: str  # minute, hour or day (singular)

    @property
    def period(self) -> timedelta:
        return timedelta(seconds=self.value * _UNITS[self.unit])


@dataclass(frozen=True, slots=True, kw_only=True)
class At:
    moment: datetime  # aware, UTC


Schedule = Rate | Cron | At


def parse_schedule(expression: str) -> Schedule:
    """Validate a schedule expression; :class:`~oncue.errors.ValidationException` (EventBridge's
    "Parameter ScheduleExpression is not valid.") with the reason otherwise."""
    if len(expression) > MAX_EXPRESSION_LENGTH:
        schedule_invalid(f"the expression is longer than {MAX_EXPRESSION_LENGTH} characters")
    if expression.startswith("rate("):
        return _parse_rate(expression)
    if expression.startswith("cron("):
        match = _CRON.fullmatch(expression)
        if match is None:
            schedule_invalid("a cron expression reads cron(fields)")
        return parse_cron(match[1])
    if not expression.startswith("at("):
        schedule_invalid("the expression must be rate(...), cron(...) or at(...)")
    return _parse_at(expression)


def _parse_rate(expression: str) -> Rate:
    match = _RATE.fullmatch(expression)
    if match is None:
        schedule_invalid("a rate expression reads rate(value unit)")
    value_text, unit = match[1], match[2]
    if not value_text.isdigit() or int(value_text) < 1:
        schedule_invalid("the value of a rate must be a positive whole number")
    value = int(value_text)
    singular = unit[:-1] if unit.endswith("s") else unit
    if singular not in _UNITS:
        schedule_invalid("the unit of a rate must be minute(s), hour(s) or day(s)")
    if value == 1 and unit != singular:
        schedule_invalid("a rate of 1 takes a singular unit (minute, hour, day)")
    if value > 1 and unit == singular:
        schedule_invalid("a rate greater than 1 takes a plural unit (minutes, hours, days)")
    return Rate(value=value, unit=singular)


def _parse_at(expression: str) -> At:
    match = _AT.fullmatch(expression)
    if match is None:
        schedule_invalid("a one-time schedule reads at(yyyy-mm-ddThh:mm:ss)")
    try:
        moment = datetime.strptime(match[1], "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        schedule_invalid(f"{match[1]} is not a date and time")
    return At(moment=moment.replace(tzinfo=UTC))


def next_fire(
    expression: str | Schedule, after: datetime, *, start: datetime | None = None
) -> datetime | None:
    """The first time strictly after ``after`` that the schedule fires, in UTC; None if it never
    fires again (a past ``at``, a cron whose years are over or whose days never occur).

    Naive datetimes are taken as UTC. ``start`` anchors a rate (the rule's creation time): it
    fires at ``start + k * period`` for k >= 1. Without ``start``, the rate counts from
    ``after``.
    """
    schedule = parse_schedule(expression) if isinstance(expression, str) else expression
    after = _utc(after)
    if isinstance(schedule, At):
        return schedule.moment if schedule.moment > after else None
    if isinstance(schedule, Rate):
        period = schedule.period
        anchor = after if start is None else _utc(start)
        if after < anchor:
            return anchor + period
        return anchor + period * ((after - anchor) // period + 1)
    return schedule.next_after(after)


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)

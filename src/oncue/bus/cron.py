"""EventBridge's six-field cron: parse each field into a set of values, find the next minute.

The grammar is the table of *Cron Expressions* (user guide, "Creating an Amazon EventBridge rule
that runs on a schedule"): :data:`FIELDS` lists each field's range and the wildcards it accepts.
Items of a field are separated by commas; an item is ``*``, a value, a range ``a-b`` (wrapping
past the end for cyclic fields, as in the hours ``20-2`` of the documentation's examples) or a
step ``start/step`` where start is ``*``, a value or a range ("1/10 ... the 11th, 21st, and 31st
minute"). The day fields add ``?``, ``L``, ``W`` and ``#``, which stand alone.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, NoReturn

from oncue.errors import ValidationException

__all__ = ["FIELDS", "Cron", "DaySpec", "parse_cron", "schedule_invalid"]


@dataclass(frozen=True, slots=True, kw_only=True)
class _Field:
    name: str
    low: int
    high: int
    wildcards: str
    names: tuple[str, ...] = ()  # names for low, low + 1, ...
    cyclic: bool = True


#: The cron fields in order, with the values and wildcards of the documentation's table.
FIELDS: Final = (
    _Field(name="Minutes", low=0, high=59, wildcards=",-*/"),
    _Field(name="Hours", low=0, high=23, wildcards=",-*/"),
    _Field(name="Day-of-month", low=1, high=31, wildcards=",-*?/LW"),
    _Field(
        name="Month",
        low=1,
        high=12,
        wildcards=",-*/",
        names=tuple(calendar.month_abbr[1:]),  # JAN ... DEC (case-insensitive)
    ),
    _Field(
        name="Day-of-week",
        low=1,
        high=7,
        wildcards=",-*?L#",
        names=("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"),
    ),
    _Field(name="Year", low=1970, high=2199, wildcards=",-*/", cyclic=False),
)
_DOM, _DOW = FIELDS[2], FIELDS[4]


def schedule_invalid(reason: str) -> NoReturn:
    """PutRule's error for a bad schedule, with the reason appended."""
    raise ValidationException(f"Parameter ScheduleExpression is not valid. Reason: {reason}.")


@dataclass(frozen=True, slots=True, kw_only=True)
class DaySpec:
    """A day field. ``kind`` is ``any`` (``?``), ``set`` (``values``), ``last`` (``L``),
    ``last-weekday`` (``LW``), ``nearest-weekday`` (``nW``: ``values`` holds n),
    ``last-of`` (``dL``: the last weekday d of the month) or ``nth`` (``d#n``: ``values`` holds
    d, ``nth`` holds n). Weekdays count 1 = Sunday ... 7 = Saturday."""

    kind: str
    values: frozenset[int] = frozenset()
    nth: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Cron:
    """A parsed cron expression; :meth:`next_after` and :meth:`matches` work in UTC."""

    source: str
    minutes: frozenset[int]
    hours: frozenset[int]
    months: frozenset[int]
    years: frozenset[int]
    day_of_month: DaySpec
    day_of_week: DaySpec

    def days(self, year: int, month: int) -> list[int]:
        """The days of ``month`` on which the expression fires, ascending."""
        last = calendar.monthrange(year, month)[1]
        spec = self.day_of_month if self.day_of_month.kind != "any" else self.day_of_week
        if spec is self.day_of_month:
            return _month_days(spec, year, month, last)
        return _week_days(spec, year, month, last)

    def matches(self, moment: datetime) -> bool:
        """Whether the expression fires at this minute (seconds must be zero)."""
        moment = moment.astimezone(UTC) if moment.tzinfo else moment
        return (
            moment.second == 0
            and moment.microsecond == 0
            and moment.minute in self.minutes
            and moment.hour in self.hours
            and moment.month in self.months
            and moment.year in self.years
            and moment.day in self.days(moment.year, moment.month)
        )

    def next_after(self, after: datetime) -> datetime | None:
        """The first firing minute strictly after ``after`` (aware, UTC), or None."""
        first = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
        if first.year > FIELDS[5].high:
            return None
        hours, minutes = sorted(self.hours), sorted(self.minutes)
        for year in sorted(y for y in self.years if y >= first.year):
            for month in sorted(self.months):
                if (year, month) < (first.year, first.month):
                    continue
                for day in self.days(year, month):
                    if (year, month, day) < (first.year, first.month, first.day):
                        continue
                    same_day = (year, month, day) == (first.year, first.month, first.day)
                    for hour in hours:
                        if same_day and hour < first.hour:
                            continue
                        same_hour = same_day and hour == first.hour
                        for minute in minutes:
                            if same_hour and minute < first.minute:
                                continue
                            return datetime(year, month, day, hour, minute, tzinfo=UTC)
        return None


def _weekday(year: int, month: int, day: int) -> int:
    """1 = Sunday ... 7 = Saturday (Python's Monday = 0)."""
    return (calendar.weekday(year, month, day) + 1) % 7 + 1


def _month_days(spec: DaySpec, year: int, month: int, last: int) -> list[int]:
    if spec.kind == "set":
        return sorted(day for day in spec.values if day <= last)
    if spec.kind == "last":
        return [last]
    if spec.kind == "last-weekday":
        day = last
        while _weekday(year, month, day) in (1, 7):
            day -= 1
        return [day]
    # nearest-weekday: the weekday closest to n, never leaving the month.
    (target,) = spec.values
    if target > last:
        return []
    weekday = _weekday(year, month, target)
    if weekday == 7:  # Saturday: Friday before, or Monday after the 1st
        return [target - 1] if target > 1 else [target + 2]
    if weekday == 1:  # Sunday: Monday after, or Friday before the last day
        return [target + 1] if target < last else [target - 2]
    return [target]


def _week_days(spec: DaySpec, year: int, month: int, last: int) -> list[int]:
    first = _weekday(year, month, 1)
    if spec.kind == "set":
        return [day for day in range(1, last + 1) if (first + day - 2) % 7 + 1 in spec.values]
    (target,) = spec.values
    days = [day for day in range(1, last + 1) if (first + day - 2) % 7 + 1 == target]
    if spec.kind == "last-of":
        return days[-1:]
    return days[spec.nth - 1 : spec.nth]  # nth


def parse_cron(fields_text: str) -> Cron:
    """Parse the text between ``cron(`` and ``)``."""
    parts = fields_text.split()
    if len(parts) != len(FIELDS):
        schedule_invalid(f"a cron expression has 6 fields, not {len(parts)}")
    minutes, hours, dom, month, dow, year = parts
    if (dom == "?") == (dow == "?"):
        schedule_invalid("exactly one of Day-of-month and Day-of-week must be ?")
    return Cron(
        source=f"cron({fields_text})",
        minutes=_values(minutes, FIELDS[0]),
        hours=_values(hours, FIELDS[1]),
        day_of_month=_day_of_month(dom),
        months=_values(month, FIELDS[3]),
        day_of_week=_day_of_week(dow),
        years=_values(year, FIELDS[5]),
    )


def _day_of_month(text: str) -> DaySpec:
    upper = text.upper()
    if upper == "?":
        return DaySpec(kind="any")
    if upper == "L":
        return DaySpec(kind="last")
    if upper == "LW":
        return DaySpec(kind="last-weekday")
    if upper.endswith("W"):
        day = _number(upper[:-1], _DOM)
        return DaySpec(kind="nearest-weekday", values=frozenset({day}))
    return DaySpec(kind="set", values=_values(text, _DOM))


def _day_of_week(text: str) -> DaySpec:
    upper = text.upper()
    if upper == "?":
        return DaySpec(kind="any")
    if upper == "L":  # the last day of the week: Saturday
        return DaySpec(kind="set", values=frozenset({7}))
    if "#" in upper:
        if "," in upper:
            schedule_invalid("with #, Day-of-week holds only one expression")
        day_text, _, nth_text = upper.partition("#")
        nth = _number(nth_text, _Field(name="Day-of-week #", low=1, high=5, wildcards=""))
        return DaySpec(kind="nth", values=frozenset({_number(day_text, _DOW)}), nth=nth)
    if upper.endswith("L"):
        return DaySpec(kind="last-of", values=frozenset({_number(upper[:-1], _DOW)}))
    return DaySpec(kind="set", values=_values(text, _DOW))


def _values(text: str, field: _Field) -> frozenset[int]:
    found: set[int] = set()
    for item in text.split(","):
        found.update(_item(item, field))
    return frozenset(found)


def _item(item: str, field: _Field) -> list[int]:
    for char in item:
        if not (char.isalnum() or char in field.wildcards):
            schedule_invalid(f"{field.name} does not accept {char!r}")
    if item in ("", "?") or "#" in item or (item.upper().endswith(("L", "W")) and not field.names):
        # ?, L, W and # stand alone in their field (see _day_of_month, _day_of_week).
        schedule_invalid(f"{item!r} is not valid in {field.name} here")
    step = 1
    stepped = "/" in item
    if stepped:
        item, _, step_text = item.partition("/")
        step = _number(
            step_text, _Field(name=f"{field.name} step", low=1, high=10**6, wildcards="")
        )
        if item == "":
            schedule_invalid(f"a step in {field.name} needs a start")
    if item == "*":
        return list(range(field.low, field.high + 1, step))
    low_text, dash, high_text = item.partition("-")
    low = _number(low_text, field)
    if not dash:
        # "1/10": from 1 to the end of the field, every 10.
        return list(range(low, field.high + 1, step)) if stepped else [low]
    high = _number(high_text, field)
    if low <= high:
        return list(range(low, high + 1, step))
    if not field.cyclic:
        schedule_invalid(f"the range {item} of {field.name} runs backwards")
    span = list(range(low, field.high + 1)) + list(range(field.low, high + 1))
    return span[::step]


def _number(text: str, field: _Field) -> int:
    upper = text.upper()
    if field.names and upper in (name.upper() for name in field.names):
        return field.low + [name.upper() for name in field.names].index(upper)
    if not text.isdigit():
        schedule_invalid(f"{text!r} is not a value of {field.name}")
    value = int(text)
    if not field.low <= value <= field.high:
        schedule_invalid(f"{value} is outside {field.name} ({field.low}-{field.high})")
    return value

"""Schedule expressions: the documented examples, the validation rules, and properties of
next_fire checked against an independent minute-by-minute reading of the cron fields."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from oncue.bus import At, Cron, Rate, next_fire, parse_schedule
from oncue.errors import InvalidInput

# A Friday evening.
AFTER = datetime(2021, 5, 28, 22, 10, tzinfo=UTC)


def fires(expression: str, after: datetime = AFTER, count: int = 3) -> list[str]:
    out: list[str] = []
    moment: datetime | None = after
    for _ in range(count):
        assert moment is not None
        moment = next_fire(expression, moment)
        if moment is None:
            break
        out.append(moment.strftime("%a %Y-%m-%d %H:%M"))
    return out


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        # The examples table of *Cron Expressions*.
        ("cron(0 10 * * ? *)", ["Sat 2021-05-29 10:00", "Sun 2021-05-30 10:00"]),
        ("cron(15 12 * * ? *)", ["Sat 2021-05-29 12:15", "Sun 2021-05-30 12:15"]),
        ("cron(0 18 ? * MON-FRI *)", ["Mon 2021-05-31 18:00", "Tue 2021-06-01 18:00"]),
        ("cron(0 8 1 * ? *)", ["Tue 2021-06-01 08:00", "Thu 2021-07-01 08:00"]),
        ("cron(0/15 * * * ? *)", ["Fri 2021-05-28 22:15", "Fri 2021-05-28 22:30"]),
        ("cron(0/10 * ? * MON-FRI *)", ["Fri 2021-05-28 22:20", "Fri 2021-05-28 22:30"]),
        ("cron(0/5 8-17 ? * MON-FRI *)", ["Mon 2021-05-31 08:00", "Mon 2021-05-31 08:05"]),
        ("cron(0/30 20-2 ? * MON-FRI *)", ["Fri 2021-05-28 22:30", "Fri 2021-05-28 23:00"]),
        # The put-rule examples.
        ("cron(0 12 * * ? *)", ["Sat 2021-05-29 12:00", "Sun 2021-05-30 12:00"]),
        ("cron(5,35 14 * * ? *)", ["Sat 2021-05-29 14:05", "Sat 2021-05-29 14:35"]),
        # "10:15am UTC+0 on the last Friday of each month during the years 2019 to 2022".
        ("cron(15 10 ? * 6L 2019-2022)", ["Fri 2021-06-25 10:15", "Fri 2021-07-30 10:15"]),
        # "1/10 ... the 11th, 21st, and 31st minute".
        ("cron(1/10 * * * ? *)", ["Fri 2021-05-28 22:11", "Fri 2021-05-28 22:21"]),
        # "3#2 would be the second Tuesday of the month".
        ("cron(0 9 ? * 3#2 *)", ["Tue 2021-06-08 09:00", "Tue 2021-07-13 09:00"]),
        # "3W specifies the weekday closest to the third day of the month" (3 July 2021 is a
        # Saturday, so the Friday before).
        ("cron(0 9 3W * ? *)", ["Thu 2021-06-03 09:00", "Fri 2021-07-02 09:00"]),
        ("cron(0 0 L * ? *)", ["Mon 2021-05-31 00:00", "Wed 2021-06-30 00:00"]),
        ("cron(0 0 LW * ? *)", ["Mon 2021-05-31 00:00", "Wed 2021-06-30 00:00"]),
        ("cron(0 0 ? * L *)", ["Sat 2021-05-29 00:00", "Sat 2021-06-05 00:00"]),
        ("cron(0 0 ? JAN,jul SUN#1 *)", ["Sun 2021-07-04 00:00", "Sun 2022-01-02 00:00"]),
        ("cron(0 0 29 2 ? *)", ["Thu 2024-02-29 00:00", "Tue 2028-02-29 00:00"]),
        ("cron(0 0 1 1 ? 2020)", []),  # over
        ("cron(0 0 31 2 ? *)", []),  # never
        # Rates count from `after` when no start is given; at() fires once.
        ("rate(1 minute)", ["Fri 2021-05-28 22:11", "Fri 2021-05-28 22:12"]),
        ("rate(5 minutes)", ["Fri 2021-05-28 22:15", "Fri 2021-05-28 22:20"]),
        ("rate(1 hour)", ["Fri 2021-05-28 23:10", "Sat 2021-05-29 00:10"]),
        ("rate(1 day)", ["Sat 2021-05-29 22:10", "Sun 2021-05-30 22:10"]),
        ("at(2021-06-01T12:30:00)", ["Tue 2021-06-01 12:30"]),
        ("at(2021-05-28T22:10:00)", []),
    ],
)
def test_documented_schedules(expression: str, expected: list[str]) -> None:
    assert fires(expression, count=2) == expected


def test_rate_is_anchored_on_its_start() -> None:
    start = datetime(2021, 5, 28, 9, 2, 30, tzinfo=UTC)
    assert next_fire("rate(5 minutes)", AFTER, start=start) == datetime(
        2021, 5, 28, 22, 12, 30, tzinfo=UTC
    )
    assert next_fire("rate(1 day)", start - timedelta(days=3), start=start) == start + timedelta(
        days=1
    )


def test_parsed_forms() -> None:
    assert parse_schedule("rate(5 minutes)") == Rate(value=5, unit="minute")
    assert parse_schedule("rate(1 day)").period == timedelta(days=1)  # type: ignore[union-attr]
    assert parse_schedule("at(2030-01-02T03:04:05)") == At(
        moment=datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    )
    cron = parse_schedule("cron(0/30 20-2 ? * MON-FRI *)")
    assert isinstance(cron, Cron)
    assert cron.hours == {20, 21, 22, 23, 0, 1, 2} and cron.minutes == {0, 30}
    assert cron.day_of_week.values == {2, 3, 4, 5, 6}


def test_naive_datetimes_are_utc() -> None:
    assert next_fire("cron(0 10 * * ? *)", datetime(2021, 5, 28, 22, 10)) == datetime(
        2021, 5, 29, 10, 0, tzinfo=UTC
    )


@pytest.mark.parametrize(
    "expression",
    [
        # "rate(1 hours) and rate(5 hour) aren't valid"
        "rate(1 hours)",
        "rate(5 hour)",
        "rate(0 minutes)",
        "rate(-1 minutes)",
        "rate(1.5 hours)",
        "rate(2 weeks)",
        "rate(5minutes)",
        # Day-of-month and day-of-week: exactly one is ?
        "cron(0 10 * * * *)",
        "cron(0 10 ? * ? *)",
        "cron(0 10 1 * MON *)",
        # "3#1,6#3 is not valid"
        "cron(0 10 ? * 3#1,6#3 *)",
        "cron(60 * * * ? *)",
        "cron(0 24 * * ? *)",
        "cron(0 0 32 * ? *)",
        "cron(0 0 0 * ? *)",
        "cron(0 0 ? 13 MON *)",
        "cron(0 0 ? * 8 *)",
        "cron(0 0 ? * 0 *)",
        "cron(0 0 * * ? 1969)",
        "cron(0 0 * * ? 2200)",
        "cron(0 0 * * ? 2022-2020)",
        "cron(0 0 * * ?)",
        "cron(0 0 * * ? * *)",
        "cron(*/0 * * * ? *)",
        "cron(0 0 ? * */2 *)",  # / is not a day-of-week wildcard
        "cron(0 0 1,L * ? *)",
        "cron(0 0 ? * 2#6 *)",
        "cron(0 0 5L * ? *)",
        "cron(0 L * * ? *)",
        "cron(0 0 ? FOO MON *)",
        "cron()",
        "at(2024-13-01T00:00:00)",
        "at(2024-01-01 00:00:00)",
        "at(2024-01-01T00:00)",
        "every(5 minutes)",
        "rate(5 minutes)" + " " * 300,
    ],
)
def test_invalid_expressions(expression: str) -> None:
    with pytest.raises(InvalidInput, match=r"^Parameter ScheduleExpression is not valid\."):
        parse_schedule(expression)


# ---- properties ----------------------------------------------------------------------------


def _item(low: int, high: int) -> st.SearchStrategy[str]:
    value = st.integers(low, high)
    return st.one_of(
        value.map(str),
        st.tuples(value, value).map(lambda r: f"{r[0]}-{r[1]}"),
        st.tuples(value, st.integers(1, high - low + 1)).map(lambda r: f"{r[0]}/{r[1]}"),
        st.integers(1, 5).map(lambda step: f"*/{step}"),
        st.just("*"),
    )


def _field(low: int, high: int) -> st.SearchStrategy[str]:
    return st.lists(_item(low, high), min_size=1, max_size=3).map(",".join)


day_of_week = st.one_of(
    _field(1, 7).filter(lambda text: "/" not in text),
    st.tuples(st.integers(1, 7), st.integers(1, 5)).map(lambda t: f"{t[0]}#{t[1]}"),
    st.integers(1, 7).map(lambda d: f"{d}L"),
    st.just("L"),
)
day_of_month = st.one_of(
    _field(1, 31), st.just("L"), st.just("LW"), st.integers(1, 31).map(lambda d: f"{d}W")
)
days = st.one_of(
    st.tuples(day_of_month, st.just("?")),
    st.tuples(st.just("?"), day_of_week),
)
years = st.one_of(
    st.just("*"),
    st.tuples(st.integers(2020, 2030), st.integers(0, 5)).map(lambda t: f"{t[0]}-{t[0] + t[1]}"),
)
crons = st.tuples(_field(0, 59), _field(0, 23), days, _field(1, 12), years).map(
    lambda t: f"cron({t[0]} {t[1]} {t[2][0]} {t[3]} {t[2][1]} {t[4]})"
)
moments = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
)


def _weekday(moment: datetime) -> int:
    return moment.isoweekday() % 7 + 1  # 1 = Sunday


def _reference_day(dom: str, dow: str, moment: datetime) -> bool:
    """The day rule written independently of the implementation, straight from the docs."""
    last = calendar.monthrange(moment.year, moment.month)[1]
    day = moment.day
    if dom != "?":
        if dom == "L":
            return day == last
        if dom == "LW":
            weekdays = [d for d in range(1, last + 1) if moment.replace(day=d).isoweekday() < 6]
            return day == weekdays[-1]
        if dom.endswith("W"):
            target = int(dom[:-1])
            weekdays = [d for d in range(1, last + 1) if moment.replace(day=d).isoweekday() < 6]
            if target > last:
                return False
            nearest = min(weekdays, key=lambda d: (abs(d - target), d))
            return day == nearest
        return day in _reference_set(dom, 1, 31)
    if dow == "L":
        return _weekday(moment) == 7
    if "#" in dow:
        weekday, nth = map(int, dow.split("#"))
        return _weekday(moment) == weekday and (day - 1) // 7 + 1 == nth
    if dow.endswith("L"):
        return _weekday(moment) == int(dow[:-1]) and day + 7 > last
    return _weekday(moment) in _reference_set(dow, 1, 7)


def _reference_set(text: str, low: int, high: int) -> set[int]:
    values: set[int] = set()
    size = high - low + 1
    for item in text.split(","):
        base, _, step_text = item.partition("/")
        step = int(step_text or 1)
        if base == "*":
            start, stop = low, high
        elif "-" in base:
            start, stop = map(int, base.split("-"))
        else:
            start = int(base)
            stop = high if step_text else start
        count = (stop - start) % size + 1 if "-" in base or base == "*" else stop - start + 1
        values.update(low + (start - low + k) % size for k in range(0, count, step))
    return values


def _reference_matches(expression: str, moment: datetime) -> bool:
    minutes, hours, dom, months, dow, years_text = expression[5:-1].split()
    year_values = (
        set(range(1970, 2200))
        if years_text == "*"
        else set(range(*map(int, years_text.split("-")))) | {int(years_text.split("-")[1])}
    )
    return (
        moment.second == 0
        and moment.minute in _reference_set(minutes, 0, 59)
        and moment.hour in _reference_set(hours, 0, 23)
        and moment.month in _reference_set(months, 1, 12)
        and moment.year in year_values
        and _reference_day(dom, dow, moment)
    )


@settings(max_examples=300, deadline=None)
@given(crons, moments)
def test_next_fire_is_the_first_matching_minute_after(expression: str, after: datetime) -> None:
    fired = next_fire(expression, after)
    if fired is None:
        # Nothing in the next 40 days either (the reference cannot scan to 2199).
        probe = after.replace(second=0, microsecond=0)
        for _ in range(0, 40 * 24 * 60, 7):
            probe += timedelta(minutes=7)
            assert not _reference_matches(expression, probe) or probe.year > 2199
        return
    assert fired > after
    assert fired.tzinfo is UTC and fired.second == 0 and fired.microsecond == 0
    assert _reference_matches(expression, fired)
    cron = parse_schedule(expression)
    assert isinstance(cron, Cron) and cron.matches(fired)
    # No earlier minute matches (scanned when the gap is at most three days).
    if fired - after <= timedelta(days=3):
        probe = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
        while probe < fired:
            assert not _reference_matches(expression, probe), probe
            probe += timedelta(minutes=1)


@settings(max_examples=200, deadline=None)
@given(crons, moments, st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=60)))
def test_next_fire_is_monotone(expression: str, first: datetime, gap: timedelta) -> None:
    second = first + gap
    one, two = next_fire(expression, first), next_fire(expression, second)
    if one is None:
        assert two is None
    elif two is not None:
        assert one <= two
        if one > second:
            assert one == two  # nothing fires between first and one, so the same next


@given(
    st.integers(1, 500),
    st.sampled_from(["minutes", "hours", "days"]),
    moments,
    moments,
)
def test_rates_fire_on_whole_periods_after_their_start(
    value: int, unit: str, start: datetime, after: datetime
) -> None:
    assume(value > 1)
    expression = f"rate({value} {unit})"
    period = parse_schedule(expression).period  # type: ignore[union-attr]
    fired = next_fire(expression, after, start=start)
    assert fired is not None and fired > after
    periods, remainder = divmod(fired - start, period)
    assert remainder == timedelta(0) and periods >= 1
    assert fired - period <= max(after, start)

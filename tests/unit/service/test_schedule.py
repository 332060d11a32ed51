"""The daemon's schedule: crontab weekdays mean what crontab means, and staleness is two fires."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rabbitmq_preflight.service.schedule import Schedule

MONDAY_0800 = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC)  # a Monday


def fires(schedule: Schedule, start: dt.datetime, count: int) -> list[dt.datetime]:
    trig = schedule.trigger(with_jitter=False)
    out: list[dt.datetime] = []
    prev = None
    now = start
    for _ in range(count):
        nxt = trig.get_next_fire_time(prev, now)
        assert nxt is not None
        out.append(nxt)
        prev, now = nxt, nxt + dt.timedelta(seconds=1)
    return out


def test_crontab_one_to_five_is_monday_to_friday_not_tuesday_to_saturday() -> None:
    schedule = Schedule.parse(None, "0 9 * * 1-5", None)
    days = {f.strftime("%a") for f in fires(schedule, MONDAY_0800, 10)}
    assert days == {"Mon", "Tue", "Wed", "Thu", "Fri"}


@pytest.mark.parametrize("field", ["0", "7"])
def test_crontab_zero_and_seven_are_sunday(field: str) -> None:
    [first] = fires(Schedule.parse(None, f"30 6 * * {field}", None), MONDAY_0800, 1)
    assert first == dt.datetime(2026, 11, 29, 6, 30, tzinfo=dt.UTC)


def test_every_five_minutes() -> None:
    schedule = Schedule.parse(None, "*/5 * * * *", None)
    assert schedule.nominal_interval(MONDAY_0800) == 300
    assert schedule.stale_after(MONDAY_0800 + dt.timedelta(minutes=1)) == MONDAY_0800 + dt.timedelta(minutes=10)


def test_interval_staleness_is_two_intervals_plus_jitter() -> None:
    schedule = Schedule.parse(60.0, None, 5.0)
    assert schedule.stale_after(MONDAY_0800) == MONDAY_0800 + dt.timedelta(seconds=125)
    assert schedule.misfire_grace() == 60


@pytest.mark.parametrize(("interval", "cron", "message"), [
    (60.0, "*/5 * * * *", "not both"),
    (None, "*/5 * * *", "5 fields"),
    (None, "61 * * * *", "--cron"),
    (None, "0 0 30 2 *", "never fires"),
    (None, "0 0 * * 8", "0-7"),
    (0.05, None, "at least 0.1s"),
])
def test_bad_schedules_are_one_line_errors(interval: float | None, cron: str | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Schedule.parse(interval, cron, None)


def test_default_is_every_five_minutes() -> None:
    assert Schedule.parse(None, None, None).describe() == {"interval_s": 300.0, "jitter_s": 0.0}


CRON_NAMES = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]


def crontab_days(field: str) -> set[str]:
    """What crontab(5) means by a day-of-week field, written independently of the code under test."""
    days: set[int] = set()
    for token in field.split(","):
        base, _, step = token.partition("/")
        lo, hi = (0, 6) if base == "*" else (int(base.split("-")[0]), int(base.split("-")[-1]))
        days.update(range(lo, hi + 1, int(step or 1)))
    return {CRON_NAMES[d % 7] for d in days}


@given(st.lists(st.one_of(
    st.integers(0, 7).map(str),
    st.tuples(st.integers(0, 7), st.integers(0, 7), st.integers(1, 3)).map(
        lambda t: f"{min(t[:2])}-{max(t[:2])}" + (f"/{t[2]}" if t[2] > 1 else "")),
    st.sampled_from(["*", "*/2", "*/3"]),
), min_size=1, max_size=4).map(",".join))
def test_any_crontab_weekday_field_fires_on_the_days_crontab_means(field: str) -> None:
    schedule = Schedule(cron=f"0 0 * * {field}")
    fired = {f.strftime("%a") for f in fires(schedule, MONDAY_0800, 7) if f < MONDAY_0800 + dt.timedelta(days=7)}
    assert fired == crontab_days(field)

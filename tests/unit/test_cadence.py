"""The shortest gap of a schedule, against the occurrences the scheduler itself computes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from shared import recurrence
from shared.cadence import cron_gap, cron_period, shortest_gap, transitions
from shared.recurrence import Schedule

NOW = datetime(2026, 12, 1, tzinfo=UTC)
MINUTE = 60
HOUR = 3600
DAY = 86400


@pytest.mark.parametrize(
    ("expr", "seconds"),
    [
        ("* * * * *", MINUTE),
        ("*/5 * * * *", 5 * MINUTE),
        ("0,1 9 * * *", MINUTE),  # two neighbours in the minute set
        ("0 9,17 * * *", 8 * HOUR),
        ("0 0,23 * * *", HOUR),  # 23:00 to 00:00 the next day: the wrap-around
        ("58 23 * * *", DAY),
        ("50-55/5 * * * *", 5 * MINUTE),
        ("55,5 * * * *", 10 * MINUTE),  # 55 to 05 of the next hour
        ("0 9 * * 1-5", DAY),  # Monday to Friday: Friday to Monday is longer
        ("0 9 * * 1,3,5", 2 * DAY),
        ("0 9 * * 0,6", DAY),  # Saturday and Sunday are neighbours
        ("0 0 1,15 * *", 14 * DAY),  # 1 to 15; 15 to the next 1st is 13 or more days
        ("0 0 L * *", 28 * DAY),  # the last of February to the last of March
        ("0 0 1 1 *", 365 * DAY),
        ("0 0 29 2 *", 1461 * DAY),  # leap days; 2100 has none, so 8 years once
        ("0 0 13 * 5", DAY),  # croniter reads both as "or": Thursday 13th, Friday 14th
        ("0 0 31 * *", 31 * DAY),  # July to August, December to January
        ("30 9 1 * 1", DAY),  # a Monday the 2nd after the 1st, or the 1st after a Monday
    ],
)
def test_the_wall_clock_period_is_read_off_the_field_sets(expr: str, seconds: int) -> None:
    assert cron_period(expr) == seconds


@pytest.mark.parametrize(
    ("expr", "days"),
    [
        ("*/7 * * * *", 2),
        ("0,1 9 * * *", 20),
        ("0 0,23 * * *", 20),
        ("0 9 * * 1,3,5", 20),
        ("10 5 1,15 * *", 400),
        ("0 0 L * *", 400),
    ],
)
def test_the_period_in_utc_is_the_shortest_gap_between_real_occurrences(
    expr: str, days: int
) -> None:
    occurrences = _occurrences(expr, "UTC", datetime(2027, 1, 1, tzinfo=UTC), days)
    assert cron_gap(expr, ZoneInfo("UTC"), NOW) == _shortest(occurrences)


# Each ran against the scheduler's own occurrences across the jumps of 2027.
@pytest.mark.parametrize(
    ("expr", "zone", "seconds"),
    [
        ("*/20 * * * *", "Europe/Berlin", 20 * MINUTE),  # a whole-hour jump changes nothing
        ("30 * * * *", "Europe/Berlin", HOUR),
        ("30 1,3 * * *", "Europe/Berlin", HOUR),  # 01:30 CET to 03:30 CEST
        ("0 */2 * * *", "Europe/Berlin", HOUR),  # 00:00, 02:00 at the jump (03:00), 04:00
        ("0 9 * * *", "Europe/Berlin", 23 * HOUR),
        ("30 2 * * *", "Europe/Berlin", 23 * HOUR + 30 * MINUTE),  # runs at the jump
        ("0,30 2,3 * * *", "Europe/Berlin", 30 * MINUTE),  # 02:00, 02:30 and 03:00 are one
        ("30 * * * *", "Australia/Lord_Howe", 30 * MINUTE),  # a 30-minute jump
        ("45 * * * *", "Australia/Lord_Howe", 30 * MINUTE),  # falling back, twice
        ("0 9 * * *", "America/New_York", 23 * HOUR),
    ],
)
def test_daylight_saving_shortens_the_gaps_around_a_jump(
    expr: str, zone: str, seconds: int
) -> None:
    assert cron_gap(expr, ZoneInfo(zone), NOW) == seconds
    observed = DAY * 400
    for _, instant, _ in transitions(ZoneInfo(zone), NOW):
        nearby = _occurrences(expr, zone, instant - timedelta(days=2), 4)
        observed = min(observed, _shortest(nearby))
    assert observed == seconds


def test_a_zone_without_transitions_keeps_the_wall_clock_period() -> None:
    assert transitions(ZoneInfo("Asia/Tokyo"), NOW) == ()
    assert cron_gap("30 1,3 * * *", ZoneInfo("Asia/Tokyo"), NOW) == 2 * HOUR


def test_other_schedules() -> None:
    at = NOW + timedelta(hours=1)
    assert shortest_gap(Schedule(run_at=at), NOW) is None
    assert shortest_gap(Schedule(run_at=at, interval_seconds=17), NOW) == timedelta(seconds=17)
    assert shortest_gap(Schedule(run_at=at, repeat="hourly"), NOW) == timedelta(hours=1)
    assert shortest_gap(Schedule(run_at=at, repeat="daily"), NOW) == timedelta(days=1)
    berlin_daily = Schedule(run_at=at, repeat="daily", timezone="Europe/Berlin")
    assert shortest_gap(berlin_daily, NOW) == timedelta(hours=23)
    weekly = Schedule(run_at=at, repeat="weekly", timezone="Europe/Berlin")
    assert shortest_gap(weekly, NOW) == timedelta(days=7, hours=-1)
    cron = Schedule(run_at=at, cron="*/10 * * * *", timezone="Europe/Berlin")
    assert shortest_gap(cron, NOW) == timedelta(minutes=10)


def _occurrences(expr: str, zone: str, start: datetime, days: int) -> list[datetime]:
    schedule = Schedule(run_at=start, cron=expr, timezone=zone)
    end = start + timedelta(days=days)
    found: list[datetime] = []
    cursor = start
    while True:
        following = recurrence.next_occurrence(schedule, cursor)
        if following is None or following > end:
            return found
        found.append(following)
        cursor = following


def _shortest(occurrences: list[datetime]) -> int:
    gaps = [later - earlier for earlier, later in pairwise(occurrences)]
    return int(min(gaps).total_seconds())

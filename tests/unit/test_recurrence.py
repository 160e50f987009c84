"""Unit tests for shared.recurrence: occurrence arithmetic and its DST rules.

Expected instants are written out by hand, in UTC, from the zones' published transitions:

  Europe/Berlin, Europe/London  2027-03-28 01:00Z (+1h)         2027-10-31 01:00Z (-1h)
  America/New_York              2027-03-14 07:00Z (02:00->03:00) 2027-11-07 06:00Z (02:00->01:00)
  Australia/Sydney              2027-10-02 16:00Z (02:00->03:00) 2027-04-03 16:00Z (03:00->02:00)
  Pacific/Auckland              2027-09-25 14:00Z (02:00->03:00) 2027-04-03 14:00Z (03:00->02:00)
  America/Santiago              2025-09-07 04:00Z (00:00->01:00) 2025-04-06 03:00Z (00:00->23:00)
  Australia/Lord_Howe           2027-10-02 15:30Z (02:00->02:30) 2027-04-03 15:00Z (02:00->01:30)
"""

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from itertools import pairwise
from types import FrameType
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared import recurrence
from shared.recurrence import (
    REPEATS,
    Schedule,
    ScheduleError,
    first_occurrence,
    next_occurrence,
    upcoming,
    validate_cron,
    validate_timezone,
)

PROPERTY = settings(
    max_examples=40,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
MINUTE = timedelta(minutes=1)
TICK = timedelta(microseconds=1)


def utc(*fields: int) -> datetime:
    return datetime(*fields, tzinfo=UTC)  # type: ignore[misc]


def at(zone: str, *fields: int, fold: int = 0) -> datetime:
    return datetime(*fields, tzinfo=ZoneInfo(zone), fold=fold)  # type: ignore[misc]


def runs_from(schedule: Schedule, count: int = 3) -> list[datetime]:
    """The first `count` occurrences, starting with the first one."""
    first = first_occurrence(schedule)
    assert first is not None
    return upcoming(schedule, first - TICK, count)


@contextmanager
def work_budget(lines: int) -> Iterator[None]:
    """Fail as soon as shared/recurrence.py executes more than `lines` lines. Arithmetic that
    estimates the step count stays far below it; walking from the anchor one step at a time
    over years blows through it at once (instead of hanging the test run)."""
    executed = 0

    def count_lines(frame: FrameType, event: str, arg: Any) -> Callable[..., Any]:
        nonlocal executed
        if event == "line":
            executed += 1
            if executed > lines:
                raise AssertionError(f"more than {lines} lines of recurrence.py executed")
        return count_lines

    def pick_frames(frame: FrameType, event: str, arg: Any) -> Callable[..., Any] | None:
        return count_lines if frame.f_code.co_filename == recurrence.__file__ else None

    previous = sys.gettrace()
    sys.settrace(pick_frames)
    try:
        yield
    finally:
        sys.settrace(previous)


# --- the Schedule type --------------------------------------------------------------------


def test_recurring_is_true_only_with_a_repeat_an_interval_or_a_cron() -> None:
    start = utc(2027, 1, 1)
    assert not Schedule(run_at=start).recurring
    assert Schedule(run_at=start, repeat="daily").recurring
    assert Schedule(run_at=start, interval_seconds=60).recurring
    assert Schedule(run_at=start, cron="* * * * *").recurring
    assert REPEATS == ("hourly", "daily", "weekly", "monthly")


def test_schedule_error_is_a_value_error() -> None:
    assert issubclass(ScheduleError, ValueError)


# --- acceptance examples ------------------------------------------------------------------


def test_daily_london_at_0130_runs_once_on_the_day_0130_happens_twice() -> None:
    daily = Schedule(
        run_at=at("Europe/London", 2027, 10, 30, 1, 30), repeat="daily", timezone="Europe/London"
    )
    assert first_occurrence(daily) == utc(2027, 10, 30, 0, 30)
    assert upcoming(daily, utc(2027, 10, 29), 3) == [
        utc(2027, 10, 30, 0, 30),
        utc(2027, 10, 31, 0, 30),  # 01:30 BST, the first of the two 01:30s
        utc(2027, 11, 1, 1, 30),  # 01:30 GMT
    ]
    # The second 01:30 of 31 October (01:30 GMT = 01:30Z) is not an occurrence.
    assert next_occurrence(daily, utc(2027, 10, 31, 0, 30)) == utc(2027, 11, 1, 1, 30)
    assert next_occurrence(daily, utc(2027, 10, 31, 1, 29)) == utc(2027, 11, 1, 1, 30)


@pytest.mark.parametrize(
    ("run_at", "expected"),
    [
        pytest.param(
            utc(2027, 1, 30, 9),
            [utc(2027, 1, 30, 9), utc(2027, 2, 28, 9), utc(2027, 3, 30, 9), utc(2027, 4, 30, 9)],
            id="jan-30",
        ),
        pytest.param(
            utc(2028, 1, 30, 9),
            [utc(2028, 1, 30, 9), utc(2028, 2, 29, 9), utc(2028, 3, 30, 9), utc(2028, 4, 30, 9)],
            id="jan-30-leap-year",
        ),
        pytest.param(
            utc(2027, 1, 31, 9),
            [utc(2027, 1, 31, 9), utc(2027, 2, 28, 9), utc(2027, 3, 31, 9), utc(2027, 4, 30, 9)],
            id="jan-31",
        ),
        pytest.param(
            utc(2028, 1, 31, 9),
            [utc(2028, 1, 31, 9), utc(2028, 2, 29, 9), utc(2028, 3, 31, 9), utc(2028, 4, 30, 9)],
            id="jan-31-leap-year",
        ),
        pytest.param(
            utc(2027, 11, 30, 9),
            [utc(2027, 11, 30, 9), utc(2027, 12, 30, 9), utc(2028, 1, 30, 9), utc(2028, 2, 29, 9)],
            id="across-new-year",
        ),
    ],
)
def test_monthly_clamps_to_month_end_but_keeps_the_anchor_day(
    run_at: datetime, expected: list[datetime]
) -> None:
    assert runs_from(Schedule(run_at=run_at, repeat="monthly"), 4) == expected


def test_monthly_is_computed_from_the_anchor_not_from_the_previous_clamped_date() -> None:
    monthly = Schedule(run_at=utc(2027, 1, 31, 9), repeat="monthly")
    assert next_occurrence(monthly, utc(2031, 2, 1)) == utc(2031, 2, 28, 9)
    assert next_occurrence(monthly, utc(2031, 2, 28, 9)) == utc(2031, 3, 31, 9)
    assert next_occurrence(monthly, utc(2032, 2, 28, 9)) == utc(2032, 2, 29, 9)
    assert next_occurrence(monthly, utc(2032, 2, 29, 9)) == utc(2032, 3, 31, 9)


# --- wall-clock repeats across DST ----------------------------------------------------------

WALL_CLOCK_CASES = [
    # zone, repeat, local run_at fields, expected UTC occurrences from run_at on
    pytest.param(
        "Europe/Berlin",
        "daily",
        (2027, 3, 26, 2, 30),
        [
            utc(2027, 3, 26, 1, 30),
            utc(2027, 3, 27, 1, 30),
            utc(2027, 3, 28, 1),
            utc(2027, 3, 29, 0, 30),
        ],
        id="berlin-daily-gap-runs-at-the-jump",
    ),
    pytest.param(
        "Europe/Berlin",
        "daily",
        (2027, 10, 30, 2, 30),
        [utc(2027, 10, 30, 0, 30), utc(2027, 10, 31, 0, 30), utc(2027, 11, 1, 1, 30)],
        id="berlin-daily-overlap-first-pass",
    ),
    pytest.param(
        "Europe/London",
        "daily",
        (2027, 3, 27, 1, 30),
        [utc(2027, 3, 27, 1, 30), utc(2027, 3, 28, 1), utc(2027, 3, 29, 0, 30)],
        id="london-daily-gap",
    ),
    pytest.param(
        "America/New_York",
        "daily",
        (2027, 3, 13, 2, 30),
        [utc(2027, 3, 13, 7, 30), utc(2027, 3, 14, 7), utc(2027, 3, 15, 6, 30)],
        id="new-york-daily-gap",
    ),
    pytest.param(
        "America/New_York",
        "daily",
        (2027, 11, 6, 1, 30),
        [utc(2027, 11, 6, 5, 30), utc(2027, 11, 7, 5, 30), utc(2027, 11, 8, 6, 30)],
        id="new-york-daily-overlap",
    ),
    pytest.param(
        "Australia/Sydney",
        "daily",
        (2027, 4, 2, 2, 30),
        [
            utc(2027, 4, 1, 15, 30),
            utc(2027, 4, 2, 15, 30),
            utc(2027, 4, 3, 15, 30),  # 4 April 02:30 AEDT, the first pass
            utc(2027, 4, 4, 16, 30),
        ],
        id="sydney-daily-overlap-in-april",
    ),
    pytest.param(
        "Australia/Sydney",
        "daily",
        (2027, 10, 2, 2, 30),
        [utc(2027, 10, 1, 16, 30), utc(2027, 10, 2, 16), utc(2027, 10, 3, 15, 30)],
        id="sydney-daily-gap-in-october",
    ),
    pytest.param(
        "Pacific/Auckland",
        "weekly",
        (2027, 3, 28, 2, 30),
        [utc(2027, 3, 27, 13, 30), utc(2027, 4, 3, 13, 30), utc(2027, 4, 10, 14, 30)],
        id="auckland-weekly-overlap",
    ),
    pytest.param(
        "Pacific/Auckland",
        "weekly",
        (2027, 9, 19, 2, 30),
        [utc(2027, 9, 18, 14, 30), utc(2027, 9, 25, 14), utc(2027, 10, 2, 13, 30)],
        id="auckland-weekly-gap",
    ),
    pytest.param(
        "America/Santiago",
        "daily",
        (2025, 9, 6, 0, 30),
        [utc(2025, 9, 6, 4, 30), utc(2025, 9, 7, 4), utc(2025, 9, 8, 3, 30)],
        id="santiago-daily-gap-at-midnight",
    ),
    pytest.param(
        "America/Santiago",
        "daily",
        (2025, 4, 4, 23, 30),
        [utc(2025, 4, 5, 2, 30), utc(2025, 4, 6, 2, 30), utc(2025, 4, 7, 3, 30)],
        id="santiago-daily-overlap-before-midnight",
    ),
    pytest.param(
        "Australia/Lord_Howe",
        "daily",
        (2027, 10, 2, 2, 15),
        [utc(2027, 10, 1, 15, 45), utc(2027, 10, 2, 15, 30), utc(2027, 10, 3, 15, 15)],
        id="lord-howe-daily-half-hour-gap",
    ),
    pytest.param(
        "Australia/Lord_Howe",
        "daily",
        (2027, 4, 3, 1, 45),
        [utc(2027, 4, 2, 14, 45), utc(2027, 4, 3, 14, 45), utc(2027, 4, 4, 15, 15)],
        id="lord-howe-daily-half-hour-overlap",
    ),
    pytest.param(
        "Asia/Tokyo",
        "daily",
        (2027, 3, 27, 9, 0),
        [utc(2027, 3, 27, 0), utc(2027, 3, 28, 0), utc(2027, 3, 29, 0)],
        id="tokyo-has-no-dst",
    ),
    pytest.param(
        "Europe/Berlin",
        "monthly",
        (2027, 2, 28, 2, 30),
        [utc(2027, 2, 28, 1, 30), utc(2027, 3, 28, 1), utc(2027, 4, 28, 0, 30)],
        id="berlin-monthly-gap",
    ),
    pytest.param(
        "Europe/Berlin",
        "monthly",
        (2027, 8, 31, 2, 30),
        [
            utc(2027, 8, 31, 0, 30),
            utc(2027, 9, 30, 0, 30),
            utc(2027, 10, 31, 0, 30),  # first pass of 02:30
            utc(2027, 11, 30, 1, 30),
            utc(2027, 12, 31, 1, 30),
        ],
        id="berlin-monthly-overlap-and-clamp",
    ),
]


@pytest.mark.parametrize(("zone", "repeat", "local_run_at", "expected"), WALL_CLOCK_CASES)
def test_wall_clock_repeats_across_dst(
    zone: str, repeat: str, local_run_at: tuple[int, ...], expected: list[datetime]
) -> None:
    schedule = Schedule(run_at=at(zone, *local_run_at), repeat=repeat, timezone=zone)
    assert runs_from(schedule, len(expected)) == expected


def test_monthly_follows_the_local_wall_clock_through_summer_time() -> None:
    monthly = Schedule(
        run_at=at("Europe/Berlin", 2027, 1, 31, 9), repeat="monthly", timezone="Europe/Berlin"
    )
    assert upcoming(monthly, utc(2027, 2, 1), 4) == [
        utc(2027, 2, 28, 8),
        utc(2027, 3, 31, 7),
        utc(2027, 4, 30, 7),
        utc(2027, 5, 31, 7),
    ]
    assert next_occurrence(monthly, utc(2027, 10, 1)) == utc(2027, 10, 31, 8)


def test_wall_time_keeps_seconds_and_microseconds() -> None:
    daily = Schedule(
        run_at=at("Europe/Berlin", 2027, 3, 27, 9, 15, 30, 123456),
        repeat="daily",
        timezone="Europe/Berlin",
    )
    assert runs_from(daily, 2) == [
        utc(2027, 3, 27, 8, 15, 30, 123456),
        utc(2027, 3, 28, 7, 15, 30, 123456),
    ]


def test_repeat_anchored_on_the_second_pass_starts_there_then_uses_first_passes() -> None:
    # run_at is 01:30 GMT, the second 01:30 of the night: it is the first occurrence as given.
    daily = Schedule(
        run_at=at("Europe/London", 2027, 10, 31, 1, 30, fold=1),
        repeat="daily",
        timezone="Europe/London",
    )
    assert runs_from(daily, 2) == [utc(2027, 10, 31, 1, 30), utc(2027, 11, 1, 1, 30)]


def test_weekly_keeps_the_weekday() -> None:
    weekly = Schedule(run_at=utc(2027, 1, 4, 12), repeat="weekly")  # a Monday
    assert runs_from(weekly, 3) == [utc(2027, 1, 4, 12), utc(2027, 1, 11, 12), utc(2027, 1, 18, 12)]
    assert next_occurrence(weekly, utc(2027, 1, 12)) == utc(2027, 1, 18, 12)


# --- real time: intervals and hourly --------------------------------------------------------


def test_interval_steps_on_absolute_time() -> None:
    every_7s = Schedule(run_at=utc(2027, 1, 1), interval_seconds=7)
    assert next_occurrence(every_7s, utc(2026, 12, 31)) == utc(2027, 1, 1)
    assert next_occurrence(every_7s, utc(2027, 1, 1)) == utc(2027, 1, 1, 0, 0, 7)
    assert next_occurrence(every_7s, utc(2027, 1, 1, 0, 1)) == utc(2027, 1, 1, 0, 1, 3)
    assert next_occurrence(every_7s, utc(2027, 1, 1, 0, 1, 3)) == utc(2027, 1, 1, 0, 1, 10)


def test_interval_far_in_the_future_is_computed_not_walked() -> None:
    every_second = Schedule(run_at=utc(2025, 1, 1, 0, 0, 0, 250000), interval_seconds=1)
    every_7s = Schedule(run_at=utc(2025, 1, 1), interval_seconds=7)
    with work_budget(200):
        assert next_occurrence(every_second, utc(9000, 1, 1)) == utc(9000, 1, 1, 0, 0, 0, 250000)
        assert next_occurrence(every_second, utc(9000, 1, 1, 0, 0, 0, 250000)) == utc(
            9000, 1, 1, 0, 0, 1, 250000
        )
        # 220,109,702,400 s after run_at, a multiple of 7: the next one is 7 s later.
        assert next_occurrence(every_7s, utc(9000, 1, 1)) == utc(9000, 1, 1, 0, 0, 7)


def test_the_work_budget_catches_step_by_step_work() -> None:
    every_second = Schedule(run_at=utc(2027, 1, 1), interval_seconds=1)
    with pytest.raises(AssertionError, match=r"lines of recurrence\.py executed"), work_budget(200):
        upcoming(every_second, utc(2027, 1, 1), 500)


@pytest.mark.parametrize(
    ("zone", "local_run_at", "expected"),
    [
        pytest.param(
            "Europe/Berlin",
            (2027, 3, 28, 0, 30),
            [utc(2027, 3, 27, 23, 30), utc(2027, 3, 28, 0, 30), utc(2027, 3, 28, 1, 30)],
            id="berlin-spring-forward",  # 00:30 CET, 01:30 CET, 03:30 CEST
        ),
        pytest.param(
            "Europe/Berlin",
            (2027, 10, 31, 1, 30),
            [
                utc(2027, 10, 30, 23, 30),
                utc(2027, 10, 31, 0, 30),
                utc(2027, 10, 31, 1, 30),
                utc(2027, 10, 31, 2, 30),
            ],
            id="berlin-fall-back",  # 01:30 CEST, 02:30 CEST, 02:30 CET, 03:30 CET
        ),
        pytest.param(
            "Australia/Lord_Howe",
            (2027, 4, 4, 0, 45),
            [utc(2027, 4, 3, 13, 45), utc(2027, 4, 3, 14, 45), utc(2027, 4, 3, 15, 45)],
            id="lord-howe-half-hour-fall-back",  # 00:45, 01:45 (+11), then 01:45 (+10:30)
        ),
    ],
)
def test_hourly_is_exactly_3600_seconds_apart_across_dst(
    zone: str, local_run_at: tuple[int, ...], expected: list[datetime]
) -> None:
    hourly = Schedule(run_at=at(zone, *local_run_at), repeat="hourly", timezone=zone)
    assert runs_from(hourly, len(expected)) == expected


# --- cron ----------------------------------------------------------------------------------

CRON_CASES = [
    # Fixed hours: a skipped wall time runs once at the jump, a repeated one once, first pass.
    pytest.param(
        "30 2 * * *",
        "Europe/Berlin",
        utc(2027, 3, 26, 12),
        [utc(2027, 3, 27, 1, 30), utc(2027, 3, 28, 1), utc(2027, 3, 29, 0, 30)],
        id="berlin-fixed-gap",
    ),
    pytest.param(
        "30 2 * * *",
        "Europe/Berlin",
        utc(2027, 10, 29, 12),
        [utc(2027, 10, 30, 0, 30), utc(2027, 10, 31, 0, 30), utc(2027, 11, 1, 1, 30)],
        id="berlin-fixed-overlap",
    ),
    pytest.param(
        "*/20 2 * * *",
        "Europe/Berlin",
        utc(2027, 3, 27, 12),
        [utc(2027, 3, 28, 1), utc(2027, 3, 29, 0, 0), utc(2027, 3, 29, 0, 20)],
        id="berlin-three-skipped-times-run-once",
    ),
    pytest.param(
        "*/20 2 * * *",
        "Europe/Berlin",
        utc(2027, 10, 30, 12),
        [
            utc(2027, 10, 31, 0),
            utc(2027, 10, 31, 0, 20),
            utc(2027, 10, 31, 0, 40),
            utc(2027, 11, 1, 1),
        ],
        id="berlin-repeated-hour-runs-once",
    ),
    pytest.param(
        "0,30 2,3 * * *",
        "Europe/Berlin",
        utc(2027, 3, 27, 12),
        [utc(2027, 3, 28, 1), utc(2027, 3, 28, 1, 30), utc(2027, 3, 29, 0)],
        id="berlin-skipped-times-and-03:00-share-one-run",
    ),
    pytest.param(
        "0 */2 * * *",
        "Europe/Berlin",
        utc(2027, 3, 27, 22, 30),
        [utc(2027, 3, 27, 23), utc(2027, 3, 28, 1), utc(2027, 3, 28, 2)],
        id="berlin-stepped-hours-are-fixed-hours-gap",
    ),
    pytest.param(
        "0 */2 * * *",
        "Europe/Berlin",
        utc(2027, 10, 30, 21, 30),
        [utc(2027, 10, 30, 22), utc(2027, 10, 31, 0), utc(2027, 10, 31, 3)],
        id="berlin-stepped-hours-are-fixed-hours-overlap",
    ),
    pytest.param(
        "30 1 * * *",
        "Europe/London",
        utc(2027, 3, 27, 12),
        [utc(2027, 3, 28, 1), utc(2027, 3, 29, 0, 30)],
        id="london-fixed-gap",
    ),
    pytest.param(
        "30 1 * * *",
        "Europe/London",
        utc(2027, 10, 30, 12),
        [utc(2027, 10, 31, 0, 30), utc(2027, 11, 1, 1, 30)],
        id="london-fixed-overlap",
    ),
    pytest.param(
        "30 2 * * *",
        "America/New_York",
        utc(2027, 3, 13, 12),
        [utc(2027, 3, 14, 7), utc(2027, 3, 15, 6, 30)],
        id="new-york-fixed-gap",
    ),
    pytest.param(
        "30 1 * * *",
        "America/New_York",
        utc(2027, 11, 6, 12),
        [utc(2027, 11, 7, 5, 30), utc(2027, 11, 8, 6, 30)],
        id="new-york-fixed-overlap",
    ),
    pytest.param(
        "0 9 * * MON-FRI",
        "America/New_York",
        utc(2027, 3, 12),
        [utc(2027, 3, 12, 14), utc(2027, 3, 15, 13), utc(2027, 3, 16, 13)],
        id="new-york-weekdays-around-the-change",
    ),
    pytest.param(
        "30 2 * * *",
        "Australia/Sydney",
        utc(2027, 4, 2, 12),
        [utc(2027, 4, 2, 15, 30), utc(2027, 4, 3, 15, 30), utc(2027, 4, 4, 16, 30)],
        id="sydney-fixed-overlap-in-april",
    ),
    pytest.param(
        "30 2 * * *",
        "Australia/Sydney",
        utc(2027, 10, 2),
        [utc(2027, 10, 2, 16), utc(2027, 10, 3, 15, 30)],
        id="sydney-fixed-gap-in-october",
    ),
    pytest.param(
        "30 2 * * SUN",
        "Pacific/Auckland",
        utc(2027, 9, 20),
        [utc(2027, 9, 25, 14), utc(2027, 10, 2, 13, 30)],
        id="auckland-sundays-gap",
    ),
    pytest.param(
        "30 0 * * *",
        "America/Santiago",
        utc(2025, 9, 6, 12),
        [utc(2025, 9, 7, 4), utc(2025, 9, 8, 3, 30)],
        id="santiago-fixed-gap-at-midnight",
    ),
    pytest.param(
        "30 23 * * *",
        "America/Santiago",
        utc(2025, 4, 5, 12),
        [utc(2025, 4, 6, 2, 30), utc(2025, 4, 7, 3, 30)],
        id="santiago-fixed-overlap-before-midnight",
    ),
    pytest.param(
        "15 2 * * *",
        "Australia/Lord_Howe",
        utc(2027, 10, 2),
        [utc(2027, 10, 2, 15, 30), utc(2027, 10, 3, 15, 15)],
        id="lord-howe-fixed-half-hour-gap",
    ),
    pytest.param(
        "45 1 * * *",
        "Australia/Lord_Howe",
        utc(2027, 4, 3),
        [utc(2027, 4, 3, 14, 45), utc(2027, 4, 4, 15, 15)],
        id="lord-howe-fixed-half-hour-overlap",
    ),
    pytest.param(
        "0 9 * * *",
        "Asia/Tokyo",
        utc(2027, 3, 27, 12),
        [utc(2027, 3, 28, 0), utc(2027, 3, 29, 0)],
        id="tokyo-fixed",
    ),
    # Hour `*`: real time. Every hour of real time gets its runs, none skipped, none doubled.
    pytest.param(
        "30 * * * *",
        "Europe/Berlin",
        utc(2027, 3, 27, 23, 45),
        [utc(2027, 3, 28, 0, 30), utc(2027, 3, 28, 1, 30), utc(2027, 3, 28, 2, 30)],
        id="berlin-hourly-cron-spring",  # 01:30 CET, 03:30 CEST, 04:30 CEST
    ),
    pytest.param(
        "30 * * * *",
        "Europe/Berlin",
        utc(2027, 10, 30, 23, 45),
        [utc(2027, 10, 31, 0, 30), utc(2027, 10, 31, 1, 30), utc(2027, 10, 31, 2, 30)],
        id="berlin-hourly-cron-fall",  # 02:30 CEST, 02:30 CET, 03:30 CET
    ),
    pytest.param(
        "30 * * * *",
        "Europe/London",
        utc(2027, 3, 28),
        [utc(2027, 3, 28, 0, 30), utc(2027, 3, 28, 1, 30), utc(2027, 3, 28, 2, 30)],
        id="london-hourly-cron-spring",  # 00:30 GMT, 02:30 BST, 03:30 BST
    ),
    pytest.param(
        "30 * * * *",
        "Europe/London",
        utc(2027, 10, 30, 23, 45),
        [utc(2027, 10, 31, 0, 30), utc(2027, 10, 31, 1, 30), utc(2027, 10, 31, 2, 30)],
        id="london-hourly-cron-fall",  # 01:30 BST, 01:30 GMT, 02:30 GMT
    ),
    pytest.param(
        "*/15 * * * *",
        "Europe/Berlin",
        utc(2027, 3, 28, 0, 40),
        [utc(2027, 3, 28, 0, 45), utc(2027, 3, 28, 1), utc(2027, 3, 28, 1, 15)],
        id="berlin-quarter-hours-spring",
    ),
    pytest.param(
        "*/15 * * * *",
        "America/New_York",
        utc(2027, 11, 7, 5, 40),
        [utc(2027, 11, 7, 5, 45), utc(2027, 11, 7, 6), utc(2027, 11, 7, 6, 15)],
        id="new-york-quarter-hours-fall",
    ),
    pytest.param(
        "0 0-23 * * *",
        "Europe/London",
        utc(2027, 10, 30, 23, 30),
        [utc(2027, 10, 31, 0), utc(2027, 10, 31, 1), utc(2027, 10, 31, 2)],
        id="hours-0-23-is-every-hour",
    ),
    pytest.param(
        "0 * * * *",
        "Australia/Sydney",
        utc(2027, 4, 3, 14, 30),
        [utc(2027, 4, 3, 15), utc(2027, 4, 3, 16), utc(2027, 4, 3, 17)],
        id="sydney-hourly-cron-fall",  # 02:00 AEDT, 02:00 AEST, 03:00 AEST
    ),
    pytest.param(
        "30 * * * *",
        "America/Santiago",
        utc(2025, 4, 6, 1, 45),
        [utc(2025, 4, 6, 2, 30), utc(2025, 4, 6, 3, 30), utc(2025, 4, 6, 4, 30)],
        id="santiago-hourly-cron-fall",  # 23:30 -03, 23:30 -04, 00:30 -04
    ),
    # A 30-minute shift moves the clock's :30 by half an hour of real time: the job follows the
    # clock, so runs are 30 (and, at 01:30 twice, 30) minutes apart around the change.
    pytest.param(
        "30 * * * *",
        "Australia/Lord_Howe",
        utc(2027, 10, 2, 14, 45),
        [utc(2027, 10, 2, 15), utc(2027, 10, 2, 15, 30), utc(2027, 10, 2, 16, 30)],
        id="lord-howe-hourly-cron-spring",  # 01:30 +10:30, 02:30 +11, 03:30 +11
    ),
    pytest.param(
        "30 * * * *",
        "Australia/Lord_Howe",
        utc(2027, 4, 3, 14),
        [utc(2027, 4, 3, 14, 30), utc(2027, 4, 3, 15), utc(2027, 4, 3, 16)],
        id="lord-howe-hourly-cron-fall",  # 01:30 +11, 01:30 +10:30, 02:30 +10:30
    ),
]


@pytest.mark.parametrize(("expr", "zone", "after", "expected"), CRON_CASES)
def test_cron_across_dst(expr: str, zone: str, after: datetime, expected: list[datetime]) -> None:
    schedule = Schedule(run_at=utc(2020, 1, 1), cron=expr, timezone=zone)
    assert upcoming(schedule, after, len(expected)) == expected


def test_fixed_hour_cron_seen_from_inside_the_overlap_or_at_the_jump() -> None:
    schedule = Schedule(run_at=utc(2020, 1, 1), cron="30 2 * * *", timezone="Europe/Berlin")
    # 02:10 CET, the second pass: the 02:30 of this night already ran at 02:30 CEST.
    assert next_occurrence(schedule, utc(2027, 10, 31, 1, 10)) == utc(2027, 11, 1, 1, 30)
    # 02:10 CEST, the first pass: 02:30 CEST is still to come.
    assert next_occurrence(schedule, utc(2027, 10, 31, 0, 10)) == utc(2027, 10, 31, 0, 30)
    # The jump itself was the (only) run for the skipped 02:30.
    assert next_occurrence(schedule, utc(2027, 3, 28, 1)) == utc(2027, 3, 29, 0, 30)
    assert next_occurrence(schedule, utc(2027, 3, 28, 0, 59, 59)) == utc(2027, 3, 28, 1)


def test_real_time_cron_seen_from_the_first_pass_of_the_repeated_hour() -> None:
    schedule = Schedule(run_at=utc(2020, 1, 1), cron="5,20 * * * *", timezone="Europe/Berlin")
    # From 02:10 CEST: 02:20 CEST, then the clock falls back: 02:05 CET, 02:20 CET, 03:05 CET.
    assert upcoming(schedule, utc(2027, 10, 31, 0, 10), 4) == [
        utc(2027, 10, 31, 0, 20),
        utc(2027, 10, 31, 1, 5),
        utc(2027, 10, 31, 1, 20),
        utc(2027, 10, 31, 2, 5),
    ]


def test_real_time_cron_reads_the_date_fields_on_the_local_calendar() -> None:
    # Every hour on 28 March, Berlin time: that day has only 23 hours.
    schedule = Schedule(run_at=utc(2020, 1, 1), cron="0 * 28 3 *", timezone="Europe/Berlin")
    runs = upcoming(schedule, utc(2027, 1, 1), 24)
    assert runs[0] == utc(2027, 3, 27, 23)  # 00:00 CET
    assert runs[1:3] == [utc(2027, 3, 28, 0), utc(2027, 3, 28, 1)]  # 01:00 CET, 03:00 CEST
    assert runs[22] == utc(2027, 3, 28, 21)  # 23:00 CEST, the 23rd and last run that day
    assert runs[23] == utc(2028, 3, 27, 22)  # 00:00 CEST: in 2028 summer time starts on 26 March


@pytest.mark.parametrize(
    ("expr", "run_at", "expected"),
    [
        pytest.param("0 10 * * *", utc(2027, 1, 1, 10), utc(2027, 1, 1, 10), id="on-run-at"),
        pytest.param("0 10 * * *", utc(2027, 1, 1, 10, 0, 1), utc(2027, 1, 2, 10), id="just-after"),
        pytest.param(
            "0 10 * * *", utc(2027, 1, 1, 9, 59, 59, 500000), utc(2027, 1, 1, 10), id="just-before"
        ),
        pytest.param("15 10 1 JAN,JUL *", utc(2027, 1, 2), utc(2027, 7, 1, 10, 15), id="names"),
        pytest.param("0 12 L * *", utc(2027, 2, 1), utc(2027, 2, 28, 12), id="last-day"),
        pytest.param("0 0 * * 7", utc(2027, 1, 1), utc(2027, 1, 3), id="sunday-as-7"),
    ],
)
def test_cron_first_occurrence_is_the_first_match_at_or_after_run_at(
    expr: str, run_at: datetime, expected: datetime
) -> None:
    assert first_occurrence(Schedule(run_at=run_at, cron=expr)) == expected


def test_cron_first_occurrence_in_a_zone() -> None:
    schedule = Schedule(
        run_at=at("America/New_York", 2027, 1, 1, 9, 30),
        cron="0 9 * * *",
        timezone="America/New_York",
    )
    assert first_occurrence(schedule) == utc(2027, 1, 2, 14)
    assert next_occurrence(schedule, utc(2026, 1, 1)) == utc(2027, 1, 2, 14)


def test_far_future_calendar_and_cron_occurrences_are_computed_not_walked() -> None:
    berlin = "Europe/Berlin"
    daily = Schedule(run_at=at(berlin, 2025, 1, 1, 2, 30), repeat="daily", timezone=berlin)
    weekly = Schedule(run_at=utc(2025, 1, 6, 12), repeat="weekly")  # Mondays
    monthly = Schedule(run_at=utc(2027, 1, 31, 9), repeat="monthly")
    cron = Schedule(run_at=utc(2025, 1, 1), cron="0 9 1 * *", timezone=berlin)
    with work_budget(2000):
        assert next_occurrence(daily, utc(9000, 6, 15, 12)) == utc(9000, 6, 16, 0, 30)
        # 1 January 9000 is a Wednesday; the next Monday is the 6th.
        assert next_occurrence(weekly, utc(9000, 1, 1)) == utc(9000, 1, 6, 12)
        assert next_occurrence(monthly, utc(9000, 2, 10)) == utc(9000, 2, 28, 9)  # not a leap year
        assert next_occurrence(cron, utc(9000, 6, 15)) == utc(9000, 7, 1, 7)


# --- end_at, max_runs, one-off ---------------------------------------------------------------


def test_end_at_is_the_last_instant_an_occurrence_may_have() -> None:
    daily = Schedule(run_at=utc(2027, 1, 1, 9), repeat="daily", end_at=utc(2027, 1, 3, 9))
    assert upcoming(daily, utc(2026, 12, 31), 10) == [
        utc(2027, 1, 1, 9),
        utc(2027, 1, 2, 9),
        utc(2027, 1, 3, 9),
    ]
    assert next_occurrence(daily, utc(2027, 1, 2, 9)) == utc(2027, 1, 3, 9)
    assert next_occurrence(daily, utc(2027, 1, 3, 9)) is None
    ends_earlier = Schedule(
        run_at=utc(2027, 1, 1, 9), repeat="daily", end_at=utc(2027, 1, 3, 8, 59, 59, 999999)
    )
    assert upcoming(ends_earlier, utc(2026, 12, 31), 10) == [utc(2027, 1, 1, 9), utc(2027, 1, 2, 9)]


def test_end_at_before_the_first_occurrence_means_no_occurrence() -> None:
    cron = Schedule(run_at=utc(2027, 1, 1, 10, 1), cron="0 10 * * *", end_at=utc(2027, 1, 2, 9))
    assert first_occurrence(cron) is None
    assert upcoming(cron, utc(2027, 1, 1), 5) == []
    one_off = Schedule(run_at=utc(2027, 1, 1, 10), end_at=utc(2027, 1, 1, 9))
    assert first_occurrence(one_off) is None


def test_end_at_in_another_offset_is_compared_as_an_instant() -> None:
    interval = Schedule(
        run_at=utc(2027, 1, 1), interval_seconds=3600, end_at=at("Asia/Tokyo", 2027, 1, 1, 11)
    )
    assert upcoming(interval, utc(2026, 12, 31), 10) == [
        utc(2027, 1, 1, 0),
        utc(2027, 1, 1, 1),
        utc(2027, 1, 1, 2),
    ]


@pytest.mark.parametrize(
    ("already_run", "expected_count"), [(0, 5), (3, 2), (4, 1), (5, 0), (7, 0)]
)
def test_max_runs_counts_the_runs_already_used_up(already_run: int, expected_count: int) -> None:
    hourly = Schedule(run_at=utc(2027, 1, 1), repeat="hourly", max_runs=5)
    runs = upcoming(hourly, utc(2027, 1, 1, 2, 30), 10, already_run=already_run)
    assert (
        runs
        == [
            utc(2027, 1, 1, 3),
            utc(2027, 1, 1, 4),
            utc(2027, 1, 1, 5),
            utc(2027, 1, 1, 6),
            utc(2027, 1, 1, 7),
        ][:expected_count]
    )


def test_count_limits_upcoming_and_next_occurrence_ignores_max_runs() -> None:
    hourly = Schedule(run_at=utc(2027, 1, 1), repeat="hourly", max_runs=2)
    assert upcoming(hourly, utc(2026, 1, 1), 1) == [utc(2027, 1, 1)]
    assert upcoming(hourly, utc(2026, 1, 1), 0) == []
    assert next_occurrence(hourly, utc(2027, 1, 1, 5)) == utc(2027, 1, 1, 6)


def test_max_runs_zero_has_no_first_occurrence() -> None:
    assert first_occurrence(Schedule(run_at=utc(2027, 1, 1), repeat="daily", max_runs=0)) is None
    assert (
        upcoming(Schedule(run_at=utc(2027, 1, 1), repeat="daily", max_runs=0), utc(2026, 1, 1), 3)
        == []
    )


def test_one_off_runs_once_at_run_at() -> None:
    one_off = Schedule(run_at=at("Asia/Kolkata", 2027, 6, 1, 10, 30))
    assert first_occurrence(one_off) == utc(2027, 6, 1, 5)
    assert next_occurrence(one_off, utc(2027, 1, 1)) is None
    assert next_occurrence(one_off, utc(2027, 6, 1, 5)) is None
    assert upcoming(one_off, utc(2027, 1, 1), 5) == [utc(2027, 6, 1, 5)]
    assert upcoming(one_off, utc(2027, 1, 1), 5, already_run=1) == []
    assert upcoming(one_off, utc(2027, 6, 1, 5), 5) == []
    assert upcoming(one_off, utc(2027, 1, 1), 0) == []


def test_results_are_utc_whatever_the_input_offsets() -> None:
    daily = Schedule(
        run_at=at("America/New_York", 2027, 1, 1, 9), repeat="daily", timezone="America/New_York"
    )
    first = first_occurrence(daily)
    later = next_occurrence(daily, at("Asia/Tokyo", 2027, 1, 2, 0))
    assert first == utc(2027, 1, 1, 14)
    assert later == utc(2027, 1, 2, 14)
    for result in (first, later, *upcoming(daily, at("Asia/Kolkata", 2027, 1, 1), 3)):
        assert result is not None
        assert result.tzinfo is UTC


# --- validation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("* * *", "expected 5 fields, got 3"),
        ("", "expected 5 fields, got 0"),
        ("0 0 * * * *", "expected 5 fields, got 6"),
        ("0 0 0 1 1 * 2027", "expected 5 fields, got 7"),
        ("61 * * * *", "minute field: 61 is out of range 0-59"),
        ("0 24 * * *", "hour field: 24 is out of range 0-23"),
        ("0 0 32 * *", "day-of-month field: 32 is out of range 1-31"),
        ("0 0 0 * *", "day-of-month field: 0 is out of range 1-31"),
        ("0 0 * 13 *", "month field: 13 is out of range 1-12"),
        ("0 0 * * 8", "day-of-week field: 8 is out of range 0-7"),
        ("0 1-25 * * *", "hour field: 25 is out of range 0-23"),
        ("*/0 * * * *", "minute field: step must be a positive number, got '0'"),
        ("a b c d e", "minute field: 'a' is not valid"),
        ("0 0 * * FUNDAY", "day-of-week field: 'FUNDAY' is not valid"),
        ("0 0 * FOO *", "month field: 'FOO' is not valid"),
        ("-5 * * * *", "minute field: '-5' is not valid"),
        ("@daily", "macros such as '@daily' are not supported; write 5 fields"),
        ("@hourly", "macros such as '@hourly' are not supported; write 5 fields"),
        ("H * * * *", "minute field: hashed or random values ('H') are not supported"),
        ("R 3 * * *", "minute field: hashed or random values ('R') are not supported"),
        ("0 0 31 2 *", "day-of-month and month never match a real date"),
    ],
)
def test_validate_cron_rejects_with_a_clear_message(expr: str, message: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        validate_cron(expr)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    "expr",
    [
        "* * * * *",
        "*/15 * * * *",
        "0 9 * * MON-FRI",
        "0 9 * * mon-fri",
        "15 10 1 JAN,JUL *",
        "0 12 L * *",
        "0 0 * * 7",
        "0 0 29 2 *",
        "0-59/5 0-23 1-31 1-12 0-6",
        "5 4 * * sun",
        "  30  2 * *   *  ",
    ],
)
def test_validate_cron_accepts_the_usual_syntax(expr: str) -> None:
    validate_cron(expr)


@pytest.mark.parametrize(
    "name",
    [
        "Mars/Base",
        "",
        "Europe",
        "../../etc/passwd",
        "Europe/../Europe/Berlin",
        "/usr/share/zoneinfo/Europe/Berlin",
        "Europe/Berlin\x00",
        " Europe/Berlin",
    ],
)
def test_validate_timezone_rejects_unknown_and_path_like_names(name: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        validate_timezone(name)
    assert str(caught.value) == f"unknown time zone {name!r}"


@pytest.mark.parametrize(
    "name", ["UTC", "Europe/Berlin", "America/Argentina/Buenos_Aires", "Etc/GMT-14", "Asia/Tokyo"]
)
def test_validate_timezone_accepts_iana_names(name: str) -> None:
    validate_timezone(name)


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        (
            Schedule(run_at=utc(2027, 1, 1), repeat="daily", cron="0 9 * * *"),
            "set only one of repeat, interval_seconds and cron",
        ),
        (Schedule(run_at=utc(2027, 1, 1), repeat="yearly"), "unknown repeat 'yearly'"),
        (Schedule(run_at=utc(2027, 1, 1), interval_seconds=0), "interval_seconds must be >= 1"),
        (Schedule(run_at=datetime(2027, 1, 1), repeat="daily"), "run_at must be timezone-aware"),
        (Schedule(run_at=utc(2027, 1, 1), cron="@daily"), "macros such as '@daily'"),
        (
            Schedule(run_at=utc(2027, 1, 1), repeat="daily", timezone="Mars/Base"),
            "unknown time zone",
        ),
    ],
)
def test_unusable_schedules_raise_schedule_error(schedule: Schedule, message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        next_occurrence(schedule, utc(2027, 6, 1))


def test_naive_after_is_rejected() -> None:
    with pytest.raises(ScheduleError, match="after must be timezone-aware"):
        next_occurrence(Schedule(run_at=utc(2027, 1, 1), repeat="daily"), datetime(2027, 6, 1))


# --- properties ----------------------------------------------------------------------------

TRANSITIONS = {
    "Europe/Berlin": [utc(2027, 3, 28, 1), utc(2027, 10, 31, 1)],
    "Europe/London": [utc(2027, 3, 28, 1), utc(2027, 10, 31, 1)],
    "America/New_York": [utc(2027, 3, 14, 7), utc(2027, 11, 7, 6)],
    "Australia/Sydney": [utc(2027, 4, 3, 16), utc(2027, 10, 2, 16)],
    "Pacific/Auckland": [utc(2027, 4, 3, 14), utc(2027, 9, 25, 14)],
    "America/Santiago": [utc(2025, 4, 6, 3), utc(2025, 9, 7, 4)],
    "Australia/Lord_Howe": [utc(2027, 4, 3, 15), utc(2027, 10, 2, 15, 30)],
    "Asia/Tokyo": [],
    "Asia/Kolkata": [],
}
WHOLE_HOUR_DST_ZONES = [z for z in TRANSITIONS if z != "Australia/Lord_Howe" and TRANSITIONS[z]]


@st.composite
def instants(draw: st.DrawFn, zone: str) -> datetime:
    """Mostly within a day or two of one of the zone's transitions; sometimes anywhere."""
    if TRANSITIONS[zone] and draw(st.booleans()):
        base = draw(st.sampled_from(TRANSITIONS[zone]))
        return base + timedelta(minutes=draw(st.integers(-2 * 24 * 60, 2 * 24 * 60)))
    seconds = draw(st.integers(0, 8 * 365 * 24 * 3600))
    return utc(2024, 1, 1) + timedelta(seconds=seconds, microseconds=draw(st.integers(0, 999999)))


@dataclass(frozen=True)
class CronFields:
    """A hand-written reading of a simple cron expression, for brute-force oracles."""

    minutes: set[int]
    hours: set[int] = field(default_factory=lambda: set(range(24)))
    weekdays: set[int] = field(default_factory=lambda: set(range(7)))  # 0 = Sunday

    def match(self, wall: datetime) -> bool:
        return (
            wall.minute in self.minutes
            and wall.hour in self.hours
            and wall.isoweekday() % 7 in self.weekdays
        )


REAL_TIME_CRONS = {
    "*/15 * * * *": CronFields({0, 15, 30, 45}),
    "30 * * * *": CronFields({30}),
    "10,50 * * * 1-5": CronFields({10, 50}, weekdays={1, 2, 3, 4, 5}),
    "0 * * * SAT,SUN": CronFields({0}, weekdays={0, 6}),
}
FIXED_HOUR_CRONS = {
    "30 2 * * *": CronFields({30}, {2}),
    "*/20 1-3 * * *": CronFields({0, 20, 40}, {1, 2, 3}),
    "0 */2 * * *": CronFields({0}, set(range(0, 24, 2))),
    "45 23 * * *": CronFields({45}, {23}),
    "0,30 0 * * *": CronFields({0, 30}, {0}),
    "15 2,14 * * 0-4": CronFields({15}, {2, 14}, {0, 1, 2, 3, 4}),
}


def brute_force_next(
    fields: CronFields, zone: ZoneInfo, after: datetime, real_time: bool
) -> datetime:
    """Scan real time minute by minute: the independent statement of the cron DST rules."""
    moment = after.replace(second=0, microsecond=0) + MINUTE
    while True:
        local = moment.astimezone(zone)
        wall = local.replace(tzinfo=None)
        if real_time:
            if fields.match(wall):
                return moment
        else:
            if local.fold == 0 and fields.match(wall):
                return moment
            # The clock jumped at `moment` if the minute before it does not read wall - 1 min.
            skipped = (moment - MINUTE).astimezone(zone).replace(tzinfo=None) + MINUTE
            while skipped < wall:
                if fields.match(skipped):
                    return moment
                skipped += MINUTE
        moment += MINUTE


@st.composite
def schedules(draw: st.DrawFn) -> Schedule:
    zone = draw(st.sampled_from(sorted(TRANSITIONS)))
    run_at = draw(instants(zone))
    kind = draw(st.sampled_from(["once", "interval", *REPEATS, "cron"]))
    end_at = draw(
        st.none() | st.integers(0, 90 * 24 * 3600).map(lambda s: run_at + timedelta(seconds=s))
    )
    rule: dict[str, Any] = {}
    if kind == "interval":
        rule["interval_seconds"] = draw(st.integers(1, 10 * 24 * 3600))
    elif kind == "cron":
        rule["cron"] = draw(st.sampled_from(sorted(REAL_TIME_CRONS) + sorted(FIXED_HOUR_CRONS)))
    elif kind != "once":
        rule["repeat"] = kind
    return Schedule(run_at=run_at, timezone=zone, end_at=end_at, **rule)


@PROPERTY
@given(schedule=schedules(), offset_minutes=st.integers(-3 * 24 * 60, 60 * 24 * 60))
def test_upcoming_is_strictly_increasing_utc_and_agrees_with_next_occurrence(
    schedule: Schedule, offset_minutes: int
) -> None:
    after = schedule.run_at + timedelta(minutes=offset_minutes)
    runs = upcoming(schedule, after, 8)
    assert all(run.tzinfo is UTC and run > after for run in runs)
    assert all(earlier < later for earlier, later in pairwise(runs))
    if schedule.end_at is not None:
        assert all(run <= schedule.end_at for run in runs)
    if schedule.recurring:
        cursor = after
        for run in runs:
            assert next_occurrence(schedule, cursor) == run
            cursor = run
        if len(runs) < 8:
            assert next_occurrence(schedule, cursor) is None
    first = first_occurrence(schedule)
    if first is not None and first > after:
        assert runs[0] == first


@PROPERTY
@given(
    zone=st.sampled_from(sorted(TRANSITIONS)),
    repeat=st.sampled_from(["daily", "weekly"]),
    data=st.data(),
)
def test_daily_and_weekly_keep_the_anchor_wall_time_except_at_a_jump(
    zone: str, repeat: str, data: st.DataObject
) -> None:
    tz = ZoneInfo(zone)
    run_at = data.draw(instants(zone))
    schedule = Schedule(run_at=run_at, repeat=repeat, timezone=zone)
    anchor = run_at.astimezone(tz)
    step = timedelta(days=1 if repeat == "daily" else 7)
    after = run_at + timedelta(days=data.draw(st.integers(0, 400)))
    runs = upcoming(schedule, after, 10)
    assert len(runs) == 10
    first_date = runs[0].astimezone(tz).date()
    assert (first_date - anchor.date()) % step == timedelta(0)
    for index, run in enumerate(runs):
        local = run.astimezone(tz)
        intended = datetime.combine(first_date + index * step, anchor.time())
        assert local.date() == intended.date()
        if (local.time(), local.fold) != (anchor.time(), 0):
            # Only a wall time the clock skips may move, and then to the instant of the jump.
            assert (
                intended.replace(tzinfo=tz).astimezone(UTC).astimezone(tz).time() != anchor.time()
            )
            assert (run - TICK).astimezone(tz).utcoffset() != local.utcoffset()


@PROPERTY
@given(zone=st.sampled_from(sorted(TRANSITIONS)), data=st.data())
def test_monthly_lands_on_the_anchor_day_or_the_month_end(zone: str, data: st.DataObject) -> None:
    tz = ZoneInfo(zone)
    run_at = data.draw(instants(zone))
    anchor = run_at.astimezone(tz)
    schedule = Schedule(run_at=run_at, repeat="monthly", timezone=zone)
    runs = upcoming(schedule, run_at, 14)
    month = anchor.year * 12 + anchor.month - 1
    for run in runs:
        local = run.astimezone(tz)
        month += 1
        year, month_index = divmod(month, 12)
        assert (local.year, local.month) == (year, month_index + 1)
        next_month = datetime(local.year + local.month // 12, local.month % 12 + 1, 1)
        last_day = (next_month - timedelta(days=1)).day
        assert local.day == min(anchor.day, last_day)
        if (local.time(), local.fold) != (anchor.time(), 0):
            assert (run - TICK).astimezone(tz).utcoffset() != local.utcoffset()


@PROPERTY
@given(
    run_at=instants("Europe/Berlin"),
    interval=st.integers(1, 40 * 24 * 3600),
    skip=st.integers(0, 10**6),
)
def test_interval_occurrences_are_exactly_one_interval_apart(
    run_at: datetime, interval: int, skip: int
) -> None:
    schedule = Schedule(run_at=run_at, interval_seconds=interval, timezone="Europe/Berlin")
    after = run_at + timedelta(seconds=skip)
    runs = upcoming(schedule, after, 6)
    step = timedelta(seconds=interval)
    assert runs[0] - step <= after < runs[0]
    assert (runs[0] - run_at) % step == timedelta(0)
    assert all(later - earlier == step for earlier, later in pairwise(runs))


@PROPERTY
@given(
    zone=st.sampled_from(sorted(TRANSITIONS)),
    expr=st.sampled_from(sorted(REAL_TIME_CRONS)),
    data=st.data(),
)
def test_real_time_cron_matches_a_minute_by_minute_scan(
    zone: str, expr: str, data: st.DataObject
) -> None:
    after = data.draw(instants(zone))
    schedule = Schedule(run_at=utc(2020, 1, 1), cron=expr, timezone=zone)
    expected = brute_force_next(REAL_TIME_CRONS[expr], ZoneInfo(zone), after, real_time=True)
    assert next_occurrence(schedule, after) == expected


@PROPERTY
@given(
    zone=st.sampled_from(sorted(TRANSITIONS)),
    expr=st.sampled_from(sorted(FIXED_HOUR_CRONS)),
    data=st.data(),
)
def test_fixed_hour_cron_matches_a_minute_by_minute_scan(
    zone: str, expr: str, data: st.DataObject
) -> None:
    after = data.draw(instants(zone))
    schedule = Schedule(run_at=utc(2020, 1, 1), cron=expr, timezone=zone)
    expected = brute_force_next(FIXED_HOUR_CRONS[expr], ZoneInfo(zone), after, real_time=False)
    assert next_occurrence(schedule, after) == expected


@PROPERTY
@given(zone=st.sampled_from(WHOLE_HOUR_DST_ZONES), data=st.data())
def test_quarter_hour_cron_never_skips_or_doubles_across_whole_hour_shifts(
    zone: str, data: st.DataObject
) -> None:
    after = data.draw(instants(zone))
    schedule = Schedule(run_at=utc(2020, 1, 1), cron="*/15 * * * *", timezone=zone)
    runs = upcoming(schedule, after, 12)
    assert all(later - earlier == timedelta(minutes=15) for earlier, later in pairwise(runs))


# --- the edges of time: no schedule makes recurrence raise (review L2) ---------------------------

EDGE_ZONES = [
    "UTC",
    "Etc/GMT-14",
    "Etc/GMT+12",
    "Pacific/Kiritimati",
    "Pacific/Pago_Pago",
    "Europe/Berlin",
    "America/Santiago",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
]
EDGE_CRONS = [
    "0 0 * * *",
    "* * * * *",
    "59 23 31 12 *",
    "0 0 1 1 *",
    "0 0 29 2 *",
    "30 2 * * *",
    "*/7 */5 * * 1-5",
    "0 12 13 * 5",
    "0 0 31 * *",
]
FIRST = datetime.min.replace(tzinfo=UTC)
LAST = datetime.max.replace(tzinfo=UTC)
EDGE = settings(PROPERTY, max_examples=300)


@st.composite
def edge_instants(draw: st.DrawFn) -> datetime:
    """Instants within a few days of the first or last one Python can hold, or anywhere."""
    span = timedelta(
        seconds=draw(st.integers(0, 40 * 24 * 3600)), microseconds=draw(st.integers(0, 999999))
    )
    where = draw(st.sampled_from(["first", "last", "last", "anywhere"]))
    if where == "first":
        return FIRST + span
    if where == "last":
        return LAST - span
    return draw(st.datetimes(timezones=st.just(UTC)))


@st.composite
def edge_schedules(draw: st.DrawFn) -> Schedule:
    kind = draw(st.sampled_from(["once", "interval", *REPEATS, "cron"]))
    rule: dict[str, Any] = {}
    if kind == "interval":
        rule["interval_seconds"] = draw(st.integers(1, 2**31 - 1))
    elif kind == "cron":
        rule["cron"] = draw(st.sampled_from(EDGE_CRONS))
    elif kind != "once":
        rule["repeat"] = kind
    # Offsets as a client may send them: the same instant, seen from far east or west.
    offset = timedelta(hours=draw(st.integers(-12, 14)))
    run_at = draw(edge_instants())
    if FIRST + timedelta(days=1) < run_at < LAST - timedelta(days=1):
        run_at = run_at.astimezone(timezone(offset))
    return Schedule(
        run_at=run_at,
        timezone=draw(st.sampled_from(EDGE_ZONES)),
        end_at=draw(st.none() | edge_instants()),
        max_runs=draw(st.none() | st.integers(1, 2**31 - 1)),
        **rule,
    )


def assert_utc(moment: datetime) -> None:
    assert moment.tzinfo is UTC


@EDGE
@given(schedule=edge_schedules(), after=edge_instants(), count=st.integers(1, 5))
def test_no_schedule_near_the_ends_of_time_raises(
    schedule: Schedule, after: datetime, count: int
) -> None:
    """Where a series would step past year 9999 (or start before year 1), it simply has no
    further occurrence: None, or a shorter list. Never an exception."""
    first = first_occurrence(schedule)
    if first is not None:
        assert_utc(first)
        assert first >= schedule.run_at
        if schedule.end_at is not None:
            assert first <= schedule.end_at
    following = next_occurrence(schedule, after)
    if following is not None:
        assert_utc(following)
        assert following > after
    found = upcoming(schedule, after, count)
    assert len(found) <= count
    for moment in found:
        assert_utc(moment)
    assert all(earlier < later for earlier, later in pairwise([after, *found]))
    if found and schedule.recurring:  # a one-off's single run is no "next" occurrence
        assert found[0] == following


@pytest.mark.parametrize("zone", ["Etc/GMT-14", "Pacific/Kiritimati", "Asia/Kolkata"])
def test_a_cron_on_the_last_day_of_9999_east_of_utc_has_no_further_occurrence(zone: str) -> None:
    """The review's reproduction: croniter raised "year 10000 is out of range"."""
    schedule = Schedule(run_at=utc(9999, 12, 31, 10), cron="0 0 * * *", timezone=zone)
    assert first_occurrence(schedule) is None
    assert upcoming(schedule, utc(9999, 12, 30), 5) == []
    assert next_occurrence(schedule, utc(9999, 12, 31, 11)) is None


def test_a_cron_near_9999_still_finds_the_occurrences_left() -> None:
    schedule = Schedule(run_at=utc(9999, 12, 29), cron="0 0 * * *", timezone="Etc/GMT-14")
    # Local midnights of Dec 30 and Dec 31 are 10:00 UTC the day before; Jan 1 10000 is not.
    assert upcoming(schedule, utc(9999, 12, 28), 5) == [
        utc(9999, 12, 29, 10),
        utc(9999, 12, 30, 10),
    ]


@pytest.mark.parametrize("kind", ["once", "daily", "weekly", "monthly", "hourly", "interval"])
def test_a_schedule_starting_at_the_first_instant_python_holds_runs_there(kind: str) -> None:
    rule: dict[str, Any] = {}
    if kind == "interval":
        rule["interval_seconds"] = 60
    elif kind != "once":
        rule["repeat"] = kind
    schedule = Schedule(run_at=FIRST, timezone="Etc/GMT+12", **rule)
    assert first_occurrence(schedule) == FIRST

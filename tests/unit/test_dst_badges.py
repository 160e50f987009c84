"""Unit tests for shared.recurrence.dst_effect (which DST rule decided an occurrence) and
the badges the dashboard shows for it (api.dashboard.ledger).

Transitions, as in test_recurrence:

  Europe/Berlin      2027-03-28 01:00Z (02:00->03:00)  2027-10-31 01:00Z (03:00->02:00)
  America/Santiago   2025-09-07 04:00Z (00:00->01:00)
  Australia/Lord_Howe 2027-10-02 15:30Z (02:00->02:30)
"""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.dashboard.ledger import badge_of, local_time, occurrences
from shared.recurrence import DstEffect, DstRule, Schedule, dst_effect, upcoming

BERLIN = "Europe/Berlin"
PROPERTY = settings(
    max_examples=40,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def effects(schedule: Schedule, after: datetime, count: int) -> dict[datetime, DstEffect]:
    """The occurrences after ``after`` that a DST rule decided, with what it did."""
    found = {}
    for moment in upcoming(schedule, after, count):
        effect = dst_effect(schedule, moment)
        if effect is not None:
            found[moment] = effect
    return found


def test_a_daily_time_in_the_spring_gap_runs_at_the_jump_and_only_that_day_is_marked() -> None:
    daily = Schedule(
        run_at=datetime(2027, 3, 21, 2, 30, tzinfo=ZoneInfo(BERLIN)),
        repeat="daily",
        timezone=BERLIN,
    )
    assert effects(daily, utc(2027, 3, 21), 10) == {
        utc(2027, 3, 28, 1, 0): DstEffect(DstRule.SPRING_FORWARD, datetime(2027, 3, 28, 2, 30))
    }


def test_a_daily_time_in_the_repeated_hour_is_marked_first_only() -> None:
    daily = Schedule(
        run_at=datetime(2027, 10, 28, 2, 30, tzinfo=ZoneInfo(BERLIN)),
        repeat="daily",
        timezone=BERLIN,
    )
    # 02:30 CEST, the first pass, is 00:30Z; the second pass (01:30Z) is no occurrence.
    assert effects(daily, utc(2027, 10, 28), 6) == {
        utc(2027, 10, 31, 0, 30): DstEffect(
            DstRule.REPEATED_FIRST_ONLY, datetime(2027, 10, 31, 2, 30)
        )
    }


@pytest.mark.parametrize(
    ("expr", "after", "expected"),
    [
        ("30 2 * * *", utc(2027, 3, 25), {utc(2027, 3, 28, 1, 0): DstRule.SPRING_FORWARD}),
        ("30 2 * * *", utc(2027, 10, 28), {utc(2027, 10, 31, 0, 30): DstRule.REPEATED_FIRST_ONLY}),
        # Every minute of 02:xx: the whole gap falls on the jump, as one occurrence.
        ("* 2 * * *", utc(2027, 3, 27, 23), {utc(2027, 3, 28, 1, 0): DstRule.SPRING_FORWARD}),
        # A time the gap does not reach is just a time.
        ("0 3 * * *", utc(2027, 3, 25), {}),
        ("0 9 * * 1-5", utc(2027, 3, 22), {}),
        # Real time: a cron on every hour runs on each pass of the repeated hour, and the
        # first run after the jump says why the hour before it has none.
        (
            "30 * * * *",
            utc(2027, 10, 30, 22),
            {
                utc(2027, 10, 31, 0, 30): DstRule.REPEATED_EACH,
                utc(2027, 10, 31, 1, 30): DstRule.REPEATED_EACH,
            },
        ),
        ("30 * * * *", utc(2027, 3, 27, 22), {utc(2027, 3, 28, 1, 30): DstRule.SKIPPED_BY_JUMP}),
    ],
)
def test_cron_occurrences_across_berlins_changes(
    expr: str, after: datetime, expected: dict[datetime, DstRule]
) -> None:
    schedule = Schedule(run_at=utc(2027, 1, 1), cron=expr, timezone=BERLIN)
    found = effects(schedule, after, 8)
    assert {moment: effect.rule for moment, effect in found.items()} == expected


def test_the_skipped_wall_time_is_named() -> None:
    hourly_cron = Schedule(run_at=utc(2027, 1, 1), cron="30 * * * *", timezone=BERLIN)
    assert dst_effect(hourly_cron, utc(2027, 3, 28, 1, 30)) == DstEffect(
        DstRule.SKIPPED_BY_JUMP, datetime(2027, 3, 28, 2, 30)
    )


def test_a_gap_at_midnight_and_a_half_hour_shift() -> None:
    santiago = Schedule(
        run_at=datetime(2025, 9, 1, 0, 30, tzinfo=ZoneInfo("America/Santiago")),
        repeat="daily",
        timezone="America/Santiago",
    )
    assert dst_effect(santiago, utc(2025, 9, 7, 4, 0)) == DstEffect(
        DstRule.SPRING_FORWARD, datetime(2025, 9, 7, 0, 30)
    )
    lord_howe = Schedule(
        run_at=datetime(2027, 9, 26, 2, 15, tzinfo=ZoneInfo("Australia/Lord_Howe")),
        repeat="weekly",
        timezone="Australia/Lord_Howe",
    )
    # A week after the anchor, Sunday 2027-10-03, whose 02:15 is in the 30-minute gap.
    assert upcoming(lord_howe, utc(2027, 9, 30), 1) == [utc(2027, 10, 2, 15, 30)]
    assert dst_effect(lord_howe, utc(2027, 10, 2, 15, 30)) == DstEffect(
        DstRule.SPRING_FORWARD, datetime(2027, 10, 3, 2, 15)
    )


@pytest.mark.parametrize(
    "schedule",
    [
        Schedule(run_at=utc(2027, 3, 27, 23), repeat="hourly", timezone=BERLIN),
        Schedule(run_at=utc(2027, 3, 27, 23), interval_seconds=1800, timezone=BERLIN),
        Schedule(run_at=utc(2027, 3, 28, 1), timezone=BERLIN),
    ],
    ids=["hourly", "interval", "one-off"],
)
def test_real_time_rhythms_and_one_off_runs_have_no_rule(schedule: Schedule) -> None:
    assert dst_effect(schedule, utc(2027, 3, 28, 1)) is None
    assert effects(schedule, utc(2027, 3, 27, 22), 6) == {}


@PROPERTY
@given(
    minutes=st.integers(min_value=0, max_value=24 * 60 - 1),
    zone=st.sampled_from(
        [BERLIN, "America/New_York", "Australia/Sydney", "America/Santiago", "Australia/Lord_Howe"]
    ),
)
def test_a_daily_occurrence_is_marked_exactly_when_its_wall_time_is_not_an_ordinary_one(
    minutes: int, zone: str
) -> None:
    """Across a year of days: no mark when the clock shows the wall time once; spring
    forward when the clock never shows it (the run is at the jump, so the clock shows a
    later time); first only when the clock shows it twice that day."""
    tz = ZoneInfo(zone)
    run_at = datetime(2027, 1, 1, minutes // 60, minutes % 60, tzinfo=tz)
    daily = Schedule(run_at=run_at, repeat="daily", timezone=zone)
    wanted = run_at.time()
    for moment in upcoming(daily, utc(2027, 1, 1), 365):
        local = moment.astimezone(tz)
        effect = dst_effect(daily, moment)
        wall = datetime.combine(local.date(), wanted)
        shown_twice = (
            wall.replace(tzinfo=tz, fold=0).utcoffset()
            != wall.replace(tzinfo=tz, fold=1).utcoffset()
            and wall.replace(tzinfo=tz, fold=1).astimezone(UTC).astimezone(tz).replace(tzinfo=None)
            == wall
        )
        if local.time() != wanted:
            assert effect is not None, moment
            assert effect.rule == DstRule.SPRING_FORWARD
            assert effect.wall.time() == wanted
        elif shown_twice:
            assert effect == DstEffect(DstRule.REPEATED_FIRST_ONLY, wall), moment
        else:
            assert effect is None, moment


def test_the_badges_say_the_rule_and_the_tooltip_the_wall_time() -> None:
    badge = badge_of(DstEffect(DstRule.SPRING_FORWARD, datetime(2027, 3, 28, 2, 30)), BERLIN)
    assert badge is not None
    assert badge.text == "spring forward: runs at the jump"
    assert "02:30 does not exist on 2027-03-28 in Europe/Berlin" in badge.title
    repeated = badge_of(
        DstEffect(DstRule.REPEATED_FIRST_ONLY, datetime(2027, 10, 31, 2, 30)), BERLIN
    )
    assert repeated is not None
    assert repeated.text == "repeated hour: first only"
    assert badge_of(None, BERLIN) is None


def test_each_occurrence_is_shown_in_its_zone_and_in_utc() -> None:
    daily = Schedule(
        run_at=datetime(2027, 3, 27, 2, 30, tzinfo=ZoneInfo(BERLIN)),
        repeat="daily",
        timezone=BERLIN,
    )
    shown = occurrences(daily, upcoming(daily, utc(2027, 3, 26), 3))
    assert [item.at for item in shown] == [
        utc(2027, 3, 27, 1, 30),
        utc(2027, 3, 28, 1, 0),
        utc(2027, 3, 29, 0, 30),
    ]
    assert [item.local for item in shown] == [
        "Sat 2027-03-27 02:30:00 CET",
        "Sun 2027-03-28 03:00:00 CEST",
        "Mon 2027-03-29 02:30:00 CEST",
    ]
    assert [item.badge.text if item.badge else None for item in shown] == [
        None,
        "spring forward: runs at the jump",
        None,
    ]
    assert local_time(utc(2027, 7, 1, 12) + timedelta(microseconds=1), "UTC") == (
        "Thu 2027-07-01 12:00:00 UTC"
    )

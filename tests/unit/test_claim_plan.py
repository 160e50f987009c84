"""What the scheduler does with a claimed run: misfire, overlap, next occurrence, max_runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.claim_plan import ClaimedRun, Plan, plan_claim
from shared.recurrence import Schedule

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
GRACE = timedelta(seconds=60)
HOURLY = Schedule(run_at=T0, interval_seconds=3600)


def claimed(
    *,
    origin: str = "schedule",
    scheduled_for: datetime = T0,
    schedule: Schedule = HOURLY,
    run_count: int = 0,
    misfire: str = "run_once",
    overlap: str = "forbid",
    live: int = 0,
) -> ClaimedRun:
    return ClaimedRun(
        origin=origin,
        scheduled_for=scheduled_for,
        schedule=schedule,
        run_count=run_count,
        misfire_policy=misfire,
        overlap_policy=overlap,
        live_runs=live,
    )


def at(hours: float = 0, seconds: float = 0) -> datetime:
    return T0 + timedelta(hours=hours, seconds=seconds)


def test_an_on_time_occurrence_runs_and_materialises_the_next() -> None:
    plan = plan_claim(claimed(), at(seconds=0.01), GRACE)
    assert plan == Plan(dispatch=True, next_occurrence=at(1), counts_occurrence=True)


@pytest.mark.parametrize("origin", ["retry", "manual"])
def test_retries_and_triggers_always_run_and_materialise_nothing(origin: str) -> None:
    plan = plan_claim(claimed(origin=origin, live=3, misfire="skip"), at(5), GRACE)
    assert plan == Plan(dispatch=True)


def test_run_once_runs_a_missed_occurrence_once_and_goes_on_from_now() -> None:
    # Due at 09:00, claimed at 12:30: 10:00, 11:00 and 12:00 were missed too.
    plan = plan_claim(claimed(misfire="run_once"), at(3.5), GRACE)
    assert plan.dispatch
    assert plan.next_occurrence == at(4)


def test_skip_records_a_missed_occurrence_as_skipped_and_goes_on_from_now() -> None:
    plan = plan_claim(claimed(misfire="skip"), at(3.5), GRACE)
    assert not plan.dispatch
    assert plan.skip_reason is not None
    assert "missed" in plan.skip_reason
    assert plan.next_occurrence == at(4)
    assert not plan.counts_occurrence


def test_skip_runs_an_occurrence_that_is_late_within_the_grace() -> None:
    plan = plan_claim(claimed(misfire="skip"), at(seconds=59), GRACE)
    assert plan.dispatch
    assert plan.next_occurrence == at(1)


def test_run_all_runs_and_materialises_the_very_next_occurrence_even_if_past() -> None:
    plan = plan_claim(claimed(misfire="run_all"), at(3.5), GRACE)
    assert plan.dispatch
    assert plan.next_occurrence == at(1)


def test_a_late_one_off_job_runs_whatever_its_misfire_policy() -> None:
    one_off = Schedule(run_at=T0)
    plan = plan_claim(claimed(schedule=one_off, misfire="skip"), at(24), GRACE)
    assert plan == Plan(dispatch=True, next_occurrence=None, counts_occurrence=True)


def test_overlap_forbid_skips_while_an_earlier_run_is_live() -> None:
    plan = plan_claim(claimed(overlap="forbid", live=1), at(seconds=1), GRACE)
    assert not plan.dispatch
    assert plan.skip_reason is not None
    assert "overlap" in plan.skip_reason
    assert plan.next_occurrence == at(1)


def test_overlap_allow_runs_both() -> None:
    plan = plan_claim(claimed(overlap="allow", live=2), at(seconds=1), GRACE)
    assert plan.dispatch
    assert not plan.replace_live


def test_overlap_replace_runs_and_asks_to_cancel_the_earlier_run() -> None:
    plan = plan_claim(claimed(overlap="replace", live=1), at(seconds=1), GRACE)
    assert plan.dispatch
    assert plan.replace_live


def test_no_overlap_without_live_runs() -> None:
    plan = plan_claim(claimed(overlap="replace", live=0), at(seconds=1), GRACE)
    assert plan.dispatch
    assert not plan.replace_live


def test_the_last_of_max_runs_materialises_nothing_more() -> None:
    schedule = Schedule(run_at=T0, interval_seconds=3600, max_runs=3)
    plan = plan_claim(claimed(schedule=schedule, run_count=2), at(seconds=1), GRACE)
    assert plan.dispatch
    assert plan.next_occurrence is None


def test_an_occurrence_beyond_max_runs_is_skipped() -> None:
    schedule = Schedule(run_at=T0, interval_seconds=3600, max_runs=3)
    plan = plan_claim(claimed(schedule=schedule, run_count=3), at(seconds=1), GRACE)
    assert not plan.dispatch
    assert plan.next_occurrence is None


def test_end_at_ends_the_schedule() -> None:
    schedule = Schedule(run_at=T0, interval_seconds=3600, end_at=at(1.5))
    first = plan_claim(claimed(schedule=schedule), at(seconds=1), GRACE)
    assert first.next_occurrence == at(1)
    second = plan_claim(claimed(schedule=schedule, scheduled_for=at(1)), at(1), GRACE)
    assert second.next_occurrence is None


@pytest.mark.parametrize("misfire", ["run_once", "skip", "run_all"])
@pytest.mark.parametrize(
    "schedule",
    [
        Schedule(
            run_at=datetime(9999, 12, 30, 10, tzinfo=UTC), cron="0 0 * * *", timezone="Etc/GMT-14"
        ),
        Schedule(
            run_at=datetime(9999, 12, 31, 10, tzinfo=UTC), repeat="monthly", timezone="Etc/GMT-14"
        ),
        Schedule(run_at=datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC), interval_seconds=1),
    ],
    ids=["cron-east", "monthly-east", "interval"],
)
def test_the_last_occurrence_before_the_year_10000_plans_no_next_one(
    schedule: Schedule, misfire: str
) -> None:
    """The scheduler's planning of a claimed run never raises at the end of time (review
    L2): the series just has no further occurrence."""
    last = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
    plan = plan_claim(claimed(scheduled_for=last, schedule=schedule, misfire=misfire), last, GRACE)
    assert plan.next_occurrence is None


EVERY_SECOND = Schedule(run_at=T0, interval_seconds=1)


def test_run_all_replays_a_backlog_within_max_catchup() -> None:
    # Due at 09:00, claimed at 12:30 with a cap of 5: 3 more were missed, within it.
    plan = plan_claim(claimed(misfire="run_all"), at(3.5), GRACE, max_catchup=5)
    assert plan.dispatch
    assert plan.next_occurrence == at(1)


def test_run_all_beyond_max_catchup_skips_to_the_most_recent_occurrences() -> None:
    # A 1 s interval paused for a day: 86,400 missed; only the last 100 are replayed.
    now = at(24, seconds=0.5)
    run = claimed(misfire="run_all", schedule=EVERY_SECOND)
    plan = plan_claim(run, now, GRACE, max_catchup=100)
    assert not plan.dispatch
    assert plan.skip_reason is not None
    assert "CHRONOS_MAX_CATCHUP" in plan.skip_reason
    assert plan.next_occurrence == at(24, seconds=-99)  # 23:59:21 ... 24:00:00 are 100
    assert not plan.counts_occurrence
    # From there on each one runs: the replay is those 100, one after another.
    resumed = claimed(misfire="run_all", schedule=EVERY_SECOND, scheduled_for=at(24, -99))
    assert plan_claim(resumed, now, GRACE, max_catchup=100).dispatch


def test_run_all_catch_up_counts_calendar_occurrences_too() -> None:
    daily = Schedule(run_at=T0, repeat="daily", timezone="Europe/Berlin")
    now = T0 + timedelta(days=30, hours=1)
    plan = plan_claim(claimed(misfire="run_all", schedule=daily), now, GRACE, max_catchup=3)
    assert not plan.dispatch
    assert plan.next_occurrence == T0 + timedelta(days=28)


def test_max_catchup_zero_replays_everything() -> None:
    run = claimed(misfire="run_all", schedule=EVERY_SECOND)
    plan = plan_claim(run, at(24), GRACE, max_catchup=0)
    assert plan.dispatch
    assert plan.next_occurrence == at(seconds=1)

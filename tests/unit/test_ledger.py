"""Unit tests for shared.ledger: the window, the recent occurrences, and matching them
with run rows written as the scheduler writes them (shared.claiming, shared.outcomes)."""

import dataclasses
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest

from shared.ledger import (
    LEDGER_OCCURRENCES,
    ON_TIME,
    RETENTION_MARGIN,
    Verdict,
    ledger,
    recent_occurrences,
    window_since,
)
from shared.recurrence import Schedule

T0 = datetime(2027, 5, 3, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
OVERLAP = "an earlier run was still queued or running (overlap_policy forbid)"


def hours(*steps: float) -> list[datetime]:
    return [T0 + step * HOUR for step in steps]


def run(
    at: datetime,
    state: str = "succeeded",
    *,
    attempt: int = 1,
    origin: str | None = None,
    claimed: datetime | None = None,
    lag: timedelta = timedelta(milliseconds=20),
    **columns: Any,
) -> dict[str, Any]:
    """A run of the occurrence ``at`` as the scheduler leaves it in ``state``: claimed at
    ``claimed`` (default: on time), started ``lag`` after the occurrence."""
    claimed = at if claimed is None else claimed
    started = None if state in ("pending", "queued", "skipped") else max(claimed, at) + lag
    row: dict[str, Any] = {
        "id": f"run-{at:%H%M}-{attempt}",
        "attempt": attempt,
        "origin": origin or ("schedule" if attempt == 1 else "retry"),
        "scheduled_for": at,
        "due_at": at,
        "state": state,
        "queued_at": None if state in ("pending", "skipped") else claimed,
        "started_at": started,
        "finished_at": None,
        "result": None,
        "error": None,
        "created_at": at - HOUR,
    }
    if state in ("succeeded", "failed", "lost", "cancelled"):
        row["finished_at"] = (started or claimed) + timedelta(seconds=5)
    if state == "skipped":
        row["finished_at"] = claimed
    row.update(columns)
    return row


def verdicts(rows: Any) -> list[tuple[datetime, Verdict]]:
    return [(row.occurrence, row.verdict) for row in rows]


def match(occurrences: list[datetime], runs: list[dict[str, Any]], **kwargs: Any) -> Any:
    options: dict[str, Any] = {"since": T0, "now": T0 + 5.5 * HOUR, "paused": False, "ended": False}
    return ledger(occurrences, runs, **{**options, **kwargs})


# --- the window ---------------------------------------------------------------------------


def window(**overrides: Any) -> Any:
    now = T0 + timedelta(days=30)
    options: dict[str, Any] = {
        "now": now,
        "created_at": now - timedelta(days=20),
        "rescheduled_at": None,
        "first_occurrence": now - timedelta(days=20),
        "run_retention": timedelta(days=30),
    }
    return window_since(**{**options, **overrides})


def test_the_window_is_seven_days_for_an_old_job() -> None:
    found = window()
    assert found.since == T0 + timedelta(days=23)
    assert found.bound == "the last 7 days"


def test_the_window_never_reaches_before_the_job_or_its_last_reschedule() -> None:
    now = T0 + timedelta(days=30)
    created = window(created_at=now - timedelta(days=2), first_occurrence=now - timedelta(days=2))
    assert (created.since, created.bound) == (now - timedelta(days=2), "the job's creation")
    # A run_at a few minutes in the past is the schedule's first occurrence: it counts.
    early = window(
        created_at=now - timedelta(days=2),
        first_occurrence=now - timedelta(days=2, minutes=4),
    )
    assert early.since == now - timedelta(days=2, minutes=4)
    moved = window(rescheduled_at=now - timedelta(hours=5))
    assert (moved.since, moved.bound) == (now - timedelta(hours=5), "the last reschedule")
    moved_early = window(
        rescheduled_at=now - timedelta(hours=5),
        first_occurrence=now - timedelta(hours=5, minutes=4),
    )
    assert moved_early.since == now - timedelta(hours=5, minutes=4)


def test_the_window_stays_inside_run_retention() -> None:
    now = T0 + timedelta(days=30)
    short_runs = window(run_retention=timedelta(days=2))
    assert short_runs.since == now - timedelta(days=2) + RETENTION_MARGIN
    assert "CHRONOS_RUN_RETENTION_DAYS" in short_runs.bound


# --- the occurrences ----------------------------------------------------------------------


def test_the_newest_hundred_occurrences_of_a_frequent_schedule() -> None:
    every_minute = Schedule(run_at=T0 - timedelta(days=30), cron="* * * * *", timezone="UTC")
    now = T0 + timedelta(seconds=30)
    found = recent_occurrences(every_minute, now - timedelta(days=7), now)
    assert len(found) == LEDGER_OCCURRENCES
    assert found[-1] == T0
    assert found[0] == T0 - timedelta(minutes=99)
    assert all(b - a == timedelta(minutes=1) for a, b in pairwise(found))


def test_a_sparse_schedule_gives_the_whole_period_and_counts_its_edges() -> None:
    daily = Schedule(run_at=T0 - timedelta(days=30), repeat="daily", timezone="UTC")
    found = recent_occurrences(daily, T0 - timedelta(days=7), T0)
    assert found == [T0 - timedelta(days=days) for days in range(7, -1, -1)]


def test_occurrences_start_at_run_at_and_ignore_max_runs() -> None:
    hourly = Schedule(run_at=T0, repeat="hourly", max_runs=2)
    assert recent_occurrences(hourly, T0 - timedelta(days=7), T0 + 3.5 * HOUR) == hours(0, 1, 2, 3)
    later = Schedule(run_at=T0 + HOUR, repeat="hourly")
    assert recent_occurrences(later, T0 - timedelta(days=7), T0) == []


def test_weekday_business_hours_seen_from_friday_evening() -> None:
    business = Schedule(run_at=T0 - timedelta(days=30), cron="*/5 9-16 * * 1-5", timezone="UTC")
    friday_evening = datetime(2027, 5, 7, 20, 0, tzinfo=UTC)
    found = recent_occurrences(business, friday_evening - timedelta(days=7), friday_evening)
    assert len(found) == LEDGER_OCCURRENCES
    assert found[-1] == datetime(2027, 5, 7, 16, 55, tzinfo=UTC)
    # 96 a day: the hundred reach back into Thursday's last four.
    assert found[0] == datetime(2027, 5, 6, 16, 40, tzinfo=UTC)


# --- matching -----------------------------------------------------------------------------


def test_runs_on_time_late_and_retried() -> None:
    runs = [
        run(T0),
        run(T0 + HOUR, lag=ON_TIME),
        run(T0 + 2 * HOUR, lag=ON_TIME + timedelta(milliseconds=1)),
        run(T0 + 3 * HOUR, "failed"),
        run(T0 + 3 * HOUR, "lost", attempt=2, due_at=T0 + 3.1 * HOUR),
        run(T0 + 3 * HOUR, "succeeded", attempt=3, due_at=T0 + 3.2 * HOUR),
    ]
    found = match(hours(0, 1, 2, 3), runs)
    assert verdicts(found.rows) == [
        (T0, Verdict.ON_TIME),
        (T0 + HOUR, Verdict.ON_TIME),
        (T0 + 2 * HOUR, Verdict.LATE),
        (T0 + 3 * HOUR, Verdict.ON_TIME),
    ]
    assert found.rows[2].late_ms == 1001
    retried = found.rows[3]
    assert (retried.retries, retried.outcome) == (2, "succeeded")
    assert [attempt["attempt"] for attempt in retried.runs] == [1, 2, 3]


def test_an_overlap_skip_carries_its_reason_and_a_deleted_row_is_missing() -> None:
    runs = [
        run(T0, lag=timedelta(0)),
        run(T0 + HOUR, "skipped", result={"skipped": OVERLAP}),
        *[run(at) for at in hours(2, 4, 5)],
    ]
    found = match(hours(0, 1, 2, 3, 4, 5), runs)
    assert verdicts(found.rows) == [
        (T0, Verdict.ON_TIME),
        (T0 + HOUR, Verdict.SKIPPED),
        (T0 + 2 * HOUR, Verdict.ON_TIME),
        (T0 + 3 * HOUR, Verdict.MISSING),
        (T0 + 4 * HOUR, Verdict.ON_TIME),
        (T0 + 5 * HOUR, Verdict.ON_TIME),
    ]
    assert found.rows[1].reason == OVERLAP
    assert found.rows[3].runs == ()
    assert found.count()[Verdict.MISSING] == 1


def test_a_paused_job_holds_its_run_and_the_occurrences_after_it_wait() -> None:
    runs = [run(T0), run(T0 + HOUR, "pending", due_at=None)]
    found = match(hours(0, 1, 2, 3), runs, paused=True)
    assert verdicts(found.rows) == [
        (T0, Verdict.ON_TIME),
        (T0 + HOUR, Verdict.HELD),
        (T0 + 2 * HOUR, Verdict.WAITING),
        (T0 + 3 * HOUR, Verdict.WAITING),
    ]
    assert "paused" in (found.rows[2].reason or "")


def test_an_unclaimed_due_run_is_not_started_and_the_next_ones_wait_for_a_scheduler() -> None:
    runs = [run(T0), run(T0 + HOUR, "pending")]
    found = match(hours(0, 1, 2), runs)
    assert verdicts(found.rows)[1:] == [
        (T0 + HOUR, Verdict.NOT_STARTED),
        (T0 + 2 * HOUR, Verdict.WAITING),
    ]
    assert "no scheduler has claimed" in (found.rows[2].reason or "")


@pytest.mark.parametrize("policy", ["run_once", "skip"])
def test_occurrences_a_late_claim_went_past_are_covered_not_missing(policy: str) -> None:
    """After a pause or an outage, the claim at 02:30 goes on from then: 01:00 and 02:00
    never get a row (shared.claim_plan); 03:00 does."""
    claimed = T0 + 2.5 * HOUR
    if policy == "run_once":
        late = run(T0, claimed=claimed)
    else:
        late = run(T0, "skipped", claimed=claimed, result={"skipped": "missed by 9000 s"})
    found = match(hours(0, 1, 2, 3), [late, run(T0 + 3 * HOUR)])
    assert verdicts(found.rows) == [
        (T0, Verdict.LATE if policy == "run_once" else Verdict.SKIPPED),
        (T0 + HOUR, Verdict.COVERED),
        (T0 + 2 * HOUR, Verdict.COVERED),
        (T0 + 3 * HOUR, Verdict.ON_TIME),
    ]
    assert "claimed late, at 2027-05-03 14:30:00 UTC" in (found.rows[1].reason or "")
    if policy == "skip":
        assert "missed by 9000 s" in (found.rows[1].reason or "")


def test_a_run_before_the_window_accounts_for_occurrences_in_it_and_is_not_shown() -> None:
    before = run(T0 - HOUR, claimed=T0 + 1.5 * HOUR)
    found = match(hours(0, 1, 2), [before, run(T0 + 2 * HOUR)])
    assert verdicts(found.rows) == [
        (T0, Verdict.COVERED),
        (T0 + HOUR, Verdict.COVERED),
        (T0 + 2 * HOUR, Verdict.ON_TIME),
    ]


def test_with_no_run_at_all_every_occurrence_is_missing() -> None:
    found = match(hours(0, 1), [])
    assert verdicts(found.rows) == [(T0, Verdict.MISSING), (T0 + HOUR, Verdict.MISSING)]


def test_an_ended_job_implies_nothing_after_its_last_run() -> None:
    runs = [
        run(T0),
        run(
            T0 + HOUR,
            "cancelled",
            queued_at=None,
            started_at=None,
            error={"message": "job cancelled"},
        ),
    ]
    found = match(hours(0, 1, 2, 3), runs, ended=True)
    assert verdicts(found.rows) == [(T0, Verdict.ON_TIME), (T0 + HOUR, Verdict.CANCELLED)]
    assert found.rows[1].reason == "job cancelled"
    # Ended, but a row lost before its end is still missing.
    gap = match(hours(0, 1, 2), [run(T0), run(T0 + 2 * HOUR)], ended=True)
    assert verdicts(gap.rows)[1] == (T0 + HOUR, Verdict.MISSING)


def test_manual_runs_are_listed_apart_and_fill_no_slot() -> None:
    manual = run(T0 + HOUR, origin="manual")
    found = match(hours(0, 1), [run(T0), manual])
    assert verdicts(found.rows) == [(T0, Verdict.ON_TIME), (T0 + HOUR, Verdict.MISSING)]
    assert found.manual == [manual]
    early = run(T0 - HOUR, origin="manual")
    assert match(hours(0), [run(T0), early]).manual == []


def test_a_run_of_another_schedule_is_off_schedule_and_the_next_one_upcoming() -> None:
    runs = [run(T0), run(T0 + 0.5 * HOUR), run(T0 + HOUR), run(T0 + 6 * HOUR, "pending")]
    found = match(hours(0, 1), runs)
    assert verdicts(found.rows) == [
        (T0, Verdict.ON_TIME),
        (T0 + 0.5 * HOUR, Verdict.OFF_SCHEDULE),
        (T0 + HOUR, Verdict.ON_TIME),
        (T0 + 6 * HOUR, Verdict.UPCOMING),
    ]


def test_a_run_sent_ahead_and_started_at_its_instant_is_on_time() -> None:
    ahead = run(T0, claimed=T0 - timedelta(milliseconds=50), lag=timedelta(0))
    found = match(hours(0, 1), [ahead, run(T0 + HOUR)])
    assert verdicts(found.rows) == [(T0, Verdict.ON_TIME), (T0 + HOUR, Verdict.ON_TIME)]
    assert found.rows[0].late_ms == 0


def test_a_dense_schedule_past_its_end_counts_back_from_the_end() -> None:
    """Not from now, and not one occurrence at a time over the whole window: a cron of
    every minute that ended an hour ago still lists its last 100 minutes."""
    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    ended = Schedule(
        run_at=now - timedelta(days=10), cron="* * * * *", end_at=now - timedelta(hours=1)
    )
    found = recent_occurrences(ended, now - timedelta(days=7), now)
    assert len(found) == 100
    assert found[-1] == now - timedelta(hours=1)
    assert found[0] == now - timedelta(hours=1, minutes=99)
    before_the_window = dataclasses.replace(ended, end_at=now - timedelta(days=8))
    assert recent_occurrences(before_the_window, now - timedelta(days=7), now) == []

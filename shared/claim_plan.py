"""What the scheduler does with a run it has just claimed. Pure: no I/O, ``now`` passed in.

For a run of the schedule (attempt 1) it decides, in this order:

1. Misfire. The occurrence is *missed* when it is claimed more than the grace period
   (CHRONOS_MISFIRE_GRACE_SECONDS) after it was due: the scheduler was down, the job was
   paused, or the backlog was long.
   - ``run_once``: it runs, and stands for every occurrence missed since: the next
     occurrence is the first one after now.
   - ``skip``: a missed occurrence is recorded as skipped, and the schedule goes on from
     now. One that is on time runs.
   - ``run_all``: it runs, and the next occurrence is the one right after it, even if
     that is also past: every missed occurrence runs, one after another, up to
     ``max_catchup`` (CHRONOS_MAX_CATCHUP, 100). An occurrence with more than that many
     missed ones behind it is recorded as skipped, and the schedule resumes at the oldest
     of the ``max_catchup`` most recent ones: a job paused for a day does not replay
     86,400 runs of a 1 s interval.
2. Overlap, when an earlier run of the job is still queued or running: ``allow`` runs
   both, ``forbid`` records this one as skipped, ``replace`` cancels the earlier run.
3. The next occurrence to materialise, unless end_at or max_runs ends the schedule.

A one-off job always runs, however late: it has no later occurrence to stand in for it.
Retries and manual triggers are attempts the user or the policy already asked for: they
are always dispatched and never materialise a next occurrence.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.recurrence import Schedule, next_occurrence
from shared.states import MisfirePolicy, OverlapPolicy, RunOrigin


@dataclass(frozen=True)
class ClaimedRun:
    origin: str
    scheduled_for: datetime
    schedule: Schedule
    run_count: int
    misfire_policy: str
    overlap_policy: str
    live_runs: int
    """Runs of the same job already queued or running (not counting this one)."""


@dataclass(frozen=True)
class Plan:
    dispatch: bool
    skip_reason: str | None = None
    next_occurrence: datetime | None = None
    replace_live: bool = False
    counts_occurrence: bool = False
    """Whether this run uses up one of the schedule's ``max_runs``."""


def plan_claim(run: ClaimedRun, now: datetime, grace: timedelta, max_catchup: int = 0) -> Plan:
    """``max_catchup``: the most missed occurrences ``run_all`` replays (0: all)."""
    if run.origin != RunOrigin.SCHEDULE:
        return Plan(dispatch=True)

    schedule = run.schedule
    missed = now - run.scheduled_for > grace
    if run.misfire_policy == MisfirePolicy.RUN_ALL:
        following = next_occurrence(schedule, run.scheduled_for)
    else:
        following = next_occurrence(schedule, max(run.scheduled_for, now))

    if schedule.max_runs is not None and run.run_count >= schedule.max_runs:
        return Plan(dispatch=False, skip_reason="the schedule's max_runs was reached")

    if run.misfire_policy == MisfirePolicy.RUN_ALL and missed and max_catchup:
        resume = catch_up_from(schedule, run.scheduled_for, now, max_catchup)
        if resume is not None:
            return Plan(
                dispatch=False,
                skip_reason=(
                    f"more than {max_catchup} occurrences missed; run_all replays at most "
                    f"{max_catchup} (CHRONOS_MAX_CATCHUP)"
                ),
                next_occurrence=resume,
            )

    if run.misfire_policy == MisfirePolicy.SKIP and missed and schedule.recurring:
        late = int((now - run.scheduled_for).total_seconds())
        return Plan(
            dispatch=False,
            skip_reason=f"missed by {late} s (misfire_policy skip)",
            next_occurrence=following,
        )

    replace = False
    if run.live_runs and schedule.recurring:
        if run.overlap_policy == OverlapPolicy.FORBID:
            return Plan(
                dispatch=False,
                skip_reason="an earlier run was still queued or running (overlap_policy forbid)",
                next_occurrence=following,
            )
        replace = run.overlap_policy == OverlapPolicy.REPLACE

    if schedule.max_runs is not None and run.run_count + 1 >= schedule.max_runs:
        following = None
    return Plan(
        dispatch=True, next_occurrence=following, replace_live=replace, counts_occurrence=True
    )


def _count_after(schedule: Schedule, after: datetime, now: datetime, most: int) -> int:
    """Occurrences in (after, now], counting no further than ``most``."""
    count, cursor = 0, after
    while count < most:
        following = next_occurrence(schedule, cursor)
        if following is None or following > now:
            break
        count, cursor = count + 1, following
    return count


def catch_up_from(
    schedule: Schedule, missed: datetime, now: datetime, limit: int
) -> datetime | None:
    """Where ``run_all`` resumes when ``missed`` has ``limit`` or more missed occurrences
    after it (so replaying all would run more than ``limit``): the oldest of the ``limit``
    most recent occurrences up to ``now``. None when the replay stays within ``limit``.

    Found by halving the time between ``missed`` and ``now``, each step counting at most
    ``limit`` occurrences, so a day of a 1 s interval costs about 27 x ``limit`` steps,
    not 86,400."""
    if _count_after(schedule, missed, now, limit) < limit:
        return None
    low, high = missed, now  # at least ``limit`` after low; none after high
    while high - low > CATCH_UP_PRECISION:
        middle = low + (high - low) / 2
        if _count_after(schedule, middle, now, limit) >= limit:
            low = middle
        else:
            high = middle
    return next_occurrence(schedule, low)


# Occurrences are whole seconds apart at the least: a millisecond tells them apart.
CATCH_UP_PRECISION = timedelta(milliseconds=1)

"""The per-user limits a request's content can break, checked without I/O (``now`` is
passed in): the highest priority and the shortest interval a user may set. Admins are
exempt; callers only check other users. The limits that need the database (live jobs,
submits per minute) are in :mod:`shared.quotas`.

Both answer ``400`` naming the field and the setting, e.g.
``schedule.interval_seconds: must be at least 60 s (CHRONOS_MIN_INTERVAL_SECONDS)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shared.cadence import shortest_gap
from shared.errors import ValidationError
from shared.jobs import JobSpec
from shared.recurrence import Schedule
from shared.settings import Settings


@dataclass(frozen=True)
class UserLimits:
    """What a user who is not an admin may do (CHRONOS_* settings, see the README)."""

    max_live_jobs: int = 10000
    submits_per_minute: int = 1000
    min_interval_seconds: int = 60
    max_priority: int = 0

    @classmethod
    def of(cls, settings: Settings) -> UserLimits:
        return cls(
            max_live_jobs=settings.max_live_jobs_per_user,
            submits_per_minute=settings.submits_per_minute,
            min_interval_seconds=settings.min_interval_seconds,
            max_priority=settings.max_user_priority,
        )


def check_spec(spec: JobSpec, limits: UserLimits, now: datetime, prefix: str = "") -> None:
    """A submitted job within the limits; ``prefix`` is its place in a batch (``jobs[3]``)."""
    dotted = f"{prefix}." if prefix else ""
    if spec.priority > limits.max_priority:
        raise ValidationError(
            f"{dotted}priority",
            f"must be at most {limits.max_priority} (CHRONOS_MAX_USER_PRIORITY); "
            "higher priorities are for admins",
        )
    check_schedule(spec.schedule, limits, now, prefix=f"{dotted}schedule")


def check_schedule(
    schedule: Schedule, limits: UserLimits, now: datetime, prefix: str = "schedule"
) -> None:
    """A schedule whose occurrences are never closer than the shortest interval. A
    schedule with a single occurrence (one-off, or ``max_runs: 1``) has no gap to check."""
    if schedule.max_runs == 1:
        return
    gap = shortest_gap(schedule, now)
    minimum = limits.min_interval_seconds
    if gap is None or gap.total_seconds() >= minimum:
        return
    dotted = f"{prefix}." if prefix else ""
    setting = "(CHRONOS_MIN_INTERVAL_SECONDS)"
    if schedule.interval_seconds is not None:
        raise ValidationError(
            f"{dotted}interval_seconds", f"must be at least {minimum} s {setting}"
        )
    field = "cron" if schedule.cron is not None else "repeat"
    raise ValidationError(
        f"{dotted}{field}",
        f"runs as often as every {gap.total_seconds():g} s; occurrences must be at least "
        f"{minimum} s apart {setting}",
    )

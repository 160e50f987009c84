"""The job page's schedule views: the occurrence ledger (X1) and the next occurrences with
their DST badges, for the job and for a reschedule's dry run (X4).

The ledger is read here (the window, then one read of the runs: shared.repository.ledger)
and matched by shared.ledger; the badges say which rule shared.recurrence applied.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from shared import ledger as ledger_rules
from shared import recurrence
from shared.jobs import schedule_of
from shared.ledger import Ledger, Verdict, Window
from shared.recurrence import DstEffect, DstRule, Schedule
from shared.repository import Row
from shared.repository import ledger as ledger_repo
from shared.settings import Settings
from shared.states import FINAL_JOB_STATUSES, JobStatus, RunOrigin

_TICK = timedelta(microseconds=1)

# Each DST rule's badge, and what its tooltip says (the wall time, the date, the zone).
DST_BADGES: dict[DstRule, tuple[str, str]] = {
    DstRule.SPRING_FORWARD: (
        "spring forward: runs at the jump",
        "{wall} does not exist on {date} in {zone}: the clock jumps over it, and the job "
        "runs at the moment of the jump",
    ),
    DstRule.REPEATED_FIRST_ONLY: (
        "repeated hour: first only",
        "{wall} happens twice on {date} in {zone}: the job runs on the first pass only",
    ),
    DstRule.REPEATED_EACH: (
        "repeated hour: runs on each pass",
        "{wall} happens twice on {date} in {zone}: a cron on every hour follows real "
        "time, so it runs on each pass, an hour apart",
    ),
    DstRule.SKIPPED_BY_JUMP: (
        "spring forward: skipped hour",
        "the clock skips {wall} on {date} in {zone}: a cron on every hour follows real "
        "time, so the skipped hour has no run",
    ),
}
VERDICT_WORDS: dict[Verdict, str] = {
    Verdict.ON_TIME: "on time",
    Verdict.LATE: "late",
    Verdict.NOT_STARTED: "not started yet",
    Verdict.HELD: "held",
    Verdict.SKIPPED: "skipped",
    Verdict.CANCELLED: "cancelled",
    Verdict.WAITING: "waiting",
    Verdict.COVERED: "covered by a late claim",
    Verdict.MISSING: "missing",
    Verdict.UPCOMING: "upcoming",
    Verdict.OFF_SCHEDULE: "off schedule",
}


@dataclass(frozen=True)
class Badge:
    text: str
    title: str


@dataclass(frozen=True)
class Occurrence:
    """One occurrence as the page shows it: in UTC, in the schedule's zone, and the badge
    of the DST rule that decided it, if one did."""

    at: datetime
    local: str
    badge: Badge | None


def local_time(moment: datetime, zone: str) -> str:
    """``Sun 2027-03-28 03:00:00 CEST``: the wall time in ``zone``, with its abbreviation
    (or the UTC time, for an instant whose wall time is past the calendar's end)."""
    try:
        return moment.astimezone(ZoneInfo(zone)).strftime("%a %Y-%m-%d %H:%M:%S %Z")
    except OverflowError:
        return moment.astimezone(UTC).strftime("%a %Y-%m-%d %H:%M:%S UTC")


def badge_of(effect: DstEffect | None, zone: str) -> Badge | None:
    if effect is None:
        return None
    text, title = DST_BADGES[effect.rule]
    wall = effect.wall.strftime("%H:%M")
    return Badge(text, title.format(wall=wall, date=effect.wall.date().isoformat(), zone=zone))


def occurrences(schedule: Schedule, moments: Sequence[datetime]) -> list[Occurrence]:
    """``moments`` (the schedule's occurrences) with their local time and DST badge."""
    return [
        Occurrence(
            moment,
            local_time(moment, schedule.timezone),
            badge_of(recurrence.dst_effect(schedule, moment), schedule.timezone),
        )
        for moment in moments
    ]


@dataclass(frozen=True)
class JobLedger:
    window: Window
    ledger: Ledger
    bound: str
    """What limits how far back the ledger goes, in words."""
    zone: str

    def local(self, moment: datetime) -> str:
        return local_time(moment, self.zone)


def job_ledger(conn: Connection, job: Row, now: datetime, settings: Settings) -> JobLedger | None:
    """The recurring job's ledger over its window (two reads); None for a one-off job."""
    schedule = schedule_of(job)
    if not schedule.recurring:
        return None
    window = ledger_rules.window_since(
        now=now,
        created_at=job["created_at"],
        rescheduled_at=ledger_repo.last_rescheduled_at(conn, job["id"]),
        first_occurrence=recurrence.first_occurrence(schedule),
        run_retention=timedelta(days=settings.run_retention_days),
    )
    implied = ledger_rules.recent_occurrences(schedule, window.since, now)
    since, bound = window.since, f"since {_utc(window.since)} ({window.bound})"
    if len(implied) == ledger_rules.LEDGER_OCCURRENCES:
        since, bound = implied[0], f"the last {ledger_rules.LEDGER_OCCURRENCES} occurrences"
    runs = ledger_repo.ledger_runs(conn, job["id"], since)
    shown = [
        run for run in runs if run["origin"] != RunOrigin.MANUAL and run["scheduled_for"] >= since
    ]
    if len(shown) >= ledger_repo.MOST_RUNS:
        # Too many attempts to read them all: start after the oldest occurrence read, whose
        # attempts may be cut, rather than show the older ones as missing.
        cut = min(run["scheduled_for"] for run in shown)
        since, bound = cut + _TICK, f"the occurrences since {_utc(cut)} (their runs are many)"
        implied = [moment for moment in implied if moment >= since]
    ended = job["status"] in FINAL_JOB_STATUSES or (
        job["max_runs"] is not None and job["run_count"] >= job["max_runs"]
    )
    matched = ledger_rules.ledger(
        implied,
        runs,
        since=since,
        now=now,
        paused=job["status"] == JobStatus.PAUSED,
        ended=ended,
    )
    return JobLedger(window, matched, bound, schedule.timezone)


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")

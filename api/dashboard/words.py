"""A job's schedule and policies in words, for people: "weekdays at 09:00,
Europe/Berlin". Pure: no I/O, unit-tested.

A cron expression that none of the shapes below describes is shown as itself (``cron
"7 3 */2 * 1"``): a wrong sentence would be worse than the expression.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from shared.recurrence import Schedule

DAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
UNITS = ((86400, "day"), (3600, "hour"), (60, "minute"), (1, "second"))


def plural(count: int, unit: str) -> str:
    return f"{count} {unit}" if count == 1 else f"{count} {unit}s"


def duration(seconds: float) -> str:
    """``90`` → "90 seconds", ``300`` → "5 minutes", ``7200`` → "2 hours": the largest
    unit that divides it exactly."""
    whole = int(seconds)
    if whole != seconds or whole <= 0:
        return f"{seconds:g} seconds"
    for size, unit in UNITS:
        if whole % size == 0 and (whole // size < 120 or size == 86400):
            return plural(whole // size, unit)
    return plural(whole, "second")


def _local(moment: datetime, zone: str) -> datetime:
    return moment.astimezone(ZoneInfo(zone))


def _clock(hour: int, minute: int) -> str:
    return f"{hour:02d}:{minute:02d}"


def _number(field: str, low: int, high: int) -> int | None:
    if not field.isdigit():
        return None
    value = int(field)
    return value if low <= value <= high else None


def cron_in_words(expression: str) -> str:
    """The common shapes of a 5-field cron, else the expression itself."""
    fields = expression.split()
    if len(fields) != 5:
        return f'cron "{expression}"'
    minute, hour, day, month, weekday = fields
    at_minute = _number(minute, 0, 59)
    at_hour = _number(hour, 0, 23)
    if month != "*":
        return f'cron "{expression}"'
    if minute.startswith("*/") and hour == day == weekday == "*":
        step = _number(minute[2:], 1, 59)
        # */45 runs at :00 and :45, not every 45 minutes: only a step that divides the
        # hour is "every N minutes".
        if step is not None and 60 % step == 0:
            return "every minute" if step == 1 else f"every {step} minutes"
    if expression == "* * * * *":
        return "every minute"
    if at_minute is not None and hour == day == weekday == "*":
        return f"hourly at minute {at_minute}"
    if at_minute is None or at_hour is None:
        return f'cron "{expression}"'
    at = _clock(at_hour, at_minute)
    if day == "*" and weekday == "*":
        return f"daily at {at}"
    if day == "*" and weekday in {"1-5", "MON-FRI", "mon-fri"}:
        return f"weekdays at {at}"
    if day == "*" and weekday in {"0,6", "6,0", "6-7", "SAT,SUN", "sat,sun"}:
        return f"weekends at {at}"
    if day == "*":
        names = [_weekday(part) for part in weekday.split(",")]
        if all(names):
            return f"every {' and '.join(str(name) for name in names)} at {at}"
    if weekday == "*":
        on_day = _number(day, 1, 31)
        if on_day is not None:
            return f"monthly on day {on_day} at {at}"
    return f'cron "{expression}"'


def _weekday(field: str) -> str | None:
    number = _number(field, 0, 7)
    return None if number is None else DAYS[number % 7]


def repeat_in_words(repeat: str, anchor: datetime) -> str:
    """``repeat`` stepped from its anchor (run_at, in the job's zone)."""
    at = _clock(anchor.hour, anchor.minute)
    if repeat == "hourly":
        return f"hourly at minute {anchor.minute}"
    if repeat == "daily":
        return f"daily at {at}"
    if repeat == "weekly":
        return f"every {DAYS[(anchor.weekday() + 1) % 7]} at {at}"
    if repeat == "monthly":
        clamped = " (the month's last day when it is shorter)" if anchor.day > 28 else ""
        return f"monthly on day {anchor.day}{clamped} at {at}"
    return repeat


def stamp(moment: datetime) -> str:
    return moment.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%d %H:%M UTC")


def schedule_in_words(schedule: Schedule) -> str:
    """ "weekdays at 09:00, Europe/Berlin", "every 5 minutes", "once, at 2026-12-01
    10:00 UTC", with "until" and "at most N runs" when the schedule ends."""
    zone = schedule.timezone or "UTC"
    if schedule.cron is not None:
        words = f"{cron_in_words(schedule.cron)}, {zone}"
    elif schedule.repeat is not None:
        words = f"{repeat_in_words(schedule.repeat, _local(schedule.run_at, zone))}, {zone}"
    elif schedule.interval_seconds is not None:
        words = f"every {duration(schedule.interval_seconds)} from {stamp(schedule.run_at)}"
    else:
        return f"once, at {stamp(schedule.run_at)}"
    if schedule.end_at is not None:
        words += f", until {stamp(schedule.end_at)}"
    if schedule.max_runs is not None:
        words += f", at most {plural(schedule.max_runs, 'run')}"
    return words


OVERLAP = {
    "allow": "a run may start while the previous one is still going",
    "forbid": "an occurrence is skipped while the previous run is still going",
    "replace": "a new occurrence cancels a run that is still going",
}
MISFIRE = {
    "run_once": "occurrences missed while nothing ran are run once",
    "skip": "occurrences missed while nothing ran are skipped",
    "run_all": "occurrences missed while nothing ran are all run",
}


def policies_in_words(job: Mapping[Any, Any]) -> str:
    """One sentence: attempts and backoff, timeout, overlap and misfire."""
    attempts = job["max_attempts"]
    if attempts > 1:
        backoff = duration(job["retry_backoff_seconds"])
        tries = f"Up to {attempts} attempts, retried after {backoff}, doubling (at most an hour)"
    else:
        tries = "One attempt, no retry"
    parts = [tries, f"each stopped after {duration(job['timeout_seconds'])}"]
    if job.get("cron") or job.get("repeat") or job.get("interval_seconds"):
        parts.append(OVERLAP.get(job["overlap_policy"], job["overlap_policy"]))
        parts.append(MISFIRE.get(job["misfire_policy"], job["misfire_policy"]))
    return "; ".join(parts) + "."


# What the misfire policy did with one late occurrence (shared.claim_plan), by policy and
# whether the occurrence then ran: the run page's "why" (X3). A combination missing here
# was not the policy's doing (the policy was changed since, or the run was skipped for
# another reason), so only the lateness is told.
MISFIRE_DONE = {
    ("skip", False): (
        "misfire_policy skip recorded it as skipped instead of running it late, "
        "and the schedule went on from the claim"
    ),
    ("run_once", True): (
        "misfire_policy run_once ran it once, late, in place of every occurrence "
        "missed since, and the schedule went on from the claim"
    ),
    ("run_all", True): (
        "misfire_policy run_all ran it late, and runs each occurrence missed after it "
        "too, one after another"
    ),
    ("run_all", False): (
        "misfire_policy run_all replays only the most recent missed occurrences "
        "(CHRONOS_MAX_CATCHUP), and this one was older"
    ),
}


def misfire_in_words(policy: str, late: timedelta, grace: timedelta, *, ran: bool) -> str | None:
    """A late occurrence's misfire, ``late`` the time from scheduled_for to its claim:
    "3630 s late, past the 1 minute misfire grace: misfire_policy run_once ran it once,
    ...". None when it was claimed within the grace: no misfire (the claim's own test,
    ``now - scheduled_for > grace``)."""
    if late <= grace:
        return None
    lateness = (
        f"{int(late.total_seconds())} s late, past the "
        f"{duration(grace.total_seconds())} misfire grace"
    )
    done = MISFIRE_DONE.get((policy, ran))
    return f"{lateness}: {done}." if done else f"{lateness}."

"""How often a schedule can fire: the shortest real time between two of its occurrences.

Pure: no I/O, and ``now`` is passed in. Used by the per-user limit on the shortest interval
(CHRONOS_MIN_INTERVAL_SECONDS), so it must never say a schedule fires less often than it
does: where it cannot be exact it errs short.

A cron expression's period is read off its field sets, not found by sampling occurrences:

- within a matching day, the occurrences are the hour set times the minute set, and the
  gaps are those between neighbours (``0,1 9 * * *``: 1 minute; ``0 9,17 * * *``: 8 hours);
- across days, the last time of one matching day runs to the first time of the next,
  ``days * 24 h - (last - first)`` (``0 0,23 * * *``: 1 hour, from 23:00 to 00:00);
- the days between two matching days come from the day-of-month, month and day-of-week
  sets, read as croniter reads them (both restricted: either may match), over the 400
  years after which the Gregorian calendar repeats (``0 0 29 2 *``: 4 years). ``W`` and
  ``#``/``L`` weekday entries are taken as matching on consecutive days: short, not exact.

Daylight saving changes the real gaps on the day the clock jumps (see
:mod:`shared.recurrence` for the rules). When it springs forward, a fixed wall time after
the jump comes sooner after one before it, and fixed times inside the jump run at the
moment of it; a real-time expression (hour ``*``) is unchanged by a jump of whole hours,
but not by a 30-minute one (Australia/Lord_Howe). When it falls back, a real-time
expression runs the repeated stretch twice. So a cron is also laid out, with the rules the
scheduler applies, around each of its zone's transitions in the two years after ``now``
(the zone's current rules), taking the jump day and its nearest matching neighbours as
matching days.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from itertools import pairwise
from zoneinfo import ZoneInfo

from croniter import croniter  # type: ignore[import-untyped, unused-ignore]

from shared.recurrence import Schedule, normalise_cron

MINUTE = 60
DAY = 86400
# The Gregorian calendar repeats after 400 years, and they are a whole number of weeks.
CYCLE_YEARS = 400
CYCLE_DAYS = 146097
# How far ahead a zone's transitions are looked for: its current rules, both ways.
TRANSITION_HORIZON = timedelta(days=2 * 366)
REPEAT_DAYS = {"daily": 1, "weekly": 7, "monthly": 28}


def shortest_gap(schedule: Schedule, now: datetime) -> timedelta | None:
    """The shortest real time between two occurrences of ``schedule``; None if it runs once."""
    if schedule.interval_seconds is not None:
        return timedelta(seconds=schedule.interval_seconds)
    if schedule.repeat == "hourly":
        return timedelta(hours=1)
    zone = ZoneInfo(schedule.timezone)
    if schedule.repeat is not None:
        # A daily time inside a spring-forward jump runs at the jump, so the gap to it
        # shrinks by at most the jump.
        jumps = [jump for _, _, jump in transitions(zone, now) if jump > 0]
        return timedelta(seconds=REPEAT_DAYS[schedule.repeat] * DAY - max(jumps, default=0))
    if schedule.cron is None:
        return None
    return timedelta(seconds=cron_gap(schedule.cron, zone, now))


def cron_gap(expr: str, zone: ZoneInfo, now: datetime) -> int:
    """The shortest real gap, in seconds, of ``expr`` read in ``zone``."""
    fields = cron_fields(expr)
    gaps = [fields.wall_period]
    for local_time, _, jump in transitions(zone, now):
        gaps.append(_gap_across(fields, local_time, jump))
    return min(gaps)


def cron_period(expr: str) -> int:
    """The shortest wall-clock gap, in seconds, between two occurrences of ``expr``."""
    return cron_fields(expr).wall_period


class CronFields:
    """What the period depends on: the times of a matching day (seconds after midnight),
    the fewest days between two matching days, and whether the hour field is ``*``."""

    def __init__(self, day_times: tuple[int, ...], day_gap: int, real_time: bool) -> None:
        self.day_times = day_times
        self.day_gap = day_gap
        self.real_time = real_time
        within = [later - earlier for earlier, later in pairwise(day_times)]
        across = day_gap * DAY - (day_times[-1] - day_times[0])
        self.wall_period = min([*within, across])


@lru_cache(maxsize=512)
def cron_fields(expr: str) -> CronFields:
    normalised, real_time = normalise_cron(expr)
    expanded, nth_weekday = croniter.expand(normalised)
    minutes = _values(expanded[0], range(60))
    hours = _values(expanded[1], range(24))
    day_times = tuple(sorted(hour * 3600 + minute * MINUTE for hour in hours for minute in minutes))
    day_of_month = normalised.split()[2].lower()
    if nth_weekday or "w" in day_of_month:
        day_gap = 1
    else:
        day_gap = _day_gap(
            tuple(expanded[2]), tuple(_values(expanded[3], range(1, 13))), tuple(expanded[4])
        )
    return CronFields(day_times, day_gap, real_time)


def _values(field: list[int | str], every: range) -> list[int]:
    return list(every) if field[0] == "*" else sorted({int(value) for value in field})


def _day_gap(
    days_of_month: tuple[object, ...], months: tuple[int, ...], weekdays: tuple[object, ...]
) -> int:
    """The fewest days between two consecutive matching days, over a whole calendar cycle."""
    if days_of_month[0] == "*" and weekdays[0] == "*":
        return 1
    shortest: int | None = None
    first: int | None = None
    previous: int | None = None
    for day in _matching_days(days_of_month, months, weekdays):
        if first is None:
            first = day
        if previous is not None:
            shortest = day - previous if shortest is None else min(shortest, day - previous)
            if shortest == 1:
                return 1
        previous = day
    # Validation refuses an expression that never fires.
    assert first is not None
    assert previous is not None
    wrap = first + CYCLE_DAYS - previous
    return wrap if shortest is None else min(shortest, wrap)


def _matching_days(
    days_of_month: tuple[object, ...], months: tuple[int, ...], weekdays: tuple[object, ...]
) -> Iterator[int]:
    """Day ordinals of every matching day in one calendar cycle, in order."""
    for year in range(2000, 2000 + CYCLE_YEARS):
        for month in months:
            start = date(year, month, 1)
            length = (date(year + month // 12, month % 12 + 1, 1) - start).days
            base = start.toordinal() - 1
            for day in _days_in_month(days_of_month, weekdays, length, start.isoweekday() % 7):
                yield base + day


@lru_cache(maxsize=1024)
def _days_in_month(
    days_of_month: tuple[object, ...], weekdays: tuple[object, ...], length: int, first_weekday: int
) -> tuple[int, ...]:
    """The matching days of a month of ``length`` days whose 1st is ``first_weekday``
    (0 is Sunday). As croniter: with both fields restricted, either may match."""
    by_date = {
        length if value == "l" else int(str(value)) for value in days_of_month if value != "*"
    }
    by_date = {day for day in by_date if day <= length}
    wanted = {int(str(value)) % 7 for value in weekdays if value != "*"}
    by_weekday = {day for day in range(1, length + 1) if (first_weekday + day - 1) % 7 in wanted}
    if days_of_month[0] == "*":
        return tuple(sorted(by_weekday))
    if weekdays[0] == "*":
        return tuple(sorted(by_date))
    return tuple(sorted(by_date | by_weekday))


def _gap_across(fields: CronFields, local_time: int, jump: int) -> int:
    """The shortest real gap near a transition at ``local_time`` seconds after the local
    midnight of its day (read in the offset before it), moving the clock by ``jump``
    seconds, with the jump day and its nearest matching neighbours taken to match."""
    walls = [
        offset * fields.day_gap * DAY + time for offset in (-1, 0, 1) for time in fields.day_times
    ]
    reals: set[int] = set()
    for wall in walls:
        reals.update(_real_positions(wall, local_time, jump, fields.real_time))
    ordered = sorted(reals)
    gaps = [later - earlier for earlier, later in pairwise(ordered)]
    return min(gaps, default=fields.wall_period)


def _real_positions(wall: int, at: int, jump: int, real_time: bool) -> list[int]:
    """When a wall time runs, in seconds of real time on the old offset's scale."""
    if jump > 0:  # spring forward: [at, at + jump) never shows on the clock
        if wall < at:
            return [wall]
        if wall >= at + jump:
            return [wall - jump]
        return [] if real_time else [at]  # fixed times run at the moment of the jump
    back = -jump  # fall back: [at - back, at) shows twice
    if wall >= at:
        return [wall + back]
    if real_time and wall >= at - back:
        return [wall, wall + back]
    return [wall]  # fixed times run on the first pass only


def transitions(zone: ZoneInfo, now: datetime) -> tuple[tuple[int, datetime, int], ...]:
    """Each change of ``zone``'s UTC offset in the horizon after ``now``: the local time
    of day it happens at (seconds, in the old offset), the instant, and the change."""
    return _transitions(zone, now.astimezone(UTC).date())


@lru_cache(maxsize=256)
def _transitions(zone: ZoneInfo, start: date) -> tuple[tuple[int, datetime, int], ...]:
    found = []
    moment = datetime(start.year, start.month, start.day, tzinfo=UTC)
    end = moment + TRANSITION_HORIZON
    step = timedelta(days=1)
    while moment < end:
        later = moment + step
        before, after = _offset(zone, moment), _offset(zone, later)
        if before != after:
            instant = _bisect(zone, moment, later, before)
            local = instant + timedelta(seconds=before)
            seconds = local.hour * 3600 + local.minute * MINUTE + local.second
            found.append((seconds, instant, after - before))
        moment = later
    return tuple(found)


def _offset(zone: ZoneInfo, moment: datetime) -> int:
    offset = moment.astimezone(zone).utcoffset()
    assert offset is not None
    return int(offset.total_seconds())


def _bisect(zone: ZoneInfo, low: datetime, high: datetime, before: int) -> datetime:
    """The first whole second in (low, high] with the new offset."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    low_s, high_s = (low - epoch) // timedelta(seconds=1), (high - epoch) // timedelta(seconds=1)
    while high_s - low_s > 1:
        middle = (low_s + high_s) // 2
        if _offset(zone, epoch + timedelta(seconds=middle)) == before:
            low_s = middle
        else:
            high_s = middle
    return epoch + timedelta(seconds=high_s)

"""When a Chronos schedule fires: occurrence arithmetic, free of I/O and of the clock.

Every answer is an aware UTC datetime, exact to the microsecond. Callers pass "now" in.

Two kinds of time, and the DST rules that follow from each
----------------------------------------------------------
*Real time* is what `interval_seconds` and `hourly` measure: occurrence k is run_at + k * interval
on the absolute time line, so DST changes nothing and successive runs are always exactly one
interval apart. A cron expression whose hour field is `*` (`*/15 * * * *`, `30 * * * *`) is also
read in real time: it fires at every real instant at which the local clock shows a matching time.
An hourly rhythm therefore neither skips nor doubles an hour of real time: when the clock falls
back, `30 * * * *` fires at 02:30 CEST and again at 02:30 CET (an hour apart); when it springs
forward it fires at 01:30 CET and then 03:30 CEST (an hour apart). This is what Vixie cron does.

*Wall-clock time* is what people mean by "every day at 09:00": `daily`, `weekly` and `monthly`
(anchored on run_at's local wall time in `timezone`) and cron expressions with fixed hours. Such a
time may not exist on some day, or may happen twice, and a job must still run exactly once:

* in a spring-forward gap it runs at the moment of the jump (02:30 on the day Berlin jumps from
  02:00 to 03:00 runs at 03:00 CEST): as late as we must, never skipped, never early;
* in a fall-back overlap it runs on the first pass only (fold=0): a daily report at 01:30 must
  not be produced twice.

Monthly occurrence k is computed from the anchor directly, never from the previous occurrence, so
a job anchored on the 31st clamps to short months' last day and comes back to the 31st.

Occurrences are located arithmetically (estimate the step count, then adjust by a step or two), so
asking for the next occurrence years after run_at costs the same as asking for tomorrow's.
"""

import calendar
from dataclasses import dataclass
from datetime import MAXYEAR, UTC, datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, CroniterError, croniter  # type: ignore[import-untyped, unused-ignore]

REPEATS = ("hourly", "daily", "weekly", "monthly")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TICK = timedelta(microseconds=1)
_FIRST_INSTANT = datetime.min.replace(tzinfo=UTC)
_SECOND = timedelta(seconds=1)
_CRON_FIELDS = (
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day-of-month", 1, 31),
    ("month", 1, 12),
    ("day-of-week", 0, 7),
)


@dataclass(frozen=True, slots=True)
class Schedule:
    run_at: datetime
    repeat: str | None = None
    interval_seconds: int | None = None
    cron: str | None = None
    timezone: str = "UTC"
    end_at: datetime | None = None
    max_runs: int | None = None

    @property
    def recurring(self) -> bool:
        return self.repeat is not None or self.interval_seconds is not None or self.cron is not None


class ScheduleError(ValueError):
    """A schedule, cron expression or time zone that cannot be used; str(e) is for humans."""


def validate_timezone(name: str) -> None:
    """Raise ScheduleError unless `name` is an IANA zone that can be loaded."""
    _zone(name)


def validate_cron(expr: str) -> None:
    """Raise ScheduleError (naming the field and the value) unless `expr` is a 5-field cron."""
    _parse_cron(expr)


def normalise_cron(expr: str) -> tuple[str, bool]:
    """A valid `expr` with single spaces, and whether it follows real time (hour is `*`);
    ScheduleError if it is not valid."""
    return _parse_cron(expr)


def first_occurrence(schedule: Schedule) -> datetime | None:
    """run_at itself, or for cron the first match at or after run_at; None past end_at."""
    if schedule.max_runs is not None and schedule.max_runs <= 0:
        return None
    run_at = _aware_utc(schedule.run_at, "run_at")
    if run_at == _FIRST_INSTANT:  # nothing comes before it to search from
        if _rule(schedule) != "cron":
            return _within_end(schedule, run_at)
        run_at += _TICK
    return _within_end(schedule, _occurrence_after(schedule, run_at - _TICK))


def next_occurrence(schedule: Schedule, after: datetime) -> datetime | None:
    """The first occurrence strictly after `after`; None for one-off schedules or past end_at.
    max_runs is the caller's business here: it is the one counting runs."""
    if not schedule.recurring:
        return None
    return _within_end(schedule, _occurrence_after(schedule, _aware_utc(after, "after")))


def upcoming(
    schedule: Schedule, after: datetime, count: int, already_run: int = 0
) -> list[datetime]:
    """Up to `count` occurrences strictly after `after`, within end_at and what is left of
    max_runs once `already_run` runs are used up. A one-off schedule has exactly one run."""
    max_runs = schedule.max_runs
    if not schedule.recurring:
        max_runs = 1 if max_runs is None else min(max_runs, 1)
    budget = count if max_runs is None else min(count, max_runs - already_run)
    found: list[datetime] = []
    cursor: datetime | None = _aware_utc(after, "after")
    while len(found) < budget and cursor is not None:
        cursor = _within_end(schedule, _occurrence_after(schedule, cursor))
        if cursor is not None:
            found.append(cursor)
    return found


def _within_end(schedule: Schedule, occurrence: datetime | None) -> datetime | None:
    if occurrence is None or schedule.end_at is None:
        return occurrence
    return occurrence if occurrence <= _aware_utc(schedule.end_at, "end_at") else None


def _occurrence_after(schedule: Schedule, after: datetime) -> datetime | None:
    """The first occurrence strictly after `after` (UTC), ignoring end_at and max_runs."""
    run_at = _aware_utc(schedule.run_at, "run_at")
    rule = _rule(schedule)
    try:
        if rule == "cron":
            assert schedule.cron is not None
            # The first cron time at or after run_at starts the series.
            return _cron_after(schedule.cron, _zone(schedule.timezone), max(after, run_at - _TICK))
        if after < run_at:
            return run_at
        if rule == "once":
            return None
        if rule in ("daily", "weekly", "monthly"):
            return _calendar_after(rule, run_at, _zone(schedule.timezone), after)
        # "hourly" is real time too: an interval of 3600 s, untouched by DST.
        step = timedelta(seconds=schedule.interval_seconds or 3600)
        return run_at + ((after - run_at) // step + 1) * step
    except OverflowError:  # the series runs past the year 9999
        return None


def _rule(schedule: Schedule) -> str:
    chosen = (schedule.repeat, schedule.interval_seconds, schedule.cron)
    if sum(rule is not None for rule in chosen) > 1:
        raise ScheduleError("set only one of repeat, interval_seconds and cron")
    if schedule.repeat is not None and schedule.repeat not in REPEATS:
        raise ScheduleError(f"unknown repeat {schedule.repeat!r}; expected one of {REPEATS}")
    if schedule.interval_seconds is not None:
        if schedule.interval_seconds < 1:
            raise ScheduleError(f"interval_seconds must be >= 1, got {schedule.interval_seconds}")
        return "interval"
    if schedule.cron is not None:
        return "cron"
    return schedule.repeat or "once"


def _aware_utc(moment: datetime, name: str) -> datetime:
    if moment.utcoffset() is None:
        raise ScheduleError(f"{name} must be timezone-aware, got {moment.isoformat()}")
    return moment.astimezone(UTC)


def _zone(name: str) -> ZoneInfo:
    # A zone name is a relative path into the tz database; refuse anything that could climb out.
    if not name or ".." in name or name.startswith(("/", "\\")) or "\x00" in name:
        raise ScheduleError(f"unknown time zone {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ScheduleError(f"unknown time zone {name!r}") from None


# --- wall-clock arithmetic ------------------------------------------------------------------


def _offset(moment: datetime) -> timedelta:
    offset = moment.utcoffset()
    assert offset is not None
    return offset


def _real_times(zone: ZoneInfo, wall: datetime) -> list[datetime]:
    """The real instants at which the clock in `zone` shows the naive `wall` time: none in a
    spring-forward gap, two in a fall-back overlap, otherwise one."""
    times: list[datetime] = []
    for fold in (0, 1):
        instant = wall.replace(tzinfo=zone, fold=fold).astimezone(UTC)
        if instant.astimezone(zone).replace(tzinfo=None) == wall and instant not in times:
            times.append(instant)
    return sorted(times)


def _jump_moment(zone: ZoneInfo, wall: datetime) -> datetime:
    """The instant the clock jumps over the non-existent `wall` time (the end of the gap)."""
    # Read with either offset, the wall time lands on each side of the jump; the tz database puts
    # transitions on whole seconds, so a bisection on seconds finds the jump exactly.
    before, after = sorted(wall.replace(tzinfo=zone, fold=f).astimezone(UTC) for f in (0, 1))
    new_offset = _offset(after.astimezone(zone))
    low, high = (before - _EPOCH) // _SECOND, -((_EPOCH - after) // _SECOND)
    while high - low > 1:
        middle = (low + high) // 2
        if _offset((_EPOCH + middle * _SECOND).astimezone(zone)) == new_offset:
            high = middle
        else:
            low = middle
    return _EPOCH + high * _SECOND


def _wall_clock_occurrence(zone: ZoneInfo, wall: datetime) -> datetime:
    """When a job set for local `wall` time runs: on the first pass of the clock through that
    time, or at the moment of the jump if the clock skips it."""
    times = _real_times(zone, wall)
    return times[0] if times else _jump_moment(zone, wall)


def _calendar_after(repeat: str, run_at: datetime, zone: ZoneInfo, after: datetime) -> datetime:
    anchor = run_at.astimezone(zone).replace(tzinfo=None)

    def occurrence(k: int) -> datetime:
        if repeat == "monthly":
            months = anchor.month - 1 + k
            year, month = anchor.year + months // 12, months % 12 + 1
            if year > MAXYEAR:
                raise OverflowError("date value out of range")
            day = min(anchor.day, calendar.monthrange(year, month)[1])
            wall = anchor.replace(year=year, month=month, day=day)
        else:
            wall = anchor + timedelta(days=k * (7 if repeat == "weekly" else 1))
        return _wall_clock_occurrence(zone, wall)

    here = after.astimezone(zone)
    if repeat == "monthly":
        k = (here.year - anchor.year) * 12 + here.month - anchor.month
    else:
        k = (here.date() - anchor.date()).days // (7 if repeat == "weekly" else 1)
    # Counting whole local days (months) up to `after` never overshoots: an occurrence on an
    # earlier local date is an earlier instant, since repeated times resolve to their first pass
    # and skipped ones to the jump. Time of day and clamping leave it a step or so short.
    k = max(k, 1)
    while occurrence(k) <= after:
        k += 1
    return occurrence(k)


# --- cron -------------------------------------------------------------------------------------


@lru_cache(maxsize=512)
def _parse_cron(expr: str) -> tuple[str, bool]:
    """Validate `expr`; return it normalised, and whether it follows real time (hour is `*`)."""
    fields = expr.split()
    if expr.strip().startswith("@"):
        raise ScheduleError(f"macros such as {expr.strip()!r} are not supported; write 5 fields")
    if len(fields) != 5:
        raise ScheduleError(f"expected 5 fields, got {len(fields)}")
    for index, (text, (name, low, high)) in enumerate(zip(fields, _CRON_FIELDS, strict=True)):
        _check_cron_field(index, text, name, low, high)
    try:
        expanded, _ = croniter.expand(" ".join(fields), strict=True)
    except CroniterError:
        raise ScheduleError("day-of-month and month never match a real date") from None
    return " ".join(fields), expanded[1] == ["*"]


def _check_cron_field(index: int, text: str, name: str, low: int, high: int) -> None:
    # croniter's own messages quote the whole expression; name the field and the value instead.
    for item in text.split(","):
        base, slash, step = item.partition("/")
        if slash and not (step.isdigit() and int(step) > 0):
            raise ScheduleError(f"{name} field: step must be a positive number, got {step!r}")
        for value in base.split("-"):
            if value.isdigit() and not low <= int(value) <= high:
                raise ScheduleError(f"{name} field: {int(value)} is out of range {low}-{high}")
    if text.lower().startswith(("h", "r")):
        # Hashed (H) and random (R) values would make a schedule's occurrences unreproducible.
        raise ScheduleError(f"{name} field: hashed or random values ({text!r}) are not supported")
    alone = ["*"] * 5
    alone[index] = text
    try:
        croniter.expand(" ".join(alone))
    except CroniterError:
        raise ScheduleError(f"{name} field: {text!r} is not valid") from None


def _cron_after(expr: str, zone: ZoneInfo, after: datetime) -> datetime | None:
    normalised, follows_real_time = _parse_cron(expr)
    here = after.astimezone(zone)
    start = here.replace(tzinfo=None)
    if follows_real_time and here.fold == 0:
        # On the first pass through a repeated stretch of wall time, times already behind us will
        # come round again after the clock falls back: look from where it will be set back to.
        start -= _offset(here) - _offset(here.replace(fold=1))
    # croniter is only asked about naive wall times (pure calendar arithmetic); what those times
    # mean in real time is decided here, where the DST rules live.
    matches = croniter(normalised, start)
    best: datetime | None = None
    try:
        while True:
            wall = matches.get_next(datetime)
            if follows_real_time:
                times = _real_times(zone, wall)
            else:
                times = [_wall_clock_occurrence(zone, wall)]
            later = [t for t in times if t > after]
            if later and (best is None or later[0] < best):
                best = later[0]
            # Later wall times cannot map to earlier first instants, so the search is over.
            if times and times[0] > after:
                return best
    except CroniterBadDateError:  # croniter found no match within 50 years: none left
        return best
    except (ValueError, OverflowError):
        # croniter stepped past the year 9999 ("year 10000 is out of range"), or a wall time
        # there has no UTC instant Python can hold: the series ends here.
        return best


# --- which DST rule an occurrence followed ----------------------------------------------------


class DstRule(StrEnum):
    SPRING_FORWARD = "spring_forward"
    """A wall-clock time that does not exist that day: it runs at the moment of the jump."""
    REPEATED_FIRST_ONLY = "repeated_first_only"
    """A wall-clock time that happens twice that day: it runs on the first pass only."""
    REPEATED_EACH = "repeated_each"
    """A real-time cron's time that happens twice: it runs on each pass, an hour apart."""
    SKIPPED_BY_JUMP = "skipped_by_jump"
    """A real-time cron's times that the jump skipped have no run: this is the first after."""


# The widest step any zone's clock takes (Antarctica/Troll: 2 h), and a margin.
_WIDEST_SHIFT = timedelta(hours=3)


@dataclass(frozen=True, slots=True)
class DstEffect:
    """What a DST rule did to one occurrence: the rule, and the local wall time the
    schedule asked for (naive, in the schedule's zone)."""

    rule: DstRule
    wall: datetime


def dst_effect(schedule: Schedule, occurrence: datetime) -> DstEffect | None:
    """Which DST rule decided `occurrence` (one of `schedule`'s occurrences), or None where
    none did: the rules are the module docstring's, told apart by the same arithmetic that
    applies them. Real-time rhythms (`interval_seconds`, `hourly`) never need one, and a
    one-off schedule runs at its instant."""
    at = _aware_utc(occurrence, "occurrence")
    rule = _rule(schedule)
    if rule in ("once", "interval", "hourly"):
        return None
    zone = _zone(schedule.timezone)
    try:
        before, after = ((at + step).astimezone(zone) for step in (-_WIDEST_SHIFT, _WIDEST_SHIFT))
    except OverflowError:
        return None  # hours from the end of the calendar (year 9999): no clock change
    if _offset(before) == _offset(after):
        return None  # no clock change near it: no rule had anything to decide
    local = at.astimezone(zone).replace(tzinfo=None)
    if rule == "cron":
        assert schedule.cron is not None
        normalised, follows_real_time = _parse_cron(schedule.cron)
        walls = _cron_walls_before(normalised, local)
        if follows_real_time:
            return _real_time_effect(schedule, zone, at, local, walls)
    else:
        time_of_day = _aware_utc(schedule.run_at, "run_at").astimezone(zone).time()
        # The date of the jump's moment, or the day before for a gap that spans midnight.
        walls = [
            datetime.combine(local.date() - timedelta(days=back), time_of_day) for back in (1, 0)
        ]
    for wall in walls:
        if _wall_clock_occurrence(zone, wall) != at:
            continue
        passes = len(_real_times(zone, wall))
        if passes == 0:
            return DstEffect(DstRule.SPRING_FORWARD, wall)
        if passes == 2:
            return DstEffect(DstRule.REPEATED_FIRST_ONLY, wall)
    return None


def _cron_walls_before(expr: str, local: datetime) -> list[datetime]:
    """The cron's wall times from the widest shift before `local` up to `local` itself."""
    matches = croniter(expr, local - _WIDEST_SHIFT - _SECOND)
    walls: list[datetime] = []
    while (wall := matches.get_next(datetime)) <= local:
        walls.append(wall)
    return walls


def _real_time_effect(
    schedule: Schedule, zone: ZoneInfo, at: datetime, local: datetime, walls: list[datetime]
) -> DstEffect | None:
    if len(_real_times(zone, local)) == 2:
        return DstEffect(DstRule.REPEATED_EACH, local)
    for wall in walls:
        # A time the clock jumped over has no instant; if this occurrence is the first one
        # after that jump, the skipped times are why the gap before it looks longer.
        if not _real_times(zone, wall):
            jump = _jump_moment(zone, wall)
            if _occurrence_after(schedule, jump - _TICK) == at:
                return DstEffect(DstRule.SKIPPED_BY_JUMP, wall)
    return None

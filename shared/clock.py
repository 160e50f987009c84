"""Time, passed in rather than read deep inside, so tests can pin it.

In production every process reads :class:`DatabaseClock`: PostgreSQL's time, so that due
times, heartbeats, the lease and ``started_at``/``finished_at`` are judged by one clock
however far a host's own clock is off (see DESIGN.md, Clocks).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Protocol

log = logging.getLogger("chronos.clock")

# A test-only fault point: the host clock this process sees is off by this many seconds.
SKEW_VARIABLE = "CHRONOS_TEST_CLOCK_OFFSET_SECONDS"
# Above this offset between the host's clock and PostgreSQL's, the process warns.
WARN_OFFSET = timedelta(seconds=2)


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """The host's clock (plus a fixed offset, for tests that skew it)."""

    def __init__(self, offset_seconds: float = 0.0) -> None:
        self.offset = timedelta(seconds=offset_seconds)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


def host_clock(environ: Mapping[str, str], env: str) -> SystemClock:
    """The host's clock; skewed by :data:`SKEW_VARIABLE` outside production, for the
    clock-skew fault test."""
    raw = environ.get(SKEW_VARIABLE, "") if env != "production" else ""
    try:
        offset = float(raw) if raw else 0.0
    except ValueError:
        offset = 0.0
    return SystemClock(offset if math.isfinite(offset) else 0.0)


# Readings of PostgreSQL's clock per synchronisation; the one with the shortest round
# trip is kept.
READINGS = 3


class DatabaseClock:
    """PostgreSQL's clock, read once every ``resync_seconds`` and carried forward in
    between with the host's monotonic clock.

    It guards against a host whose wall clock is off (or jumps): such a host would start
    runs early or late, or write heartbeats that the rescuer, on another host, takes for
    a dead worker's. Reading ``clock_timestamp()`` in every statement would cost a round
    trip per read; the monotonic clock does not drift by more than microseconds a
    minute, and is immune to the wall clock being set. The error is at most half the
    round trip of the read that synchronised it: the shortest of a few, so that opening
    the connection is not counted.

    A read that fails (PostgreSQL down) keeps the last synchronisation and is tried
    again a few seconds later. Before the first success the host's clock stands in: no
    statement that would use the time can succeed then anyway, and the API must still
    answer its 503s and metrics.
    """

    def __init__(
        self,
        read: Callable[[], datetime],
        host: Clock | None = None,
        *,
        resync_seconds: float = 60.0,
        retry_seconds: float = 5.0,
    ) -> None:
        self._read = read
        self._host: Clock = host if host is not None else SystemClock()
        self.resync_seconds = resync_seconds
        self.retry_seconds = retry_seconds
        self._lock = threading.Lock()
        self._base: datetime | None = None
        self._base_monotonic = 0.0
        self._next_sync = 0.0
        self.offset: timedelta | None = None
        self._last: datetime | None = None

    def now(self) -> datetime:
        if time.monotonic() >= self._next_sync:
            with self._lock:
                if time.monotonic() >= self._next_sync:
                    self._sync()
        if self._base is None:
            return self._host.now()  # PostgreSQL unreachable since start: see the docstring
        moment = self._base + timedelta(seconds=time.monotonic() - self._base_monotonic)
        with self._lock:
            # A new reading may put the time a little behind the last one (each reading is
            # only as good as half its round trip, and a loaded host makes that long).
            # Time never goes back within a process: a run must not finish before it
            # started. The clock stands still instead, until it has caught up.
            if self._last is not None and moment < self._last:
                return self._last
            self._last = moment
        return moment

    def _sync(self) -> None:
        try:
            database_time, before, after = self._best_reading()
        except Exception as error:
            self._next_sync = time.monotonic() + self.retry_seconds
            log.warning(
                "reading PostgreSQL's clock failed (%s); %s",
                error.__class__.__name__,
                "carrying the last reading on" if self._base else "using the host's meanwhile",
            )
            return
        self._base, self._base_monotonic = database_time, (before + after) / 2
        self._next_sync = after + self.resync_seconds
        offset = self._host.now() - self.now_at(after)
        first = self.offset is None
        self.offset = offset
        if abs(offset) > WARN_OFFSET:
            log.warning(
                "this host's clock is %+.1fs off PostgreSQL's; Chronos uses PostgreSQL's",
                offset.total_seconds(),
            )
        elif first:
            log.info("this host's clock is %+.3fs off PostgreSQL's", offset.total_seconds())

    def _best_reading(self) -> tuple[datetime, float, float]:
        """The reading with the shortest round trip of a few, as NTP does: its error is
        at most half that round trip. The first also opens the connection, which is no
        part of the query's round trip (on a loaded host, connecting alone took 0.4 to
        1.3 s and put a worker's clock that far off)."""
        best: tuple[datetime, float, float] | None = None
        for _ in range(READINGS):
            before = time.monotonic()
            try:
                database_time = self._read()
            except Exception:
                if best is None:
                    raise
                break  # one good reading is enough
            after = time.monotonic()
            if best is None or after - before < best[2] - best[1]:
                best = (database_time, before, after)
        assert best is not None
        return best

    def now_at(self, monotonic: float) -> datetime:
        assert self._base is not None
        return self._base + timedelta(seconds=monotonic - self._base_monotonic)


class FixedClock:
    """A clock that only moves when told to."""

    def __init__(self, start: datetime) -> None:
        self._now = start

    def now(self) -> datetime:
        return self._now

    def set(self, moment: datetime) -> None:
        self._now = moment

    def advance(self, seconds: float) -> datetime:
        self._now += timedelta(seconds=seconds)
        return self._now


def format_time(moment: datetime | None) -> str | None:
    """RFC 3339 in UTC with a Z and millisecond precision, as every response carries."""
    if moment is None:
        return None
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"

"""The per-minute rollups: a maintenance pass that writes each closed minute's counts and
lag histogram into ``run_stats_minute`` (shared.repository.rollups), which the dashboard's
charts and lag percentiles read instead of scanning ``runs``. The rollups outlive the runs
(90 days against CHRONOS_RUN_RETENTION_DAYS' 30), so a month's lag stays answerable.

A minute is closed ``GRACE`` after it ends: a run's ``finished_at`` is PostgreSQL's time
when its outcome is written, by whichever process writes it, so nothing lands in a minute
that long past. Each pass rolls the minutes after the last one rolled, oldest first, at
most ``most`` of them (the first pass after an upgrade starts at the oldest finished run
still kept, and catches up a few hours a minute). Several schedulers may run it at once:
each minute is written by one of them (see the repository module).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine

from scheduler.pruner import BatchPruner
from shared.clock import Clock
from shared.repository import rollups as rollup_repo
from shared.settings import Settings

log = logging.getLogger("chronos.scheduler.rollups")

GRACE = timedelta(seconds=5)
RETENTION = timedelta(days=90)
MOST_PER_PASS = 240


def minute_of(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


class Rollup:
    def __init__(self, engine: Engine, clock: Clock, *, most: int = MOST_PER_PASS) -> None:
        self.engine = engine
        self.clock = clock
        self.most = most

    def run_once(self) -> int:
        """Roll the closed minutes not rolled yet (up to ``most``); how many this pass
        wrote (a minute another scheduler wrote meanwhile does not count)."""
        now = self.clock.now()
        closed_before = minute_of(now - GRACE)
        with self.engine.connect() as conn:
            minute = self.first_to_roll(conn, now, closed_before)
        written = 0
        for _ in range(self.most):
            if minute >= closed_before:
                break
            with self.engine.begin() as conn:
                if rollup_repo.roll_minute(conn, minute, now) is not None:
                    written += 1
            minute += rollup_repo.MINUTE
        if written:
            log.debug("rolled up %d minutes, to %s", written, minute.isoformat())
        return written

    @staticmethod
    def first_to_roll(conn: Connection, now: datetime, closed_before: datetime) -> datetime:
        last = rollup_repo.last_rolled(conn)
        if last is not None:
            return last + rollup_repo.MINUTE
        oldest = rollup_repo.oldest_finished(conn)
        if oldest is None:
            return closed_before
        return max(minute_of(oldest), minute_of(now - RETENTION))


class RollupPruner(BatchPruner):
    """Rolled-up minutes past ninety days."""

    what = "rolled-up minutes"

    def retention_of(self, settings: Settings) -> timedelta:
        return RETENTION

    def prune(self, conn: Connection, cutoff: datetime, limit: int) -> int:
        return rollup_repo.prune(conn, cutoff, limit)

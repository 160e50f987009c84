"""What the live panels show (overview, queues, workers), read at most once per tick.

Every open dashboard polls its panels. Without a cache, ten on-call engineers with the
overview open at a 1 s refresh would run ten copies of the same queries every second,
against the database the scheduler needs. :class:`TickCache` keeps each answer for the
rest of its tick (:data:`TICK_SECONDS`, the shortest refresh the control offers), per
API process: however many browsers poll, each panel's queries run once per tick per
process (the test counts them with ten clients). The first request of a tick computes
the answer while the others for the same key wait for it, rather than all querying at
once (a stampede when a tick turns over).

Answers are scoped: an admin's are everyone's runs, shared by every admin; a user's are
their own runs, cached per user. What the cache saves is the data queries, not the
sign-in check, which each request still makes (a revoked session stops at once).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Connection

from shared.clock import Clock
from shared.repository import Row
from shared.repository import jobs as job_repo
from shared.repository import queues as queue_repo
from shared.repository import rollups as rollup_repo
from shared.repository import workers as worker_repo

T = TypeVar("T")

TICK_SECONDS = 1.0
# The overview's windows: the per-minute chart, and the lag percentiles beside it.
CHART_MINUTES = 60
LAG_MINUTES = 15
# Workers heard from in this long are on the overview; the workers page shows an hour.
WORKERS_SEEN = timedelta(minutes=5)


@dataclass
class _Entry:
    tick: int
    value: Any


class TickCache:
    def __init__(self, clock: Clock, tick_seconds: float = TICK_SECONDS) -> None:
        self.clock = clock
        self.tick_seconds = tick_seconds
        self._entries: dict[Hashable, _Entry] = {}
        self._computing: dict[Hashable, threading.Lock] = {}
        self._lock = threading.Lock()

    def tick(self) -> int:
        return math.floor(self.clock.now().timestamp() / self.tick_seconds)

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        """``key``'s answer for this tick: cached, or computed now (once, however many
        requests ask at the same moment)."""
        tick = self.tick()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry.tick == tick:
                value: T = entry.value
                return value
            computing = self._computing.setdefault(key, threading.Lock())
        with computing:
            with self._lock:
                entry = self._entries.get(key)
                if entry is not None and entry.tick == tick:
                    value = entry.value
                    return value
            value = compute()
            with self._lock:
                # Old ticks' answers go (with their locks, unless one is computing), so the
                # cache holds one tick's scopes at most.
                for old in [k for k, e in self._entries.items() if e.tick < tick]:
                    del self._entries[old]
                    lock = self._computing.get(old)
                    if lock is not None and lock is not computing and not lock.locked():
                        del self._computing[old]
                self._entries[key] = _Entry(tick, value)
            return value

    def forget(self, kind: str) -> None:
        """Drop this tick's answers of one kind (``("queues", scope)`` keys, say) after
        a change to what they show, so the page the change redirects to shows it."""
        with self._lock:
            for key in [k for k in self._entries if kind_of(k) == kind]:
                del self._entries[key]


def kind_of(key: Hashable) -> Hashable:
    """A cache key's kind: the key itself, or the first part of a (kind, ...) tuple."""
    return key[0] if isinstance(key, tuple) and key else key


@dataclass(frozen=True)
class Scope:
    """Whose runs a panel counts: everyone's (an admin), or one user's."""

    owner_id: Any  # uuid.UUID | None: None for everyone's

    @property
    def everyone(self) -> bool:
        return self.owner_id is None


class PanelReads:
    """The panels' reads, each through the cache; ``conn`` is the asking request's
    connection, used only by the request that computes the tick's answer."""

    def __init__(self, cache: TickCache, queues: tuple[str, ...]) -> None:
        self.cache = cache
        self.queues = queues

    def queue_rows(self, conn: Connection, scope: Scope, now: datetime) -> list[Row]:
        return self.cache.get(
            ("queues", scope),
            lambda: queue_repo.list_queues(conn, self.queues, now, scope.owner_id),
        )

    def minutes(self, conn: Connection, now: datetime) -> list[Row]:
        """The last hour's rolled-up minutes (everyone's: rollups have no owner)."""
        start = now.replace(second=0, microsecond=0) - timedelta(minutes=CHART_MINUTES)
        return self.cache.get(
            "minutes", lambda: rollup_repo.stats_between(conn, start, now + timedelta(minutes=1))
        )

    def workers(self, conn: Connection, now: datetime, seen: timedelta = WORKERS_SEEN) -> list[Row]:
        return self.cache.get(("workers", seen), lambda: worker_repo.list_workers(conn, now - seen))

    def overdue(self, conn: Connection, scope: Scope, now: datetime) -> int:
        return self.cache.get(
            ("overdue", scope),
            lambda: job_repo.count_overdue(conn, now - job_repo.OVERDUE_AFTER, scope.owner_id),
        )

"""The pruners: finished runs older than CHRONOS_RUN_RETENTION_DAYS are deleted (and
login-throttle counters older than a day, and publish receipts older than an hour), and
so are audit events older than CHRONOS_AUDIT_RETENTION_DAYS.

They guard against ever-growing ``runs`` and ``audit_events`` tables, which would slow
every history query and vacuum. Each deletes in batches, each its own short transaction,
so it never holds many locks or bloats the WAL in one go; the run pruner keeps each
job's newest run so that ``last_run`` stays meaningful. A pass goes on while batches
come back full, within a time budget, so it keeps up with dispatch (thousands of
finished runs a second) instead of removing a fixed number per pass. Safe to run in
parallel (SKIP LOCKED).
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine

from shared.clock import Clock
from shared.repository import audit as audit_repo
from shared.repository import dispatch as dispatch_repo
from shared.repository import throttle as throttle_repo
from shared.repository import workers as worker_repo
from shared.settings import Settings

log = logging.getLogger("chronos.scheduler.pruner")

# A receipt only matters while its runs are queued (the few still queued an hour later
# keep the time on their own row).
RECEIPT_RETENTION = timedelta(hours=1)
# The dashboard shows a silent worker for an hour; its row is kept a day, for an
# operator looking into what died overnight.
WORKER_RETENTION = timedelta(days=1)


class BatchPruner:
    """Deletes what :meth:`prune` finds past :meth:`retention`, batch after batch."""

    what = "rows"

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        clock: Clock,
        *,
        batch_size: int = 5000,
        budget_seconds: float = 10.0,
        max_batches: int | None = None,
    ) -> None:
        self.retention = self.retention_of(settings)
        self.engine = engine
        self.clock = clock
        self.batch_size = batch_size
        self.budget_seconds = budget_seconds
        self.max_batches = max_batches
        # Whether the last pass ended on a short batch (nothing left past retention).
        self.caught_up = True

    def retention_of(self, settings: Settings) -> timedelta:
        raise NotImplementedError

    def prune(self, conn: Connection, cutoff: datetime, limit: int) -> int:
        """Delete up to ``limit`` rows older than ``cutoff``; return how many went."""
        raise NotImplementedError

    def run_once(self) -> int:
        """Delete batch after batch until one comes back short (caught up) or the time
        budget is spent; the rest waits for the next pass."""
        cutoff = self.clock.now() - self.retention
        total = 0
        ends = time.monotonic() + self.budget_seconds
        batches = 0
        self.caught_up = True
        while time.monotonic() < ends and batches != self.max_batches:
            batches += 1
            with self.engine.begin() as conn:
                deleted = self.prune(conn, cutoff, self.batch_size)
            total += deleted
            if deleted < self.batch_size:
                break
        else:
            self.caught_up = False
        if total:
            log.info("pruned %d %s from before %s", total, self.what, cutoff.isoformat())
        return total


class Pruner(BatchPruner):
    """Finished runs past CHRONOS_RUN_RETENTION_DAYS, and expired login counters."""

    what = "finished runs"

    def retention_of(self, settings: Settings) -> timedelta:
        return timedelta(days=settings.run_retention_days)

    def prune(self, conn: Connection, cutoff: datetime, limit: int) -> int:
        return dispatch_repo.prune_finished(conn, cutoff, limit)

    def run_once(self) -> int:
        total = super().run_once()
        with self.engine.begin() as conn:
            throttle_repo.forget_expired(conn, self.clock.now() - timedelta(days=1))
        return total


class ReceiptPruner(BatchPruner):
    """Publish receipts past RECEIPT_RETENTION (a trickle makes many small batches:
    hundreds of receipts a second at a high rate)."""

    what = "publish receipts"

    def retention_of(self, settings: Settings) -> timedelta:
        return RECEIPT_RETENTION

    def prune(self, conn: Connection, cutoff: datetime, limit: int) -> int:
        return dispatch_repo.prune_receipts(conn, cutoff, limit)


class AuditPruner(BatchPruner):
    """Audit events past CHRONOS_AUDIT_RETENTION_DAYS."""

    what = "audit events"

    def retention_of(self, settings: Settings) -> timedelta:
        return timedelta(days=settings.audit_retention_days)

    def prune(self, conn: Connection, cutoff: datetime, limit: int) -> int:
        return audit_repo.prune(conn, cutoff, limit)


class WorkerPruner(BatchPruner):
    """Worker processes silent for a day: killed, or on a host that is gone. A process
    that stops cleanly removes its own row (worker.registry)."""

    what = "silent workers"

    def retention_of(self, settings: Settings) -> timedelta:
        return WORKER_RETENTION

    def prune(self, conn: Connection, cutoff: datetime, limit: int) -> int:
        return worker_repo.prune(conn, cutoff, limit)

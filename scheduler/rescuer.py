"""The rescuer: runs whose worker died become ``lost``, and are retried or failed.

It guards against a run stuck in ``running`` forever because its worker was killed,
lost its host or its network. A worker refreshes ``heartbeat_at`` every few seconds
while a run is in progress; a run whose heartbeat is older than the lease
(CHRONOS_LEASE_SECONDS) is taken to be lost. A lost run counts as a failed attempt.
Safe to run in parallel: each scheduler locks the runs it rescues with SKIP LOCKED.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import Engine

from shared.clock import Clock
from shared.outcomes import schedule_retries
from shared.repository import dispatch as dispatch_repo
from shared.settings import Settings

log = logging.getLogger("chronos.scheduler.rescuer")


class Rescuer:
    def __init__(self, settings: Settings, engine: Engine, clock: Clock, *, batch_size: int = 200):
        self.lease = timedelta(seconds=settings.lease_seconds)
        self.engine = engine
        self.clock = clock
        self.batch_size = batch_size

    def run_once(self) -> int:
        now = self.clock.now()
        with self.engine.begin() as conn:
            lost = dispatch_repo.claim_lost(conn, now - self.lease, now, self.batch_size)
            if lost:
                schedule_retries(conn, lost, now)
        for run in lost:
            log.warning(
                "run %s of job %s is lost (no heartbeat for %s); attempt %d of %d",
                run["id"],
                run["job_id"],
                self.lease,
                run["attempt"],
                run["max_attempts"],
                extra={"run_id": str(run["id"]), "job_id": str(run["job_id"])},
            )
        return len(lost)

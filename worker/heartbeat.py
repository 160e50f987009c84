"""The heartbeat: one thread per worker process keeps its running runs alive and stops
the ones that must stop.

It guards against two failures. A run whose worker died must not stay ``running``
forever: the scheduler's rescuer takes a run whose heartbeat is older than the lease to
be lost, so while a run is in progress this thread refreshes ``heartbeat_at`` for all of
the process's runs in one statement. And a run that the user cancelled (or an overlap
``replace`` superseded, or that passed its ``timeout_seconds``) must stop within
seconds: between heartbeats the thread checks the runs' cancellation flags and their
deadlines once a second, and interrupts the handler.

A handler that ignores the interrupt would otherwise stay ``running`` forever, its
heartbeat refreshed by this thread. :data:`ABANDON_AFTER` seconds after the interrupt,
the run is abandoned: it leaves the in-flight set (no more heartbeats), and is finished
as cancelled or timed out; whatever the handler's thread returns later is discarded.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import dramatiq
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from shared.clock import Clock
from shared.jobtypes import RunContext
from shared.repository import dispatch as dispatch_repo

log = logging.getLogger("chronos.worker.heartbeat")

CHECK_EVERY = 1.0
# How long after its interrupt a handler may go on before its run is abandoned.
ABANDON_AFTER = 30.0


class InFlight:
    """The runs this process is executing, shared by its worker threads."""

    def __init__(self) -> None:
        self._runs: dict[uuid.UUID, RunContext] = {}
        self._abandon: dict[uuid.UUID, Callable[[], None]] = {}
        self._lock = threading.Lock()

    def add(self, ctx: RunContext, abandon: Callable[[], None] | None = None) -> None:
        """``abandon`` finishes the run without its handler (see :data:`ABANDON_AFTER`)."""
        with self._lock:
            self._runs[ctx.run_id] = ctx
            if abandon is not None:
                self._abandon[ctx.run_id] = abandon

    def remove(self, run_id: uuid.UUID) -> None:
        with self._lock:
            self._runs.pop(run_id, None)
            self._abandon.pop(run_id, None)

    def abandon(self, run_id: uuid.UUID) -> bool:
        with self._lock:
            self._runs.pop(run_id, None)
            callback = self._abandon.pop(run_id, None)
        if callback is None:
            return False
        callback()
        return True

    def snapshot(self) -> dict[uuid.UUID, RunContext]:
        with self._lock:
            return dict(self._runs)


class Heartbeat(dramatiq.Middleware):
    """A Dramatiq middleware, so the thread lives exactly as long as the worker process."""

    def __init__(
        self,
        in_flight: InFlight,
        engine: Callable[[], Engine],
        clock: Clock,
        heartbeat_seconds: float,
        abandon_after: float = ABANDON_AFTER,
    ) -> None:
        self.in_flight = in_flight
        self.abandon_after = timedelta(seconds=abandon_after)
        self._interrupted: dict[uuid.UUID, datetime] = {}
        self._engine = engine
        self.clock = clock
        self.heartbeat_seconds = heartbeat_seconds
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None

    @property
    def engine(self) -> Engine:
        return self._engine()

    def after_worker_boot(self, broker: Any, worker: Any) -> None:
        self.stopping.clear()
        self.thread = threading.Thread(target=self.run, name="chronos-heartbeat", daemon=True)
        self.thread.start()

    def after_worker_shutdown(self, broker: Any, worker: Any) -> None:
        # Not before: during a graceful shutdown Dramatiq waits for the runs in progress,
        # and they must keep heart-beating meanwhile or the rescuer would call them lost.
        self.stopping.set()

    def run(self) -> None:
        last_beat = 0.0
        while not self.stopping.wait(CHECK_EVERY):
            try:
                beat = time.monotonic() - last_beat >= self.heartbeat_seconds
                self.run_once(beat=beat)
                if beat:
                    last_beat = time.monotonic()
            except SQLAlchemyError as error:
                log.warning("heartbeat failed: %s", error.__class__.__name__)
            except Exception:
                log.exception("heartbeat pass failed")

    def run_once(self, *, beat: bool) -> None:
        runs = self.in_flight.snapshot()
        for run_id in list(self._interrupted):
            if run_id not in runs:
                del self._interrupted[run_id]
        if not runs:
            return
        now = self.clock.now()
        for ctx in runs.values():
            if now >= ctx.deadline:
                ctx.interrupt("timeout")
        self._abandon_stuck(runs, now)
        runs = self.in_flight.snapshot()
        if not runs:
            return
        ids = list(runs)
        with self.engine.begin() as conn:
            if beat:
                alive = dispatch_repo.heartbeat(conn, ids, now)
            else:
                alive = dispatch_repo.cancellation_flags(conn, ids)
        still_running = {row["id"]: row for row in alive}
        for run_id, ctx in runs.items():
            row = still_running.get(run_id)
            if row is None:
                # Deleted with its user, or rescued as lost while we were cut off.
                if run_id in self.in_flight.snapshot():
                    ctx.interrupt("cancelled")
            elif row["cancel_requested_at"] is not None:
                ctx.interrupt("cancelled")

    def _abandon_stuck(self, runs: dict[uuid.UUID, RunContext], now: datetime) -> None:
        for run_id, ctx in runs.items():
            if ctx.reason is None:
                continue
            since = self._interrupted.setdefault(run_id, now)
            if now - since >= self.abandon_after and self.in_flight.abandon(run_id):
                del self._interrupted[run_id]
                log.error(
                    "run %s: its handler ignored the %s interrupt for %s; abandoned",
                    run_id,
                    ctx.reason,
                    self.abandon_after,
                    extra={"run_id": str(run_id)},
                )

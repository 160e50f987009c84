"""The worker registry: each worker process keeps a row in ``workers`` (its ``host:pid``,
the queues it consumes, its threads and the runs it holds), refreshed every heartbeat
interval whether it is busy or idle, so the dashboard shows idle workers too, and a
process that has gone quiet. A clean stop deletes the row; a killed process's row stays
with its last heartbeat until the scheduler prunes it a day later.

A thread of its own, not the run heartbeat's: that one only touches the database while
runs are in flight, and a registry write that failed must never delay a run's heartbeat.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import dramatiq
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from shared.clock import Clock
from shared.repository import workers as worker_repo
from shared.settings import Settings
from worker.execution import worker_id
from worker.heartbeat import InFlight

log = logging.getLogger("chronos.worker.registry")

# How long a clean stop waits for a beat in progress (one short statement) to end.
JOIN_SECONDS = 5.0


class Registry(dramatiq.Middleware):
    def __init__(
        self,
        settings: Settings,
        in_flight: InFlight,
        engine: Callable[[], Engine],
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings
        self.in_flight = in_flight
        self._engine = engine
        # None in a worker: the row takes PostgreSQL's now(), as a run's heartbeat is
        # judged by it, and beating never reads (or resynchronises) the process's clock,
        # whose one offset line the e2e tests read. Tests pin it.
        self.clock = clock
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None
        self.queues: list[str] = []
        self.threads = 0

    def after_worker_boot(self, broker: Any, worker: Any) -> None:
        consumed = worker.consumer_whitelist or broker.get_declared_queues()
        # The queues by their Chronos names (CHRONOS_QUEUES), without the prefix.
        self.queues = [q for q in self.settings.queues if self.settings.queue_name(q) in consumed]
        self.threads = worker.worker_threads
        self.stopping.clear()
        self.thread = threading.Thread(target=self.run, name="chronos-registry", daemon=True)
        self.thread.start()

    def after_worker_shutdown(self, broker: Any, worker: Any) -> None:
        self.stopping.set()
        # A beat in progress would write the row back after the delete.
        if self.thread is not None:
            self.thread.join(timeout=JOIN_SECONDS)
        try:
            with self._engine().begin() as conn:
                worker_repo.forget(conn, worker_id())
        except SQLAlchemyError as error:
            log.warning("could not leave the worker registry: %s", error.__class__.__name__)

    def run(self) -> None:
        booting = True
        while True:
            try:
                self.beat(booting=booting)
                booting = False
            except SQLAlchemyError as error:
                log.warning("worker registry heartbeat failed: %s", error.__class__.__name__)
            except Exception:
                log.exception("worker registry heartbeat failed")
            if self.stopping.wait(self.settings.heartbeat_seconds):
                return

    def beat(self, *, booting: bool = False) -> None:
        with self._engine().begin() as conn:
            worker_repo.register(
                conn,
                worker_id(),
                self.queues,
                self.threads,
                len(self.in_flight.snapshot()),
                self.clock.now() if self.clock is not None else None,
                booting=booting,
            )

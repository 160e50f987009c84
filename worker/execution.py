"""Executing one run: claim it, call its type's handler, record the outcome.

At-least-once delivery is assumed. A message for a run that is not ``queued`` (a
duplicate, or a run cancelled before a worker took it) finds nothing to start and is
dropped, so a run starts at most once.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from datetime import timedelta
from typing import Any

import dramatiq
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from shared import jobtypes
from shared.clock import Clock
from shared.jobtypes import JobFailed, RunContext
from shared.outcomes import record_outcomes
from shared.repository import Row
from shared.repository import dispatch as dispatch_repo
from shared.repository.dispatch import Outcome
from shared.settings import Settings
from shared.states import ErrorKind, RunState
from worker.batcher import Batcher
from worker.heartbeat import InFlight

log = logging.getLogger("chronos.worker")

MAX_RESULT_BYTES = 256 * 1024
MAX_MESSAGE_CHARS = 4096
# Transactions a worker process writes at once: enough for PostgreSQL to group their
# commits, few enough to keep batches large.
DATABASE_THREADS = 3
# How long a worker keeps trying to reach the database to start or record a run.
DATABASE_PATIENCE = (0.5, 1, 2, 4, 8, 15, 30)


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def with_database_retries(action: Callable[[], Any], what: str) -> Any:
    """Keep trying through a short database outage (a restart, a failover)."""
    for delay in DATABASE_PATIENCE:
        try:
            return action()
        except SQLAlchemyError as error:
            log.warning("%s failed (%s); retrying in %ss", what, error.__class__.__name__, delay)
            time.sleep(delay)
    return action()


def capped_result(result: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if result is None:
        return None
    encoded = json.dumps(result, default=str)
    if len(encoded.encode()) > MAX_RESULT_BYTES:
        return {"truncated": True, "note": f"the result was over {MAX_RESULT_BYTES} bytes"}
    decoded: dict[str, Any] = json.loads(encoded)
    return decoded


def error_of(kind: str, message: str) -> dict[str, str]:
    return {"kind": kind, "message": message[:MAX_MESSAGE_CHARS]}


class Executor:
    """Starts and finishes go through one batcher (:mod:`worker.batcher`): every start
    and every finish waiting at the moment share one transaction and one commit, which
    is what a run costs.

    A worker thread waits for its start (it must know whether to run), but not for its
    finish: the outcome is queued and the thread takes the next message. The run stays
    in flight, heart-beating, until its outcome is committed. A process that dies in
    those few milliseconds leaves the run ``running``, and it becomes ``lost`` and is
    retried, as if it had died in the handler. A graceful stop waits for the queue
    (:meth:`drain`).
    """

    def __init__(
        self, settings: Settings, engine: Callable[[], Engine], clock: Clock, in_flight: InFlight
    ) -> None:
        self.settings = settings
        self._engine = engine
        self.clock = clock
        self.in_flight = in_flight
        self.database: Batcher[uuid.UUID | Outcome, Row | bool | None] = Batcher(
            "chronos-database", self._serve, threads=DATABASE_THREADS
        )

    @property
    def engine(self) -> Engine:
        return self._engine()

    def _serve(self, requests: Sequence[uuid.UUID | Outcome]) -> list[Row | bool | None]:
        starts = [request for request in requests if isinstance(request, uuid.UUID)]
        outcomes = [request for request in requests if isinstance(request, Outcome)]
        now = self.clock.now()
        with self.engine.begin() as conn:
            # Lock every job concerned at once, in id order (the lock order), before the
            # finishes and the starts each touch their own.
            dispatch_repo.lock_jobs_of_runs(conn, [*starts, *(o.run_id for o in outcomes)])
            finished = record_outcomes(conn, outcomes, now) if outcomes else []
            rows = dispatch_repo.start_runs(conn, starts, worker_id(), now)
        started = {row["id"]: row for row in rows}
        recorded = {row["id"] for row in finished}
        answers: list[Row | bool | None] = []
        for request in requests:
            if isinstance(request, Outcome):
                answers.append(request.run_id in recorded)
            else:
                # Two deliveries of one run in the same batch: only the first may run it.
                answers.append(started.pop(request, None))
        return answers

    def start(self, run_id: uuid.UUID) -> Row | None:
        run = with_database_retries(lambda: self.database.submit(run_id), f"starting run {run_id}")
        assert run is None or not isinstance(run, bool)
        return run

    def drain(self, timeout: float = 60.0) -> bool:
        """Wait until every queued outcome is committed (a graceful stop; tests)."""
        return self.database.drain(timeout)

    def execute(self, raw_run_id: str) -> None:
        try:
            run_id = uuid.UUID(raw_run_id)
        except (ValueError, TypeError):
            log.error("dropping a message with a malformed run id %r", raw_run_id)
            return
        run = self.start(run_id)
        if run is None:
            log.info("run %s is not queued (a duplicate, or cancelled); dropped", run_id)
            return
        started = self.clock.now()
        ctx = RunContext(
            run_id=run_id,
            job_id=run["job_id"],
            attempt=run["attempt"],
            deadline=started + timedelta(seconds=run["timeout_seconds"]),
            logger=logging.getLogger(f"chronos.job.{run['type']}"),
            settings=self.settings,
        )
        self.in_flight.add(ctx)
        try:
            state, result, error = self.call_handler(run, ctx)
            self.finish(Outcome(run_id, state, result, error))
        except BaseException:
            self.in_flight.remove(run_id)
            raise

    def call_handler(
        self, run: Row, ctx: RunContext
    ) -> tuple[RunState, dict[str, Any] | None, dict[str, str] | None]:
        job_type = jobtypes.REGISTRY.get(run["type"])
        if job_type is None or job_type.handler is None:
            message = f"no handler for job type {run['type']!r} on this worker"
            return RunState.FAILED, None, error_of(ErrorKind.EXCEPTION, message)
        result: Mapping[str, Any] | None = None
        failure: dict[str, str] | None = None
        try:
            result = job_type.handler(dict(run["payload"]), ctx)
        except JobFailed as failed:
            result, failure = failed.result, error_of(failed.kind, failed.message)
        except Exception as exc:  # a handler's bug or its target's failure: the run fails
            if ctx.reason is None:
                ctx.logger.warning("run %s failed: %r", ctx.run_id, exc)
            failure = error_of(ErrorKind.EXCEPTION, f"{exc.__class__.__name__}: {exc}")
        if ctx.reason == "cancelled":
            return (
                RunState.CANCELLED,
                capped_result(result),
                error_of(ErrorKind.CANCELLED, "the run was cancelled while running"),
            )
        if ctx.reason == "timeout":
            return (
                RunState.FAILED,
                capped_result(result),
                error_of(
                    ErrorKind.TIMEOUT,
                    f"the run took longer than timeout_seconds ({run['timeout_seconds']})",
                ),
            )
        if failure is not None:
            return RunState.FAILED, capped_result(result), failure
        return RunState.SUCCEEDED, capped_result(result), None

    def finish(self, outcome: Outcome, attempt: int = 0) -> None:
        """Queue the outcome; the run leaves the in-flight set once it is committed."""
        future = self.database.submit_async(outcome)
        future.add_done_callback(lambda done: self._recorded(done, outcome, attempt))

    def _recorded(self, done: Future[Row | bool | None], outcome: Outcome, attempt: int) -> None:
        error = done.exception()
        if error is None:
            self.in_flight.remove(outcome.run_id)
            if not done.result():
                log.warning(
                    "run %s was no longer running; its outcome %s is dropped",
                    outcome.run_id,
                    outcome.state,
                )
            return
        if attempt >= len(DATABASE_PATIENCE):
            # The rescuer will find the run without heartbeats and call it lost.
            log.error("giving up recording run %s: %s", outcome.run_id, error)
            self.in_flight.remove(outcome.run_id)
            return
        delay = DATABASE_PATIENCE[attempt]
        log.warning("recording run %s failed (%s); retrying in %ss", outcome.run_id, error, delay)
        retry = threading.Timer(delay, self.finish, args=(outcome, attempt + 1))
        retry.daemon = True
        retry.start()


class DrainOutcomes(dramatiq.Middleware):
    """On a graceful stop, commit the outcomes still queued before the process exits."""

    def __init__(self, executor: Executor, timeout: float = 60.0) -> None:
        self.executor = executor
        self.timeout = timeout

    def after_worker_shutdown(self, broker: Any, worker: Any) -> None:
        if not self.executor.drain(self.timeout):
            log.error("outcomes still unrecorded after %ss; their runs will be lost", self.timeout)

"""Executing one run: claim it, call its type's handler, record the outcome.

A message carries one run, or several (``execute_runs``, see scheduler.packing), which
run one after another in the thread that took the message, each started just before its
handler. At-least-once delivery is assumed. A message for a run that is not ``queued`` (a
duplicate, or a run cancelled before a worker took it) finds nothing to start and is
dropped, so a run starts at most once.

A worker thread waits for its run's start to commit (it must not run what it did not
claim), but not for the outcome: it hands the outcome to the completer and takes its
next message, as River's batch completer does. This adds no new failure: a process that
dies with an outcome not yet written leaves the run ``running``, exactly as dying a
moment earlier, inside the handler, would, and the rescuer marks it ``lost``. The
outcomes handed over are written before a graceful stop ends (:meth:`Executor.flush`).
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
from datetime import datetime, timedelta
from functools import cache
from typing import Any

import dramatiq
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from shared import jobtypes
from shared.clock import Clock
from shared.db import HeldConnection
from shared.jobtypes import JobFailed, RunContext
from shared.logs import log_context
from shared.outcomes import record_outcomes
from shared.repository import Row, storable
from shared.repository import dispatch as dispatch_repo
from shared.repository.dispatch import Outcome
from shared.settings import Settings
from shared.states import ErrorKind, RunState
from worker import handover
from worker.allowance import OwnerAllowance
from worker.batcher import Batcher
from worker.heartbeat import InFlight
from worker.isolation import HandlerCrashed, HandlerRaised, call_isolated
from worker.metrics import RunMetrics
from worker.waiting import Waiting

log = logging.getLogger("chronos.worker")

MAX_RESULT_BYTES = 256 * 1024
MAX_MESSAGE_CHARS = 4096
# How long a worker keeps trying to reach the database to start or record a run.
DATABASE_PATIENCE = (0.5, 1, 2, 4, 8, 15, 30)
# Outcomes a process may hold unwritten before its threads wait for the database.
OUTCOMES_IN_HAND = 1000
# The longest a message dispatched ahead is held (CHRONOS_DISPATCH_AHEAD_SECONDS' most).
MAX_NOT_BEFORE_WAIT = 1.0


@cache
def _worker_id(pid: int) -> str:
    return f"{socket.gethostname()}:{pid}"


def worker_id() -> str:
    """``host:pid``, recorded on each run it starts. Asked once per process (keyed by
    pid, so a forked child does not inherit its parent's)."""
    return _worker_id(os.getpid())


def with_database_retries(action: Callable[[], Any], what: str) -> Any:
    """Keep trying through a short database outage (a restart, a failover)."""
    for delay in DATABASE_PATIENCE:
        try:
            return action()
        except SQLAlchemyError as error:
            log.warning("%s failed (%s); retrying in %ss", what, error.__class__.__name__, delay)
            time.sleep(delay)
    return action()


def parse_run_id(raw: object) -> uuid.UUID | None:
    """A run id from a message (or one already parsed), or None for anything else."""
    if isinstance(raw, uuid.UUID):
        return raw
    try:
        return uuid.UUID(raw) if isinstance(raw, str) else None
    except ValueError:
        return None


def capped_result(result: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if result is None:
        return None
    encoded = json.dumps(result, default=str)
    if len(encoded.encode()) > MAX_RESULT_BYTES:
        return {"truncated": True, "note": f"the result was over {MAX_RESULT_BYTES} bytes"}
    decoded: dict[str, Any] = storable(json.loads(encoded))
    return decoded


def error_of(kind: str, message: str) -> dict[str, str]:
    return {"kind": kind, "message": storable(message[:MAX_MESSAGE_CHARS])}


class Executor:
    """Runs are started and finished through batchers (:mod:`worker.batcher`): the
    process's threads share one statement and one commit per batch."""

    def __init__(
        self,
        settings: Settings,
        engine: Callable[[], Engine],
        clock: Clock,
        in_flight: InFlight,
        metrics: RunMetrics | None = None,
        *,
        in_thread_types: frozenset[str] | None = None,
        waiting: Waiting | None = None,
    ) -> None:
        self.settings = settings
        # Sends on the runs of a message held up behind a slow one (None: never).
        self.waiting = waiting
        # Types whose handler runs in the worker thread itself (the built-in ones); any
        # other runs in a child process (worker.isolation). None: every type in-thread.
        self.in_thread_types = in_thread_types
        self._engine = engine
        self.clock = clock
        self.in_flight = in_flight
        self.metrics = metrics if metrics is not None else RunMetrics()
        # Runs whose outcome was handed over: by the handler's thread, or by the
        # heartbeat abandoning a stuck handler; only the first of the two counts.
        self._settled: set[uuid.UUID] = set()
        self._settled_lock = threading.Lock()
        # Each batcher's one thread keeps a connection while it is busy, so a batch pays
        # no pool checkout; an idle one gives it back.
        self._start_connection = HeldConnection(engine, isolation_level="AUTOCOMMIT")
        self._finish_connection = HeldConnection(engine)
        self.starter: Batcher[uuid.UUID, Row | None] = Batcher(
            "chronos-starter", self._start, on_idle=self._start_connection.close
        )
        self.completer: Batcher[Outcome, bool] = Batcher(
            "chronos-completer",
            self._finish_patiently,
            max_pending=OUTCOMES_IN_HAND,
            on_idle=self._finish_connection.close,
        )
        # Set when the worker begins to stop: a thread hands its limited queue's slot
        # back to the schedulers instead of starting another run in it.
        self.stopping = threading.Event()

    @property
    def engine(self) -> Engine:
        return self._engine()

    def _start(self, run_ids: Sequence[uuid.UUID]) -> list[Row | None]:
        # One statement, atomic on its own: in autocommit it is one round trip instead of
        # three (BEGIN, the statement, COMMIT).
        now = self.clock.now()
        with self._start_connection() as conn:
            rows = dispatch_repo.start_runs(conn, run_ids, worker_id(), now)
        self.metrics.started(rows, now)
        started = {row["id"]: row for row in rows}
        # Two deliveries of one run in the same batch: only the first may run it.
        return [started.pop(run_id, None) for run_id in run_ids]

    def _finish(self, outcomes: Sequence[Outcome]) -> list[bool]:
        now = self.clock.now()
        with self._finish_connection() as conn, conn.begin():
            finished = record_outcomes(conn, outcomes, now)
        self.metrics.finished(finished, now)
        recorded = {row["id"] for row in finished}
        return [outcome.run_id in recorded for outcome in outcomes]

    def _finish_patiently(self, outcomes: Sequence[Outcome]) -> list[bool]:
        recorded: list[bool] = with_database_retries(
            lambda: self._finish(outcomes), f"recording {len(outcomes)} outcomes"
        )
        return recorded

    def flush(self, timeout: float = 60.0) -> bool:
        """Wait until every outcome handed to the completer is written (or given up on)."""
        return self.completer.drain(timeout)

    def start(self, run_id: uuid.UUID) -> Row | None:
        run: Row | None = with_database_retries(
            lambda: self.starter.submit(run_id), f"starting run {run_id}"
        )
        return run

    def wait_until(self, not_before: datetime | None) -> None:
        """Hold a message dispatched ahead of its due time until that instant (by
        PostgreSQL's clock, as the scheduler judged it): its runs start then, not before."""
        if not_before is None:
            return
        delay = (not_before - self.clock.now()).total_seconds()
        if delay > MAX_NOT_BEFORE_WAIT:
            log.warning(
                "a message asks to wait %.1fs, more than any scheduler dispatches ahead; "
                "waiting %.1fs",
                delay,
                MAX_NOT_BEFORE_WAIT,
            )
        if delay > 0:
            time.sleep(min(delay, MAX_NOT_BEFORE_WAIT))

    def execute_all(
        self, raw_run_ids: object, queue_name: str, not_before: datetime | None = None
    ) -> None:
        """A message of several runs, from the RabbitMQ queue ``queue_name``: each is
        started only when its handler is about to begin, one after the other, so those
        waiting behind stay ``queued`` (neither timed nor lost if this process dies: the
        message comes back). Runs held up by a slow one, or by this worker's stop, are
        sent on in a message of their own (worker.waiting). Dramatiq acks the message
        when this returns: every run in it was started, sent on, or found not startable."""
        if not isinstance(raw_run_ids, list):
            log.error("dropping a message whose runs are not a list: %r", raw_run_ids)
            return
        self.wait_until(not_before)
        remaining: list[uuid.UUID] = []
        for raw_run_id in raw_run_ids:
            run_id = parse_run_id(raw_run_id)
            if run_id is None:
                log.error("dropping a malformed run id %r from a message", raw_run_id)
            else:
                remaining.append(run_id)
        while remaining:
            current = remaining.pop(0)
            if self.waiting is None:
                self.execute(current)
                continue
            held = self.waiting.hold(queue_name, remaining)
            try:
                self.execute(current)
            except BaseException:
                # This run could not be started (the database stayed down past every
                # retry): the message fails, and the runs behind it go on elsewhere rather
                # than with it into the dead-letter queue.
                if not self.waiting.drop(held) and remaining:
                    self.waiting.send_on(queue_name, remaining)
                raise
            sent_on = self.waiting.drop(held)
            stopping = bool(remaining) and self.stopping.is_set()
            if sent_on or (stopping and self.waiting.send_on(queue_name, remaining)):
                return

    def execute(self, raw_run_id: object, not_before: datetime | None = None) -> None:
        run_id = parse_run_id(raw_run_id)
        if run_id is None:
            log.error("dropping a message with a malformed run id %r", raw_run_id)
            return
        self.wait_until(not_before)
        with log_context(run_id=str(run_id)):
            run = self.start(run_id)
            if run is None:
                log.info("run %s is not queued (a duplicate, or cancelled); dropped", run_id)
                return
        # A run of a limited queue may hand this thread the next one (worker.handover).
        holding_until = time.monotonic() + handover.HOLD_SLOT_SECONDS
        next_run: Row | None = run
        while next_run is not None:
            run = next_run
            keep_slot = (
                bool(run.get("queue_limited"))
                and not self.stopping.is_set()
                and time.monotonic() < holding_until
            )
            with log_context(run_id=str(run["id"]), job_id=str(run["job_id"])):
                next_run = self.execute_started(run["id"], run, keep_slot=keep_slot)

    def execute_started(
        self, run_id: uuid.UUID, run: Row, *, keep_slot: bool = False
    ) -> Row | None:
        """Call the started run's handler and record its outcome; every line logged
        meanwhile (the handler's own too) names the run and its job. With ``keep_slot``
        the outcome is written at once, with the next due run of its limited queue
        started in its place, and that run is returned; else the outcome is handed over
        (written with others in one commit) and None is returned."""
        started = self.clock.now()
        ctx = RunContext(
            run_id=run_id,
            job_id=run["job_id"],
            attempt=run["attempt"],
            deadline=started + timedelta(seconds=run["timeout_seconds"]),
            logger=logging.getLogger(f"chronos.job.{run['type']}"),
            settings=self.settings,
            allowance=OwnerAllowance(self._engine, self.clock, run["owner_id"])
            if run.get("owner_id") is not None
            else None,
        )
        self.in_flight.add(ctx, abandon=lambda: self._abandon(run, ctx))
        try:
            state, result, error = self.call_handler(run, ctx)
            if not self._settle(run_id):
                log.warning(
                    "run %s was abandoned; its handler's late %s is discarded", run_id, state
                )
                return None
            outcome = Outcome(run_id, state, result, error)
            if keep_slot:
                return self.finish_and_take_next(outcome, run["queue"])
            self.finish(run_id, state, result, error)
            return None
        finally:
            self.in_flight.remove(run_id)
            with self._settled_lock:
                self._settled.discard(run_id)

    def finish_and_take_next(self, outcome: Outcome, queue: str) -> Row | None:
        """Write ``outcome`` now, and start the next due run of ``queue`` in the slot it
        frees (see :mod:`worker.handover`). If the database fails, the outcome goes to the
        completer, which keeps trying, and the slot to the schedulers."""
        now = self.clock.now()
        try:
            with self.engine.begin() as conn:
                done = handover.finish_and_take_next(
                    conn, self.settings, outcome, queue, worker_id(), now
                )
        except Exception as failure:
            # The database, or a bug in planning the next run (a row no claim can plan):
            # either way this run's outcome must still be written, so the completer,
            # which only records outcomes, takes it.
            log.warning(
                "recording run %s with a handover failed (%s); handed to the completer",
                outcome.run_id,
                failure.__class__.__name__,
                exc_info=not isinstance(failure, SQLAlchemyError),
            )
            self.completer.enqueue(outcome).add_done_callback(
                lambda written: _report(outcome, written)
            )
            return None
        self.metrics.finished(done.finished, now)
        if not done.finished:
            log.warning(
                "run %s was no longer running; its outcome %s is dropped",
                outcome.run_id,
                outcome.state,
            )
        if done.taken is not None:
            self.metrics.started([done.taken], now)
        return done.taken

    def _settle(self, run_id: uuid.UUID) -> bool:
        with self._settled_lock:
            if run_id in self._settled:
                return False
            self._settled.add(run_id)
            return True

    def _abandon(self, run: Row, ctx: RunContext) -> None:
        """On the heartbeat's thread: finish a run whose handler ignored its interrupt."""
        if not self._settle(ctx.run_id):
            return
        if ctx.reason == "cancelled":
            state = RunState.CANCELLED
            error = error_of(
                ErrorKind.CANCELLED,
                "the run was cancelled while running; its handler did not stop and was abandoned",
            )
        else:
            state = RunState.FAILED
            error = error_of(
                ErrorKind.TIMEOUT,
                f"the run took longer than timeout_seconds ({run['timeout_seconds']}); "
                "its handler did not stop and was abandoned",
            )
        self.finish(ctx.run_id, state, None, error)

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
            if self.in_thread_types is None or run["type"] in self.in_thread_types:
                result = job_type.handler(dict(run["payload"]), ctx)
            else:
                result = call_isolated(job_type.handler, dict(run["payload"]), ctx)
        except JobFailed as failed:
            result, failure = failed.result, error_of(failed.kind, failed.message)
        except HandlerCrashed as crashed:
            if ctx.reason is None:
                ctx.logger.error("run %s crashed: %s", ctx.run_id, crashed)
            failure = error_of(ErrorKind.CRASHED, str(crashed))
        except HandlerRaised as raised:
            if ctx.reason is None:
                ctx.logger.warning("run %s failed: %s", ctx.run_id, raised)
            failure = error_of(ErrorKind.EXCEPTION, str(raised))
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

    def finish(
        self,
        run_id: uuid.UUID,
        state: RunState,
        result: dict[str, Any] | None,
        error: dict[str, str] | None,
    ) -> None:
        """Hand the outcome to the completer; it is written with the others that arrive
        meanwhile, in one statement and one commit."""
        outcome = Outcome(run_id, state, result, error)
        self.completer.enqueue(outcome).add_done_callback(lambda written: _report(outcome, written))


def _report(outcome: Outcome, written: Future[bool]) -> None:
    error = written.exception()
    if error is not None:
        log.error(
            "could not record run %s (%s): %s; it will be rescued as lost",
            outcome.run_id,
            outcome.state,
            error.__class__.__name__,
            extra={"run_id": str(outcome.run_id)},  # the completer's thread has no context
        )
    elif not written.result():
        log.warning(
            "run %s was no longer running; its outcome %s is dropped",
            outcome.run_id,
            outcome.state,
            extra={"run_id": str(outcome.run_id)},
        )


class FlushOutcomes(dramatiq.Middleware):
    """Writes the outcomes still in hand before a gracefully stopping process exits."""

    def __init__(self, executor: Executor, timeout: float = 60.0) -> None:
        self.executor = executor
        self.timeout = timeout

    def before_worker_shutdown(self, broker: Any, worker: Any) -> None:
        self.executor.stopping.set()

    def after_worker_shutdown(self, broker: Any, worker: Any) -> None:
        # After: Dramatiq has waited for its threads, so no outcome can arrive later.
        if not self.executor.flush(self.timeout):
            log.error("outcomes still unwritten after %ss; those runs will be lost", self.timeout)

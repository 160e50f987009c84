"""The scheduler process: dispatch and recover in one loop, rescue and prune in another.

Every part is a ``run_once()``; this module only decides when to call which, and how
long to sleep. Any number of schedulers may run: they share the work through SKIP
LOCKED, so there is no leader to elect and none to lose.

It guards against broker trouble spreading. While RabbitMQ is down, a circuit breaker
stops the claiming, so due runs stay ``pending`` (the misfire policy applies when the
broker is back) instead of piling up as ``queued`` runs nobody can publish; it probes
the broker with exponential backoff and jitter. The rescuer and the pruner need only
PostgreSQL, so they run on their own thread: a hung publish (a blackholed broker) cannot
hold back the lease.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from scheduler import faults
from scheduler.dispatcher import Dispatcher, runs_in
from scheduler.metrics import SchedulerMetrics
from scheduler.pruner import AuditPruner, Pruner, ReceiptPruner, WorkerPruner
from scheduler.publisher import Outgoing, Publisher
from scheduler.rescuer import Rescuer
from scheduler.rollups import Rollup, RollupPruner
from scheduler.wakeup import Wakeup
from shared.accounts import purge_deleted_accounts
from shared.clock import Clock
from shared.repository import queues as queue_repo
from shared.settings import Settings

log = logging.getLogger("chronos.scheduler")

RECOVER_EVERY = 1.0
RESCUE_EVERY = 5.0
REDELIVER_EVERY = 60.0
PURGE_ACCOUNTS_EVERY = 30.0
# A minute is rolled up a few seconds after it closes (scheduler.rollups).
ROLLUP_EVERY = 10.0
PURGE_ACCOUNTS_BUDGET = 5.0
PRUNE_EVERY = 300.0
AUDIT_PRUNE_BUDGET = 2.0
# Receipts are one row per batch, deleted 5,000 at a time: seconds cover hours of them.
RECEIPT_PRUNE_BUDGET = 2.0
MAX_BACKOFF = 30.0
# The circuit breaker's probes: from this, doubling up to MAX_BACKOFF, with jitter.
FIRST_PROBE = 0.5
MAINTENANCE_TICK = 1.0
# Due runs that a pass could not claim are held by another transaction (another
# scheduler, a user's cancel): don't spin on them.
MIN_IDLE_PAUSE = 0.02
# Runs due in a queue at its backlog bound: look again this soon, as workers start runs
# and so make room without a NOTIFY.
FULL_QUEUE_POLL = 0.02
# Runs due in a queue at its concurrency limit: a finished run's NOTIFY usually wakes the
# scheduler first; this covers a slot freed otherwise (a queued run cancelled, a lost one).
LIMITED_QUEUE_POLL = 0.25
# The first claim of each pass; the next ones take whole batches.
FIRST_BATCH = 50
# Batches sent but not yet marked published before the claiming waits.
MARKS_IN_FLIGHT = 2


@dataclass
class PassResult:
    claimed: int = 0
    dispatched: int = 0
    skipped: int = 0
    recovered: int = 0
    lost: int = 0
    pruned: int = 0


class Scheduler:
    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        clock: Clock,
        metrics: SchedulerMetrics | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.clock = clock
        self.metrics = metrics if metrics is not None else SchedulerMetrics()
        self.publisher = Publisher(settings)
        self.publisher.on_confirmed = self.metrics.messages.inc
        self.dispatcher = Dispatcher(
            settings, engine, self.publisher, clock, after_claim=faults.after_claim(settings)
        )
        self.rescuer = Rescuer(settings, engine, clock)
        self.pruner = Pruner(settings, engine, clock)
        # Changes come far slower than finished runs: a short budget keeps up, and keeps
        # the rescue behind this pass on time.
        self.audit_pruner = AuditPruner(settings, engine, clock, budget_seconds=AUDIT_PRUNE_BUDGET)
        self.receipt_pruner = ReceiptPruner(
            settings, engine, clock, budget_seconds=RECEIPT_PRUNE_BUDGET
        )
        self.rollup = Rollup(engine, clock)
        self.rollup_pruner = RollupPruner(settings, engine, clock, budget_seconds=1.0)
        self.worker_pruner = WorkerPruner(settings, engine, clock, budget_seconds=1.0)
        self.wakeup = Wakeup(settings.database_url)
        self._publishing = ThreadPoolExecutor(1, thread_name_prefix="chronos-publishing")
        self._marking = ThreadPoolExecutor(1, thread_name_prefix="chronos-marking")
        self.stopping = threading.Event()
        self._maintenance: threading.Thread | None = None
        # A row in ``queues`` for each of CHRONOS_QUEUES, written at the first pass.
        self._queues_seeded = False
        # The circuit breaker: when open, the monotonic time of the next probe.
        self._broker_probe_at: float | None = None
        self._broker_backoff = FIRST_PROBE
        self._due: dict[str, float] = {
            "recover": 0.0,
            "redeliver": 0.0,
            "rescue": 0.0,
            "prune": 0.0,
            "purge_accounts": 0.0,
            "rollup": 0.0,
        }

    def _periodic(self, name: str, every: float) -> bool:
        now = time.monotonic()
        if now < self._due[name]:
            return False
        self._due[name] = now + every
        return True

    def run_once(self) -> PassResult:
        """Dispatch every due run (batch after batch) and re-publish what is due, unless
        the broker is down; the maintenance is :meth:`maintain_once` (its own thread)."""
        result = PassResult()
        timing = self.metrics.timing
        try:
            if not self._queues_seeded:
                with self.engine.begin() as conn:
                    queue_repo.ensure_queues(conn, self.settings.queues)
                self._queues_seeded = True
            if not self._broker_usable():
                return result
            with timing("dispatch"):
                self._dispatch_due(result)
            if self._periodic("recover", RECOVER_EVERY):
                with timing("recover"):
                    result.recovered = self.dispatcher.recover()
            if self._periodic("redeliver", REDELIVER_EVERY):
                with timing("redeliver"):
                    result.recovered += self.dispatcher.redeliver_stale()
            self._note_publish_failure()
        finally:
            self.metrics.count(result)  # what got done, even when a pass failed
        return result

    def maintain_once(self) -> PassResult:
        """Rescue lost runs and prune old runs and audit events, each when it is due.
        PostgreSQL only."""
        result = PassResult()
        timing = self.metrics.timing
        try:
            if self._periodic("rescue", RESCUE_EVERY):
                with timing("rescue"):
                    result.lost = self.rescuer.run_once()
            if self._periodic("prune", PRUNE_EVERY):
                with timing("prune"):
                    result.pruned = self.pruner.run_once()
                    self.audit_pruner.run_once()
                    self.receipt_pruner.run_once()
                    self.rollup_pruner.run_once()
                    self.worker_pruner.run_once()
                pruners = (
                    self.pruner,
                    self.audit_pruner,
                    self.receipt_pruner,
                    self.rollup_pruner,
                    self.worker_pruner,
                )
                if not all(pruner.caught_up for pruner in pruners):
                    self._due["prune"] = time.monotonic()  # behind: go on at the next tick
            if self._periodic("rollup", ROLLUP_EVERY):
                with timing("rollup"):
                    if self.rollup.run_once() == self.rollup.most:
                        self._due["rollup"] = time.monotonic()  # catching up: go on
            if self._periodic("purge_accounts", PURGE_ACCOUNTS_EVERY):
                # What a user deletion left of its run history, deleted in the background.
                with timing("purge_accounts"):
                    purged = purge_deleted_accounts(self.engine, PURGE_ACCOUNTS_BUDGET)
                if purged:
                    log.info("purged %d deleted accounts", purged)
        finally:
            self.metrics.count(result)
        return result

    def _broker_usable(self) -> bool:
        """The circuit breaker: closed, or open and a probe now succeeds."""
        if self._broker_probe_at is None:
            return True
        if time.monotonic() < self._broker_probe_at:
            return False
        if self.publisher.probe():
            log.info("RabbitMQ is reachable again; claiming resumes")
            self._broker_probe_at, self._broker_backoff = None, FIRST_PROBE
            self.dispatcher.broker_failed = False
            self._due["recover"] = 0.0  # drain what the outage left first
            return True
        self._open_breaker()
        return False

    def _note_publish_failure(self) -> None:
        if self.dispatcher.broker_failed:
            self.dispatcher.broker_failed = False
            self._open_breaker()

    def _open_breaker(self) -> None:
        delay = self._broker_backoff * random.uniform(0.5, 1.0)  # noqa: S311 (jitter)
        log.warning("RabbitMQ unavailable; claiming stops, next probe in %.1fs", delay)
        self._broker_probe_at = time.monotonic() + delay
        self._broker_backoff = min(self._broker_backoff * 2, MAX_BACKOFF)

    @property
    def broker_down(self) -> bool:
        return self._broker_probe_at is not None

    def _dispatch_due(self, result: PassResult) -> None:
        """Claim batch after batch until none is full, as a three-stage pipeline: while
        this thread claims a batch, the publishing thread sends the one before, and the
        marking thread records the publish of the one before that. A burst so waits on
        PostgreSQL and RabbitMQ at once instead of in turn.

        At most one batch is being sent and two are waiting to be marked; none is when
        this returns, so the publisher is never used by two threads at once."""
        sending: Future[Future[int]] | None = None
        marking: deque[Future[int]] = deque()
        batch_size = self.dispatcher.batch_size
        # After an idle wait the first claim is small: the runs that just fell due
        # (another owner's among a flood's, in turns) go out after a claim of 50, not of
        # 500. A pass that goes on refilling a full queue's backlog takes whole batches.
        limit = batch_size if self.dispatcher.plan.full else min(FIRST_BATCH, batch_size)
        try:
            while not self.stopping.is_set():
                queued, skipped = self.dispatcher.claim_committed(limit)
                result.claimed += runs_in(queued) + skipped
                result.skipped += skipped
                if sending is not None:
                    marking.append(sending.result())
                    sending = None
                while len(marking) > MARKS_IN_FLIGHT:
                    result.dispatched += marking.popleft().result()
                if queued:
                    sending = self._publishing.submit(self._send, queued)
                claimed = runs_in(queued) + skipped
                if claimed == 0 or (self.dispatcher.plan.full and claimed < limit):
                    # A short batch goes on: it may be one owner's fair share, with more
                    # of its runs due behind it. One cut short by a full queue waits for
                    # a slot to free (seconds_until_next_due).
                    break
                if self.dispatcher.broker_failed:
                    break  # the circuit breaker opens: no more claims it can't publish
                limit = batch_size
        finally:
            if sending is not None:
                marking.append(sending.result())
            while marking:
                result.dispatched += marking.popleft().result()

    def _send(self, queued: list[Outgoing]) -> Future[int]:
        """On the publishing thread: send, then hand the mark to the marking thread."""
        return self._marking.submit(self.dispatcher.mark, queued, self.dispatcher.send(queued))

    def seconds_until_next_due(self) -> float:
        """From what the pass's last claim found (it claimed nothing, or the pass would
        have gone on): due runs it could not lock are retried soon; runs waiting for room
        in a full queue, after FULL_QUEUE_POLL or LIMITED_QUEUE_POLL (or a worker's
        NOTIFY); else the next due time. A paused queue's runs wake nobody: resuming it
        sends a NOTIFY."""
        poll = self.settings.poll_interval_seconds
        plan = self.dispatcher.plan
        if self.broker_down:
            return poll
        if plan.claimable and not plan.full:
            return MIN_IDLE_PAUSE
        pause = poll
        if plan.next_due is not None:
            # Woken early enough to claim and publish the run before its due time.
            until_due = plan.next_due - self.dispatcher.window - self.clock.now()
            pause = min(pause, max(0.0, until_due.total_seconds()))
        if plan.backlogged:
            pause = min(pause, FULL_QUEUE_POLL)
        elif plan.full:
            pause = min(pause, LIMITED_QUEUE_POLL)
        return pause

    def maintain(self) -> None:
        """The maintenance thread: :meth:`maintain_once` every second, whatever the broker."""
        backoff = 0.5
        while not self.stopping.wait(MAINTENANCE_TICK):
            try:
                self.maintain_once()
                backoff = 0.5
            except Exception as error:
                log.error(
                    "maintenance pass failed (%s); retrying in %.1fs",
                    error.__class__.__name__,
                    backoff,
                    exc_info=not isinstance(error, SQLAlchemyError),
                )
                self.stopping.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)

    def run(self) -> None:
        log.info("scheduler started (poll interval %.2fs)", self.settings.poll_interval_seconds)
        self._maintenance = threading.Thread(
            target=self.maintain, name="chronos-maintenance", daemon=True
        )
        self._maintenance.start()
        backoff = 0.5
        while not self.stopping.is_set():
            try:
                self.run_once()
                self.publisher.keep_alive()
                self.wakeup.wait(self.seconds_until_next_due(), self.stopping)
                backoff = 0.5
            except SQLAlchemyError as error:
                log.error(
                    "database unavailable (%s); retrying in %.1fs",
                    error.__class__.__name__,
                    backoff,
                )
                self.stopping.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
            except Exception:
                # A bug, or a row no pass can plan: one bad pass must not end dispatch for
                # every tenant (its transaction rolled back; the next pass tries again).
                log.exception("scheduler pass failed; retrying in %.1fs", backoff)
                self.stopping.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
        self.close()
        log.info("scheduler stopped")

    def stop(self) -> None:
        self.stopping.set()

    def close(self) -> None:
        if self._maintenance is not None:
            self._maintenance.join(timeout=60)
        self._publishing.shutdown(wait=True)
        self._marking.shutdown(wait=True)
        self.publisher.close()
        self.wakeup.close()

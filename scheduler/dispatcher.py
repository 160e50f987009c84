"""The dispatcher: due runs become messages in RabbitMQ, exactly once as far as anyone
can tell.

It guards against losing a run to a crash between the database and the broker. A commit
and a publish cannot be atomic, so the ``runs`` table is the outbox:

1. claim: one short transaction locks due pending runs (SKIP LOCKED, so any number of
   schedulers share the work), marks them queued in a new publish batch, applies the
   misfire and overlap policies and materialises each job's next occurrence;
2. publish: one confirmed batch to RabbitMQ, with no transaction open;
3. mark: one row in ``publish_receipts`` records that RabbitMQ confirmed the batch
   (the runs themselves are not written again).

A crash between 1 and 3 leaves queued runs whose batch has no receipt; :meth:`recover`
publishes them again. A run published twice is harmless: a worker starts a run only
through a guarded ``queued → running`` update, so the second message finds nothing.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from scheduler.packing import pack
from scheduler.publisher import Outgoing, Publisher, PublishError
from shared.broker import runs_message
from shared.claiming import claim_due
from shared.clock import Clock
from shared.repository import Row
from shared.repository import claim as claim_repo
from shared.repository import dispatch as dispatch_repo
from shared.repository import jobs as job_repo
from shared.settings import Settings
from shared.states import ErrorKind

log = logging.getLogger("chronos.scheduler.dispatcher")

# Runs queued this long ago with no confirmed publish are published again.
UNPUBLISHED_AFTER = timedelta(seconds=5)
# Runs published this long ago and still not started are candidates to publish again.
STALE_AFTER = timedelta(minutes=5)
# Runs sent ahead of their due time that may be waiting in workers at once, about (per
# scheduler); and the shortest window the adaptation goes down to.
EARLY_RUNS = 4
MIN_WINDOW = timedelta(milliseconds=1)
# Called with each claimed batch after its commit, before its publish: the fault tests
# crash the process there (see scheduler.faults).
AfterClaim = Callable[[list[Outgoing]], None]


def runs_in(outgoing: list[Outgoing]) -> int:
    """The runs a batch of messages carries (a message carries one or several)."""
    return sum(len(item.run_ids) for item in outgoing)


@dataclass(frozen=True)
class DispatchResult:
    claimed: int = 0
    skipped: int = 0
    published: int = 0


class Dispatcher:
    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        publisher: Publisher,
        clock: Clock,
        *,
        batch_size: int = 500,
        after_claim: AfterClaim | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.publisher = publisher
        self.clock = clock
        self.batch_size = batch_size
        # Set by a failed publish: the scheduler stops claiming until RabbitMQ is back.
        self.broker_failed = False
        # What the last claim found: when the next run falls due, and whether due runs
        # wait for room in their queue (see shared.repository.claim).
        self.plan = claim_repo.DuePlan()
        # The queues with a concurrency limit, as the last claim found them.
        self.limited: frozenset[str] = frozenset()
        self.after_claim = after_claim
        # Runs due this soon are claimed and published now, carrying their due instant.
        self.ahead = timedelta(seconds=settings.dispatch_ahead_seconds)
        self.window = self.ahead

    def run_once(self) -> DispatchResult:
        """Claim, publish and mark one batch of due runs."""
        queued, skipped = self.claim_committed()
        published = self.publish(queued)
        claimed = runs_in(queued) + skipped
        return DispatchResult(claimed=claimed, skipped=skipped, published=published)

    def claim_committed(self, limit: int | None = None) -> tuple[list[Outgoing], int]:
        """Step 1 alone (the scheduler overlaps it with the previous batch's publish)."""
        queued, skipped = self.claim(limit)
        if self.after_claim is not None and queued:
            self.after_claim(queued)
        return queued, skipped

    def claim(self, limit: int | None = None) -> tuple[list[Outgoing], int]:
        """Step 1: claim up to ``limit`` due runs (the batch size by default)."""
        limit = self.batch_size if limit is None else limit
        now = self.clock.now()
        batch = uuid.uuid4()
        with self.engine.begin() as conn:
            claimed = claim_due(
                conn, self.settings, now, limit, due_by=now + self.window, batch=batch
            )
        self.plan = claimed.plan
        self.limited = claimed.limited
        self.adapt_window(sum(1 for run in claimed.queued if run["due_at"] > now))
        return self.messages(claimed.queued, now, batch), claimed.skipped

    def adapt_window(self, early: int) -> None:
        """A worker holds a thread until a run sent ahead is due, so the runs waiting so
        at any moment are the window times the rate at which runs fall due. Keep them to
        about EARLY_RUNS: at 50 runs/s the whole window, at 500/s a few milliseconds of it
        (a full window would park every thread while runs already due queue up behind)."""
        if not self.ahead:
            return
        if early == 0:
            self.window = min(self.ahead, max(self.window * 2, MIN_WINDOW))
            return
        rate = early / max(self.window.total_seconds(), MIN_WINDOW.total_seconds())
        self.window = max(MIN_WINDOW, min(self.ahead, timedelta(seconds=EARLY_RUNS / rate)))

    def messages(self, runs: list[Row], now: datetime, batch: uuid.UUID) -> list[Outgoing]:
        """The runs as Dramatiq messages to their job's queue: one run each for a
        trickle, several while a queue has a backlog (scheduler.packing)."""
        packed = pack(
            runs,
            most=self.settings.runs_per_message,
            min_messages=self.settings.min_messages_per_batch,
            one_per_message=self.limited,
        )
        outgoing = []
        for message_runs in packed:
            run_ids = tuple(run["id"] for run in message_runs)
            queue = message_runs[0]["queue"]
            # Claimed ahead of time: the worker starts none of them before the last is due.
            # (Runs published again by recover() or redeliver_stale() are long due.)
            due = max(run.get("due_at") or now for run in message_runs)
            not_before = due if due > now else None
            message = runs_message(self.settings, queue, run_ids, now, not_before=not_before)
            outgoing.append(Outgoing(run_ids, message, batch))
        return outgoing

    def publish(self, outgoing: list[Outgoing]) -> int:
        """Steps 2 and 3: send the batch, then mark what RabbitMQ confirmed."""
        return self.mark(outgoing, self.send(outgoing))

    def send(self, outgoing: list[Outgoing]) -> list[uuid.UUID]:
        """Step 2 alone: the run ids RabbitMQ confirmed (none if the publish failed)."""
        outgoing = self.refuse_unknown_queues(outgoing)
        if not outgoing:
            return []
        try:
            return self.publisher.publish(outgoing)
        except PublishError as error:
            # The runs stay queued without published_at; recover() sends them later.
            log.warning("publishing %d runs failed: %s", len(outgoing), error)
            self.broker_failed = True
            return []

    def refuse_unknown_queues(self, outgoing: list[Outgoing]) -> list[Outgoing]:
        """Fail, visibly, the runs of a queue outside CHRONOS_QUEUES (a job submitted
        before the queue was removed from the list, or written to the database directly):
        nothing consumes it, and the scheduler never creates a queue. The others go on."""
        known = {self.settings.queue_name(queue) for queue in self.settings.queues}
        unknown = [item for item in outgoing if item.message.queue_name not in known]
        if not unknown:
            return outgoing
        names = sorted({item.message.queue_name for item in unknown})
        message = (
            f"queue {', '.join(repr(name) for name in names)} is not in this deployment's "
            f"CHRONOS_QUEUES ({', '.join(self.settings.queues)}); the run was not sent"
        )
        with self.engine.begin() as conn:
            failed = dispatch_repo.fail_unroutable(
                conn,
                [run_id for item in unknown for run_id in item.run_ids],
                {"kind": str(ErrorKind.EXCEPTION), "message": message},
                self.clock.now(),
            )
            job_repo.refresh_status(
                conn, sorted({row["job_id"] for row in failed}), self.clock.now()
            )
        log.error("failed %d runs: %s", len(failed), message)
        return [item for item in outgoing if item.message.queue_name in known]

    def mark(self, outgoing: list[Outgoing], confirmed: list[uuid.UUID]) -> int:
        """Step 3 alone: a receipt for each batch RabbitMQ confirmed (its runs whose
        message came back stay unconfirmed)."""
        if not confirmed:
            return 0
        taken = set(confirmed)
        batches: dict[uuid.UUID, list[uuid.UUID]] = {}
        for item in outgoing:
            batches.setdefault(item.batch, []).extend(item.run_ids)
        now = self.clock.now()
        for batch, run_ids in batches.items():
            returned = [run_id for run_id in run_ids if run_id not in taken]
            if len(returned) == len(run_ids):
                continue  # nothing of it was confirmed
            try:
                with self.engine.begin() as conn:
                    dispatch_repo.record_receipt(conn, batch, now, returned)
            except DBAPIError as error:
                # Left without a receipt, its runs are published again by recover(): a
                # duplicate message each, which the worker drops.
                log.warning("recording the publish of batch %s failed: %s", batch, error)
        return len(confirmed)

    def redeliver_stale(self) -> int:
        """Publish again the runs whose message went missing after a confirmed publish.

        A run can stay queued with its message gone: a worker that could not reach the
        database to start it gave up and the message was dead-lettered, or a broker node
        lost it. Only queues that are empty are considered: while messages wait in a
        queue, a run's message may be among them, and sending it again would only grow a
        backlog. A second message for a run that does start is dropped by the worker.
        """
        now = self.clock.now()
        before = now - STALE_AFTER
        with self.engine.connect() as conn:
            candidates = dispatch_repo.stale_published(conn, before, self.batch_size)
        empty_queues: dict[str, bool] = {}
        for row in candidates:
            queue = row["queue"]
            if queue not in empty_queues:
                depth = self.publisher.queue_depth(self.settings.queue_name(queue))
                empty_queues[queue] = depth == 0
        chosen = [row["id"] for row in candidates if empty_queues[row["queue"]]]
        batch = uuid.uuid4()
        with self.engine.begin() as conn:
            rows = dispatch_repo.claim_stale(conn, chosen, before, now, batch)
        if rows:
            log.warning("publishing %d runs again: queued, published, never started", len(rows))
        return self.publish(self.messages(rows, now, batch))

    def recover(self, budget_seconds: float = 5.0) -> int:
        """Publish again the queued runs whose publish was never confirmed: batch after
        batch until one comes back short, so a backlog left by an outage drains at full
        publish speed (within a time budget; the rest goes at the next pass)."""
        total = 0
        ends = time.monotonic() + budget_seconds
        self.broker_failed = False
        while time.monotonic() < ends and not self.broker_failed:
            sent, claimed = self._recover_batch()
            total += sent
            if claimed < self.batch_size:
                break
        return total

    def _recover_batch(self) -> tuple[int, int]:
        now = self.clock.now()
        batch = uuid.uuid4()
        with self.engine.begin() as conn:
            rows = dispatch_repo.claim_unpublished(
                conn, now - UNPUBLISHED_AFTER, now, self.batch_size, batch
            )
        if rows:
            log.info("publishing %d queued runs again (no confirmed publish)", len(rows))
        return self.publish(self.messages(rows, now, batch)), len(rows)

"""C8, a queue's concurrency limit: the queue is limited to 4 running runs
(``update_queue(..., concurrency=4)``, what ``PATCH /queues/{name}`` does) and fed N
``sleep`` runs of 0.05 s due at once, through the real scheduler and
``dramatiq worker --processes 2 --threads 8`` (16 threads: the limit, not the worker,
holds the runs back).

- Most running at once: a thread polls ``count(*)`` of the queue's ``running`` runs
  every few milliseconds for the whole burst (the state the claim counts). The goal is
  exactly the limit: never more, and the limit reached.
- Throughput: runs per second from the due time to the last ``finished_at``, against
  the limit's ideal, 4 / 0.05 s = 80/s; the goal is 0.8 of it. What falls short is the
  time a freed slot takes to be filled: mostly the worker's own handover (the outcome
  and the next run's start in one commit, see ``worker.handover``), and for the rest the
  NOTIFY, a scheduler's claim, a publish, a delivery and a start.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import text

from bench import workload
from bench.benchmark import Benchmark
from bench.context import BenchContext
from bench.procs import wait_for
from bench.report import Figure
from bench.stack import WORKER_PROCESSES, WORKER_STACK, WORKER_THREADS
from shared.repository import queues as queue_repo

QUEUE = "default"
LIMIT = 4
SLEEP_SECONDS = 0.05
SAMPLE_EVERY = 0.003
IDEAL_RATE = LIMIT / SLEEP_SECONDS
COUNT_RUNNING = text("SELECT count(*) FROM runs WHERE queue = :queue AND state = 'running'")


@dataclass
class Sampler:
    """Polls the number of running runs of the queue on its own connection."""

    ctx: BenchContext
    samples: list[int] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None

    def run(self) -> None:
        try:
            with self.ctx.engine.connect() as conn:
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
                while not self.stop.is_set():
                    self.samples.append(int(conn.scalar(COUNT_RUNNING, {"queue": QUEUE}) or 0))
                    time.sleep(SAMPLE_EVERY)
        except BaseException as error:  # reported by measure(), on the main thread
            self.error = error


def set_limit(ctx: BenchContext, concurrency: int | None) -> None:
    with ctx.engine.begin() as conn:
        queue_repo.update_queue(
            conn, QUEUE, workload.now_utc(), concurrency=concurrency, set_concurrency=True
        )


PHASES = text(
    """
    WITH timed AS (
        SELECT queued_at, started_at, finished_at,
            -- Started in the transaction that recorded the previous outcome: handed over.
            queued_at = started_at AS handed_over,
            (SELECT max(f.finished_at) FROM runs AS f WHERE f.queue = r.queue
             AND f.finished_at <= r.queued_at) AS freed_at
        FROM runs AS r WHERE r.queue = :queue AND r.finished_at IS NOT NULL
    )
    SELECT
        count(*) AS total,
        count(*) FILTER (WHERE handed_over) AS handed_over,
        percentile_cont(0.5) WITHIN GROUP (ORDER BY finished_at - started_at) AS to_finish,
        percentile_cont(0.5) WITHIN GROUP (ORDER BY queued_at - freed_at)
            FILTER (WHERE NOT handed_over) AS to_claim,
        percentile_cont(0.5) WITHIN GROUP (ORDER BY started_at - queued_at)
            FILTER (WHERE NOT handed_over) AS to_start
    FROM timed WHERE freed_at IS NOT NULL
    """
)


def milliseconds(interval: timedelta | None) -> str:
    return "n/a" if interval is None else f"{interval.total_seconds() * 1000:.0f} ms"


def refill_phases(ctx: BenchContext) -> str:
    """How freed slots were filled. Most by handover: the worker thread that freed the
    slot started the next run in the transaction that recorded the outcome, so a run's
    cycle is its start (that commit), its 0.05 s and its outcome. The rest by a
    scheduler: the NOTIFY and a claim, then the publish, the delivery and the start. From
    several processes' clocks, so good to a few milliseconds."""
    with ctx.engine.connect() as conn:
        row = conn.execute(PHASES, {"queue": QUEUE}).one()
    if not row.total:
        return "n/a"
    return (
        f"{row.handed_over / row.total:.0%} of the freed slots handed over by the worker; "
        f"median run (start to outcome) {milliseconds(row.to_finish)}; a slot refilled by "
        f"a scheduler, median: outcome to claim {milliseconds(row.to_claim)}, claim to "
        f"start {milliseconds(row.to_start)}"
    )


def measure(ctx: BenchContext) -> dict[str, Figure]:
    count = ctx.sizes.c8_runs
    scheduler, worker = WORKER_STACK.ensure(ctx)
    owner = workload.create_owner(ctx.engine)
    set_limit(ctx, LIMIT)
    sampler = Sampler(ctx)
    thread = threading.Thread(target=sampler.run, name="c8-sampler", daemon=True)
    thread.start()
    try:
        burst = workload.insert_burst_of(
            ctx.engine,
            owner,
            count,
            ctx.sizes.lead_seconds,
            job_type="sleep",
            payload=f'{{"seconds": {SLEEP_SECONDS}}}',
        )
        wait_for(
            lambda: workload.count_where(ctx.engine, "finished_at IS NOT NULL") >= count,
            ctx.sizes.patience_seconds + count * SLEEP_SECONDS / LIMIT,
            f"{count} runs to finish",
            interval=0.1,
            children=[scheduler, worker],
        )
    finally:
        sampler.stop.set()
        thread.join(5)
        set_limit(ctx, None)
    if sampler.error is not None:
        raise RuntimeError(f"the sampler failed: {sampler.error}")
    failed = workload.count_where(ctx.engine, "state <> 'succeeded'")
    if failed:
        raise RuntimeError(f"{failed} of {count} runs did not succeed")
    seconds = (workload.latest(ctx.engine, "finished_at") - burst.first_due).total_seconds()
    phases = refill_phases(ctx)
    ctx.reset_tables()
    samples = sampler.samples
    busy = [sample for sample in samples if sample > 0]
    mean_busy = sum(busy) / len(busy) if busy else 0.0
    at_limit = sum(1 for sample in busy if sample >= LIMIT) / len(busy) if busy else 0.0
    late = " (insert overran the due time)" if burst.late else ""
    return {
        "c8_max": Figure(
            float(max(samples, default=0)),
            "",
            f"limit {LIMIT}; {len(samples):,} samples every ~{SAMPLE_EVERY * 1000:g} ms, "
            f"mean {mean_busy:.2f} running while any ran, at the limit {at_limit:.0%} of them",
        ),
        "c8_rate": Figure(
            count / seconds,
            "/s",
            f"{count} sleep runs of {SLEEP_SECONDS:g} s in {seconds:.1f} s, "
            f"{WORKER_PROCESSES} procs x {WORKER_THREADS} threads{late}; {phases}",
        ),
    }


BENCHMARK = Benchmark("C8", {"c8_max": "", "c8_rate": "/s"}, measure, uses_worker_stack=True)

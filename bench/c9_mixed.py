"""C9, mixed durations: N runs come due at one instant, through the real scheduler and
``dramatiq worker --processes 2 --threads 8``; 95% are ``noop`` and every 20th is a
``sleep`` of 0.2 s, interleaved. The figure is the p99 wait of the no-ops: from the due
time to the moment their handler begins (the run's ``started_at``, which the worker's
starter sets just before the handler is called).

This is where head-of-line blocking would show: a no-op whose message waits behind a
sleeping run (in a prefetch buffer, or a thread held by the sleep) waits for the sleep.
The same workload runs on Celery in C6 (``c6_c9``), in the same run; the goal is a no-op
wait no longer than Celery's.
"""

from __future__ import annotations

from sqlalchemy import text

from bench import workload
from bench.benchmark import Benchmark
from bench.context import BenchContext
from bench.procs import wait_for
from bench.report import Figure
from bench.stack import WORKER_PROCESSES, WORKER_STACK, WORKER_THREADS

SLEEP_EVERY = 20
SLEEP_SECONDS = 0.2
SLEEPS = workload.Mixed(SLEEP_EVERY, "sleep", f'{{"seconds": {SLEEP_SECONDS}}}')

NOOP_WAITS_MS = text(
    "SELECT extract(epoch FROM r.started_at - r.scheduled_for) * 1000 "
    "FROM runs AS r JOIN jobs AS j ON j.id = r.job_id "
    "WHERE j.type = 'noop' AND r.started_at IS NOT NULL"
)


def noop_waits_ms(ctx: BenchContext) -> list[float]:
    with ctx.engine.connect() as conn:
        return [float(row[0]) for row in conn.execute(NOOP_WAITS_MS)]


def measure(ctx: BenchContext) -> dict[str, Figure]:
    count = ctx.sizes.c9_runs
    scheduler, worker = WORKER_STACK.ensure(ctx)
    owner = workload.create_owner(ctx.engine)
    burst = workload.insert_burst_of(ctx.engine, owner, count, ctx.sizes.lead_seconds, mixed=SLEEPS)
    wait_for(
        lambda: workload.count_where(ctx.engine, "finished_at IS NOT NULL") >= count,
        ctx.sizes.patience_seconds,
        f"{count} mixed runs to finish",
        interval=0.1,
        children=[scheduler, worker],
    )
    failed = workload.count_where(ctx.engine, "state <> 'succeeded'")
    if failed:
        raise RuntimeError(f"{failed} of {count} runs did not succeed")
    waits = noop_waits_ms(ctx)
    seconds = (workload.latest(ctx.engine, "finished_at") - burst.first_due).total_seconds()
    ctx.reset_tables()
    note = (
        f"{count:,} runs due at once, every {SLEEP_EVERY}th a sleep of {SLEEP_SECONDS:g} s; "
        f"{len(waits):,} no-ops, p50 {workload.percentile(waits, 0.5):.0f} ms, "
        f"max {max(waits):.0f} ms; all finished after {seconds:.1f} s, "
        f"{WORKER_PROCESSES} procs x {WORKER_THREADS} threads"
    )
    if burst.late:
        note += " (insert overran the due time)"
    return {"c9": Figure(workload.percentile(waits, 0.99), "ms", note)}


BENCHMARK = Benchmark("C9", {"c9": "ms"}, measure, uses_worker_stack=True)

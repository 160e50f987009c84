"""C5, scale: does the scheduler stay fast and small as the ``runs`` table grows?

- Claim time: ``claim_due(conn, now, 500)`` (the dispatcher's one query that scans for
  due runs), in a transaction that is rolled back, with a fixed 500 due runs and first
  10,000 then 1,000,000 future pending runs in the table; median of several tries.
  The due index (``priority, due_at`` where pending) should make the claim depend on the
  due runs only, so the goal is that 100x the table costs at most 2x the claim.
  The future runs are far-future filler, 100 per job, and the table is VACUUM ANALYZEd
  after loading, as autovacuum would have done on a table that grew gradually.
- Peak RSS: VmHWM of a fresh ``python -m scheduler`` process, read just before it is
  stopped, after it dispatched 100,000 due runs (no worker: they stay in the queue).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from bench import workload
from bench.benchmark import Benchmark
from bench.context import BenchContext
from bench.procs import peak_rss_mb, wait_for
from bench.report import Figure
from bench.stack import start_scheduler
from shared.repository import dispatch as dispatch_repo

CLAIM_LIMIT = 500


def vacuum_analyze(ctx: BenchContext) -> None:
    with ctx.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(
            text("VACUUM ANALYZE runs, jobs")
        )


def claim_ms(ctx: BenchContext, tries: int) -> float:
    """Median time of one claim of up to 500 due runs (rolled back, so each try claims
    the same runs)."""
    times: list[float] = []
    for _ in range(tries + 1):
        with ctx.engine.connect() as conn:
            transaction = conn.begin()
            try:
                started = time.perf_counter()
                rows = dispatch_repo.claim_due(conn, workload.now_utc(), CLAIM_LIMIT)
                times.append((time.perf_counter() - started) * 1000)
            finally:
                transaction.rollback()
        if len(rows) != min(ctx.sizes.c5_due, CLAIM_LIMIT):
            raise RuntimeError(f"the claim returned {len(rows)} runs")
    return workload.median(times[1:])  # the first try warms the cache and the plan


def measure_claims(ctx: BenchContext) -> dict[str, Figure]:
    sizes = ctx.sizes
    ctx.reset_tables()
    owner = workload.create_owner(ctx.engine)
    far = workload.now_utc() + timedelta(days=1)
    with ctx.engine.begin() as conn:
        workload.insert_runs(conn, owner, workload.now_utc() - timedelta(minutes=1), sizes.c5_due)
        workload.insert_future_filler(conn, owner, far, sizes.c5_small_future)
    vacuum_analyze(ctx)
    small = claim_ms(ctx, sizes.c5_tries)
    loading = time.perf_counter()
    extra = sizes.c5_large_future - sizes.c5_small_future
    with ctx.engine.begin() as conn:
        workload.insert_future_filler(conn, owner, far + timedelta(days=1), extra)
    vacuum_analyze(ctx)
    load_seconds = time.perf_counter() - loading
    large = claim_ms(ctx, sizes.c5_tries)
    ctx.reset_tables()
    tries = f"median of {sizes.c5_tries}, {sizes.c5_due} due runs"
    return {
        "c5_claim_small": Figure(small, "ms", f"{sizes.c5_small_future:,} future; {tries}"),
        "c5_claim_large": Figure(
            large, "ms", f"{sizes.c5_large_future:,} future (loaded in {load_seconds:.0f} s)"
        ),
        "c5_ratio": Figure(large / small, "x", "claim time large / small"),
    }


def measure_rss(ctx: BenchContext) -> Figure:
    count = ctx.sizes.c5_rss_runs
    ctx.reset_tables()
    owner = workload.create_owner(ctx.engine)
    with ctx.engine.begin() as conn:
        workload.insert_runs(conn, owner, workload.now_utc() - timedelta(seconds=1), count)
    vacuum_analyze(ctx)
    scheduler = start_scheduler(ctx, "scheduler-rss")
    peak: float | None = None
    try:
        wait_for(
            lambda: workload.count_where(ctx.engine, "published_at IS NOT NULL") >= count,
            ctx.sizes.patience_seconds,
            f"{count} runs to be published",
            interval=0.25,
            children=[scheduler],
        )
        peak = peak_rss_mb(scheduler.pid)
    finally:
        scheduler.stop()
        ctx.purge(ctx.chronos_queue)
    spawned = datetime.fromtimestamp(scheduler.started, UTC)
    seconds = (workload.latest(ctx.engine, "published_at") - spawned).total_seconds()
    ctx.reset_tables()
    if peak is None:
        raise RuntimeError("could not read the scheduler's VmHWM")
    return Figure(
        peak, "MB", f"VmHWM after dispatching {count:,} runs ({count / seconds:,.0f}/s from spawn)"
    )


def measure(ctx: BenchContext) -> dict[str, Figure]:
    figures: dict[str, Figure] = {}
    try:
        figures.update(measure_claims(ctx))
    except Exception as error:
        for key in ("c5_claim_small", "c5_claim_large", "c5_ratio"):
            figures[key] = Figure(unit="ms", error=f"{error.__class__.__name__}: {error}")
    figures["c5_rss"] = measure_rss(ctx)
    return figures


BENCHMARK = Benchmark(
    "C5",
    {"c5_claim_small": "ms", "c5_claim_large": "ms", "c5_ratio": "x", "c5_rss": "MB"},
    measure,
)

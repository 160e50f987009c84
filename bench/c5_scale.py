"""C5, scale: does the scheduler stay fast and small as the ``runs`` table grows?

- Claim time: one claim of up to 500 due runs as the dispatcher makes it (the fair claim
  of ``shared.repository.claim``: ``hold_queues``, ``due_groups`` and
  ``claim_groups`` in one transaction), rolled back, with a fixed 500 due runs and first
  10,000 then 1,000,000 future pending runs in the table; median of several tries.
  The due index (``queue, owner_id, priority, due_at`` where pending) should make the
  claim depend on the due groups only, so the goal is that 100x the table costs at most
  2x the claim. The future runs are far-future filler, 100 per job, and the table is
  VACUUM ANALYZEd after loading, as autovacuum would have done on a table that grew
  gradually.
- Claim time with many owners: the same claim with 1,000,000 runs already due, from
  1,000 owners (1,000 each): the fair claim reads one index probe per owner, so this is
  its worst case short of more owners.
- Peak RSS: VmHWM of a fresh ``python -m scheduler`` process, read just before it is
  stopped, after it dispatched 100,000 due runs (no worker: they stay in the queue, and
  the dispatch backlog bound is off, ``CHRONOS_QUEUE_BACKLOG=0``).
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
from shared.repository import claim as claim_repo
from shared.repository.dispatch import CONFIRMED, PUBLISHED_AT

CLAIM_LIMIT = 500


def vacuum_analyze(ctx: BenchContext) -> None:
    with ctx.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(
            text("VACUUM ANALYZE runs, jobs")
        )


def claim_ms(ctx: BenchContext, tries: int, due: int) -> float:
    """Median time of one claim of up to 500 due runs, the dispatcher's three statements
    (rolled back, so each try claims the same runs)."""
    backlog = ctx.settings.queue_backlog
    times: list[float] = []
    for _ in range(tries + 1):
        with ctx.engine.connect() as conn:
            transaction = conn.begin()
            try:
                started = time.perf_counter()
                now = workload.now_utc()
                held = list(claim_repo.hold_queues(conn, bounded=backlog > 0))
                plan = claim_repo.due_groups(
                    conn, now, held=held, limit=CLAIM_LIMIT, backlog=backlog
                )
                rows = claim_repo.claim_groups(conn, plan, now, CLAIM_LIMIT)
                times.append((time.perf_counter() - started) * 1000)
            finally:
                transaction.rollback()
        if len(rows) != min(due, CLAIM_LIMIT):
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
    small = claim_ms(ctx, sizes.c5_tries, sizes.c5_due)
    loading = time.perf_counter()
    extra = sizes.c5_large_future - sizes.c5_small_future
    with ctx.engine.begin() as conn:
        workload.insert_future_filler(conn, owner, far + timedelta(days=1), extra)
    vacuum_analyze(ctx)
    load_seconds = time.perf_counter() - loading
    large = claim_ms(ctx, sizes.c5_tries, sizes.c5_due)
    ctx.reset_tables()
    tries = f"median of {sizes.c5_tries}, {sizes.c5_due} due runs"
    return {
        "c5_claim_small": Figure(small, "ms", f"{sizes.c5_small_future:,} future; {tries}"),
        "c5_claim_large": Figure(
            large, "ms", f"{sizes.c5_large_future:,} future (loaded in {load_seconds:.0f} s)"
        ),
        "c5_ratio": Figure(large / small, "x", "claim time large / small"),
    }


def measure_owners(ctx: BenchContext) -> Figure:
    """The claim with ``c5_owners`` owners' ``c5_owner_due`` due runs each."""
    sizes = ctx.sizes
    total = sizes.c5_owners * sizes.c5_owner_due
    ctx.reset_tables()
    loading = time.perf_counter()
    with ctx.engine.begin() as conn:
        workload.insert_owners_due(
            conn, sizes.c5_owners, sizes.c5_owner_due, workload.now_utc() - timedelta(minutes=1)
        )
    vacuum_analyze(ctx)
    load_seconds = time.perf_counter() - loading
    value = claim_ms(ctx, sizes.c5_tries, total)
    ctx.reset_tables()
    return Figure(
        value,
        "ms",
        f"{total:,} due runs of {sizes.c5_owners:,} owners (loaded in {load_seconds:.0f} s); "
        f"median of {sizes.c5_tries}",
    )


def measure_rss(ctx: BenchContext) -> Figure:
    count = ctx.sizes.c5_rss_runs
    ctx.reset_tables()
    owner = workload.create_owner(ctx.engine)
    with ctx.engine.begin() as conn:
        workload.insert_runs(conn, owner, workload.now_utc() - timedelta(seconds=1), count)
    vacuum_analyze(ctx)
    # No worker: with the backlog bound on, the dispatch would stop at 500 queued runs.
    scheduler = start_scheduler(ctx, "scheduler-rss", backlog=0)
    peak: float | None = None
    try:
        wait_for(
            lambda: workload.count_where(ctx.engine, CONFIRMED) >= count,
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
    seconds = (workload.latest(ctx.engine, PUBLISHED_AT) - spawned).total_seconds()
    ctx.reset_tables()
    if peak is None:
        raise RuntimeError("could not read the scheduler's VmHWM")
    return Figure(
        peak,
        "MB",
        f"VmHWM after dispatching {count:,} runs ({count / seconds:,.0f}/s from spawn), "
        "CHRONOS_QUEUE_BACKLOG=0",
    )


def measure(ctx: BenchContext) -> dict[str, Figure]:
    figures: dict[str, Figure] = {}
    try:
        figures.update(measure_claims(ctx))
    except Exception as error:
        for key in ("c5_claim_small", "c5_claim_large", "c5_ratio"):
            figures[key] = Figure(unit="ms", error=f"{error.__class__.__name__}: {error}")
    try:
        figures["c5_claim_owners"] = owners = measure_owners(ctx)
        small = figures["c5_claim_small"].value
        if small and owners.value is not None:
            owners.note += f"; {owners.value / small:.1f}x the one-owner claim"
    except Exception as error:
        figures["c5_claim_owners"] = Figure(unit="ms", error=f"{error.__class__.__name__}: {error}")
    figures["c5_rss"] = measure_rss(ctx)
    return figures


BENCHMARK = Benchmark(
    "C5",
    {
        "c5_claim_small": "ms",
        "c5_claim_large": "ms",
        "c5_ratio": "x",
        "c5_claim_owners": "ms",
        "c5_rss": "MB",
    },
    measure,
)

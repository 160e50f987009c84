"""C1, dispatch: how fast due runs become confirmed messages in RabbitMQ and are marked
``published_at``, with no worker running (so nothing competes with the scheduler).

N runs come due at one instant. The real ``python -m scheduler`` process is measured
from the due time to the last ``published_at`` (read back from the database). The same
dispatch path is also driven in-process (``Dispatcher.run_once()`` in a loop, no
process start, no wake-up latency) to show what the loop alone costs.

The limit is L1 batched: each dispatched run is one persistent, confirmed message, and
the scheduler also needs two commits per batch of 500 (claim, mark) that L1 does not.

With no worker, nothing ever starts a run, so the dispatch backlog bound
(``CHRONOS_QUEUE_BACKLOG``, default 500 published-but-not-started runs per queue) would
stop the dispatch at 500: both C1 rows run with the bound off (``0``). A third row runs
the scheduler with the bound as configured and shows where it stops: the runs beyond it
wait in PostgreSQL until workers start the ones before them (C2 is that case).
"""

from __future__ import annotations

import dataclasses
import time
from datetime import timedelta

from bench import workload
from bench.benchmark import Benchmark
from bench.context import BenchContext
from bench.procs import wait_for
from bench.report import Figure
from bench.stack import start_scheduler, wait_dispatching
from scheduler.dispatcher import Dispatcher
from scheduler.publisher import Publisher
from shared.clock import SystemClock
from shared.repository.dispatch import CONFIRMED, PUBLISHED_AT

# How long the published count must stay put for the dispatch to count as stopped.
SETTLE_SECONDS = 1.0


def dispatch_burst(
    ctx: BenchContext, count: int, expected: int, backlog: int | None
) -> tuple[workload.Burst, int, float]:
    """A fresh ``python -m scheduler`` (with ``backlog`` as its CHRONOS_QUEUE_BACKLOG, or
    the run's) and ``count`` runs due at once: waits until ``expected`` are published,
    and returns the burst, the runs published ``SETTLE_SECONDS`` later (the bound holds:
    no more) and the seconds from the due time to the last ``published_at``."""
    owner = workload.create_owner(ctx.engine)
    scheduler = start_scheduler(ctx, backlog=backlog)
    try:
        wait_dispatching(ctx, scheduler, owner)
        ctx.purge(ctx.chronos_queue)
        ctx.reset_tables()
        burst = workload.insert_burst(ctx.engine, owner, count, ctx.sizes.lead_seconds)
        wait_for(
            lambda: workload.count_where(ctx.engine, CONFIRMED) >= expected,
            ctx.sizes.patience_seconds,
            f"{expected} runs to be published",
            interval=0.1,
            children=[scheduler],
        )
        if expected < count:
            time.sleep(SETTLE_SECONDS)
        published = workload.count_where(ctx.engine, CONFIRMED)
    finally:
        scheduler.stop()
    seconds = (workload.latest(ctx.engine, PUBLISHED_AT) - burst.first_due).total_seconds()
    return burst, published, seconds


def measure_process(ctx: BenchContext, count: int) -> Figure:
    """The scheduler with the backlog bound off: every run of the burst is published."""
    burst, _, seconds = dispatch_burst(ctx, count, count, backlog=0)
    note = (
        f"{count:,} runs due at once; python -m scheduler with CHRONOS_QUEUE_BACKLOG=0, "
        "due time to last published_at"
    )
    if burst.late:
        note += " (insert overran the due time)"
    return Figure(count / seconds, "/s", note)


def measure_bounded(ctx: BenchContext, count: int) -> Figure:
    """The scheduler with the backlog bound as configured, no worker: how fast it
    publishes up to the bound, and that it stops there."""
    bound = ctx.settings.queue_backlog
    expected = count if bound == 0 else min(count, bound)
    burst, published, seconds = dispatch_burst(ctx, count, expected, backlog=None)
    if published != expected:
        raise RuntimeError(f"{published} runs published past a backlog bound of {bound}")
    shown = "off" if bound == 0 else f"{bound:,}"
    note = (
        f"CHRONOS_QUEUE_BACKLOG {shown}, no worker: {published:,} of {count:,} published in "
        f"{seconds:.2f} s"
    )
    if expected < count:
        note += f", none more {SETTLE_SECONDS:g} s later (the rest wait as pending)"
    if burst.late:
        note += " (insert overran the due time)"
    return Figure(published / seconds, "/s", note)


def measure_in_process(ctx: BenchContext, count: int) -> Figure:
    owner = workload.create_owner(ctx.engine)
    with ctx.engine.begin() as conn:
        workload.insert_runs(conn, owner, workload.now_utc() - timedelta(seconds=1), count)
    settings = dataclasses.replace(ctx.settings, queue_backlog=0)  # no worker: no bound
    publisher = Publisher(settings)
    dispatcher = Dispatcher(settings, ctx.engine, publisher, SystemClock())
    published = 0
    try:
        started = time.perf_counter()
        while True:
            result = dispatcher.run_once()
            published += result.published
            if result.claimed < dispatcher.batch_size:
                break
        elapsed = time.perf_counter() - started
    finally:
        publisher.close()
    if published != count:
        raise RuntimeError(f"published {published} of {count} runs")
    return Figure(
        count / elapsed,
        "/s",
        f"{count:,} runs; Dispatcher.run_once() loop, batches of 500, CHRONOS_QUEUE_BACKLOG=0",
    )


def measure(ctx: BenchContext) -> dict[str, Figure]:
    count = ctx.sizes.c1_runs
    figures: dict[str, Figure] = {}
    try:
        ctx.reset_tables()
        figures["c1"] = measure_process(ctx, count)
        ctx.purge(ctx.chronos_queue)
        ctx.reset_tables()
        figures["c1_inprocess"] = measure_in_process(ctx, count)
        ctx.purge(ctx.chronos_queue)
        ctx.reset_tables()
        figures["c1_bounded"] = measure_bounded(ctx, count)
    finally:
        ctx.purge(ctx.chronos_queue)
        ctx.reset_tables()
    return figures


BENCHMARK = Benchmark("C1", {"c1": "/s", "c1_inprocess": "/s", "c1_bounded": "/s"}, measure)

"""C1, dispatch: how fast due runs become confirmed messages in RabbitMQ and are marked
``published_at``, with no worker running (so nothing competes with the scheduler).

N runs come due at one instant. The real ``python -m scheduler`` process is measured
from the due time to the last ``published_at`` (read back from the database). The same
dispatch path is also driven in-process (``Dispatcher.run_once()`` in a loop, no
process start, no wake-up latency) to show what the loop alone costs.

The limit is L1 batched: each dispatched run is one persistent, confirmed message, and
the scheduler also needs two commits per batch of 500 (claim, mark) that L1 does not.
"""

from __future__ import annotations

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


def measure_process(ctx: BenchContext, count: int) -> Figure:
    owner = workload.create_owner(ctx.engine)
    scheduler = start_scheduler(ctx)
    try:
        wait_dispatching(ctx, scheduler, owner)
        ctx.purge(ctx.chronos_queue)
        ctx.reset_tables()
        burst = workload.insert_burst(ctx.engine, owner, count, ctx.sizes.lead_seconds)
        wait_for(
            lambda: workload.count_where(ctx.engine, "published_at IS NOT NULL") >= count,
            ctx.sizes.patience_seconds,
            f"{count} runs to be published",
            interval=0.1,
            children=[scheduler],
        )
    finally:
        scheduler.stop()
    seconds = (workload.latest(ctx.engine, "published_at") - burst.first_due).total_seconds()
    note = f"{count:,} runs due at once; python -m scheduler, due time to last published_at"
    if burst.late:
        note += " (insert overran the due time)"
    return Figure(count / seconds, "/s", note)


def measure_in_process(ctx: BenchContext, count: int) -> Figure:
    owner = workload.create_owner(ctx.engine)
    with ctx.engine.begin() as conn:
        workload.insert_runs(conn, owner, workload.now_utc() - timedelta(seconds=1), count)
    publisher = Publisher(ctx.settings)
    dispatcher = Dispatcher(ctx.settings, ctx.engine, publisher, SystemClock())
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
        count / elapsed, "/s", f"{count:,} runs; Dispatcher.run_once() loop, batches of 500"
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
    finally:
        ctx.purge(ctx.chronos_queue)
        ctx.reset_tables()
    return figures


BENCHMARK = Benchmark("C1", {"c1": "/s", "c1_inprocess": "/s"}, measure)

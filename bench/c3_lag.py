"""C3, lag: ``started_at - scheduled_for`` (how late a run starts on the worker after its
due time), p50 and p99, for runs coming due evenly at 50/s and then at 500/s, with the
scheduler and worker already running and warm.

There is no lower limit to measure here: the goal is absolute (a job scheduler that
starts jobs within milliseconds of their time). The path is: the scheduler wakes at the
earliest due time, claims, publishes, marks; RabbitMQ delivers; a worker thread claims.
"""

from __future__ import annotations

from bench import workload
from bench.benchmark import Benchmark
from bench.context import BenchContext
from bench.procs import wait_for
from bench.report import Figure
from bench.stack import WORKER_STACK


def lags(ctx: BenchContext, count: int, rate: float) -> tuple[list[float], str, str]:
    """Insert ``count`` runs due ``1/rate`` apart; the start lags in ms once all finished."""
    scheduler, worker = WORKER_STACK.ensure(ctx)
    owner = workload.create_owner(ctx.engine)
    burst = workload.insert_burst(ctx.engine, owner, count, ctx.sizes.lead_seconds, 1 / rate)
    span = count / rate
    wait_for(
        lambda: workload.count_where(ctx.engine, "finished_at IS NOT NULL") >= count,
        span + ctx.sizes.patience_seconds,
        f"{count} runs to finish",
        interval=0.2,
        children=[scheduler, worker],
    )
    values = workload.start_lags_ms(ctx.engine)
    p50_split = workload.phase_split(ctx.engine, 0.5)
    p99_split = workload.phase_split(ctx.engine, 0.99)
    ctx.reset_tables()
    note = f"{count:,} runs over {span:g} s; {p50_split}"
    if burst.late:
        note += " (insert overran the first due time)"
    return values, note, p99_split


def measure(ctx: BenchContext) -> dict[str, Figure]:
    figures: dict[str, Figure] = {}
    for rate, runs, prefix in (
        (50, ctx.sizes.c3_slow_runs, "c3_50"),
        (500, ctx.sizes.c3_fast_runs, "c3_500"),
    ):
        values, note, p99_split = lags(ctx, runs, rate)
        figures[f"{prefix}_p50"] = Figure(workload.percentile(values, 0.50), "ms", note)
        figures[f"{prefix}_p99"] = Figure(
            workload.percentile(values, 0.99), "ms", f"max {max(values):.0f} ms; {p99_split}"
        )
    return figures


BENCHMARK = Benchmark(
    "C3",
    {"c3_50_p50": "ms", "c3_50_p99": "ms", "c3_500_p50": "ms", "c3_500_p99": "ms"},
    measure,
    uses_worker_stack=True,
)

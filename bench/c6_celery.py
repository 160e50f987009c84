"""C6, side by side: Celery (RabbitMQ broker, the ``bench`` extra) through C2's burst,
C3's evenly spread timed jobs and C9's mixed durations (:mod:`bench.c9_celery`), so users
can compare it with Chronos on this machine.

Like for like: 2 worker processes x 8 threads (two ``celery worker --pool threads
--concurrency 8``, since one Celery worker cannot mix processes and threads), persistent
messages on a durable queue, one PostgreSQL write per task (Chronos does more per run:
claim and finish, status, heartbeats). Timed jobs use ``apply_async(eta=...)``, sent
before they come due; lag is ``started_at - eta`` as recorded by the task.

Celery holds ETA tasks in the worker's memory until due, and does not persist a
schedule anywhere but in the broker's unacked messages: that is the trade-off the
comparison puts next to Chronos's PostgreSQL-backed schedule.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime, timedelta
from types import ModuleType

from sqlalchemy import text

from bench import c9_celery, workload
from bench.benchmark import Benchmark
from bench.context import BenchContext, libpq_url
from bench.procs import Child, spawn, stop_together, venv_tool, wait_for
from bench.report import Figure

PROCESSES = 2
THREADS = 8
CELERY_READY = " ready."
# A cautious apply_async rate on this machine: etas are set this far ahead of the sending,
# so that every task is in the broker before it comes due.
SEND_RATE = 400


def celery_env(ctx: BenchContext, queue: str) -> dict[str, str]:
    return {
        "BENCH_BROKER_URL": ctx.broker_url,
        "BENCH_CELERY_QUEUE": queue,
        "BENCH_CELERY_DATABASE_URL": libpq_url(ctx.database_url),
    }


def load_app(env: dict[str, str]) -> ModuleType:
    os.environ.update(env)
    from bench import celery_tasks

    return celery_tasks


def start_workers(ctx: BenchContext, env: dict[str, str]) -> list[Child]:
    workers = []
    for index in range(PROCESSES):
        argv = [
            venv_tool("celery"),
            "-A",
            "bench.celery_tasks",
            "worker",
            "--pool",
            "threads",
            "--concurrency",
            str(THREADS),
            "-n",
            f"bench{index}-{ctx.token}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel",
            "INFO",
        ]
        workers.append(spawn(f"celery-{index}", argv, ctx.child_env(**env), ctx.log_dir))
    wait_for(
        lambda: all(worker.log_count(CELERY_READY) for worker in workers),
        90,
        "the Celery workers to be ready",
        children=workers,
    )
    return workers


def prepare_rows(ctx: BenchContext, count: int) -> None:
    with ctx.engine.begin() as conn:
        conn.execute(text("TRUNCATE bench_celery"))
        conn.execute(
            text("INSERT INTO bench_celery (id) SELECT g FROM generate_series(1, :n) g"),
            {"n": count},
        )


def finished(ctx: BenchContext) -> int:
    with ctx.engine.connect() as conn:
        return int(
            conn.scalar(text("SELECT count(*) FROM bench_celery WHERE finished_at IS NOT NULL"))
            or 0
        )


def send(tasks: ModuleType, etas: list[datetime]) -> None:
    for row_id, eta in enumerate(etas, start=1):
        tasks.touch.apply_async((row_id,), eta=eta)


# Sends a workload's tasks, one per eta, for row ids 1..len(etas).
Send = Callable[[ModuleType, list[datetime]], None]


def run_workload(
    ctx: BenchContext,
    tasks: ModuleType,
    workers: list[Child],
    etas: list[datetime],
    sender: Send = send,
) -> bool:
    """Send tasks with these etas and wait for all; False if sending overran the first."""
    prepare_rows(ctx, len(etas))
    sender(tasks, etas)
    on_time = workload.now_utc() <= etas[0]
    span = (etas[-1] - workload.now_utc()).total_seconds()
    wait_for(
        lambda: finished(ctx) >= len(etas),
        max(0.0, span) + ctx.sizes.patience_seconds,
        f"{len(etas)} Celery tasks to finish",
        interval=0.1,
        children=workers,
    )
    return on_time


def late_note(on_time: bool) -> str:
    return "" if on_time else " (sending overran the first eta)"


def evenly(count: int, rate: float, lead: float) -> list[datetime]:
    first = workload.now_utc() + timedelta(seconds=lead)
    return [first + timedelta(seconds=index / rate) for index in range(count)]


def lags_ms(ctx: BenchContext, etas: list[datetime]) -> list[float]:
    with ctx.engine.connect() as conn:
        rows = conn.execute(text("SELECT id, started_at FROM bench_celery ORDER BY id"))
        return [(started - etas[row_id - 1]).total_seconds() * 1000 for row_id, started in rows]


def measure(ctx: BenchContext) -> dict[str, Figure]:
    sizes = ctx.sizes
    queue = ctx.track_queue(f"{ctx.queue_prefix}celery")
    ctx.exchanges.add(queue)
    env = celery_env(ctx, queue)
    try:
        tasks = load_app(env)
    except ImportError as error:
        message = f"Celery is not installed (pip install -e '.[bench]'): {error}"
        return {key: Figure(unit=unit, error=message) for key, unit in UNITS.items()}
    with ctx.engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TABLE bench_celery (id integer PRIMARY KEY, started_at timestamptz, "
                "finished_at timestamptz)"
            )
        )
    shape = f"2 workers x --pool threads --concurrency {THREADS}"
    figures: dict[str, Figure] = {}
    workers = start_workers(ctx, env)
    try:
        run_workload(ctx, tasks, workers, evenly(8 * THREADS, 1000, 0.0))  # warm-up
        # C2: all due at one instant, sent (with their eta) before it comes.
        count = sizes.c6_burst
        due = workload.now_utc() + timedelta(seconds=sizes.lead_seconds + count / SEND_RATE)
        on_time = run_workload(ctx, tasks, workers, [due] * count)
        with ctx.engine.connect() as conn:
            last = conn.scalar(text("SELECT max(finished_at) FROM bench_celery"))
        seconds = (last - due).total_seconds()
        figures["c6_c2"] = Figure(
            count / seconds,
            "/s",
            f"{count:,} tasks with one eta, {shape}, {seconds:.1f} s{late_note(on_time)}",
        )
        # C3: evenly at 50/s and at 500/s.
        for rate, runs, prefix in (
            (50, sizes.c3_slow_runs, "c6_c3_50"),
            (500, sizes.c3_fast_runs, "c6_c3_500"),
        ):
            etas = evenly(runs, rate, sizes.lead_seconds + runs / SEND_RATE)
            on_time = run_workload(ctx, tasks, workers, etas)
            values = lags_ms(ctx, etas)
            note = f"{runs:,} tasks over {runs / rate:g} s, eta{late_note(on_time)}"
            figures[f"{prefix}_p50"] = Figure(workload.percentile(values, 0.5), "ms", note)
            figures[f"{prefix}_p99"] = Figure(
                workload.percentile(values, 0.99), "ms", f"max {max(values):.0f} ms"
            )
        # C9: mixed durations, all due at one instant, every 20th a sleep.
        count = sizes.c9_runs
        due = workload.now_utc() + timedelta(seconds=sizes.lead_seconds + count / SEND_RATE)
        on_time = run_workload(ctx, tasks, workers, [due] * count, sender=c9_celery.send_mixed)
        figures["c6_c9"] = c9_celery.noop_waits(ctx, due, late_note(on_time))
    finally:
        # Measured already: Celery's warm shutdown of held ETA tasks is not worth waiting for.
        stop_together(workers, grace=1.0)
        tasks.app.close()
        with ctx.engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS bench_celery"))
    figures.pop("c6_c3_500_p50", None)
    return figures


UNITS = {
    "c6_c2": "/s",
    "c6_c3_50_p50": "ms",
    "c6_c3_50_p99": "ms",
    "c6_c3_500_p99": "ms",
    "c6_c9": "ms",
}
BENCHMARK = Benchmark("C6", UNITS, measure)

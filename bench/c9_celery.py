"""C9's mixed durations on Celery, run by C6 with its workers: the same N tasks with one
eta, every 20th a sleep of 0.2 s (``bench.celery_tasks.sleep``), the others the touch
that C6's bursts send. The figure is the no-ops' p99 wait, from the eta to the moment
the task begins (``started_at``, recorded by the task before it does anything)."""

from __future__ import annotations

from datetime import datetime
from types import ModuleType

from sqlalchemy import text

from bench import workload
from bench.c9_mixed import SLEEP_EVERY, SLEEP_SECONDS
from bench.context import BenchContext
from bench.report import Figure

# The touches' rows: row ids that are not a multiple of SLEEP_EVERY.
NOOP_STARTS = text("SELECT started_at FROM bench_celery WHERE id % :every <> 0")


def send_mixed(tasks: ModuleType, etas: list[datetime]) -> None:
    """Row ids 1..N in order; the 20th, 40th, ... sleep (as Chronos's C9 jobs)."""
    for row_id, eta in enumerate(etas, start=1):
        if row_id % SLEEP_EVERY == 0:
            tasks.sleep.apply_async((row_id, SLEEP_SECONDS), eta=eta)
        else:
            tasks.touch.apply_async((row_id,), eta=eta)


def noop_waits(ctx: BenchContext, due: datetime, late: str) -> Figure:
    """The figure, once every task of the mixed workload due at ``due`` finished."""
    count = ctx.sizes.c9_runs
    with ctx.engine.connect() as conn:
        starts = list(conn.scalars(NOOP_STARTS, {"every": SLEEP_EVERY}))
        last = conn.scalar(text("SELECT max(finished_at) FROM bench_celery"))
    waits = [(started - due).total_seconds() * 1000 for started in starts]
    seconds = (last - due).total_seconds()
    note = (
        f"{count:,} tasks with one eta, every {SLEEP_EVERY}th a sleep of {SLEEP_SECONDS:g} s; "
        f"{len(waits):,} no-ops, p50 {workload.percentile(waits, 0.5):.0f} ms, "
        f"max {max(waits):.0f} ms; all finished after {seconds:.1f} s{late}"
    )
    return Figure(workload.percentile(waits, 0.99), "ms", note)

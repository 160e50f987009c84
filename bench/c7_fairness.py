"""C7, fairness: owner A has a burst of N ``noop`` runs due now and owner B a few due at
the same instant, through the real scheduler and workers (the C2 stack). The fair claim
takes due runs in turns by owner, so B's runs go out in the first batch instead of
behind A's whole burst.

Each figure is compared with the same burst of that owner alone, in the same run:

- B's start lag (``started_at - scheduled_for``, from the database), p99, with A's burst
  against B alone. The goal: at most twice B alone.
- A's throughput (runs per second from the due time to A's last ``finished_at``) with
  B's runs against A alone: what sharing costs the big owner (no goal).

The three bursts (B alone, A alone, both) are repeated in turn and each figure is the
median over the repeats, as the machine's speed drifts.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import text

from bench import workload
from bench.benchmark import Benchmark
from bench.context import BenchContext
from bench.procs import wait_for
from bench.report import Figure
from bench.stack import WORKER_STACK

# A's burst takes longer to insert than the others' lead time: due this long after the
# insert starts, for every burst alike.
LEAD_PER_RUN = 0.0001


def owner_lags_ms(ctx: BenchContext, owner: uuid.UUID) -> list[float]:
    with ctx.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT extract(epoch FROM started_at - scheduled_for) * 1000 FROM runs "
                "WHERE owner_id = :owner AND started_at IS NOT NULL"
            ),
            {"owner": owner},
        )
        return [float(row[0]) for row in rows]


def owner_last_finish(ctx: BenchContext, owner: uuid.UUID) -> datetime:
    with ctx.engine.connect() as conn:
        value: datetime | None = conn.scalar(
            text("SELECT max(finished_at) FROM runs WHERE owner_id = :owner"), {"owner": owner}
        )
    if value is None:
        raise RuntimeError("no run of the owner finished")
    return value


@dataclass(frozen=True)
class Outcome:
    a_rate: float | None  # A's runs per second; None: A had no runs
    b_p99: float | None  # B's start lag p99, ms; None: B had no runs
    b_split: str  # where B's lag went
    late: bool  # the insert overran the due time


def burst(ctx: BenchContext, a_runs: int, b_runs: int) -> Outcome:
    """One burst of A's and B's runs, due at one instant."""
    scheduler, worker = WORKER_STACK.ensure(ctx)
    a = workload.create_owner(ctx.engine)
    b = workload.create_owner(ctx.engine)
    lead = ctx.sizes.lead_seconds + LEAD_PER_RUN * ctx.sizes.c7_a_runs
    first_due = workload.now_utc() + timedelta(seconds=lead)
    with ctx.engine.begin() as conn:
        if a_runs:
            workload.insert_runs(conn, a, first_due, a_runs)
        if b_runs:
            workload.insert_runs(conn, b, first_due, b_runs)
        workload.notify_scheduler(conn, first_due)
    late = workload.now_utc() > first_due
    total = a_runs + b_runs
    wait_for(
        lambda: workload.count_where(ctx.engine, "finished_at IS NOT NULL") >= total,
        ctx.sizes.patience_seconds,
        f"{total} runs to finish",
        interval=0.1,
        children=[scheduler, worker],
    )
    failed = workload.count_where(ctx.engine, "state <> 'succeeded'")
    if failed:
        raise RuntimeError(f"{failed} of {total} runs did not succeed")
    a_rate = None
    if a_runs:
        a_rate = a_runs / (owner_last_finish(ctx, a) - first_due).total_seconds()
    b_p99 = workload.percentile(owner_lags_ms(ctx, b), 0.99) if b_runs else None
    b_split = workload.phase_split(ctx.engine, 0.99, b) if b_runs else ""
    ctx.reset_tables()
    return Outcome(a_rate, b_p99, b_split, late)


def measure(ctx: BenchContext) -> dict[str, Figure]:
    sizes = ctx.sizes
    a_runs, b_runs = sizes.c7_a_runs, sizes.c7_b_runs
    b_alone: list[float] = []
    a_alone: list[float] = []
    b_mixed: list[float] = []
    a_mixed: list[float] = []
    alone_splits: list[str] = []
    mixed_splits: list[str] = []
    late = False
    for _ in range(sizes.c7_repeats):
        outcomes = [burst(ctx, 0, b_runs), burst(ctx, a_runs, 0), burst(ctx, a_runs, b_runs)]
        b_alone.append(_known(outcomes[0].b_p99))
        alone_splits.append(outcomes[0].b_split)
        a_alone.append(_known(outcomes[1].a_rate))
        a_mixed.append(_known(outcomes[2].a_rate))
        b_mixed.append(_known(outcomes[2].b_p99))
        mixed_splits.append(outcomes[2].b_split)
        late = late or any(outcome.late for outcome in outcomes)
    median = workload.median
    tries = f"median of {sizes.c7_repeats}"
    overran_note = " (an insert overran the due time)" if late else ""
    b_ratio = median(b_mixed) / median(b_alone)
    a_ratio = median(a_mixed) / median(a_alone)
    return {
        "c7_b_alone": Figure(
            median(b_alone),
            "ms",
            f"{b_runs} noop runs due at once, no other owner; {tries}; "
            f"{_middle(b_alone, alone_splits)}",
        ),
        "c7_b_p99": Figure(
            median(b_mixed),
            "ms",
            f"{b_ratio:.2f}x B alone; {b_runs} runs due with A's {a_runs:,}; "
            f"per repeat {_listed(b_mixed, 'ms')}; {_middle(b_mixed, mixed_splits)}"
            f"{overran_note}",
        ),
        "c7_a_alone": Figure(
            median(a_alone), "/s", f"{a_runs:,} noop runs due at once, no other owner; {tries}"
        ),
        "c7_a": Figure(
            median(a_mixed),
            "/s",
            f"{a_ratio:.2f}x A alone; due time to A's last finished_at, with B's {b_runs}; "
            f"per repeat {_listed(a_mixed, '/s')}{overran_note}",
        ),
    }


def _middle(values: list[float], splits: list[str]) -> str:
    """The phase split of the repeat whose figure is the median."""
    ranked = sorted(range(len(values)), key=values.__getitem__)
    return splits[ranked[(len(ranked) - 1) // 2]]


def _known(value: float | None) -> float:
    if value is None:
        raise RuntimeError("a burst measured nothing")
    return value


def _listed(values: list[float], unit: str) -> str:
    digits = 1 if unit == "ms" else 0
    return ", ".join(f"{value:,.{digits}f}" for value in values) + f" {unit}"


BENCHMARK = Benchmark(
    "C7",
    {"c7_b_alone": "ms", "c7_b_p99": "ms", "c7_a_alone": "/s", "c7_a": "/s"},
    measure,
    uses_worker_stack=True,
)

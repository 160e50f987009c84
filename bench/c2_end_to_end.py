"""C2, end to end: N ``noop`` jobs all come due at one instant and all succeed, through
the real scheduler and ``dramatiq worker --processes 2 --threads 8``: runs per second
from the due time to the last ``finished_at``.

The limit is L2: the same worker shape doing only the two commits a run needs. Chronos
adds the claim and the publish (C1, in parallel with the workers) and its bookkeeping
per run, so C2 at or near L2 means that bookkeeping is nearly free.
"""

from __future__ import annotations

from sqlalchemy import text

from bench import workload
from bench.benchmark import Benchmark
from bench.context import BenchContext
from bench.procs import wait_for
from bench.report import Figure
from bench.stack import WORKER_PROCESSES, WORKER_STACK, WORKER_THREADS
from shared.repository.dispatch import PUBLISHED_AT

# Every run of one claim has the claim's ``now`` as its queued_at.
CLAIM_SIZES = text(
    "SELECT count(*) AS claims, percentile_cont(0.5) WITHIN GROUP (ORDER BY n) AS median "
    "FROM (SELECT count(*) AS n FROM runs WHERE queued_at IS NOT NULL GROUP BY queued_at) AS c"
)


def claim_sizes(ctx: BenchContext) -> str:
    """How many claims took the burst, and their median size."""
    with ctx.engine.connect() as conn:
        row = conn.execute(CLAIM_SIZES).one()
    return f"{row.claims} claims of median {row.median:.0f} runs"


# C2 by K: the burst again with at most 4 runs per message, and with one run per message
# (as before multi-run messages); C2 itself runs with the default (16).
FEWER_RUNS_PER_MESSAGE = (4, 1)


def measure(ctx: BenchContext) -> dict[str, Figure]:
    figures = {"c2": burst(ctx)}
    try:
        for most in FEWER_RUNS_PER_MESSAGE:
            figures[f"c2_k{most}"] = burst(ctx, CHRONOS_RUNS_PER_MESSAGE=str(most))
    finally:
        WORKER_STACK.ensure(ctx)  # the default scheduler again, for what runs next
    return figures


def burst(ctx: BenchContext, **scheduler_settings: str) -> Figure:
    count = ctx.sizes.c2_runs
    scheduler, worker = WORKER_STACK.ensure(ctx, **scheduler_settings)
    messages_before = WORKER_STACK.scheduler_counter("messages")
    runs_before = WORKER_STACK.scheduler_counter("published")
    owner = workload.create_owner(ctx.engine)
    burst = workload.insert_burst(ctx.engine, owner, count, ctx.sizes.lead_seconds)
    wait_for(
        lambda: workload.count_where(ctx.engine, "finished_at IS NOT NULL") >= count,
        ctx.sizes.patience_seconds,
        f"{count} runs to finish",
        interval=0.1,
        children=[scheduler, worker],
    )
    failed = workload.count_where(ctx.engine, "state <> 'succeeded'")
    if failed:
        raise RuntimeError(f"{failed} of {count} runs did not succeed")
    seconds = (workload.latest(ctx.engine, "finished_at") - burst.first_due).total_seconds()
    published = (workload.latest(ctx.engine, PUBLISHED_AT) - burst.first_due).total_seconds()
    note = (
        f"{count:,} noop jobs due at once, {WORKER_PROCESSES} procs x {WORKER_THREADS} "
        f"threads, {seconds:.1f} s (all published after {published:.1f} s; "
        f"{claim_sizes(ctx)}, backlog {backlog_shown(ctx)})"
    )
    if burst.late:
        note += " (insert overran the due time)"
    messages = WORKER_STACK.scheduler_counter("messages") - messages_before
    runs = WORKER_STACK.scheduler_counter("published") - runs_before
    note += f"; {messages:.0f} messages, {runs / max(messages, 1):.1f} runs each"
    ctx.reset_tables()
    return Figure(count / seconds, "/s", note)


def backlog_shown(ctx: BenchContext) -> str:
    bound = ctx.settings.queue_backlog
    return "off" if bound == 0 else f"{bound:,}"


BENCHMARK = Benchmark(
    "C2", {"c2": "/s", "c2_k4": "/s", "c2_k1": "/s"}, measure, uses_worker_stack=True
)

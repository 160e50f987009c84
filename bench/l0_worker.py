"""L0, the per-message ceiling: how many messages per second 2 Dramatiq processes x 8
threads take when the actor does nothing (see :mod:`bench.l0_actor`).

L2 is the same worker shape doing the two commits a run needs; L0 takes those out, so
the gap between them is what the database costs per message, and L0 itself is what no
design that sends one message per run can beat on this machine. The messages are
queued first (as for L2); the figure runs from the first message handled to the last.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.benchmark import Benchmark
from bench.context import BenchContext
from bench.l2_worker import enqueue
from bench.procs import spawn, venv_tool, wait_for
from bench.report import Figure
from bench.stack import WORKER_PROCESSES, WORKER_THREADS

# bench.l0_actor's actor; not imported from there, as importing it sets a global broker.
ACTOR_NAME = "bench_l0_noop"


@dataclass(frozen=True)
class Tallies:
    """What the worker processes reported: messages handled, and the span they took."""

    count: int
    first: float | None
    last: float | None


def read_tallies(directory: Path) -> Tallies:
    reports = [json.loads(path.read_text()) for path in directory.glob("*.json")]
    firsts = [report["first"] for report in reports if report["first"] is not None]
    lasts = [report["last"] for report in reports if report["last"] is not None]
    return Tallies(
        count=sum(int(report["count"]) for report in reports),
        first=min(firsts, default=None),
        last=max(lasts, default=None),
    )


def measure(ctx: BenchContext) -> dict[str, Figure]:
    count = ctx.sizes.l2_messages
    queue = ctx.track_queue(f"{ctx.queue_prefix}l0")
    reports = Path(tempfile.mkdtemp(prefix="l0-tallies-", dir=ctx.log_dir))
    enqueue(ctx, queue, count, actor_name=ACTOR_NAME)
    env = ctx.child_env(
        BENCH_L0_DIR=str(reports), BENCH_L0_QUEUE=queue, BENCH_BROKER_URL=ctx.broker_url
    )
    argv = [
        venv_tool("dramatiq"),
        "bench.l0_actor",
        "--processes",
        str(WORKER_PROCESSES),
        "--threads",
        str(WORKER_THREADS),
    ]
    worker = spawn("l0-worker", argv, env, ctx.log_dir)
    try:
        wait_for(
            lambda: read_tallies(reports).count >= count,
            ctx.sizes.patience_seconds,
            f"the L0 worker to drain {count} messages",
            interval=0.1,
            children=[worker],
        )
    finally:
        worker.stop()
    tallies = read_tallies(reports)
    if tallies.first is None or tallies.last is None or tallies.last <= tallies.first:
        raise RuntimeError(f"the L0 worker reported no span: {tallies}")
    seconds = tallies.last - tallies.first
    note = (
        f"{count:,} msgs, {WORKER_PROCESSES} procs x {WORKER_THREADS} threads, no-op actor, "
        f"first to last message ({seconds:.2f} s)"
    )
    return {"l0": Figure(count / seconds, "/s", note)}


BENCHMARK = Benchmark("L0", {"l0": "/s"}, measure)

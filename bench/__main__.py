"""``python -m bench [--quick] [--only L1,C2,...]``: run the benchmarks, print one table
and write ``bench/results.json``.

Every benchmark runs in the same process against one database and one set of queues
made for this run. A benchmark that fails shows ``error: ...`` in its rows; the others
still run. Whatever happens (an error, Ctrl-C, SIGTERM), every child process is stopped
and the database and queues are removed before the table is printed.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import shlex
import signal
import sys
import time
from datetime import UTC, datetime
from types import FrameType

from sqlalchemy import text

from bench import (
    c1_dispatch,
    c2_end_to_end,
    c3_lag,
    c4_api,
    c5_scale,
    c6_celery,
    c7_fairness,
    c8_concurrency,
    c9_mixed,
    c10_cost,
    c11_ceiling,
    l0_worker,
    l1_publish,
    l2_worker,
    p1_prune,
    u1_dashboard,
    u2_overview,
)
from bench.benchmark import Benchmark
from bench.context import BenchContext
from bench.procs import stop_all
from bench.report import (
    RESULTS_PATH,
    Figure,
    RowSpec,
    at_least,
    at_least_times,
    at_most,
    at_most_times,
    build_row,
    exactly,
    render_table,
    versus,
    versus_chronos,
    write_json,
)
from bench.sizes import FULL, QUICK
from bench.stack import WORKER_STACK

# In the order they run. C4 and C6 start their own process families. C10 stops the
# shared worker stack (it waits for its sessions to exit), so it comes after the others
# that use it. C5 is last: it writes a million rows, and the checkpoint and autovacuum
# that follow would otherwise slow down whatever ran next (C4 lost about a tenth).
BENCHMARKS: list[Benchmark] = [
    l1_publish.BENCHMARK,
    l2_worker.BENCHMARK,
    l0_worker.BENCHMARK,
    c1_dispatch.BENCHMARK,
    c2_end_to_end.BENCHMARK,
    c3_lag.BENCHMARK,
    c7_fairness.BENCHMARK,
    c8_concurrency.BENCHMARK,
    c9_mixed.BENCHMARK,
    c10_cost.BENCHMARK,
    c11_ceiling.BENCHMARK,
    c4_api.BENCHMARK,
    c6_celery.BENCHMARK,
    p1_prune.BENCHMARK,
    c5_scale.BENCHMARK,
    # Last: a new row must not push an older one past the time budget.
    u1_dashboard.BENCHMARK,
    u2_overview.BENCHMARK,
]

ROWS: list[RowSpec] = [
    RowSpec("l1_single", "L1 publish, single confirms", is_limit=True),
    RowSpec("l1_batched", "L1 publish, batched", is_limit=True),
    RowSpec("l2", "L2 worker", is_limit=True),
    RowSpec("l2_startup", "L2 worker incl. start-up", is_limit=True),
    RowSpec("l0", "L0 bare Dramatiq no-op actor", is_limit=True),
    RowSpec("c1", "C1 dispatch", at_least_times(0.5, "l1_batched", "L1 batched", "/s")),
    RowSpec(
        "c1_inprocess",
        "C1 dispatch, in-process loop",
        at_least_times(0.5, "l1_batched", "L1 batched", "/s"),
    ),
    RowSpec(
        "c1_bounded",
        "C1 dispatch, backlog bound on",
        at_least_times(0.5, "l1_batched", "L1 batched", "/s"),
    ),
    RowSpec("c2", "C2 end to end (K up to 16)", at_least_times(1.5, "l2", "L2", "/s")),
    RowSpec("c2_k4", "C2 by K: up to 4 runs/message", versus("c2", "K 16", "/s")),
    RowSpec("c2_k1", "C2 by K: 1 run/message", versus("c2", "K 16", "/s")),
    RowSpec("c3_50_p50", "C3 lag 50/s p50", at_most(10, "<= 10 ms")),
    RowSpec("c3_50_p99", "C3 lag 50/s p99", at_most(50, "<= 50 ms")),
    RowSpec("c3_500_p50", "C3 lag 500/s p50"),
    RowSpec("c3_500_p99", "C3 lag 500/s p99", at_most(250, "<= 250 ms")),
    RowSpec("c7_b_alone", "C7 owner B alone, lag p99", is_limit=True),
    RowSpec(
        "c7_b_p99", "C7 B behind A's burst, p99", at_most_times(2, "c7_b_alone", "B alone", "ms")
    ),
    RowSpec("c7_a_alone", "C7 owner A alone", is_limit=True),
    RowSpec("c7_a", "C7 A's burst with B's runs", versus("c7_a_alone", "A alone", "/s")),
    RowSpec("c8_max", "C8 limit 4, most running", exactly(4, "== 4 (the limit)")),
    RowSpec("c8_rate", "C8 limit 4, throughput", at_least(64, ">= 0.8 x 4/0.05 s (64/s)")),
    RowSpec("c9", "C9 mixed, no-op wait p99", at_most_times(1, "c6_c9", "Celery C9", "ms")),
    RowSpec("c10_wal", "C10 WAL per run"),
    RowSpec("c10_commits", "C10 commits per run"),
    RowSpec("c10_run_writes", "C10 writes to a run's row", at_most(3, "<= 3 per run")),
    RowSpec("c10_run_hot", "C10 runs updates HOT"),
    RowSpec("c10_job_hot", "C10 jobs updates HOT", at_least(90, ">= 90%")),
    RowSpec("c11", "C11 database ceiling", is_limit=True),
    RowSpec("c4_submit", "C4 POST /jobs/submit", at_least(1000, ">= 1,000/s")),
    RowSpec("c4_p99", "C4 submit p99 (16 clients)", at_most(50, "<= 50 ms")),
    RowSpec("c4_batch", "C4 POST /jobs/batch jobs", at_least(10_000, ">= 10,000/s")),
    RowSpec("c5_claim_small", "C5 claim, 10k future runs"),
    RowSpec("c5_claim_large", "C5 claim, 1M future runs"),
    RowSpec("c5_ratio", "C5 claim ratio large/small", at_most(2, "<= 2x")),
    RowSpec("c5_claim_owners", "C5 claim, 1M due, 1k owners"),
    RowSpec("c5_rss", "C5 scheduler peak RSS", at_most(150, "<= 150 MB")),
    RowSpec("p1_prune", "P1 prune, finished runs", at_least(10_000, ">= 10,000/s")),
    RowSpec("u1", "U1 dashboard page, 1M runs", at_most(100, "<= 100 ms")),
    RowSpec("u2", "U2 overview fragment, 10 admins", at_most(50, "<= 50 ms")),
    RowSpec("u2_first", "U2 fragment, first of its tick", at_most(50, "<= 50 ms")),
    RowSpec("u2_user", "U2 overview fragment, 10 of a user", at_most(50, "<= 50 ms")),
    RowSpec("u2_at_once", "U2 fragment, 10 clients at once"),
    RowSpec("u2_sets", "U2 data query sets per tick", at_most(1, "<= 1 (one client's)")),
    RowSpec("u2_statements", "U2 statements per tick, 10 admins"),
    RowSpec("c6_c2", "C6 Celery C2 end to end", versus_chronos("c2", "/s", True, by=1.2)),
    RowSpec("c6_c3_50_p50", "C6 Celery C3 50/s p50", versus_chronos("c3_50_p50", "ms", False)),
    RowSpec("c6_c3_50_p99", "C6 Celery C3 50/s p99", versus_chronos("c3_50_p99", "ms", False)),
    RowSpec("c6_c3_500_p99", "C6 Celery C3 500/s p99", versus_chronos("c3_500_p99", "ms", False)),
    RowSpec("c6_c9", "C6 Celery C9 mixed no-op p99", versus_chronos("c9", "ms", False)),
]

# Past this, benchmarks not yet started are skipped, so a run stays under 10 minutes.
FULL_BUDGET_SECONDS = 540.0
QUICK_BUDGET_SECONDS = 150.0


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small N: the CI smoke run")
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated benchmarks to run: " + ",".join(b.name for b in BENCHMARKS),
    )
    parser.add_argument(
        "--backlog",
        type=int,
        default=None,
        help="CHRONOS_QUEUE_BACKLOG for the processes it starts (default: the setting's own)",
    )
    return parser.parse_args(argv)


def selected(only: str) -> list[Benchmark]:
    if not only:
        return BENCHMARKS
    wanted = {name.strip().upper() for name in only.split(",") if name.strip()}
    unknown = wanted - {b.name for b in BENCHMARKS}
    if unknown:
        raise SystemExit(f"--only: unknown benchmarks {', '.join(sorted(unknown))}")
    return [b for b in BENCHMARKS if b.name in wanted]


def short_error(error: BaseException) -> str:
    text_ = f"{error.__class__.__name__}: {error}".replace("\n", " ")
    return text_ if len(text_) <= 300 else text_[:297] + "..."


def run_one(ctx: BenchContext, benchmark: Benchmark) -> dict[str, Figure]:
    started = time.monotonic()
    try:
        figures = benchmark.measure(ctx)
    except Exception as error:
        logging.getLogger("bench").debug("benchmark %s failed", benchmark.name, exc_info=True)
        figures = {
            key: Figure(unit=unit, error=short_error(error))
            for key, unit in benchmark.units.items()
        }
    for key, unit in benchmark.units.items():
        figures.setdefault(key, Figure(unit=unit, error="not measured"))
    print(
        f"  {benchmark.name} done in {time.monotonic() - started:.0f} s",
        file=sys.stderr,
        flush=True,
    )
    return figures


def versions(ctx: BenchContext) -> tuple[str, str]:
    postgres = rabbit = "?"
    try:
        with ctx.engine.connect() as conn:
            postgres = str(conn.scalar(text("SHOW server_version"))).split()[0]
    except Exception as error:
        postgres = f"? ({error.__class__.__name__})"
    try:
        connection = ctx.amqp()
        try:
            version = connection._impl.server_properties.get("version", b"?")
        finally:
            connection.close()
        rabbit = version.decode() if isinstance(version, bytes) else str(version)
    except Exception as error:
        rabbit = f"? ({error.__class__.__name__})"
    return postgres, rabbit


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    benchmarks = selected(args.only)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)  # even where a launcher set it to be ignored
    command = "python -m bench " + " ".join(shlex.quote(arg) for arg in sys.argv[1:])
    ctx = BenchContext(QUICK if args.quick else FULL, quick=args.quick, queue_backlog=args.backlog)
    budget = QUICK_BUDGET_SECONDS if args.quick else FULL_BUDGET_SECONDS
    started = time.monotonic()
    started_at = datetime.now(UTC)
    figures: dict[str, Figure] = {}
    interrupted = False
    postgres = rabbit = "?"
    cleanup_problems: list[str] = []
    try:
        ctx.create()
        postgres, rabbit = versions(ctx)
        for benchmark in benchmarks:
            if time.monotonic() - started > budget:
                for key, unit in benchmark.units.items():
                    figures[key] = Figure(unit=unit, error="skipped: time budget spent")
                continue
            if not benchmark.uses_worker_stack:
                WORKER_STACK.stop()
            print(f"bench: running {benchmark.name}", file=sys.stderr, flush=True)
            figures.update(run_one(ctx, benchmark))
    except KeyboardInterrupt:
        interrupted = True
        print("bench: interrupted; cleaning up", file=sys.stderr)
    except Exception as error:  # setting up the run itself failed
        for benchmark in benchmarks:
            for key, unit in benchmark.units.items():
                figures.setdefault(key, Figure(unit=unit, error=short_error(error)))
    finally:
        WORKER_STACK.stop()
        stop_all()
        failed = any(figure.error for figure in figures.values())
        cleanup_problems = ctx.close(keep_logs=failed or interrupted)
    elapsed = time.monotonic() - started
    for benchmark in benchmarks:
        for key, unit in benchmark.units.items():
            figures.setdefault(key, Figure(unit=unit, error="interrupted"))
    ran = {key for benchmark in benchmarks for key in benchmark.units}
    rows = [build_row(spec, figures) for spec in ROWS if spec.key in ran]
    machine = (
        f"{os.cpu_count()} cores, {platform.platform()}, Python {platform.python_version()}, "
        f"PostgreSQL {postgres}, RabbitMQ {rabbit}"
    )
    print(f"machine: {machine}")
    print(f"command: {command}   ({elapsed:.0f} s{', interrupted' if interrupted else ''})")
    if args.quick:
        print("--quick: small N, to prove the code paths work; not figures to judge goals by")
    print(render_table(rows))
    if any(row.error for row in rows) or interrupted:
        print(f"logs kept in {ctx.log_dir}")
    for problem in cleanup_problems:
        print(f"cleanup: {problem}")
    write_json(
        RESULTS_PATH,
        {
            "machine": machine,
            "cores": os.cpu_count(),
            "platform": platform.platform(),
            "postgresql": postgres,
            "rabbitmq": rabbit,
            "command": command,
            "quick": args.quick,
            "started_at": started_at.isoformat(),
            "elapsed_seconds": round(elapsed, 1),
            "interrupted": interrupted,
        },
        rows,
    )
    return 130 if interrupted else 0


if __name__ == "__main__":
    sys.exit(main())

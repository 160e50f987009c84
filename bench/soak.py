"""``python -m bench.soak [--minutes M] [--jobs N] [--quick]``: the soak benchmark.

N jobs (10,000 by default) of mixed types and schedules go through the real stack (the
API, two schedulers and two workers, started with the Procfile's commands) while
schedulers and workers are killed with ``kill -9`` at random for M minutes (4 by
default). Then the killing stops, the system settles, and the invariant checker of the
fault tests (:mod:`tests.faults.invariants`) reads every run of the soak's jobs; the
local HTTP target checks that no run called it twice.

The soak has a database and RabbitMQ queue prefix of its own (as ``python -m bench``);
whatever happens, every process it started is killed and the database and queues are
removed at the end (logs are kept when something failed). It is a benchmark, not a
test: pytest never collects it. The last line of the output is the verdict::

    soak: jobs=10000 runs=NNNNN kills=NN (schedulers=NN workers=NN) lost=NN duplicates=0 stuck=0

and the exit status is 1 if the checker found any duplicate, stuck run, status mismatch
or other violation, or the target saw a run id twice.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import re
import signal
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any

from sqlalchemy import Engine, text

from bench.context import BenchContext
from bench.procs import VENV_BIN
from bench.sizes import FULL, QUICK
from bench.soak_chaos import NAMES, Chaos
from bench.soak_e2e import ClientView, StackView, new_client, running_stack
from bench.soak_workload import (
    LIMIT,
    LIMITED_QUEUE,
    MIX,
    PAUSED_QUEUE,
    QUEUES,
    Workload,
    build,
)
from bench.stack import DRAMATIQ_READY, free_port
from shared.repository import dispatch as dispatch_repo
from shared.repository import queues as queue_repo
from tests.e2e.target import Target
from tests.faults.invariants import Report, check_invariants, unsettled

DEFAULT_MINUTES = 4.0
DEFAULT_JOBS = 10_000
QUICK_MINUTES = 0.75
QUICK_JOBS = 1_000
BATCH = 1_000
USERS = 4
LEASE_SECONDS = 5
HEARTBEAT_SECONDS = 1
# Far longer than any delay a kill causes: no occurrence is ever a misfire.
MISFIRE_GRACE_SECONDS = 3600
API_WORKERS = 2
TARGET_PATH = "/soak/http"
RUN_ID_HEADER = "x-chronos-run-id"
TICK_SECONDS = 0.2
PROGRESS_SECONDS = 15.0
READY_TIMEOUT_SECONDS = 90.0
SHOWN_VIOLATIONS = 20
STATES = ("pending", "queued", "running", "succeeded", "failed", "lost", "skipped", "cancelled")
DROPPED = re.compile(r"run \S+ is not queued \(a duplicate, or cancelled\); dropped")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--minutes", type=float, help=f"how long to kill (default {DEFAULT_MINUTES})"
    )
    parser.add_argument("--jobs", type=int, help=f"jobs to submit (default {DEFAULT_JOBS:,})")
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"a short run: {QUICK_MINUTES * 60:.0f} s and {QUICK_JOBS:,} jobs unless given",
    )
    parser.add_argument("--seed", type=int, help="random seed (default: a random one)")
    parser.add_argument("--worker-processes", type=int, default=2, help="per worker (default 2)")
    parser.add_argument("--worker-threads", type=int, default=8, help="per process (default 8)")
    parser.add_argument(
        "--settle-timeout",
        type=float,
        help="how long to wait for the system to settle after the kills (default: "
        "120 s, or 60 s with --quick)",
    )
    parser.add_argument("--keep-logs", action="store_true", help="keep the process logs")
    args = parser.parse_args(argv)
    if args.minutes is None:
        args.minutes = QUICK_MINUTES if args.quick else DEFAULT_MINUTES
    if args.jobs is None:
        args.jobs = QUICK_JOBS if args.quick else DEFAULT_JOBS
    if args.settle_timeout is None:
        args.settle_timeout = 60.0 if args.quick else 120.0
    if args.seed is None:
        args.seed = random.randrange(1_000_000)
    if args.minutes <= 0 or args.jobs <= 0:
        parser.error("--minutes and --jobs must be positive")
    return args


@dataclass
class Outcome:
    """What the soak did and found."""

    job_ids: list[str] = field(default_factory=list)
    kinds: Counter[str] = field(default_factory=Counter)
    expected_runs: float = 0.0
    submit_seconds: float = 0.0
    kill_seconds: float = 0.0
    settle_seconds: float = 0.0
    settled: bool = False
    chaos: Chaos | None = None
    report: Report | None = None
    run_states: Counter[str] = field(default_factory=Counter)
    target_calls: int = 0
    target_repeated: dict[str, int] = field(default_factory=dict)
    target_unknown: int = 0
    target_missing: int = 0
    dropped: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    # The limited queue: the most runs running at once, sampled and from the runs' times.
    limited_sampled: int = 0
    limited_peak: int = 0
    limited_runs: int = 0
    # The longest time, in seconds, that the runs' times show more than the limit.
    limited_excess: float = 0.0
    # The most runs queued or running that any claim left (exact).
    limited_claimed: int = 0
    # The paused queue: when it was resumed, and runs that started before that.
    resumed_at: datetime | None = None
    paused_early: int = 0
    paused_runs: int = 0
    # Runs one worker kill may lose: those whose handler was running (processes x
    # threads). Runs waiting behind them in a message are still queued, not lost.
    lost_per_kill: int = 0

    @property
    def target_duplicates(self) -> int:
        return sum(count - 1 for count in self.target_repeated.values())

    def problems(self) -> list[str]:
        """Why the soak failed; empty when it passed."""
        found: list[str] = []
        report = self.report
        if report is None:
            return ["the invariant checker did not run"]
        if report.duplicates:
            found.append(f"{report.duplicates} duplicate runs")
        if report.stuck:
            found.append(f"{report.stuck} stuck runs")
        if report.status_mismatches:
            found.append(f"{report.status_mismatches} jobs whose status disagrees with their runs")
        if report.violations:
            found.append(f"{len(report.violations)} invariant violations")
        if self.target_duplicates:
            found.append(f"{len(self.target_repeated)} run ids called the HTTP target twice")
        if self.target_unknown:
            found.append(f"{self.target_unknown} target calls from run ids that are not http runs")
        if self.limited_claimed > LIMIT or self.limited_sampled > LIMIT:
            found.append(
                f"the limited queue had {max(self.limited_claimed, self.limited_sampled)} "
                f"runs queued or running at once (limit {LIMIT})"
            )
        if self.paused_early:
            found.append(f"{self.paused_early} runs of the paused queue started while paused")
        if self.target_missing:
            found.append(f"{self.target_missing} succeeded http runs never called the target")
        if report.lost > self.lost_bound:
            found.append(f"{report.lost} lost runs, more than kills x threads ({self.lost_bound})")
        return found

    @property
    def lost_bound(self) -> int:
        kills = self.chaos.kills["worker"] if self.chaos else 0
        return kills * self.lost_per_kill


# Running -------------------------------------------------------------------------------


def chronos_env(ctx: BenchContext, args: argparse.Namespace) -> dict[str, str]:
    return ctx.child_env(
        VIRTUAL_ENV=str(VENV_BIN.parent),
        CHRONOS_API_BIND=f"127.0.0.1:{free_port()}",
        CHRONOS_API_WORKERS=str(API_WORKERS),
        CHRONOS_WORKER_PROCESSES=str(args.worker_processes),
        CHRONOS_WORKER_THREADS=str(args.worker_threads),
        CHRONOS_LEASE_SECONDS=str(LEASE_SECONDS),
        CHRONOS_HEARTBEAT_SECONDS=str(HEARTBEAT_SECONDS),
        CHRONOS_MISFIRE_GRACE_SECONDS=str(MISFIRE_GRACE_SECONDS),
        CHRONOS_LOGIN_ATTEMPTS_PER_MINUTE="100000",
        CHRONOS_SIGNUPS_PER_MINUTE="100000",
        CHRONOS_QUEUES=",".join(QUEUES),
    )


def log_text(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def wait_ready(stack: StackView, name: str, processes: int, timeout: float) -> None:
    """A worker is ready once each of its Dramatiq processes says so."""
    deadline = time.monotonic() + timeout
    process = stack.processes[name]
    while log_text(process.log_path).count(DRAMATIQ_READY) < processes:
        stack.check_alive()
        if time.monotonic() > deadline:
            raise TimeoutError(f"{name} was not ready after {timeout:.0f} s")
        time.sleep(0.2)


def start_extra(stack: StackView, args: argparse.Namespace) -> None:
    """The second scheduler and worker, next to the ones the stack started."""
    for kind, names in NAMES.items():
        for name in names:
            if name not in stack.processes:
                stack.spawn(name, kind)
    for name in NAMES["worker"]:
        wait_ready(stack, name, args.worker_processes, READY_TIMEOUT_SECONDS)


def make_users(stack: StackView) -> list[ClientView]:
    anonymous = new_client(stack.url)
    users = []
    for _ in range(USERS):
        _, token = anonymous.create_user("soak")
        users.append(new_client(stack.url, token, 120.0))
    return users


def submit(users: list[ClientView], workload: Workload) -> list[str]:
    ids: list[str] = []
    for index, start in enumerate(range(0, len(workload.specs), BATCH)):
        chunk = workload.specs[start : start + BATCH]
        body = users[index % len(users)].expect("POST", "/jobs/batch", 201, {"jobs": chunk})
        ids.extend(str(job["id"]) for job in body["items"])
    return ids


def run_states(engine: Engine, ids: list[uuid.UUID]) -> Counter[str]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT state, count(*) AS n FROM runs WHERE job_id = ANY(:ids) GROUP BY state"),
            {"ids": ids},
        )
        return Counter({str(row.state): int(row.n) for row in rows})


def skip_reasons(engine: Engine, ids: list[uuid.UUID]) -> Counter[str]:
    """Why runs were skipped (the scheduler writes it into the run's result)."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT result->>'skipped' AS reason, count(*) AS n FROM runs "
                "WHERE job_id = ANY(:ids) AND state = 'skipped' GROUP BY 1"
            ),
            {"ids": ids},
        )
        return Counter({str(row.reason): int(row.n) for row in rows})


def describe_states(states: Counter[str]) -> str:
    return " ".join(f"{state}={states[state]}" for state in STATES if states[state])


def progress(message: str) -> None:
    print(f"soak: {message}", file=sys.stderr, flush=True)


def set_queue(engine: Engine, name: str, **changes: Any) -> datetime:
    """Change a queue's controls as an admin's PATCH does; the database's time of it."""
    with engine.begin() as conn:
        now = dispatch_repo.database_time(conn)
        queue_repo.update_queue(conn, name, now, **changes)
    return now


def running_in(engine: Engine, queue: str) -> int:
    with engine.connect() as conn:
        return int(
            conn.scalar(
                text("SELECT count(*) FROM runs WHERE queue = :q AND state = 'running'"),
                {"q": queue},
            )
        )


def kill_window(
    chaos: Chaos,
    engine: Engine,
    ids: list[uuid.UUID],
    seconds: float,
    began: float,
    outcome: Outcome,
) -> None:
    start = time.monotonic()
    chaos.start(start)
    last_report = start
    while (now := time.monotonic()) - start < seconds:
        chaos.step(now)
        outcome.limited_sampled = max(outcome.limited_sampled, running_in(engine, LIMITED_QUEUE))
        if outcome.resumed_at is None and now - start >= seconds / 2:
            outcome.resumed_at = set_queue(engine, PAUSED_QUEUE, paused=False)
        if now - last_report >= PROGRESS_SECONDS:
            last_report = now
            progress(
                f"{now - began:4.0f} s  kills={chaos.total_kills}  "
                f"{describe_states(run_states(engine, ids))}"
            )
        time.sleep(TICK_SECONDS)
    chaos.finish()


def settle(
    chaos: Chaos, engine: Engine, ids: list[uuid.UUID], timeout: float, began: float
) -> bool:
    """Wait (bounded) until no run is live or overdue and every job is final."""
    deadline = time.monotonic() + timeout
    last_report = time.monotonic()
    while True:
        chaos.watch()
        live, unfinished = unsettled(engine, ids)
        if live == 0 and unfinished == 0:
            return True
        now = time.monotonic()
        if now > deadline:
            progress(f"not settled after {timeout:.0f} s: {live} live runs, {unfinished} jobs open")
            return False
        if now - last_report >= PROGRESS_SECONDS:
            last_report = now
            progress(
                f"{now - began:4.0f} s  settling: live runs={live} open jobs={unfinished}  "
                f"{describe_states(run_states(engine, ids))}"
            )
        time.sleep(0.5)


def check_target(outcome: Outcome, engine: Engine, target: Target, ids: list[uuid.UUID]) -> None:
    """Every call to the target came from an http run of the soak, no run id called twice,
    and every http run that succeeded did call."""
    calls: Counter[str] = Counter()
    for call in target.calls(TARGET_PATH):
        headers = {name.lower(): value for name, value in call.headers.items()}
        calls[headers.get(RUN_ID_HEADER, "<none>")] += 1
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT r.id, r.state FROM runs AS r JOIN jobs AS j ON j.id = r.job_id "
                "WHERE j.type = 'http' AND r.job_id = ANY(:ids)"
            ),
            {"ids": ids},
        ).all()
    http_runs = {str(row.id): str(row.state) for row in rows}
    outcome.target_calls = sum(calls.values())
    outcome.target_repeated = {run_id: n for run_id, n in calls.items() if n > 1}
    outcome.target_unknown = sum(n for run_id, n in calls.items() if run_id not in http_runs)
    outcome.target_missing = sum(
        1 for run_id, state in http_runs.items() if state == "succeeded" and run_id not in calls
    )


# Exact and free of clocks: each claim that queues runs of the limited queue notes, in
# its own transaction (which holds the queue's row, so claims take turns), how many of
# the queue's runs are then queued or running. Only claims add to that number. The
# statements name LIMITED_QUEUE ('limited') literally.
WATCH_LIMIT = (
    "CREATE TABLE soak_limited_busy (busy integer NOT NULL)",
    """
    CREATE FUNCTION soak_note_limited_busy() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO soak_limited_busy SELECT count(*) FROM runs
        WHERE queue = 'limited' AND state IN ('queued', 'running');
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER soak_note_limited_busy AFTER UPDATE OF state ON runs FOR EACH ROW
    WHEN (NEW.queue = 'limited' AND NEW.state = 'queued' AND OLD.state = 'pending')
    EXECUTE FUNCTION soak_note_limited_busy()
    """,
)


def watch_limit(engine: Engine) -> None:
    with engine.begin() as conn:
        for statement in WATCH_LIMIT:
            conn.execute(text(statement))


def check_queues(outcome: Outcome, engine: Engine, ids: list[uuid.UUID]) -> None:
    """The limited queue never had more than its limit queued or running (noted by every
    claim, exact) or running (sampled); by the runs' own times, which come from several
    processes' estimates of PostgreSQL's clock, only roughly. No run of the paused queue
    started before it was resumed."""
    with engine.connect() as conn:
        outcome.limited_claimed = int(
            conn.scalar(text("SELECT coalesce(max(busy), 0) FROM soak_limited_busy"))
        )
        rows = conn.execute(
            text(
                "SELECT started_at, finished_at FROM runs WHERE job_id = ANY(:ids) "
                "AND queue = :q AND started_at IS NOT NULL"
            ),
            {"ids": ids, "q": LIMITED_QUEUE},
        ).all()
        outcome.paused_early = int(
            conn.scalar(
                text(
                    "SELECT count(*) FROM runs WHERE job_id = ANY(:ids) AND queue = :q "
                    "AND started_at < :resumed"
                ),
                {"ids": ids, "q": PAUSED_QUEUE, "resumed": outcome.resumed_at},
            )
        )
        outcome.paused_runs = int(
            conn.scalar(
                text("SELECT count(*) FROM runs WHERE job_id = ANY(:ids) AND queue = :q"),
                {"ids": ids, "q": PAUSED_QUEUE},
            )
        )
    # A run ending at the instant another starts freed its slot first.
    events = sorted(
        [(row.started_at, 1) for row in rows]
        + [(row.finished_at, -1) for row in rows if row.finished_at is not None]
    )
    depth, over_since = 0, None
    for moment, step in events:
        depth += step
        if depth > LIMIT and over_since is None:
            over_since = moment
        elif depth <= LIMIT and over_since is not None:
            excess = (moment - over_since).total_seconds()
            outcome.limited_excess = max(outcome.limited_excess, excess)
            over_since = None
        outcome.limited_peak = max(outcome.limited_peak, depth)
    outcome.limited_runs = len(rows)


def dropped_duplicates(stack: StackView) -> int:
    """Messages that workers turned away because their run was no longer queued: a
    redelivery after a kill, which the guarded start made harmless."""
    return sum(
        len(DROPPED.findall(log_text(process.log_path)))
        for process in stack.history
        if process.name.startswith("worker")
    )


def soak(
    stack: StackView,
    ctx: BenchContext,
    target: Target,
    args: argparse.Namespace,
    outcome: Outcome,
    began: float,
) -> None:
    rng = random.Random(args.seed)
    start_extra(stack, args)
    users = make_users(stack)
    window = args.minutes * 60
    workload = build(args.jobs, window, time.time(), target.url(TARGET_PATH), rng)
    outcome.kinds = workload.counts()
    outcome.expected_runs = workload.expected_runs
    watch_limit(ctx.engine)
    set_queue(ctx.engine, LIMITED_QUEUE, concurrency=LIMIT, set_concurrency=True)
    set_queue(ctx.engine, PAUSED_QUEUE, paused=True)
    progress(f"submitting {args.jobs:,} jobs (~{workload.expected_runs:,.0f} runs) ...")
    submitted = time.monotonic()
    outcome.job_ids = submit(users, workload)
    outcome.submit_seconds = time.monotonic() - submitted
    ids = [uuid.UUID(job_id) for job_id in outcome.job_ids]
    progress(f"submitted in {outcome.submit_seconds:.1f} s; killing for {window:.0f} s")

    chaos = Chaos(stack, rng)
    outcome.chaos = chaos
    outcome.lost_per_kill = args.worker_processes * args.worker_threads
    killing = time.monotonic()
    kill_window(chaos, ctx.engine, ids, window, began, outcome)
    if outcome.resumed_at is None:
        outcome.resumed_at = set_queue(ctx.engine, PAUSED_QUEUE, paused=False)
    outcome.kill_seconds = time.monotonic() - killing
    progress(f"kills stopped ({chaos.total_kills}); settling (at most {args.settle_timeout:.0f} s)")

    settling = time.monotonic()
    outcome.settled = settle(chaos, ctx.engine, ids, args.settle_timeout, began)
    outcome.settle_seconds = time.monotonic() - settling
    outcome.report = check_invariants(ctx.engine, outcome.job_ids)
    outcome.run_states = run_states(ctx.engine, ids)
    outcome.skipped = skip_reasons(ctx.engine, ids)
    check_target(outcome, ctx.engine, target, ids)
    check_queues(outcome, ctx.engine, ids)
    outcome.dropped = dropped_duplicates(stack)


# Reporting -----------------------------------------------------------------------------


def table(rows: list[tuple[str, str]]) -> str:
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"  {label:<{width}}  {value}" for label, value in rows)


def render(outcome: Outcome, args: argparse.Namespace, elapsed: float) -> list[str]:
    report = outcome.report or Report()
    chaos = outcome.chaos
    kills: Counter[str] = chaos.kills if chaos else Counter()
    actions: Counter[str] = chaos.actions if chaos else Counter()
    runs = report.runs
    states = outcome.run_states
    rows = [
        (
            "stack",
            f"API (gunicorn, {API_WORKERS} workers) + 2 schedulers + 2 workers "
            f"(dramatiq --processes {args.worker_processes} --threads {args.worker_threads})",
        ),
        (
            "settings",
            f"lease {LEASE_SECONDS} s, heartbeat {HEARTBEAT_SECONDS} s, misfire grace "
            f"{MISFIRE_GRACE_SECONDS} s (misfire_policy run_once), recurring jobs overlap_policy "
            f"forbid or allow, seed {args.seed}",
        ),
        (
            "jobs",
            f"{len(outcome.job_ids):,} submitted in {outcome.submit_seconds:.1f} s: "
            + ", ".join(f"{kind} {outcome.kinds[kind]:,}" for kind in MIX if outcome.kinds[kind]),
        ),
        (
            "runs",
            f"{runs:,} (~{outcome.expected_runs:,.0f} planned): "
            + ", ".join(f"{state} {states[state]:,}" for state in STATES if states[state]),
        ),
        (
            "skipped runs",
            "; ".join(f"{n:,}: {reason}" for reason, n in outcome.skipped.most_common()) or "0",
        ),
        (
            "kills",
            f"{sum(kills.values())} kill -9: schedulers {kills['scheduler']}, workers "
            f"{kills['worker']} ({actions['both']} times one of each at once); "
            f"{chaos.restarts if chaos else 0} restarts; "
            f"{chaos.skipped_actions if chaos else 0} draws without a process to kill",
        ),
        (
            "unexpected exits",
            ", ".join(f"{e.name} ({e.returncode})" for e in chaos.unexpected)
            if chaos and chaos.unexpected
            else "0",
        ),
        (
            "time",
            f"killing {outcome.kill_seconds:.0f} s, settling {outcome.settle_seconds:.0f} s"
            f"{'' if outcome.settled else ' (NOT settled)'}, elapsed {elapsed:.0f} s",
        ),
        (
            "lost",
            f"{report.lost:,} runs (their worker was killed; at most kills x processes x "
            f"threads = {outcome.lost_bound:,})",
        ),
        ("retried", f"{report.retried:,} runs (retries of failed or lost attempts)"),
        ("duplicates", f"{report.duplicates}"),
        ("stuck", f"{report.stuck}"),
        ("status mismatches", f"{report.status_mismatches}"),
        ("violations", f"{len(report.violations)}"),
        (
            "http target",
            f"{outcome.target_calls:,} calls, {outcome.target_duplicates} duplicate calls "
            f"({len(outcome.target_repeated)} run ids twice), {outcome.target_unknown} from "
            f"unknown runs, {outcome.target_missing} succeeded runs without a call",
        ),
        ("redeliveries", f"{outcome.dropped:,} duplicate messages dropped by the guarded start"),
        (
            "limited queue",
            f"concurrency {LIMIT}: at most {outcome.limited_claimed} queued or running after "
            f"any claim, {outcome.limited_sampled} running sampled; {outcome.limited_peak} by "
            f"the runs' times, above {LIMIT} for at most {outcome.limited_excess * 1000:.0f} ms "
            f"(those times come from several processes' clocks); {outcome.limited_runs:,} runs",
        ),
        (
            "paused queue",
            f"paused until half the kill window: {outcome.paused_runs:,} runs, "
            f"{outcome.paused_early} started while paused",
        ),
    ]
    return [table(rows)]


def closing_line(outcome: Outcome) -> str:
    report = outcome.report or Report()
    kills: Counter[str] = outcome.chaos.kills if outcome.chaos else Counter()
    return (
        f"soak: jobs={len(outcome.job_ids)} runs={report.runs} kills={sum(kills.values())} "
        f"(schedulers={kills['scheduler']} workers={kills['worker']}) lost={report.lost} "
        f"duplicates={report.duplicates} stuck={report.stuck}"
    )


# Main ----------------------------------------------------------------------------------


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def kill_leftovers(stack: StackView | None) -> None:
    """Every process the soak ever started is dead at the end, whatever happened."""
    if stack is None:
        return
    for process in stack.history:
        if process.alive():
            process.signal_group(signal.SIGKILL)
            with contextlib.suppress(Exception):
                process.popen.wait(timeout=10)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    began = time.monotonic()
    ctx = BenchContext(QUICK if args.quick else FULL, quick=args.quick)
    target = Target().start()
    outcome = Outcome()
    holder: dict[str, Any] = {}
    interrupted = False
    error: BaseException | None = None
    logs = ""
    progress(
        f"{args.jobs:,} jobs, {args.minutes:g} min of kills, seed {args.seed}, "
        f"{os.cpu_count()} cores; logs in {ctx.log_dir}"
    )
    try:
        ctx.create()
        env = chronos_env(ctx, args)
        with running_stack(env, ctx.log_dir) as stack:
            holder["stack"] = stack
            try:
                soak(stack, ctx, target, args, outcome, began)
            finally:
                if outcome.report is None or outcome.problems():
                    logs = stack.log_tails(30)
    except KeyboardInterrupt:
        interrupted = True
        progress("interrupted; cleaning up")
    except Exception as caught:
        error = caught
    finally:
        kill_leftovers(holder.get("stack"))
        target.stop()
        failed = interrupted or error is not None or bool(outcome.problems())
        cleanup = ctx.close(keep_logs=failed or args.keep_logs)
    elapsed = time.monotonic() - began

    print(
        f"soak: {args.jobs:,} jobs, {args.minutes:g} min of random kill -9 ({os.cpu_count()} cores)"
    )
    print("\n".join(render(outcome, args, elapsed)))
    problems = outcome.problems()
    if outcome.report is not None and outcome.report.violations:
        print(f"first violations ({len(outcome.report.violations)} in all):")
        for violation in outcome.report.violations[:SHOWN_VIOLATIONS]:
            print(f"  - {violation}")
    if outcome.target_repeated:
        shown = list(outcome.target_repeated.items())[:SHOWN_VIOLATIONS]
        print(
            "run ids that called the target more than once: "
            + ", ".join(f"{r} x{n}" for r, n in shown)
        )
    if error is not None:
        print(f"error: {error.__class__.__name__}: {error}")
    if logs and not interrupted and (error is not None or problems):
        print("process logs (tails):")
        print(logs)
    if failed or args.keep_logs:
        print(f"logs kept in {ctx.log_dir}")
    for problem in cleanup:
        print(f"cleanup: {problem}")
    if problems and outcome.report is not None:
        print("FAILED: " + "; ".join(problems))
    if interrupted:
        print("INTERRUPTED: the figures above are partial")
    print(closing_line(outcome))
    if interrupted:
        return 130
    if error is not None:
        return 2
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

"""C11, the database ceiling: how many runs per second this machine's PostgreSQL
sustains when Dramatiq and RabbitMQ are taken out and only the statements remain.

N ``noop`` runs are due. A driver in the bench process issues the scheduler's and the
workers' real statements, through the same functions, in their batch sizes in C2:

- a claiming thread: :meth:`Dispatcher.claim` (the fair claim, in batches of 500, within
  the queue's backlog bound, looked at again every 20 ms while the queue is full), on an
  engine that commits asynchronously, as ``python -m scheduler``'s does. Its runs go at
  once to the starters (the publish, with no broker) and to
- a marking thread: :meth:`Dispatcher.mark` (the confirmed publish recorded);
- starting threads: ``start_runs``, about 4 runs per autocommit statement, as a worker
  process's starter serves its threads in C2;
- finishing threads: ``record_outcomes``, about 40 outcomes per transaction, as a
  worker process's completer does.

The figure runs from the first claim to the last finish's commit. It is a limit, with no
goal: with C10's cost per run, it says how many worker hosts one primary can serve. The
driver shares the 2 cores with PostgreSQL, so the note gives both CPU times: the
figure is this machine's, not a dedicated primary's.
"""

from __future__ import annotations

import dataclasses
import os
import queue
import threading
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Engine, text

from bench import workload
from bench.benchmark import Benchmark
from bench.c2_end_to_end import backlog_shown
from bench.context import BenchContext
from bench.report import Figure
from scheduler.dispatcher import Dispatcher
from scheduler.publisher import Outgoing, Publisher
from scheduler.service import FULL_QUEUE_POLL
from shared.clock import SystemClock
from shared.db import make_engine
from shared.outcomes import record_outcomes
from shared.repository import dispatch as dispatch_repo
from shared.repository.dispatch import Outcome
from shared.states import RunState

CLAIM_BATCH = 500
START_BATCH = 4
FINISH_BATCH = 40
# A completer takes what piled up while it wrote the last batch; the driver, faster than
# 16 Dramatiq threads, waits this long for a batch to fill instead.
FINISH_GATHER_SECONDS = 0.01
START_THREADS = 4
FINISH_THREADS = 2
WORKER_ID = "bench-c11"

Item = TypeVar("Item")


def take(
    source: queue.SimpleQueue[Item | None], size: int, gather: float
) -> tuple[list[Item], bool]:
    """Up to ``size`` items: waits for the first, then up to ``gather`` seconds for the
    rest. True once the stream ended (a None came)."""
    first = source.get()
    if first is None:
        return [], True
    batch = [first]
    deadline = time.monotonic() + gather
    while len(batch) < size:
        try:
            left = deadline - time.monotonic()
            item = source.get(timeout=left) if left > 0 else source.get_nowait()
        except queue.Empty:
            break
        if item is None:
            return batch, True
        batch.append(item)
    return batch, False


@dataclasses.dataclass
class Tally:
    """The batches a kind of thread sent (claims, starts, finishes), and their runs."""

    batches: int = 0
    runs: int = 0

    @property
    def mean(self) -> float:
        return self.runs / self.batches if self.batches else 0.0


class Driver:
    def __init__(self, ctx: BenchContext, count: int) -> None:
        self.count = count
        self.clock = SystemClock()
        # The backlog bound as configured (500 by default), as in C2: with it off, every
        # run of the burst is queued at once, and a start, which reads the queued runs'
        # index, costs in proportion to the whole burst.
        settings = ctx.settings
        self.deadline = 0.0  # set by run()
        self.scheduler_engine = make_engine(
            ctx.database_url,
            pool_size=2,
            application_name="bench-c11-scheduler",
            pre_ping=False,
            durable_commits=False,
        )
        self.worker_engine = make_engine(
            ctx.database_url,
            pool_size=START_THREADS + FINISH_THREADS,
            application_name="bench-c11-worker",
            pre_ping=False,
        )
        self.dispatcher = Dispatcher(
            settings, self.scheduler_engine, Publisher(settings), self.clock, batch_size=CLAIM_BATCH
        )
        self.to_start: queue.SimpleQueue[uuid.UUID | None] = queue.SimpleQueue()
        self.to_mark: queue.SimpleQueue[list[Outgoing] | None] = queue.SimpleQueue()
        self.to_finish: queue.SimpleQueue[Outcome | None] = queue.SimpleQueue()
        self.lock = threading.Lock()
        self.claims = Tally()
        self.starts = Tally()
        self.finishes = Tally()
        self.last_finish = 0.0
        self.errors: list[BaseException] = []

    def close(self) -> None:
        self.scheduler_engine.dispose()
        self.worker_engine.dispose()

    def _guarded(self, work: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                work()
            except BaseException as error:  # reported by run(), after the others stop
                with self.lock:
                    self.errors.append(error)

        return run

    def claim(self) -> None:
        try:
            while self.claims.runs < self.count and time.monotonic() < self.deadline:
                outgoing, _ = self.dispatcher.claim()
                ids = [run_id for item in outgoing for run_id in item.run_ids]
                for run_id in ids:
                    self.to_start.put(run_id)
                if ids:
                    self.to_mark.put(outgoing)
                    self.claims.batches += 1
                    self.claims.runs += len(ids)
                if len(ids) < CLAIM_BATCH and self.dispatcher.plan.full:
                    # As python -m scheduler does: the queue is at its backlog bound,
                    # and the starts make room without telling anyone.
                    time.sleep(FULL_QUEUE_POLL)
        finally:
            self.to_mark.put(None)
            for _ in range(START_THREADS):
                self.to_start.put(None)

    def mark(self) -> None:
        while (outgoing := self.to_mark.get()) is not None:
            # Every message counts as confirmed: this driver publishes nothing.
            self.dispatcher.mark(outgoing, [run_id for item in outgoing for run_id in item.run_ids])

    def start(self) -> None:
        ended = False
        while not ended:
            run_ids, ended = take(self.to_start, START_BATCH, 0.0)
            if not run_ids:
                continue
            with self.worker_engine.connect().execution_options(
                isolation_level="AUTOCOMMIT"
            ) as conn:
                rows = dispatch_repo.start_runs(conn, run_ids, WORKER_ID, self.clock.now())
            with self.lock:
                self.starts.batches += 1
                self.starts.runs += len(rows)
            for row in rows:
                self.to_finish.put(Outcome(row["id"], RunState.SUCCEEDED))

    def finish(self) -> None:
        ended = False
        while not ended:
            outcomes, ended = take(self.to_finish, FINISH_BATCH, FINISH_GATHER_SECONDS)
            if not outcomes:
                continue
            with self.worker_engine.begin() as conn:
                finished = record_outcomes(conn, outcomes, self.clock.now())
            with self.lock:
                self.finishes.batches += 1
                self.finishes.runs += len(finished)
                self.last_finish = time.perf_counter()

    def run(self, patience: float) -> float:
        """Drive every run through; the seconds from the first claim to the last finish."""

        def spawn(work: Callable[[], None], name: str) -> threading.Thread:
            thread = threading.Thread(target=self._guarded(work), name=name, daemon=True)
            thread.start()
            return thread

        started = time.perf_counter()
        self.deadline = deadline = time.monotonic() + patience
        feeding = [spawn(self.claim, "c11-claim"), spawn(self.mark, "c11-mark")]
        feeding += [spawn(self.start, f"c11-start-{n}") for n in range(START_THREADS)]
        finishing = [spawn(self.finish, f"c11-finish-{n}") for n in range(FINISH_THREADS)]
        for thread in feeding:
            thread.join(max(0.0, deadline - time.monotonic()))
        for _ in finishing:
            self.to_finish.put(None)
        for thread in finishing:
            thread.join(max(0.0, deadline - time.monotonic()))
        if self.errors:
            raise self.errors[0]
        if any(thread.is_alive() for thread in feeding + finishing):
            raise TimeoutError(f"the driver did not finish {self.count} runs in {patience:.0f} s")
        if self.finishes.runs != self.count:
            raise RuntimeError(f"{self.finishes.runs} of {self.count} runs finished")
        return self.last_finish - started


def backend_cpu_seconds(engine: Engine, application_prefix: str) -> float | None:
    """User and system CPU of the PostgreSQL sessions the driver opened, from /proc (None
    where the server's processes cannot be read)."""
    with engine.connect() as conn:
        pids = list(
            conn.scalars(
                text("SELECT pid FROM pg_stat_activity WHERE application_name LIKE :prefix"),
                {"prefix": f"{application_prefix}%"},
            )
        )
    ticks = 0
    try:
        for pid in pids:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    except (OSError, IndexError, ValueError):
        return None
    return ticks / os.sysconf("SC_CLK_TCK")


def measure(ctx: BenchContext) -> dict[str, Figure]:
    count = ctx.sizes.c11_runs
    ctx.reset_tables()
    owner = workload.create_owner(ctx.engine)
    with ctx.engine.begin() as conn:
        workload.insert_runs(conn, owner, workload.now_utc() - timedelta(seconds=1), count)
    driver = Driver(ctx, count)
    try:
        cpu_before = time.process_time()
        seconds = driver.run(ctx.sizes.patience_seconds)
        driver_cpu = time.process_time() - cpu_before
        database_cpu = backend_cpu_seconds(ctx.engine, "bench-c11-")
    finally:
        driver.close()
    ctx.reset_tables()
    shown_cpu = "?" if database_cpu is None else f"{database_cpu:.1f} s"
    note = (
        f"{count:,} noop runs in {seconds:.1f} s; claims of {driver.claims.mean:.0f}, "
        f"{START_THREADS} starting threads (mean {driver.starts.mean:.1f} runs), "
        f"{FINISH_THREADS} finishing (mean {driver.finishes.mean:.1f}), backlog "
        f"{backlog_shown(ctx)}; CPU: PostgreSQL "
        f"sessions {shown_cpu}, driver {driver_cpu:.1f} s; no Dramatiq, no RabbitMQ"
    )
    return {"c11": Figure(count / seconds, "/s", note)}


BENCHMARK = Benchmark("C11", {"c11": "/s"}, measure)

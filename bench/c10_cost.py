"""C10, the database's cost per run: a C2-shaped burst (N ``noop`` jobs due at one
instant, the real scheduler and ``dramatiq worker --processes 2 --threads 8``), measured
from PostgreSQL's side, from just after the jobs are inserted to the last finish:

- WAL bytes per run: the bench database's own WAL records (``pg_walinspect``), since
  ``pg_current_wal_lsn()`` alone counts every database of a server shared with others;
- commits per run, from ``pg_stat_database.xact_commit`` (read-only transactions
  included), without the bench's own, and of those the ones that wrote (their commit
  records in the WAL);
- writes to a run's row per run, and the HOT share of the ``runs`` and ``jobs`` updates,
  from ``pg_stat_user_tables``. The insert of each job and run (the API's, before the
  due time) is not counted; a run inserted meanwhile (a retry, a next occurrence) is.

Statements per run are not measured: they need ``pg_stat_statements``, which must be
preloaded by the server's configuration, and this bench changes no server setting.

The statistics are flushed lazily (see :mod:`bench.pg_cost`): the readings wait until
the workers and the scheduler have been idle past PostgreSQL's flush interval before
the burst, and until their sessions have exited after it. So this benchmark stops the
shared worker stack when it is done.
"""

from __future__ import annotations

import time
from datetime import timedelta

from bench import workload
from bench.benchmark import Benchmark
from bench.context import BenchContext
from bench.pg_cost import CostProbe, Wal, Writes, cost_per_run
from bench.procs import wait_for
from bench.report import Figure
from bench.stack import WORKER_STACK

# PostgreSQL 15 flushes an idle session's statistics within 10 s (PGSTAT_IDLE_INTERVAL).
IDLE_FLUSH_SECONDS = 11.0
# A session flushes as it exits, just after it leaves pg_stat_activity.
EXIT_FLUSH_SECONDS = 1.0

OTHER_SESSIONS = (
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
    "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
)


class WritesStill:
    """A wait_for condition: the runs' and jobs' write counters have not moved for
    ``quiet`` seconds."""

    def __init__(self, probe: CostProbe, quiet: float) -> None:
        self.probe = probe
        self.quiet = quiet
        self.seen: tuple[Writes, Writes] | None = None
        self.since = time.monotonic()

    def __call__(self) -> bool:
        counters, _ = self.probe.counters()
        writes = (counters.runs, counters.jobs)
        if writes != self.seen:
            self.seen, self.since = writes, time.monotonic()
        return time.monotonic() - self.since >= self.quiet


def measure(ctx: BenchContext) -> dict[str, Figure]:
    count = ctx.sizes.c10_runs
    scheduler, worker = WORKER_STACK.ensure(ctx)
    children = [scheduler, worker]
    owner = workload.create_owner(ctx.engine)
    # The bench's pooled sessions exit, and so flush what they counted.
    ctx.engine.dispose()
    try:
        with ctx.engine.connect() as conn:
            probe = CostProbe(conn)
            wait_for(
                WritesStill(probe, IDLE_FLUSH_SECONDS),
                IDLE_FLUSH_SECONDS * 4,
                "the statistics to settle",
                interval=0.25,
                children=children,
            )
            before, own_before = probe.counters()
            first_due = workload.now_utc() + timedelta(seconds=ctx.sizes.lead_seconds)
            workload.insert_runs(probe.conn, owner, first_due, count)
            workload.notify_scheduler(probe.conn, first_due)
            late = workload.now_utc() > first_due
            wal_start = probe.wal_position()
            wait_for(
                lambda: (
                    probe.scalar("SELECT count(*) FROM runs WHERE finished_at IS NOT NULL") >= count
                ),
                ctx.sizes.patience_seconds,
                f"{count} runs to finish",
                interval=0.1,
                children=children,
            )
            wal_end = probe.wal_position()
            # Read at once: on a busy server a checkpoint may soon recycle the segments.
            try:
                wal: Wal | str = probe.own_wal(wal_start, wal_end)
            except Exception as error:  # the figure falls back to the whole server's WAL
                wal = f"{error.__class__.__name__}: {error}".splitlines()[0][:160]
            failed = probe.scalar("SELECT count(*) FROM runs WHERE state <> 'succeeded'")
            if failed:
                raise RuntimeError(f"{failed} of {count} runs did not succeed")
            WORKER_STACK.stop()
            wait_for(lambda: probe.scalar(OTHER_SESSIONS) == 0, 30, "the sessions to exit")
            wait_for(
                WritesStill(probe, EXIT_FLUSH_SECONDS),
                EXIT_FLUSH_SECONDS * 10,
                "the exited sessions' statistics",
                interval=0.1,
            )
            after, own_after = probe.counters()
            cluster_bytes = probe.wal_between(wal_start, wal_end)
    finally:
        WORKER_STACK.stop()
    ctx.reset_tables()
    cost = cost_per_run(after - before, own_after - own_before, count, inserted=count)
    burst = f"{count:,} noop jobs due at once, 2 procs x 8 threads"
    if late:
        burst += " (insert overran the due time)"
    cluster = f"the whole server wrote {cluster_bytes / count:,.0f} B/run meanwhile"
    if isinstance(wal, str):
        wal_figure = Figure(
            cluster_bytes / count, "B/run", f"every database's: pg_walinspect failed ({wal})"
        )
    else:
        images = 100 * wal.fpi_bytes / max(wal.bytes, 1)
        wal_figure = Figure(
            wal.bytes / count,
            "B/run",
            f"{wal.records / count:.1f} records/run, {images:.0f}% full-page images; this "
            f"database's records (pg_walinspect); {cluster}; {burst}",
        )
    writing = "" if isinstance(wal, str) else f" ({wal.commits / count:.2f} wrote WAL)"
    return {
        "c10_wal": wal_figure,
        "c10_commits": Figure(
            cost.commits,
            "/run",
            f"xact_commit, read-only transactions included{writing}; statements per run not "
            "measured (pg_stat_statements is not preloaded on this server)",
        ),
        "c10_run_writes": Figure(
            cost.run_writes,
            "/run",
            f"{cost.run_updates:.2f} updates + {cost.run_inserts:.2f} inserts after the "
            f"run's own insert ({cost.run_writes + 1:.2f} counting it)",
        ),
        "c10_run_hot": Figure(cost.run_hot_percent, "%", "of the runs updates"),
        "c10_job_hot": Figure(
            cost.job_hot_percent, "%", f"of {cost.job_updates:.2f} job updates per run"
        ),
    }


BENCHMARK = Benchmark(
    "C10",
    {
        "c10_wal": "B/run",
        "c10_commits": "/run",
        "c10_run_writes": "/run",
        "c10_run_hot": "%",
        "c10_job_hot": "%",
    },
    measure,
    uses_worker_stack=True,
)

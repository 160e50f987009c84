"""P1, pruning: does the pruner keep up with dispatch?

A table of finished runs, all past the retention (40 days old), 100 per job; one
:meth:`Pruner.run_once` (the scheduler's pass, with its production batch size and time
budget) deletes every run but each job's newest. The figure is runs deleted per second;
the goal is 10,000/s, above the rate at which the system dispatches and finishes runs,
so that the table stops growing once retention bites.
"""

from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy import text

from bench import workload
from bench.benchmark import Benchmark
from bench.c5_scale import vacuum_analyze
from bench.context import BenchContext
from bench.report import Figure
from scheduler.pruner import Pruner
from shared.clock import FixedClock

PER_JOB = 100

INSERT_FINISHED = text(
    """
    WITH old_jobs AS (
        INSERT INTO jobs (id, owner_id, name, type, payload, queue, priority, run_at,
                          timezone, status, run_count, max_attempts, retry_backoff_seconds,
                          timeout_seconds, misfire_policy, overlap_policy, created_at,
                          updated_at)
        SELECT gen_random_uuid(), :owner, 'old-' || g, 'noop', '{}'::jsonb, 'default', 0,
               CAST(:first AS timestamptz), 'UTC', 'succeeded', :per_job, 1, 0, 60,
               'run_once', 'forbid', now(), now()
        FROM generate_series(1, :jobs) AS g
        RETURNING id
    )
    INSERT INTO runs (id, job_id, attempt, origin, priority, scheduled_for, due_at, state,
                      queued_at, published_at, started_at, heartbeat_at, finished_at,
                      created_at)
    SELECT gen_random_uuid(), old_jobs.id, 1, 'schedule', 0, at, at, 'succeeded',
           at, at, at, at, at, at
    FROM old_jobs
    CROSS JOIN LATERAL (
        SELECT CAST(:first AS timestamptz) + k * interval '1 second' AS at
        FROM generate_series(0, :per_job - 1) AS k
    ) AS occurrence
    """
)


def measure(ctx: BenchContext) -> dict[str, Figure]:
    total = ctx.sizes.p1_runs
    ctx.reset_tables()
    owner = workload.create_owner(ctx.engine)
    now = workload.now_utc()
    jobs = max(1, total // PER_JOB)
    with ctx.engine.begin() as conn:
        conn.execute(
            INSERT_FINISHED,
            {"owner": owner, "first": now - timedelta(days=40), "jobs": jobs, "per_job": PER_JOB},
        )
    vacuum_analyze(ctx)
    pruner = Pruner(ctx.settings, ctx.engine, FixedClock(now))
    started = time.perf_counter()
    deleted = 0
    while True:  # one pass normally suffices; more if it ran out of its time budget
        pruned = pruner.run_once()
        deleted += pruned
        if pruned == 0:
            break
    seconds = time.perf_counter() - started
    expected = jobs * (PER_JOB - 1)
    if deleted != expected:
        raise RuntimeError(f"the pruner deleted {deleted} runs, expected {expected}")
    ctx.reset_tables()
    return {
        "p1_prune": Figure(
            deleted / seconds, "/s", f"{deleted:,} of {jobs * PER_JOB:,} runs in {seconds:.1f} s"
        )
    }


BENCHMARK = Benchmark(name="P1", units={"p1_prune": "/s"}, measure=measure)

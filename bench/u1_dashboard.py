"""U1, the dashboard at scale: with a million runs in the table, how long each page
takes the server to answer.

One owner has 1,000 jobs (half of them recurring) and 1,000 runs each, finished over the
last week, 1% of them failed. The pages are rendered in this process by the real app
(``create_app``), through Falcon's test client with a signed-in session, so the figure
is server time alone: routing, the session's user, the page's queries and the template.
Each page is asked for once to warm up, then ``TRIES`` times; the figure is the slowest
page's median, and the note lists every page's. The goal is 100 ms.
"""

from __future__ import annotations

import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta

from falcon import testing
from sqlalchemy import Connection, text

from api.app import create_app
from api.auth import issue_token
from api.dashboard.session import SESSION_COOKIE
from bench import workload
from bench.benchmark import Benchmark
from bench.c5_scale import vacuum_analyze
from bench.context import BenchContext
from bench.report import Figure
from shared.clock import FixedClock

TRIES = 5
JOBS = 1000

INSERT_HISTORY = text(
    """
    WITH made AS (
        INSERT INTO jobs (id, owner_id, name, type, payload, queue, priority, run_at, repeat,
                          timezone, status, run_count, max_attempts, retry_backoff_seconds,
                          timeout_seconds, misfire_policy, overlap_policy, created_at,
                          updated_at)
        SELECT gen_random_uuid(), :owner, 'job-' || g, 'http',
               jsonb_build_object('url', 'https://example.com/' || g, 'method', 'GET'),
               'default', 0, :first,
               CASE WHEN g % 2 = 0 THEN 'hourly' END, 'UTC',
               CASE WHEN g % 2 = 0 THEN 'scheduled' ELSE 'succeeded' END, :per_job, 1, 30,
               60, 'run_once', 'forbid', :first + g * interval '1 second', :now
        FROM generate_series(1, :jobs) AS g
        RETURNING id
    )
    INSERT INTO runs (id, job_id, owner_id, queue, attempt, origin, priority, scheduled_for,
                      due_at, state, queued_at, published_at, started_at, heartbeat_at,
                      finished_at, worker, error, created_at)
    SELECT gen_random_uuid(), made.id, :owner, 'default', 1, 'schedule', 0, at, at,
           CASE WHEN k % 100 = 1 THEN 'failed' ELSE 'succeeded' END, at, at, at, at,
           at + interval '20 milliseconds', 'bench:1',
           CASE WHEN k % 100 = 1 THEN jsonb_build_object('kind', 'http_status', 'message',
                'the target answered 503 after ' || k || ' ms') END,
           at
    FROM made
    CROSS JOIN LATERAL (
        SELECT k, :first + k * (interval '1 second' * :spread) AS at
        FROM generate_series(1, :per_job) AS k
    ) AS occurrence
    """
)


def seed_history(conn: Connection, owner: uuid.UUID, now: datetime, total: int) -> int:
    """``owner``'s :data:`JOBS` jobs and about ``total`` runs of them, finished over the
    week before ``now`` (U2 seeds the same history); how many runs."""
    per_job = max(1, total // JOBS)
    week = 7 * 24 * 3600
    conn.execute(
        INSERT_HISTORY,
        {
            "owner": owner,
            "first": now.replace(microsecond=0) - timedelta(seconds=week),
            "now": now,
            "jobs": JOBS,
            "per_job": per_job,
            "spread": week / per_job,
        },
    )
    return JOBS * per_job


def measure(ctx: BenchContext) -> dict[str, Figure]:
    ctx.reset_tables()
    owner = workload.create_owner(ctx.engine)
    now = datetime.now(UTC)
    seeding = time.perf_counter()
    with ctx.engine.begin() as conn:
        runs = seed_history(conn, owner, now, ctx.sizes.u1_runs)
        job_id, run_id = conn.execute(
            text("SELECT job_id, id FROM runs WHERE state = 'failed' LIMIT 1")
        ).one()
    vacuum_analyze(ctx)
    seeded = time.perf_counter() - seeding
    app = create_app(ctx.settings, clock=FixedClock(now), engine=ctx.engine)
    client = testing.TestClient(app)
    cookie = {SESSION_COOKIE: issue_token(ctx.settings, owner, "user", now)}
    pages = {
        "jobs": "/ui/jobs",
        "search": "/ui/jobs?q=payload.url:%22https://example.com/7%22",
        "job": f"/ui/jobs/{job_id}",
        "run": f"/ui/runs/{run_id}",
        "failures": "/ui/failures?since=7d",
        "schedules": "/ui/schedules",
    }
    medians: dict[str, float] = {}
    for name, path in pages.items():
        path, _, query = path.partition("?")
        times = []
        for attempt in range(TRIES + 1):
            started = time.perf_counter()
            result = client.simulate_get(path, query_string=query, cookies=cookie)
            elapsed = time.perf_counter() - started
            if result.status_code != 200:
                raise RuntimeError(f"{name}: {result.status_code} {result.text[:300]}")
            if attempt:  # the first asks once to warm up
                times.append(elapsed * 1000)
        medians[name] = statistics.median(times)
    ctx.reset_tables()
    slowest = max(medians, key=lambda name: medians[name])
    listed = ", ".join(f"{name} {ms:.0f}" for name, ms in medians.items())
    note = (
        f"{runs:,} runs of {JOBS:,} jobs (seeded in {seeded:.0f} s); median of "
        f"{TRIES} per page, ms: {listed}; slowest: {slowest}"
    )
    return {"u1": Figure(medians[slowest], "ms", note)}


BENCHMARK = Benchmark(name="U1", units={"u1": "ms"}, measure=measure)

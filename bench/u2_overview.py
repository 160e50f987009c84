"""U2, the overview's live fragments under ten polling clients: how long each fragment
(``/ui/live/{panel}``) takes the server, and how many queries a tick costs.

The table holds U1's history (a million finished runs), a live state (thousands of
pending runs, due and future, and some queued and running, across three queues and five
owners), 30 days of per-minute rollups for six (queue, type) pairs with their hourly
sums, and a few dozen workers. Ten signed-in sessions of one admin poll all five
fragments each tick, through Falcon's test client against the real app; then ten of one
ordinary user. The app's ``FixedClock`` is advanced one second per tick, so every tick
is a new one for the panels' ``TickCache``.

- Server time: each fragment's median and p95 over every request of the polling ticks
  (most answered from the cache), and, apart, each fragment as the first request of a
  tick (alone in a fresh tick, so it runs all its own queries). The goal is 50 ms.
- Query sets per tick: the data statements of a tick, in units of what one client
  alone makes in a tick. The cache's goal is 1. The sign-in check (the session's user,
  read on every request so that a revoked session stops at once) is counted apart.
- The same ticks with the ten clients in ten threads released together: the stampede
  at a tick's turn that the cache's per-key lock serialises. These times include
  waiting for the other threads, in one Python process.
"""

from __future__ import annotations

import statistics
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from falcon import testing
from sqlalchemy import Engine, event, text

from api.app import create_app
from api.auth import issue_token
from api.dashboard.session import SESSION_COOKIE
from bench import workload
from bench.benchmark import Benchmark
from bench.context import BenchContext
from bench.report import Figure
from bench.u1_dashboard import seed_history
from shared.clock import FixedClock
from shared.repository import queues as queue_repo
from shared.repository import users as user_repo
from shared.rollups import LAG_BUCKETS
from shared.settings import load_settings

PANELS = ("counts", "throughput", "queues", "workers", "overdue")
CLIENTS = 10
QUEUES = ("default", "reports", "email")
TYPES = ("http", "noop")
OWNERS = 5  # of the live state: the polled user and four others
WORKERS = 40
TICK_SECONDS = 1.0


@dataclass(frozen=True)
class Scale:
    live_jobs: int  # one live run each: 40% due, 40% future, 10% queued, 10% running
    rollup_days: int
    ticks: int
    first_tries: int  # per fragment, each the first request of a fresh tick


FULL = Scale(live_jobs=10_000, rollup_days=30, ticks=20, first_tries=5)
QUICK = Scale(live_jobs=1_000, rollup_days=2, ticks=2, first_tries=1)

INSERT_ADMIN = text(
    "INSERT INTO users (id, username, password_hash, role, created_at, updated_at) "
    "VALUES (:id, :name, 'not-a-login', 'admin', now(), now())"
)
# Each live job is recurring with its next occurrence live: by g % 10, due (up to five
# minutes late, so some are overdue), later (within the hour), queued or running (on
# one of the registered workers).
INSERT_LIVE = text(
    """
    WITH plan AS MATERIALIZED (
        SELECT g, gen_random_uuid() AS id,
            (CAST(:owners AS uuid[]))[1 + g % cardinality(CAST(:owners AS uuid[]))] AS owner,
            (CAST(:queues AS text[]))[1 + g % cardinality(CAST(:queues AS text[]))] AS queue,
            (CAST(:types AS text[]))[1 + (g / 3) % cardinality(CAST(:types AS text[]))] AS type,
            CASE WHEN g % 10 < 4 THEN 'due' WHEN g % 10 < 8 THEN 'later'
                 WHEN g % 10 = 8 THEN 'queued' ELSE 'running' END AS live
        FROM generate_series(1, :jobs) AS g
    ), made AS (
        INSERT INTO jobs (id, owner_id, name, type, payload, queue, priority, run_at,
                          interval_seconds, timezone, status, run_count, max_attempts,
                          retry_backoff_seconds, timeout_seconds, misfire_policy,
                          overlap_policy, created_at, updated_at)
        SELECT id, owner, 'live-' || g, type, '{}'::jsonb, queue, 0,
               :now - interval '1 day', 3600, 'UTC',
               CASE live WHEN 'queued' THEN 'queued' WHEN 'running' THEN 'running'
                         ELSE 'scheduled' END,
               24, 1, 30, 60, 'run_once', 'forbid', :now - interval '1 day', :now
        FROM plan
        RETURNING id
    ), timed AS (
        SELECT plan.*, CASE live
            WHEN 'due' THEN :now - (g % 300) * interval '1 second'
            WHEN 'later' THEN :now + (1 + g % 3600) * interval '1 second'
            ELSE :now - (g % 60) * interval '1 second' END AS at
        FROM plan JOIN made USING (id)
    )
    INSERT INTO runs (id, job_id, owner_id, queue, attempt, origin, priority, scheduled_for,
                      due_at, state, queued_at, published_at, started_at, heartbeat_at,
                      worker, created_at)
    SELECT gen_random_uuid(), id, owner, queue, 1, 'schedule', 0, at,
           CASE WHEN live IN ('due', 'later') THEN at END,
           CASE WHEN live IN ('due', 'later') THEN 'pending' ELSE live END,
           CASE WHEN live IN ('queued', 'running') THEN at END,
           CASE WHEN live IN ('queued', 'running') THEN at END,
           CASE WHEN live = 'running' THEN at + interval '20 milliseconds' END,
           CASE WHEN live = 'running' THEN :now - (g % 5) * interval '1 second' END,
           CASE WHEN live = 'running' THEN 'bench-' || g % :workers || '\\:1' END,
           at - interval '1 hour'
    FROM timed
    """
)
# Every minute of the window for each (queue, type), 20 to 60 runs ended a minute, 2% of
# them failed and now and then one lost; their start lags in the first four buckets.
INSERT_MINUTES = text(
    """
    INSERT INTO run_stats_minute (minute, queue, type, succeeded, failed, skipped, lost,
                                  cancelled, lag_buckets, lag_max)
    SELECT m.minute, q.queue, t.type, n.ran - n.ran / 50 - n.lost, n.ran / 50, 0, n.lost, 0,
           ARRAY[n.ran * 3 / 10, n.ran * 4 / 10, n.ran * 2 / 10,
                 n.ran - n.ran * 3 / 10 - n.ran * 4 / 10 - n.ran * 2 / 10]
               || array_fill(0, ARRAY[CAST(:buckets AS integer) - 4]),
           0.02 + n.k % 7 * 0.01
    FROM generate_series(:first, :last, interval '1 minute') AS m(minute)
    CROSS JOIN unnest(CAST(:queues AS text[])) AS q(queue)
    CROSS JOIN unnest(CAST(:types AS text[])) AS t(type)
    CROSS JOIN LATERAL (
        SELECT k, CAST(20 + k % 41 AS integer) AS ran,
               CASE WHEN k % 97 = 0 THEN 1 ELSE 0 END AS lost
        FROM (SELECT CAST(extract(epoch FROM m.minute) AS bigint) / 60 AS k) AS minute_number
    ) AS n
    """
)
INSERT_ROLLED = text(
    "INSERT INTO rolled_minutes (minute, rolled_at) "
    "SELECT m, m + interval '1 minute' "
    "FROM generate_series(:first, :last, interval '1 minute') AS m"
)
# The hours are the minutes' sums, as the rollup pass adds each minute to its hour; the
# histograms are summed bucket by bucket.
INSERT_HOURS = text(
    """
    WITH buckets AS (
        SELECT date_trunc('hour', m.minute, 'UTC') AS hour, m.queue, m.type, b.i,
               sum(b.n)::int AS n
        FROM run_stats_minute AS m, unnest(m.lag_buckets) WITH ORDINALITY AS b(n, i)
        GROUP BY 1, 2, 3, 4
    ), histograms AS (
        SELECT hour, queue, type, array_agg(n ORDER BY i) AS lag_buckets
        FROM buckets GROUP BY 1, 2, 3
    ), totals AS (
        SELECT date_trunc('hour', minute, 'UTC') AS hour, queue, type,
               sum(succeeded)::int AS succeeded, sum(failed)::int AS failed,
               sum(skipped)::int AS skipped, sum(lost)::int AS lost,
               sum(cancelled)::int AS cancelled, max(lag_max) AS lag_max
        FROM run_stats_minute GROUP BY 1, 2, 3
    )
    INSERT INTO run_stats_hour (hour, queue, type, succeeded, failed, skipped, lost,
                                cancelled, lag_buckets, lag_max)
    SELECT t.hour, t.queue, t.type, t.succeeded, t.failed, t.skipped, t.lost, t.cancelled,
           h.lag_buckets, t.lag_max
    FROM totals AS t JOIN histograms AS h USING (hour, queue, type)
    """
)
# Every tenth worker went silent two minutes ago (past the lease: shown as silent).
INSERT_WORKERS = text(
    """
    INSERT INTO workers (name, queues, threads, in_flight, started_at, heartbeat_at)
    SELECT 'bench-' || w || '\\:1', CAST(:queues AS text[]), 8, w % 9,
           :now - interval '3 hours',
           :now - CASE WHEN w % 10 = 0 THEN interval '2 minutes'
                       ELSE (w % 5) * interval '1 second' END
    FROM generate_series(0, :workers - 1) AS w
    """
)
TABLES = "runs, jobs, workers, queues, run_stats_minute, run_stats_hour, rolled_minutes"


@dataclass(frozen=True)
class Seeded:
    user: uuid.UUID  # owns the history and a fifth of the live state
    admin: uuid.UUID
    runs: int
    minutes: int  # run_stats_minute rows
    seconds: float


def seed(ctx: BenchContext, scale: Scale, now: datetime) -> Seeded:
    started = time.perf_counter()
    owners = [workload.create_owner(ctx.engine) for _ in range(OWNERS)]
    admin = uuid.uuid4()
    last = now.replace(second=0, microsecond=0) - timedelta(minutes=1)
    first = last - timedelta(days=scale.rollup_days) + timedelta(minutes=1)
    lists = {"queues": list(QUEUES), "types": list(TYPES)}
    with ctx.engine.begin() as conn:
        conn.execute(INSERT_ADMIN, {"id": admin, "name": f"bench-admin-{admin.hex[:12]}"})
        runs = seed_history(conn, owners[0], now, ctx.sizes.u1_runs)
        live = {"owners": owners, "now": now, "jobs": scale.live_jobs, "workers": WORKERS}
        runs += conn.execute(INSERT_LIVE, {**live, **lists}).rowcount
        minutes = conn.execute(
            INSERT_MINUTES,
            {"first": first, "last": last, "buckets": len(LAG_BUCKETS) + 1, **lists},
        ).rowcount
        conn.execute(INSERT_ROLLED, {"first": first, "last": last})
        conn.execute(INSERT_HOURS)
        conn.execute(INSERT_WORKERS, {"now": now, "workers": WORKERS, "queues": list(QUEUES)})
        queue_repo.ensure_queues(conn, QUEUES)
    with ctx.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(
            text(f"VACUUM ANALYZE {TABLES}")
        )
    return Seeded(owners[0], admin, runs, minutes, time.perf_counter() - started)


class Statements:
    """Counts the app's statements as they are sent, the sign-in check (the session's
    user, one a request) apart from the data queries."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sign_in_sql = str(user_repo.GET_USER.compile(dialect=engine.dialect))
        self.sign_ins = 0
        self.data = 0
        self._lock = threading.Lock()

    def __enter__(self) -> Statements:
        event.listen(self.engine, "before_cursor_execute", self._count)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._count)

    def _count(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        with self._lock:
            if statement == self.sign_in_sql:
                self.sign_ins += 1
            else:
                self.data += 1

    def take(self) -> tuple[int, int]:
        """Sign-in checks and data statements since the last take."""
        with self._lock:
            counted = self.sign_ins, self.data
            self.sign_ins = self.data = 0
        return counted


@dataclass
class Polled:
    """Some ticks of polling: every request's server time per fragment (and, apart,
    those of all but the tick's first client), and each tick's statements."""

    times: dict[str, list[float]] = field(default_factory=lambda: {p: [] for p in PANELS})
    cached: dict[str, list[float]] = field(default_factory=lambda: {p: [] for p in PANELS})
    sign_ins: list[int] = field(default_factory=list)
    data: list[int] = field(default_factory=list)


class Clients:
    """Ten signed-in browsers of one account, polling the fragments of one app."""

    def __init__(self, ctx: BenchContext, app: Any, clock: FixedClock, who: uuid.UUID, role: str):
        self.clock = clock
        self.clients = [testing.TestClient(app) for _ in range(CLIENTS)]
        now = clock.now()
        # Ten sessions, each signed in a second apart: ten tokens.
        self.cookies = [
            {SESSION_COOKIE: issue_token(ctx.settings, who, role, now - timedelta(seconds=n))}
            for n in range(CLIENTS)
        ]
        self.role = role
        self._start = threading.Barrier(CLIENTS, timeout=60)

    def fetch(self, client: int, panel: str) -> float:
        """One fragment's server time, in ms."""
        started = time.perf_counter()
        result = self.clients[client].simulate_get(
            f"/ui/live/{panel}", cookies=self.cookies[client]
        )
        elapsed = (time.perf_counter() - started) * 1000
        if result.status_code != 200:
            raise RuntimeError(f"{self.role} {panel}: {result.status_code} {result.text[:300]}")
        if self.role == "admin" and panel == "throughput" and "<svg" not in result.text:
            raise RuntimeError("throughput: no chart in the admin's fragment")
        return elapsed

    def poll(self, client: int) -> list[float]:
        return [self.fetch(client, panel) for panel in PANELS]

    def poll_released(self, client: int) -> list[float]:
        self._start.wait()  # every client's first request at the same moment
        return self.poll(client)

    def next_tick(self) -> None:
        self.clock.advance(TICK_SECONDS)


def poll_ticks(
    clients: Clients, statements: Statements, ticks: int, pool: ThreadPoolExecutor | None
) -> Polled:
    """``ticks`` ticks of every client polling every fragment: in turn, or with ``pool``
    all at once."""
    polled = Polled()
    for _ in range(ticks):
        clients.next_tick()
        statements.take()
        if pool is None:
            by_client = [clients.poll(n) for n in range(CLIENTS)]
        else:
            futures = [pool.submit(clients.poll_released, n) for n in range(CLIENTS)]
            by_client = [future.result() for future in futures]
        sign_ins, data = statements.take()
        polled.sign_ins.append(sign_ins)
        polled.data.append(data)
        for n, times in enumerate(by_client):
            for panel, ms in zip(PANELS, times, strict=True):
                polled.times[panel].append(ms)
                if n:
                    polled.cached[panel].append(ms)
    if not any(polled.sign_ins):
        raise RuntimeError("no sign-in check counted: its statement was not recognised")
    return polled


def one_client_set(clients: Clients, statements: Statements) -> int:
    """The data statements of one client alone polling every fragment in a fresh tick."""
    clients.next_tick()
    statements.take()
    clients.poll(0)
    _, data = statements.take()
    if not data:
        raise RuntimeError(f"{clients.role}: a fresh tick ran no data query")
    return data


def first_of_tick(
    clients: Clients, statements: Statements, tries: int
) -> tuple[dict[str, list[float]], dict[str, int]]:
    """Each fragment as the first request of a fresh tick, so it runs all its queries:
    its server times, and how many data statements it ran."""
    times: dict[str, list[float]] = {panel: [] for panel in PANELS}
    queries: dict[str, int] = {}
    for panel in PANELS:
        for _ in range(tries):
            clients.next_tick()
            statements.take()
            times[panel].append(clients.fetch(0, panel))
            queries[panel] = statements.take()[1]
    return times, queries


def p95(values: list[float]) -> float:
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=20, method="inclusive")[18]


def slowest(times: dict[str, list[float]], figure: Callable[[list[float]], float]) -> str:
    return max(times, key=lambda panel: figure(times[panel]))


def listed(times: dict[str, list[float]]) -> str:
    return ", ".join(
        f"{panel} {statistics.median(ms):.1f}/{p95(ms):.1f}" for panel, ms in times.items()
    )


@dataclass
class Measured:
    """One account's ten clients, measured: in turn, at once, and each fragment first."""

    alone: int  # data statements of one client alone per tick
    in_turn: Polled
    at_once: Polled | None
    at_once_error: str | None
    first: dict[str, list[float]]
    first_queries: dict[str, int]

    def sets(self, polled: Polled) -> float:
        return max(polled.data) / self.alone


def measure_account(
    clients: Clients, statements: Statements, scale: Scale, pool: ThreadPoolExecutor
) -> Measured:
    clients.poll(0)  # warm up: templates, plans, connections
    alone = one_client_set(clients, statements)
    in_turn = poll_ticks(clients, statements, scale.ticks, None)
    at_once: Polled | None = None
    error = None
    try:
        at_once = poll_ticks(clients, statements, scale.ticks, pool)
    except Exception as failure:  # the sequential figures stand on their own
        error = f"{failure.__class__.__name__}: {failure}"[:200]
    first, first_queries = first_of_tick(clients, statements, scale.first_tries)
    return Measured(alone, in_turn, at_once, error, first, first_queries)


def measure(ctx: BenchContext) -> dict[str, Figure]:
    scale = QUICK if ctx.quick else FULL
    ctx.reset_tables()
    now = datetime.now(UTC)
    try:
        seeded = seed(ctx, scale, now)
        settings = load_settings(ctx.child_env(CHRONOS_QUEUES=",".join(QUEUES)))
        clock = FixedClock(now)
        app = create_app(settings, clock=clock, engine=ctx.engine)
        admins = Clients(ctx, app, clock, seeded.admin, "admin")
        users = Clients(ctx, app, clock, seeded.user, "user")
        with Statements(ctx.engine) as statements, ThreadPoolExecutor(CLIENTS) as pool:
            admin = measure_account(admins, statements, scale, pool)
            user = measure_account(users, statements, scale, pool)
    finally:
        with ctx.engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {TABLES}"))
    return figures(scale, seeded, admin, user)


def figures(scale: Scale, seeded: Seeded, admin: Measured, user: Measured) -> dict[str, Figure]:
    world = (
        f"{seeded.runs:,} runs, {scale.rollup_days} days of rollups ({seeded.minutes:,} "
        f"minute rows), {WORKERS} workers, seeded in {seeded.seconds:.0f} s"
    )
    each = f"{CLIENTS} clients x {len(PANELS)} fragments x {scale.ticks} ticks"
    polled = admin.in_turn.times
    worst = slowest(polled, statistics.median)
    first_worst = slowest(admin.first, statistics.median)
    user_worst = slowest(user.in_turn.times, statistics.median)
    user_first = slowest(user.first, statistics.median)
    result = {
        "u2": Figure(
            statistics.median(polled[worst]),
            "ms",
            f"{world}; {each}, admin; median/p95 ms: {listed(polled)}; "
            f"clients 2-10 (from the cache): {listed(admin.in_turn.cached)}; slowest: {worst}",
        ),
        "u2_first": Figure(
            statistics.median(admin.first[first_worst]),
            "ms",
            f"each fragment alone in a fresh tick, median/p95 of {scale.first_tries}, ms: "
            f"{listed(admin.first)}; data statements: "
            + ", ".join(f"{p} {n}" for p, n in admin.first_queries.items()),
        ),
        "u2_user": Figure(
            statistics.median(user.in_turn.times[user_worst]),
            "ms",
            f"ten sessions of the history's owner; median/p95 ms: {listed(user.in_turn.times)}"
            f"; first of a tick: {listed(user.first)} (slowest {user_first} "
            f"{statistics.median(user.first[user_first]):.1f})",
        ),
    }
    sets = {
        "admin": admin.sets(admin.in_turn),
        "user": user.sets(user.in_turn),
    }
    for name, account in (("admin", admin), ("user", user)):
        if account.at_once is not None:
            sets[f"{name} at once"] = account.sets(account.at_once)
    result["u2_sets"] = Figure(
        max(sets.values()),
        "per tick",
        "most in any tick, in units of one client alone's ("
        f"admin {admin.alone} statements, user {user.alone}): "
        + ", ".join(f"{name} {value:g}" for name, value in sets.items()),
    )
    requests = CLIENTS * len(PANELS)
    result["u2_statements"] = Figure(
        max(a + b for a, b in zip(admin.in_turn.sign_ins, admin.in_turn.data, strict=True)),
        "per tick",
        f"admin, most in a tick: sign-in checks {max(admin.in_turn.sign_ins)} for {requests} "
        f"requests + data {max(admin.in_turn.data)}; user: "
        f"{max(user.in_turn.sign_ins)} + {max(user.in_turn.data)}",
    )
    result["u2_at_once"] = at_once_figure(admin, user)
    return result


def at_once_figure(admin: Measured, user: Measured) -> Figure:
    if admin.at_once is None:
        return Figure(unit="ms", error=admin.at_once_error or "not measured")
    times = admin.at_once.times
    worst = slowest(times, statistics.median)
    note = (
        "10 threads released together each tick (wall time: one process, one GIL), admin; "
        f"median/p95 ms: {listed(times)}"
    )
    if user.at_once is not None:
        note += f"; user: {listed(user.at_once.times)}"
    elif user.at_once_error:
        note += f"; user: {user.at_once_error}"
    return Figure(statistics.median(times[worst]), "ms", note)


BENCHMARK = Benchmark(
    name="U2",
    units={
        "u2": "ms",
        "u2_first": "ms",
        "u2_user": "ms",
        "u2_at_once": "ms",
        "u2_sets": "per tick",
        "u2_statements": "per tick",
    },
    measure=measure,
)

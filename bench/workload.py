"""Load made directly in the database, in bulk, as the API would have stored it: one
user, ``noop`` jobs with the API's defaults (priority 0, misfire ``run_once``, overlap
``forbid``, one attempt) and each job's first pending run. Also the queries that read
the outcome back."""

from __future__ import annotations

import statistics
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine, text

from shared.repository.runs import NOTIFY_CHANNEL

INSERT_JOBS_AND_RUNS = text(
    """
    WITH new_jobs AS (
        INSERT INTO jobs (id, owner_id, name, type, payload, queue, priority, run_at,
                          timezone, status, run_count, max_attempts, retry_backoff_seconds,
                          timeout_seconds, misfire_policy, overlap_policy, created_at,
                          updated_at)
        SELECT gen_random_uuid(), :owner, 'bench-' || g,
               CASE WHEN g % :every = :every - 1 THEN :other_type ELSE :type END,
               CAST(CASE WHEN g % :every = :every - 1 THEN :other_payload ELSE :payload END
                    AS jsonb),
               :queue, 0, CAST(:first_due AS timestamptz) + g * CAST(:spacing AS interval),
               'UTC', 'scheduled', 0, 1, 0, 60, 'run_once', 'forbid', now(), now()
        FROM generate_series(0, :count - 1) AS g
        RETURNING id, run_at, queue, owner_id
    )
    INSERT INTO runs (id, job_id, queue, owner_id, attempt, origin, priority, scheduled_for,
                      due_at, state, created_at)
    SELECT gen_random_uuid(), id, queue, owner_id, 1, 'schedule', 0, run_at, run_at,
           'pending', now()
    FROM new_jobs
    """
)

# Many pending runs per job: only for C5's far-future filler, which the claim never
# reaches; it keeps a million-row table quick to make.
INSERT_FUTURE_FILLER = text(
    """
    WITH filler_jobs AS (
        INSERT INTO jobs (id, owner_id, name, type, payload, queue, priority, run_at,
                          timezone, status, run_count, max_attempts, retry_backoff_seconds,
                          timeout_seconds, misfire_policy, overlap_policy, created_at,
                          updated_at)
        SELECT gen_random_uuid(), :owner, 'filler-' || g, 'noop', '{}'::jsonb, 'default', 0,
               CAST(:first_due AS timestamptz), 'UTC', 'scheduled', 0, 1, 0, 60,
               'run_once', 'forbid', now(), now()
        FROM generate_series(1, :jobs) AS g
        RETURNING id
    ), numbered AS (
        SELECT id, row_number() OVER () - 1 AS n FROM filler_jobs
    )
    INSERT INTO runs (id, job_id, queue, owner_id, attempt, origin, priority, scheduled_for,
                      due_at, state, created_at)
    SELECT gen_random_uuid(), numbered.id, 'default', :owner, 1, 'schedule', 0, due, due,
           'pending', now()
    FROM numbered
    CROSS JOIN LATERAL (
        SELECT CAST(:first_due AS timestamptz)
               + (numbered.n * :per_job + k) * interval '1 second' AS due
        FROM generate_series(0, :per_job - 1) AS k
    ) AS occurrence
    """
)


# C5's many owners: ``owners`` users with one job each, and ``per_owner`` pending runs
# of that job due one millisecond apart, the latest at ``:last_due``.
INSERT_OWNERS_DUE = text(
    """
    WITH owners AS (
        INSERT INTO users (id, username, password_hash, role, created_at, updated_at)
        SELECT gen_random_uuid(), 'bench-' || :tag || '-' || g, 'not-a-login', 'user',
               now(), now()
        FROM generate_series(1, :owners) AS g
        RETURNING id
    ), owner_jobs AS (
        INSERT INTO jobs (id, owner_id, name, type, payload, queue, priority, run_at,
                          timezone, status, run_count, max_attempts, retry_backoff_seconds,
                          timeout_seconds, misfire_policy, overlap_policy, created_at,
                          updated_at)
        SELECT gen_random_uuid(), id, 'due-filler', 'noop', '{}'::jsonb, 'default', 0,
               CAST(:last_due AS timestamptz), 'UTC', 'scheduled', 0, 1, 0, 60,
               'run_once', 'forbid', now(), now()
        FROM owners
        RETURNING id, owner_id
    )
    INSERT INTO runs (id, job_id, queue, owner_id, attempt, origin, priority, scheduled_for,
                      due_at, state, created_at)
    SELECT gen_random_uuid(), owner_jobs.id, 'default', owner_jobs.owner_id, 1, 'schedule',
           0, due, due, 'pending', now()
    FROM owner_jobs
    CROSS JOIN LATERAL (
        SELECT CAST(:last_due AS timestamptz) - k * interval '1 millisecond' AS due
        FROM generate_series(0, :per_owner - 1) AS k
    ) AS occurrence
    """
)


def now_utc() -> datetime:
    return datetime.now(UTC)


def create_owner(engine: Engine) -> uuid.UUID:
    owner = uuid.uuid4()
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO users (id, username, password_hash, role, created_at, updated_at) "
                "VALUES (:id, :name, 'not-a-login', 'user', now(), now())"
            ),
            {"id": owner, "name": f"bench-{owner.hex[:12]}"},
        )
    return owner


@dataclass(frozen=True)
class Mixed:
    """Every ``every``-th job of a workload (the 20th, 40th, ... for 20) is of another
    type, interleaved with the others in insertion order."""

    every: int
    job_type: str
    payload: str


def insert_runs(
    conn: Connection,
    owner: uuid.UUID,
    first_due: datetime,
    count: int,
    spacing: float = 0.0,
    *,
    job_type: str = "noop",
    payload: str = "{}",
    queue: str = "default",
    mixed: Mixed | None = None,
) -> None:
    """``count`` jobs (noop unless told) with one pending run each, due ``spacing``
    seconds apart; with ``mixed``, every ``mixed.every``-th job is of its type instead."""
    # every = count + 1: no job is the odd one out.
    odd = mixed or Mixed(count + 1, job_type, payload)
    conn.execute(
        INSERT_JOBS_AND_RUNS,
        {
            "owner": owner,
            "first_due": first_due,
            "count": count,
            "spacing": timedelta(seconds=spacing),
            "type": job_type,
            "payload": payload,
            "queue": queue,
            "every": odd.every,
            "other_type": odd.job_type,
            "other_payload": odd.payload,
        },
    )


def insert_owners_due(conn: Connection, owners: int, per_owner: int, last_due: datetime) -> None:
    """``owners`` new users, each with ``per_owner`` pending runs due by ``last_due``."""
    conn.execute(
        INSERT_OWNERS_DUE,
        {
            "owners": owners,
            "per_owner": per_owner,
            "last_due": last_due,
            "tag": uuid.uuid4().hex[:8],
        },
    )


def insert_future_filler(
    conn: Connection, owner: uuid.UUID, first_due: datetime, count: int, per_job: int = 100
) -> None:
    conn.execute(
        INSERT_FUTURE_FILLER,
        {
            "owner": owner,
            "first_due": first_due,
            "jobs": max(1, count // per_job),
            "per_job": per_job,
        },
    )


def notify_scheduler(conn: Connection, due: datetime) -> None:
    """What the API does after storing a run due soon: wake the schedulers."""
    conn.execute(
        text("SELECT pg_notify(:channel, :due)"),
        {"channel": NOTIFY_CHANNEL, "due": due.isoformat()},
    )


def count_where(engine: Engine, condition: str) -> int:
    """Runs matching a fixed condition written in this package (never user input)."""
    with engine.connect() as conn:
        return int(conn.scalar(text("SELECT count(*) FROM runs AS r WHERE " + condition)) or 0)  # noqa: S608


def latest(engine: Engine, column: str) -> datetime:
    """The latest ``finished_at``/``started_at``, or ``dispatch_repo.PUBLISHED_AT`` (a
    fixed expression written in this package)."""
    with engine.connect() as conn:
        value: datetime | None = conn.scalar(text(f"SELECT max({column}) FROM runs AS r"))  # noqa: S608
    if value is None:
        raise RuntimeError(f"no run has {column}")
    return value


def start_lags_ms(engine: Engine) -> list[float]:
    """``started_at - scheduled_for`` of every started run, in milliseconds."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT extract(epoch FROM started_at - scheduled_for) * 1000 FROM runs "
                "WHERE started_at IS NOT NULL"
            )
        )
        return [float(row[0]) for row in rows]


PHASES = (
    ("wake", "queued_at - scheduled_for"),
    ("dispatch", "published_at - queued_at"),
    ("deliver", "started_at - published_at"),
)


def phase_split(engine: Engine, fraction: float, owner: uuid.UUID | None = None) -> str:
    """Where the lag goes, in ms: the given percentile of each phase of the started runs.
    wake: due time to the start of the claim that took the run (``queued_at``); dispatch:
    that claim's transaction, the confirmed publish and the mark (``published_at``);
    deliver: from the mark to a worker's start (below 0 when a worker starts the run
    before the scheduler has marked it published). Of one owner's runs if given."""
    columns = ", ".join(
        f"percentile_cont({fraction}) WITHIN GROUP (ORDER BY extract(epoch FROM {span}))"
        for _, span in PHASES
    )
    with engine.connect() as conn:
        row = conn.execute(
            text(
                f"SELECT {columns} FROM runs WHERE started_at IS NOT NULL"  # noqa: S608
                " AND (CAST(:owner AS uuid) IS NULL OR owner_id = :owner)"
            ),
            {"owner": owner},
        ).one()
    parts = [
        f"{name} {round(float(value) * 1000)}"
        for (name, _), value in zip(PHASES, row, strict=True)
        if value is not None
    ]
    return f"p{fraction * 100:g} by phase (ms): " + ", ".join(parts)


def percentile(values: list[float], fraction: float) -> float:
    """Linear interpolation between closest ranks (as numpy's default)."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    position = fraction * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median(values: list[float]) -> float:
    return statistics.median(values)


@dataclass(frozen=True)
class Burst:
    """A workload inserted to come due at ``first_due``; ``late`` says whether inserting
    it took longer than the lead time (then the figure understates Chronos)."""

    first_due: datetime
    count: int
    inserted_at: datetime

    @property
    def late(self) -> bool:
        return self.inserted_at > self.first_due


def insert_burst(
    engine: Engine, owner: uuid.UUID, count: int, lead: float, spacing: float = 0.0
) -> Burst:
    return insert_burst_of(engine, owner, count, lead, spacing)


def insert_burst_of(
    engine: Engine,
    owner: uuid.UUID,
    count: int,
    lead: float,
    spacing: float = 0.0,
    *,
    job_type: str = "noop",
    payload: str = "{}",
    mixed: Mixed | None = None,
) -> Burst:
    """:func:`insert_burst` of jobs of another type, or of a mix of two."""
    first_due = now_utc() + timedelta(seconds=lead)
    with engine.begin() as conn:
        insert_runs(
            conn,
            owner,
            first_due,
            count,
            spacing,
            job_type=job_type,
            payload=payload,
            mixed=mixed,
        )
        notify_scheduler(conn, first_due)
    return Burst(first_due, count, now_utc())

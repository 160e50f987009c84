"""Jobs: what users submitted, and the queries that read a job with its run summary."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, text

from shared.jobs import JobSpec
from shared.recurrence import Schedule
from shared.repository import Row, as_json, newest_first
from shared.repository.runs import NOTIFY_CHANNEL

JOB_COLUMNS = (
    "id, owner_id, name, type, payload, queue, priority, run_at, repeat, interval_seconds, "
    "cron, timezone, end_at, max_runs, status, run_count, max_attempts, "
    "retry_backoff_seconds, timeout_seconds, misfire_policy, overlap_policy, "
    "idempotency_key, request_fingerprint, created_at, updated_at"
)

# Where ``status`` is derived from the runs, these two are left alone: they are the
# user's decisions, not the outcome of a run.
USER_HELD_STATUSES = ("paused", "cancelled")


def job_params(
    spec: JobSpec,
    *,
    owner_id: uuid.UUID,
    now: datetime,
    idempotency_key: str | None = None,
    fingerprint: str | None = None,
) -> dict[str, Any]:
    schedule = spec.schedule
    return {
        "id": uuid.uuid4(),
        "owner_id": owner_id,
        "name": spec.name,
        "type": spec.type,
        "payload": as_json(spec.payload),
        "queue": spec.queue,
        "priority": spec.priority,
        "run_at": schedule.run_at,
        "repeat": schedule.repeat,
        "interval_seconds": schedule.interval_seconds,
        "cron": schedule.cron,
        "timezone": schedule.timezone,
        "end_at": schedule.end_at,
        "max_runs": schedule.max_runs,
        "status": "scheduled",
        "max_attempts": spec.max_attempts,
        "retry_backoff_seconds": spec.retry_backoff_seconds,
        "timeout_seconds": spec.timeout_seconds,
        "misfire_policy": spec.misfire_policy,
        "overlap_policy": spec.overlap_policy,
        "idempotency_key": idempotency_key,
        "request_fingerprint": fingerprint,
        "now": now,
    }


JOB_VALUES = (
    ":id, :owner_id, :name, :type, CAST(:payload AS jsonb), :queue, :priority, :run_at, "
    ":repeat, :interval_seconds, :cron, :timezone, :end_at, :max_runs, :status, 0, "
    ":max_attempts, :retry_backoff_seconds, :timeout_seconds, :misfire_policy, "
    ":overlap_policy, :idempotency_key, :request_fingerprint, :now, :now"
)

# The job, its first pending run and the schedulers' wake-up, in one statement: a submit
# is one round trip and one commit.
SUBMIT = text(
    f"""
    WITH job AS (
        INSERT INTO jobs ({JOB_COLUMNS}) VALUES ({JOB_VALUES})
        ON CONFLICT (owner_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
        RETURNING {JOB_COLUMNS}
    ),
    first_run AS (
        INSERT INTO runs (id, job_id, attempt, origin, priority, queue, owner_id,
                          scheduled_for, due_at, state, created_at)
        SELECT :run_id, id, 1, 'schedule', priority, queue, owner_id, :first_due, :first_due,
               'pending', :now
        FROM job
    )
    SELECT job.*, CASE WHEN :wake THEN pg_notify(:channel, :wake_at) END AS woke FROM job
    """
)


def insert_job(
    conn: Connection, params: dict[str, Any], first_due: datetime, *, wake: bool
) -> Row | None:
    """Insert a job with its first pending run, and NOTIFY the schedulers if ``wake``.
    None when the idempotency key was already used by this owner (nothing is written)."""
    return (
        conn.execute(
            SUBMIT,
            {
                **params,
                "run_id": uuid.uuid4(),
                "first_due": first_due,
                "wake": wake,
                "channel": NOTIFY_CHANNEL,
                "wake_at": first_due.isoformat(),
            },
        )
        .mappings()
        .first()
    )


INSERT_MANY = text(
    f"""
    INSERT INTO jobs ({JOB_COLUMNS})
    SELECT id, owner_id, name, type, CAST(payload AS jsonb), queue, priority, run_at, repeat,
        interval_seconds, cron, timezone, end_at, max_runs, 'scheduled', 0, max_attempts,
        retry_backoff_seconds, timeout_seconds, misfire_policy, overlap_policy, NULL, NULL,
        :now, :now
    FROM unnest(
        CAST(:id AS uuid[]), CAST(:owner_id AS uuid[]), CAST(:name AS text[]),
        CAST(:type AS text[]), CAST(:payload AS text[]), CAST(:queue AS text[]),
        CAST(:priority AS smallint[]), CAST(:run_at AS timestamptz[]), CAST(:repeat AS text[]),
        CAST(:interval_seconds AS int[]), CAST(:cron AS text[]), CAST(:timezone AS text[]),
        CAST(:end_at AS timestamptz[]), CAST(:max_runs AS int[]),
        CAST(:max_attempts AS smallint[]), CAST(:retry_backoff_seconds AS int[]),
        CAST(:timeout_seconds AS int[]), CAST(:misfire_policy AS text[]),
        CAST(:overlap_policy AS text[])
    ) AS batch(id, owner_id, name, type, payload, queue, priority, run_at, repeat,
               interval_seconds, cron, timezone, end_at, max_runs, max_attempts,
               retry_backoff_seconds, timeout_seconds, misfire_policy, overlap_policy)
    RETURNING {JOB_COLUMNS}
    """
)
BATCH_COLUMNS = (
    "id", "owner_id", "name", "type", "payload", "queue", "priority", "run_at", "repeat",
    "interval_seconds", "cron", "timezone", "end_at", "max_runs", "max_attempts",
    "retry_backoff_seconds", "timeout_seconds", "misfire_policy", "overlap_policy",
)  # fmt: skip


def insert_jobs(conn: Connection, params: Sequence[dict[str, Any]], now: datetime) -> list[Row]:
    """Insert a batch of jobs with one multi-row statement; rows in the batch's order."""
    columns = {column: [p[column] for p in params] for column in BATCH_COLUMNS}
    rows = conn.execute(INSERT_MANY, {**columns, "now": now}).mappings()
    by_id = {row["id"]: row for row in rows}
    return [by_id[p["id"]] for p in params]


def find_by_idempotency_key(conn: Connection, owner_id: uuid.UUID, key: str) -> Row | None:
    return (
        conn.execute(
            text(
                f"SELECT {JOB_COLUMNS} FROM jobs WHERE owner_id = :owner AND idempotency_key = :key"
            ),
            {"owner": owner_id, "key": key},
        )
        .mappings()
        .first()
    )


COUNT_LIVE = text(
    "SELECT count(*) FROM (SELECT 1 FROM jobs WHERE owner_id = :owner AND live LIMIT :cap) AS l"
)


def count_live(conn: Connection, owner_id: uuid.UUID, cap: int) -> int:
    """The owner's live jobs (not finished, not cancelled), counted up to ``cap`` at most:
    a limit only needs to know whether it is passed, and the count stays cheap."""
    return int(conn.scalar(COUNT_LIVE, {"owner": owner_id, "cap": cap}) or 0)


def get_job(conn: Connection, job_id: uuid.UUID, *, lock: bool = False) -> Row | None:
    """A job; with ``lock``, its row is locked so that the scheduler skips it meanwhile."""
    suffix = " FOR UPDATE" if lock else ""
    return (
        conn.execute(text(f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = :id{suffix}"), {"id": job_id})
        .mappings()
        .first()
    )


def listing_clauses(
    owner_id: uuid.UUID | None, filters: Mapping[str, str]
) -> tuple[list[str], dict[str, Any]]:
    """The WHERE clauses of a job listing: the owner's (None: everyone's, for an admin),
    and exact matches by column."""
    clauses = []
    params: dict[str, Any] = {}
    if owner_id is not None:
        clauses.append("owner_id = :owner")
        params["owner"] = owner_id
    for column in ("status", "type", "queue", "name"):
        if column in filters:
            clauses.append(f"{column} = :{column}")
            params[column] = filters[column]
    return clauses, params


def list_jobs(
    conn: Connection,
    *,
    owner_id: uuid.UUID | None,
    filters: dict[str, str],
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
) -> list[Row]:
    """Newest first, keyset-paged on (created_at, id)."""
    clauses, params = listing_clauses(owner_id, filters)
    return newest_first(
        conn,
        f"SELECT {JOB_COLUMNS} FROM jobs",
        clauses,
        params,
        time_column="created_at",
        limit=limit,
        after=after,
    )


def set_status(conn: Connection, job_id: uuid.UUID, status: str, now: datetime) -> None:
    conn.execute(
        text("UPDATE jobs SET status = :status, updated_at = :now WHERE id = :id"),
        {"id": job_id, "status": status, "now": now},
    )


def update_schedule(
    conn: Connection, job_id: uuid.UUID, schedule: Schedule, status: str, now: datetime
) -> None:
    conn.execute(
        text(
            "UPDATE jobs SET run_at = :run_at, repeat = :repeat, "
            "interval_seconds = :interval_seconds, cron = :cron, timezone = :timezone, "
            "end_at = :end_at, max_runs = :max_runs, status = :status, updated_at = :now "
            "WHERE id = :id"
        ),
        {
            "id": job_id,
            "run_at": schedule.run_at,
            "repeat": schedule.repeat,
            "interval_seconds": schedule.interval_seconds,
            "cron": schedule.cron,
            "timezone": schedule.timezone,
            "end_at": schedule.end_at,
            "max_runs": schedule.max_runs,
            "status": status,
            "now": now,
        },
    )


REFRESH_STATUS = text(
    """
    UPDATE jobs AS j SET status = derived.status, updated_at = :now
    FROM (
        SELECT j2.id,
            CASE
                WHEN bool_or(r.state = 'running') THEN 'running'
                WHEN bool_or(r.state = 'queued') THEN 'queued'
                WHEN bool_or(r.state = 'pending') THEN 'scheduled'
                WHEN j2.repeat IS NOT NULL OR j2.interval_seconds IS NOT NULL
                     OR j2.cron IS NOT NULL THEN 'succeeded'
                ELSE coalesce((
                    -- An aggregate over the job's own runs, not ORDER BY ... LIMIT 1:
                    -- that let the planner walk ix_runs_finished backwards through
                    -- every finished run of every job (300 ms for 200 jobs).
                    SELECT CASE (array_agg(last.state
                                    ORDER BY last.finished_at DESC, last.created_at DESC))[1]
                               WHEN 'succeeded' THEN 'succeeded'
                               WHEN 'cancelled' THEN 'cancelled'
                               ELSE 'failed' END
                    FROM runs AS last
                    WHERE last.job_id = j2.id AND last.finished_at IS NOT NULL
                ), 'scheduled')
            END AS status
        FROM jobs AS j2
        LEFT JOIN runs AS r
            ON r.job_id = j2.id AND r.state IN ('pending', 'queued', 'running')
        WHERE j2.id = ANY(:ids)
        GROUP BY j2.id
    ) AS derived
    WHERE j.id = ANY(:ids) AND j.id = derived.id AND j.status NOT IN ('paused', 'cancelled')
        AND j.status IS DISTINCT FROM derived.status
    """
)


def refresh_status(conn: Connection, job_ids: Sequence[uuid.UUID], now: datetime) -> None:
    """Derive each job's status from its runs, unless the user paused or cancelled it.

    A live run wins (running, then queued); else a pending run means scheduled; else
    the job is done: a recurring job has exhausted its schedule (succeeded), and a
    one-off job takes the outcome of its last finished run.
    """
    if job_ids:
        conn.execute(REFRESH_STATUS, {"ids": list(job_ids), "now": now})


# A recurring job that has stopped firing (over alias ``j``): live (not paused, finished
# or cancelled) with a pending run due before :due_before that no scheduler claimed, or
# with no live run at all, since a live recurring job always keeps its next occurrence
# pending. One whose last occurrence is still queued or running is not: its schedule may
# be used up (end_at, max_runs), and it ends with that run. The chronos_overdue_jobs gauge
# and the dashboard's overdue filter both read this.
OVERDUE = """
    j.status IN ('scheduled', 'queued', 'running')
    AND (j.repeat IS NOT NULL OR j.interval_seconds IS NOT NULL OR j.cron IS NOT NULL)
    AND (
        EXISTS (SELECT 1 FROM runs AS r WHERE r.job_id = j.id AND r.state = 'pending'
                AND r.due_at < :due_before)
        OR NOT EXISTS (SELECT 1 FROM runs AS r WHERE r.job_id = j.id
                       AND r.state IN ('pending', 'queued', 'running'))
    )
"""
# A due run left unclaimed this long means its schedule stopped firing.
OVERDUE_AFTER = timedelta(minutes=1)


def count_overdue(conn: Connection, due_before: datetime, owner_id: uuid.UUID | None = None) -> int:
    """Recurring jobs that have stopped firing (:data:`OVERDUE`), everyone's or one
    owner's."""
    owner = " AND j.owner_id = :owner" if owner_id is not None else ""
    statement = text(f"SELECT count(*) FROM jobs AS j WHERE {OVERDUE}{owner}")
    return int(conn.scalar(statement, {"due_before": due_before, "owner": owner_id}) or 0)

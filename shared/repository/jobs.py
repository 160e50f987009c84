"""Jobs: what users submitted, and the queries that read a job with its run summary."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

from shared.recurrence import Schedule
from shared.repository import Row, as_json
from shared.validation import JobSpec

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


INSERT_JOB = text(
    f"INSERT INTO jobs ({JOB_COLUMNS}) VALUES (:id, :owner_id, :name, :type, "
    "CAST(:payload AS jsonb), :queue, :priority, :run_at, :repeat, :interval_seconds, :cron, "
    ":timezone, :end_at, :max_runs, :status, 0, :max_attempts, :retry_backoff_seconds, "
    ":timeout_seconds, :misfire_policy, :overlap_policy, :idempotency_key, "
    ":request_fingerprint, :now, :now) "
    "ON CONFLICT (owner_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING "
    f"RETURNING {JOB_COLUMNS}"
)


def insert_job(conn: Connection, params: dict[str, Any]) -> Row | None:
    """Insert a job. None when its idempotency key was already used by this owner."""
    return conn.execute(INSERT_JOB, params).mappings().first()


def insert_jobs(conn: Connection, params: Sequence[dict[str, Any]]) -> list[uuid.UUID]:
    """Insert many jobs (a batch) in one round of statements."""
    conn.execute(INSERT_JOB, list(params))
    return [p["id"] for p in params]


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


def get_job(conn: Connection, job_id: uuid.UUID, *, lock: bool = False) -> Row | None:
    """A job; with ``lock``, its row is locked so that the scheduler skips it meanwhile."""
    suffix = " FOR UPDATE" if lock else ""
    return (
        conn.execute(text(f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = :id{suffix}"), {"id": job_id})
        .mappings()
        .first()
    )


def get_jobs(conn: Connection, job_ids: Sequence[uuid.UUID]) -> list[Row]:
    rows = conn.execute(
        text(f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = ANY(:ids)"), {"ids": list(job_ids)}
    ).mappings()
    by_id = {row["id"]: row for row in rows}
    return [by_id[job_id] for job_id in job_ids if job_id in by_id]


def list_jobs(
    conn: Connection,
    *,
    owner_id: uuid.UUID | None,
    filters: dict[str, str],
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
) -> list[Row]:
    """Newest first, keyset-paged on (created_at, id)."""
    clauses = []
    params: dict[str, Any] = {"limit": limit}
    if owner_id is not None:
        clauses.append("owner_id = :owner")
        params["owner"] = owner_id
    for column in ("status", "type", "queue", "name"):
        if column in filters:
            clauses.append(f"{column} = :{column}")
            params[column] = filters[column]
    if after is not None:
        clauses.append("(created_at, id) < (:after_time, :after_id)")
        params["after_time"], params["after_id"] = after
    where = f"WHERE {' AND '.join(clauses)} " if clauses else ""
    return list(
        conn.execute(
            text(
                f"SELECT {JOB_COLUMNS} FROM jobs {where}"
                "ORDER BY created_at DESC, id DESC LIMIT :limit"
            ),
            params,
        ).mappings()
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
                    SELECT CASE last.state WHEN 'succeeded' THEN 'succeeded'
                                           WHEN 'cancelled' THEN 'cancelled'
                                           ELSE 'failed' END
                    FROM runs AS last
                    WHERE last.job_id = j2.id AND last.finished_at IS NOT NULL
                    ORDER BY last.finished_at DESC, last.created_at DESC LIMIT 1
                ), 'scheduled')
            END AS status
        FROM jobs AS j2
        LEFT JOIN runs AS r
            ON r.job_id = j2.id AND r.state IN ('pending', 'queued', 'running')
        WHERE j2.id = ANY(:ids)
        GROUP BY j2.id
    ) AS derived
    WHERE j.id = derived.id AND j.status NOT IN ('paused', 'cancelled')
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

"""The dashboard's reads (api.dashboard): searches and details the JSON API does not
offer. Its changes go through the same functions as the JSON API's (api.job_actions).

Each read is one statement on an index: the jobs search on ``ix_jobs_owner_listing``
(or ``ix_jobs_listing`` for an admin) and, for a payload qualifier, ``ix_jobs_payload``;
a run's attempts on ``uq_runs_occurrence_attempt``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

from shared.repository import Row, as_json, newest_first
from shared.repository.jobs import JOB_COLUMNS, listing_clauses
from shared.repository.runs import RUN_COLUMNS
from shared.usernames import fold_username

RECURRING = "(repeat IS NOT NULL OR interval_seconds IS NOT NULL OR cron IS NOT NULL)"


def like_pattern(word: str) -> str:
    """``word`` as a LIKE pattern matching names that contain it literally."""
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search_jobs(
    conn: Connection,
    *,
    owner_id: uuid.UUID | None,
    filters: Mapping[str, str],
    payload: dict[str, Any] | None,
    recurring: bool | None,
    owner_name: str | None,
    words: list[str],
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
) -> list[Row]:
    """Jobs newest first, keyset-paged on (created_at, id): ``owner_id`` (None for an
    admin: everyone's), exact ``filters`` by column, payload containment, recurring or
    not, the owner's username (admins), and name words (each contained, any case)."""
    clauses, params = listing_clauses(owner_id, filters)
    if payload is not None:
        clauses.append("payload @> CAST(:payload AS jsonb)")
        params["payload"] = as_json(payload)
    if recurring is not None:
        clauses.append(RECURRING if recurring else f"NOT {RECURRING}")
    if owner_name is not None:
        clauses.append("owner_id = (SELECT id FROM users WHERE username_folded = :owner_name)")
        params["owner_name"] = fold_username(owner_name)
    for index, word in enumerate(words):
        clauses.append(f"name ILIKE :word{index} ESCAPE '\\'")
        params[f"word{index}"] = like_pattern(word)
    return newest_first(
        conn,
        f"SELECT {JOB_COLUMNS}, (SELECT username FROM users WHERE users.id = jobs.owner_id) "
        "AS owner_name FROM jobs",
        clauses,
        params,
        time_column="created_at",
        limit=limit,
        after=after,
    )


RUN_DETAIL = text(
    f"""
    SELECT {", ".join(f"r.{column.strip()}" for column in RUN_COLUMNS.split(","))},
        coalesce(r.published_at, p.published_at) AS confirmed_at
    FROM runs AS r LEFT JOIN publish_receipts AS p ON p.batch_id = r.batch_id
    WHERE r.id = :id
    """
)


def run_detail(conn: Connection, run_id: uuid.UUID) -> Row | None:
    """A run, with ``confirmed_at``: when RabbitMQ confirmed its publish (its own
    ``published_at`` once started; its batch's receipt while it is still queued)."""
    return conn.execute(RUN_DETAIL, {"id": run_id}).mappings().first()


def attempts(conn: Connection, job_id: uuid.UUID, scheduled_for: datetime) -> list[Row]:
    """Every attempt of one occurrence of a job, first attempt first (manual triggers
    are occurrences of their own, at the moment they were asked for)."""
    return list(
        conn.execute(
            text(
                f"SELECT {RUN_COLUMNS} FROM runs WHERE job_id = :job "
                "AND scheduled_for = :at ORDER BY attempt, created_at"
            ),
            {"job": job_id, "at": scheduled_for},
        ).mappings()
    )


def blocking_run(conn: Connection, job_id: uuid.UUID, at: datetime) -> Row | None:
    """The job's run that was queued or running at ``at`` (what an overlap skip at that
    instant waited behind): started or queued by then, and not finished before it."""
    return (
        conn.execute(
            text(
                # Newest first along ix_runs_history from ``at``: the blocker is almost
                # always the run just before, so few rows are read.
                f"SELECT {RUN_COLUMNS} FROM runs WHERE job_id = :job AND created_at <= :at "
                "AND coalesce(started_at, queued_at) <= :at "
                "AND (finished_at IS NULL OR finished_at >= :at) "
                "AND state NOT IN ('pending', 'skipped') "
                "ORDER BY created_at DESC, id DESC LIMIT 1"
            ),
            {"job": job_id, "at": at},
        )
        .mappings()
        .first()
    )

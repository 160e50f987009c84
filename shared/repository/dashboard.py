"""The dashboard's reads (api.dashboard): searches and details the JSON API does not
offer. Its changes go through the same functions as the JSON API's (api.job_actions).

Each read is one statement on an index: the jobs search on ``ix_jobs_owner_listing``
(or ``ix_jobs_listing`` for an admin) and, for a payload qualifier, ``ix_jobs_payload``;
a run's attempts on ``uq_runs_occurrence_attempt``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

from shared.repository import Row, as_json, newest_first
from shared.repository.jobs import JOB_COLUMNS, OVERDUE, listing_clauses
from shared.repository.runs import RUN_COLUMNS
from shared.usernames import fold_username

RECURRING = "(repeat IS NOT NULL OR interval_seconds IS NOT NULL OR cron IS NOT NULL)"


def like_pattern(word: str) -> str:
    """``word`` as a LIKE pattern matching names that contain it literally."""
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


@dataclass(frozen=True)
class JobMatch:
    """Which jobs a dashboard search selects (api.dashboard.search reads it from the
    page's search box and filters)."""

    filters: Mapping[str, str] = field(default_factory=dict)
    payload: dict[str, Any] | None = None
    recurring: bool | None = None
    owner_name: str | None = None
    words: tuple[str, ...] = ()
    # Only recurring jobs that have stopped firing (jobs.OVERDUE) with a run due before it.
    overdue_before: datetime | None = None

    def clauses(self, owner_id: uuid.UUID | None) -> tuple[list[str], dict[str, Any]]:
        """WHERE clauses over ``jobs``: ``owner_id``'s jobs (None for an admin:
        everyone's), exact filters by column, payload containment, recurring or not,
        the owner's username, and name words (each contained, any case)."""
        clauses, params = listing_clauses(owner_id, self.filters)
        if self.payload is not None:
            clauses.append("payload @> CAST(:payload AS jsonb)")
            params["payload"] = as_json(self.payload)
        if self.recurring is not None:
            clauses.append(RECURRING if self.recurring else f"NOT {RECURRING}")
        if self.owner_name is not None:
            clauses.append("owner_id = (SELECT id FROM users WHERE username_folded = :owner_name)")
            params["owner_name"] = fold_username(self.owner_name)
        if self.overdue_before is not None:
            clauses.append(f"({OVERDUE})")
            params["due_before"] = self.overdue_before
        for index, word in enumerate(self.words):
            clauses.append(f"name ILIKE :word{index} ESCAPE '\\'")
            params[f"word{index}"] = like_pattern(word)
        return clauses, params


def search_jobs(
    conn: Connection,
    match: JobMatch,
    *,
    owner_id: uuid.UUID | None,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
) -> list[Row]:
    """The jobs ``match`` selects, newest first, keyset-paged on (created_at, id), each
    with its owner's username."""
    clauses, params = match.clauses(owner_id)
    return newest_first(
        conn,
        f"SELECT {JOB_COLUMNS}, (SELECT username FROM users WHERE users.id = j.owner_id) "
        "AS owner_name FROM jobs AS j",
        clauses,
        params,
        time_column="created_at",
        limit=limit,
        after=after,
    )


def matching_ids(
    conn: Connection, match: JobMatch, *, owner_id: uuid.UUID | None, most: int
) -> list[uuid.UUID]:
    """The ids of the jobs ``match`` selects, newest first, at most ``most`` of them."""
    rows = newest_first(
        conn,
        "SELECT id FROM jobs AS j",
        *match.clauses(owner_id),
        time_column="created_at",
        limit=most,
        after=None,
    )
    return [row["id"] for row in rows]


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
                # Queued by then: the overlap rule counts a queued run as live, and one
                # claimed in the same batch as the skip starts only after it.
                f"SELECT {RUN_COLUMNS} FROM runs WHERE job_id = :job AND created_at <= :at "
                "AND queued_at <= :at "
                "AND (finished_at IS NULL OR finished_at >= :at) "
                "AND state NOT IN ('pending', 'skipped') "
                "ORDER BY created_at DESC, id DESC LIMIT 1"
            ),
            {"job": job_id, "at": at},
        )
        .mappings()
        .first()
    )


def owned_ids(
    conn: Connection, job_ids: list[uuid.UUID], *, owner_id: uuid.UUID | None
) -> list[uuid.UUID]:
    """Which of ``job_ids`` exist and are ``owner_id``'s (any, for None: an admin)."""
    clauses, params = listing_clauses(owner_id, {})
    clauses.append("id = ANY(:ids)")
    rows = conn.execute(
        text(f"SELECT id FROM jobs WHERE {' AND '.join(clauses)} ORDER BY id"),
        {**params, "ids": job_ids},
    )
    return [row.id for row in rows]


def jobs_by_id(conn: Connection, job_ids: list[uuid.UUID]) -> list[Row]:
    """These jobs (as the confirmation of a bulk action lists them), newest first."""
    if not job_ids:
        return []
    return list(
        conn.execute(
            text(
                f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = ANY(:ids) "
                "ORDER BY created_at DESC, id DESC"
            ),
            {"ids": job_ids},
        ).mappings()
    )


# A failure's message with what differs between occurrences of the same failure (ids,
# numbers: a port, a status, a duration) replaced by <n>, in one pass, so that they group
# together.
NORMALISED_MESSAGE = (
    "regexp_replace(left(coalesce(r.error->>'message', ''), 300), "
    "'[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9]+', '<n>', 'gi')"
)


def failure_groups(
    conn: Connection,
    *,
    owner_id: uuid.UUID | None,
    since: datetime,
    most: int,
    scan: int,
) -> list[Row]:
    """Failed and lost runs finished since ``since``, grouped by job, error kind and
    normalised message: how many, first and last seen, and the latest run; the latest
    groups first, at most ``most``. Only the newest ``scan`` failures are read (along
    ``ix_runs_failures``, or ``ix_runs_owner_failures`` for a user), so the page costs
    the same however bad the week was; each row's
    ``scanned`` says how many were, and equals ``scan`` when the window held more."""
    owner = "AND r.owner_id = :owner " if owner_id is not None else ""
    statement = text(
        # The newest ``scan`` first (LIMIT before anything is computed over them), then
        # their count, the normalised messages and the groups.
        "WITH newest AS ("
        "  SELECT r.id, r.job_id, r.finished_at, r.state, r.error FROM runs AS r "
        "  WHERE r.state IN ('failed', 'lost') AND r.finished_at >= :since "
        f"  {owner}ORDER BY r.finished_at DESC LIMIT :scan"
        "), scanned AS (SELECT count(*) AS scanned FROM newest) "
        "SELECT g.*, j.name AS job_name, j.type, j.queue, j.status AS job_status, "
        "  (SELECT scanned FROM scanned) AS scanned FROM ("
        "  SELECT r.job_id, coalesce(r.error->>'kind', r.state) AS kind, "
        f"   {NORMALISED_MESSAGE} AS message, count(*) AS count, "
        "   min(r.finished_at) AS first_seen, max(r.finished_at) AS last_seen, "
        "   (array_agg(r.id ORDER BY r.finished_at DESC))[1] AS last_run_id "
        "  FROM newest AS r GROUP BY r.job_id, kind, message "
        "  ORDER BY last_seen DESC LIMIT :most"
        ") AS g JOIN jobs AS j ON j.id = g.job_id ORDER BY g.last_seen DESC"
    )
    params = {"since": since, "owner": owner_id, "most": most, "scan": scan}
    return list(conn.execute(statement, params).mappings())


def recurring_jobs(
    conn: Connection,
    *,
    owner_id: uuid.UUID | None,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
    overdue_before: datetime | None = None,
) -> list[Row]:
    """Recurring jobs (only the overdue ones, with ``overdue_before``), newest first,
    keyset-paged."""
    match = JobMatch(recurring=True, overdue_before=overdue_before)
    return search_jobs(conn, match, owner_id=owner_id, limit=limit, after=after)


# A job's newest runs by ix_runs_history (``2 * most``: room for a retry or two per
# occurrence), then each occurrence's latest attempt, the newest ``most`` of them.
RECENT_OCCURRENCES = text(
    """
    SELECT latest.* FROM unnest(CAST(:ids AS uuid[])) AS j(id)
    CROSS JOIN LATERAL (
        SELECT DISTINCT ON (recent.scheduled_for) recent.*
        FROM (
            SELECT r.id, r.job_id, r.scheduled_for, r.attempt, r.state,
                to_char(r.scheduled_for AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI "UTC"')
                    AS label
            FROM runs AS r
            WHERE r.job_id = j.id AND r.state <> 'pending' AND r.origin <> 'manual'
            ORDER BY r.created_at DESC, r.id DESC LIMIT 2 * :most
        ) AS recent
        ORDER BY recent.scheduled_for DESC, recent.attempt DESC
        LIMIT :most
    ) AS latest
    """
)


def recent_occurrences(
    conn: Connection, job_ids: list[uuid.UUID], most: int
) -> dict[uuid.UUID, list[Row]]:
    """Each job's latest ``most`` occurrences of its schedule (manual triggers are not
    one), newest first, each as its latest attempt, with a ``label`` of its time: a
    bounded read per job on ix_runs_history, however long its history."""
    if not job_ids:
        return {}
    found: dict[uuid.UUID, list[Row]] = {job_id: [] for job_id in job_ids}
    for row in conn.execute(RECENT_OCCURRENCES, {"ids": job_ids, "most": most}).mappings():
        found[row["job_id"]].append(row)
    return found

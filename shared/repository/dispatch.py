"""The dispatch path: claim, publish bookkeeping, start, heartbeat, finish, rescue, prune.

Lock order, to keep clear of deadlocks: whoever waits for a lock takes the job row
first, then its runs (the API's operations and the worker's start and finish). An
operation held to a user's limits (shared.quotas) locks the user's row before any job
row, as deleting an account does. The
scheduler's passes never wait: they lock with SKIP LOCKED and leave busy rows for the
next pass.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

from shared.repository import Row, as_json
from shared.repository.runs import INSERT_RUN


def live_counts(
    conn: Connection, job_ids: Sequence[uuid.UUID], exclude: Sequence[uuid.UUID]
) -> dict[uuid.UUID, int]:
    rows = conn.execute(
        text(
            "SELECT job_id, count(*) AS n FROM runs WHERE job_id = ANY(:jobs) "
            "AND state IN ('queued', 'running') AND NOT id = ANY(:exclude) GROUP BY job_id"
        ),
        {"jobs": list(job_ids), "exclude": list(exclude)},
    )
    return {row.job_id: int(row.n) for row in rows}


MARK_QUEUED = text(
    """
    WITH queued AS (
        UPDATE runs SET state = 'queued', queued_at = :now, batch_id = :batch
        WHERE id = ANY(:ids) AND state = 'pending'
        RETURNING job_id, origin
    )
    UPDATE jobs SET run_count = jobs.run_count + claimed.occurrences,
        status = CASE WHEN jobs.status = 'scheduled' THEN 'queued' ELSE jobs.status END,
        updated_at = :now
    FROM (
        SELECT job_id, count(*) FILTER (WHERE origin = 'schedule') AS occurrences
        FROM queued GROUP BY job_id
    ) AS claimed
    WHERE jobs.id = claimed.job_id
    """
)


def mark_queued(
    conn: Connection, run_ids: Sequence[uuid.UUID], now: datetime, batch: uuid.UUID | None
) -> None:
    """pending → queued, in the publish batch ``batch`` (None: started at once, with no
    message); each job counts its dispatched occurrences (toward max_runs) and goes from
    scheduled to queued, in one statement."""
    if run_ids:
        conn.execute(MARK_QUEUED, {"ids": list(run_ids), "now": now, "batch": batch})


def mark_skipped(conn: Connection, reasons: Mapping[uuid.UUID, str], now: datetime) -> None:
    if reasons:
        conn.execute(
            text(
                "UPDATE runs SET state = 'skipped', finished_at = :now, "
                "result = jsonb_build_object('skipped', skip.reason) "
                "FROM unnest(CAST(:ids AS uuid[]), CAST(:reasons AS text[])) AS skip(id, reason) "
                "WHERE runs.id = skip.id AND runs.state = 'pending'"
            ),
            {"ids": list(reasons), "reasons": list(reasons.values()), "now": now},
        )


def insert_next_occurrences(conn: Connection, params: Sequence[dict[str, Any]]) -> None:
    """Materialise next occurrences; one that already exists is left alone."""
    if params:
        conn.execute(text(f"{INSERT_RUN.text} ON CONFLICT DO NOTHING"), list(params))


def replace_live(
    conn: Connection, job_ids: Sequence[uuid.UUID], keep: Sequence[uuid.UUID], now: datetime
) -> None:
    """Overlap ``replace``: cancel the jobs' queued runs and interrupt their running ones.

    SKIP LOCKED: a run that a worker is finishing right now needs no cancelling.
    """
    if not job_ids:
        return
    params = {"jobs": list(job_ids), "keep": list(keep), "now": now}
    error = as_json({"kind": "cancelled", "message": "replaced by a newer occurrence"})
    conn.execute(
        text(
            "UPDATE runs SET state = 'cancelled', finished_at = :now, "
            "error = CAST(:error AS jsonb) WHERE id IN (SELECT id FROM runs "
            "WHERE job_id = ANY(:jobs) AND state = 'queued' AND NOT id = ANY(:keep) "
            "FOR UPDATE SKIP LOCKED)"
        ),
        {**params, "error": error},
    )
    conn.execute(
        text(
            "UPDATE runs SET cancel_requested_at = :now WHERE id IN (SELECT id FROM runs "
            "WHERE job_id = ANY(:jobs) AND state = 'running' AND cancel_requested_at IS NULL "
            "FOR UPDATE SKIP LOCKED)"
        ),
        params,
    )


# A queued run's publish is confirmed when its batch's is, or it carries published_at
# itself (a run queued before receipts, migration 0011).
CONFIRMED = (
    "(r.published_at IS NOT NULL OR EXISTS (SELECT 1 FROM publish_receipts AS p "
    "WHERE p.batch_id = r.batch_id AND p.published_at IS NOT NULL))"
)
# When it was confirmed (NULL: not yet).
PUBLISHED_AT = (
    "coalesce(r.published_at, "
    "(SELECT p.published_at FROM publish_receipts AS p WHERE p.batch_id = r.batch_id))"
)
STALE_SINCE = f"coalesce({PUBLISHED_AT}, r.queued_at)"

OPEN_BATCH = text("INSERT INTO publish_receipts (batch_id, claimed_at) VALUES (:batch, :now)")
RECORD_RECEIPT = text(
    "UPDATE publish_receipts SET published_at = :now "
    "WHERE batch_id = :batch AND published_at IS NULL"
)


def open_batch(conn: Connection, batch: uuid.UUID, now: datetime) -> None:
    """The row of a new publish batch, in the transaction that queues its runs: a run
    must never be in a batch that has no row, or recovery would not find it."""
    conn.execute(OPEN_BATCH, {"batch": batch, "now": now})


# Runs whose message came back unrouted leave the batch, so its receipt does not cover
# them: one statement, and only when RabbitMQ returned something (a queue no worker has
# declared). It waits for their locks, but only so long: nothing else holds them for
# more than a moment (no worker consumes their queue).
LEAVE_BATCH = text(
    "UPDATE runs SET batch_id = NULL WHERE id = ANY(:ids) AND batch_id = :batch "
    "AND state = 'queued'"
)
LOCK_TIMEOUT = text("SET LOCAL lock_timeout = '2s'")


def record_receipt(
    conn: Connection, batch: uuid.UUID, now: datetime, returned: Sequence[uuid.UUID] = ()
) -> None:
    """Record that RabbitMQ confirmed the publish of ``batch``: one row's update,
    whatever the batch's size, and no write to its runs. ``returned``: its runs whose
    message came back unrouted, which stay unconfirmed (recovery publishes them again)."""
    if returned:
        conn.execute(LOCK_TIMEOUT)
        conn.execute(LEAVE_BATCH, {"ids": list(returned), "batch": batch})
    conn.execute(RECORD_RECEIPT, {"batch": batch, "now": now})


UNBATCHED_UNPUBLISHED = text(
    "UPDATE runs SET queued_at = :now, batch_id = :batch FROM jobs WHERE runs.id IN ("
    "  SELECT id FROM runs WHERE state = 'queued' AND published_at IS NULL"
    "  AND batch_id IS NULL AND queued_at < :older_than ORDER BY queued_at LIMIT :limit"
    "  FOR UPDATE SKIP LOCKED"
    ") AND jobs.id = runs.job_id RETURNING runs.id, jobs.queue"
)
# A batch left unconfirmed is rare (a crash between claim and publish, RabbitMQ down),
# so reading its runs by batch_id among the queued ones costs nothing the rest of the
# time. Locked, then deleted: another scheduler skips it.
UNCONFIRMED_BATCHES = text(
    "DELETE FROM publish_receipts WHERE batch_id IN (SELECT batch_id FROM publish_receipts "
    "WHERE published_at IS NULL AND claimed_at < :older_than ORDER BY claimed_at "
    "LIMIT :limit FOR UPDATE SKIP LOCKED) RETURNING batch_id"
)
MOVE_BATCHES = text(
    "UPDATE runs SET queued_at = :now, batch_id = :batch FROM jobs "
    "WHERE runs.batch_id = ANY(:old) AND runs.state = 'queued' AND runs.published_at IS NULL "
    "AND jobs.id = runs.job_id RETURNING runs.id, jobs.queue"
)
BATCHES_PER_RECOVERY = 50


def claim_unpublished(
    conn: Connection, older_than: datetime, now: datetime, limit: int, batch: uuid.UUID
) -> list[Row]:
    """Queued runs that no publish was confirmed for: their scheduler crashed between the
    claim and the publish, RabbitMQ refused or returned them. They move to the new
    publish ``batch`` (with its row), and their ``queued_at`` is bumped, so another
    scheduler leaves them alone while this one publishes them again."""
    params = {"older_than": older_than, "now": now, "limit": limit, "batch": batch}
    rows = list(conn.execute(UNBATCHED_UNPUBLISHED, params).mappings())
    old = list(
        conn.scalars(UNCONFIRMED_BATCHES, {"older_than": older_than, "limit": BATCHES_PER_RECOVERY})
    )
    if old:
        rows += list(
            conn.execute(MOVE_BATCHES, {"now": now, "batch": batch, "old": old}).mappings()
        )
    if rows:
        open_batch(conn, batch, now)
    return rows


def stale_published(conn: Connection, published_before: datetime, limit: int) -> list[Row]:
    """Queued runs published long ago that no worker has started yet (or queued long
    ago in a batch with no row: none should be, but none is left behind)."""
    return list(
        conn.execute(
            text(
                f"SELECT r.id, j.queue FROM runs AS r JOIN jobs AS j ON j.id = r.job_id "
                f"WHERE r.state = 'queued' AND {STALE_SINCE} < :before "
                f"ORDER BY {STALE_SINCE} LIMIT :limit"
            ),
            {"before": published_before, "limit": limit},
        ).mappings()
    )


def claim_stale(
    conn: Connection,
    run_ids: Sequence[uuid.UUID],
    published_before: datetime,
    now: datetime,
    batch: uuid.UUID,
) -> list[Row]:
    """Move runs still stale to the new publish ``batch`` (not confirmed yet, and queued
    again as of now), so only one scheduler sends them again."""
    if not run_ids:
        return []
    rows = list(
        conn.execute(
            text(
                "UPDATE runs AS r SET published_at = NULL, batch_id = :batch, queued_at = :now "
                f"FROM jobs WHERE r.id = ANY(:ids) AND r.state = 'queued' "
                f"AND {STALE_SINCE} < :before AND jobs.id = r.job_id "
                "RETURNING r.id, jobs.queue"
            ),
            {"ids": list(run_ids), "before": published_before, "now": now, "batch": batch},
        ).mappings()
    )
    if rows:
        open_batch(conn, batch, now)
    return rows


OLD_RECEIPTS = (
    "SELECT batch_id, published_at FROM publish_receipts WHERE published_at < :before "
    "ORDER BY published_at LIMIT :limit"
)
# A run still queued when its receipt goes keeps the confirmation on its own row (so
# recovery does not take it for unconfirmed). A join with the queued runs alone: the
# few still waiting an hour after their publish.
KEEP_CONFIRMATION = text(
    "UPDATE runs AS r SET published_at = old.published_at "
    f"FROM ({OLD_RECEIPTS}) AS old "
    "WHERE r.state = 'queued' AND r.published_at IS NULL AND r.batch_id = old.batch_id"
)
PRUNE_RECEIPTS = text(
    f"DELETE FROM publish_receipts WHERE batch_id IN (SELECT batch_id FROM ({OLD_RECEIPTS}) AS o)"
)


def prune_receipts(conn: Connection, before: datetime, limit: int) -> int:
    """Delete up to ``limit`` receipts of publishes before ``before``, first copying the
    publish time into the runs of theirs still queued."""
    params = {"before": before, "limit": limit}
    conn.execute(KEEP_CONFIRMATION, params)
    return int(conn.execute(PRUNE_RECEIPTS, params).rowcount)


@dataclass(frozen=True)
class Outcome:
    """How a run ended, as the worker reports it."""

    run_id: uuid.UUID
    state: str
    result: Any = None
    error: Any = None


RUN_WITH_JOB = (
    "r.id, r.job_id, r.attempt, r.origin, r.priority, r.scheduled_for, r.started_at, r.state, "
    "r.cancel_requested_at, r.error, j.type, j.payload, j.max_attempts, j.retry_backoff_seconds, "
    "j.timeout_seconds, j.status AS job_status, j.queue, j.owner_id"
)


# Whether the run's queue has a concurrency limit: its start holds a slot (worker.handover),
# and its end frees one, which the schedulers are told of (announce_free_slots).
QUEUE_LIMITED = (
    "EXISTS (SELECT 1 FROM queues AS q WHERE q.name = j.queue AND q.concurrency IS NOT NULL) "
    "AS queue_limited"
)


LOCK_JOBS_OF_RUNS = (
    "locked AS (SELECT id FROM jobs WHERE id IN (SELECT job_id FROM runs WHERE id = ANY(:ids))"
    " ORDER BY id FOR NO KEY UPDATE)"
)

START_RUNS = text(
    f"""
    WITH {LOCK_JOBS_OF_RUNS},
    started AS (
        UPDATE runs AS r SET state = 'running', started_at = :now, heartbeat_at = :now,
            worker = :worker, published_at = coalesce(
                r.published_at,
                (SELECT p.published_at FROM publish_receipts AS p WHERE p.batch_id = r.batch_id),
                :now)
        FROM jobs AS j
        WHERE r.id = ANY(:ids) AND r.state = 'queued' AND j.id = r.job_id
            AND j.id IN (SELECT id FROM locked)
        RETURNING {RUN_WITH_JOB}, {QUEUE_LIMITED}
    ),
    job_running AS (
        UPDATE jobs SET status = 'running', updated_at = :now
        WHERE id IN (SELECT job_id FROM started) AND status IN ('scheduled', 'queued')
    )
    SELECT * FROM started
    """
)


def start_runs(
    conn: Connection, run_ids: Sequence[uuid.UUID], worker: str, now: datetime
) -> list[Row]:
    """queued → running for a batch of runs, and their jobs → running, in one statement.

    Each run gets ``published_at`` here: its batch's receipt's time, or now if the
    scheduler has not recorded the receipt yet (its message arrived, so the publish was
    confirmed; see :func:`record_receipt`).

    A run missing from the answer was not queued: a duplicate message, or a run cancelled
    before a worker took it. The caller acks and drops its message. The jobs are locked
    first, in id order (the lock order; see the module docstring)."""
    if not run_ids:
        return []
    return list(
        conn.execute(START_RUNS, {"ids": list(run_ids), "worker": worker, "now": now}).mappings()
    )


FINISH_RUNS = text(
    f"""
    WITH {LOCK_JOBS_OF_RUNS},
    outcome AS (
        SELECT * FROM unnest(CAST(:ids AS uuid[]), CAST(:states AS text[]),
                             CAST(:results AS text[]), CAST(:errors AS text[]))
            AS o(id, state, result, error)
    )
    UPDATE runs AS r SET state = o.state, finished_at = :now,
        result = CAST(o.result AS jsonb), error = CAST(o.error AS jsonb)
    FROM outcome AS o, jobs AS j
    WHERE r.id = o.id AND r.state = 'running' AND j.id = r.job_id
        AND j.id IN (SELECT id FROM locked)
    RETURNING {RUN_WITH_JOB}, {QUEUE_LIMITED}
    """
)


def finish_runs(conn: Connection, outcomes: Sequence[Outcome], now: datetime) -> list[Row]:
    """running → a final state for a batch of runs, in one statement. A run missing from
    the answer was no longer running (rescued as lost meanwhile, or deleted)."""
    if not outcomes:
        return []
    params = {
        "ids": [o.run_id for o in outcomes],
        "states": [str(o.state) for o in outcomes],
        "results": [as_json(o.result) for o in outcomes],
        "errors": [as_json(o.error) for o in outcomes],
        "now": now,
    }
    return list(conn.execute(FINISH_RUNS, params).mappings())


FAIL_UNROUTABLE = text(
    """
    WITH locked AS (
        SELECT id FROM jobs WHERE id IN (SELECT job_id FROM runs WHERE id = ANY(:ids))
        ORDER BY id FOR NO KEY UPDATE SKIP LOCKED
    )
    UPDATE runs AS r SET state = 'failed', started_at = :now, finished_at = :now,
        error = CAST(:error AS jsonb)
    WHERE r.id = ANY(:ids) AND r.state = 'queued' AND r.job_id IN (SELECT id FROM locked)
    RETURNING r.id, r.job_id
    """
)


def fail_unroutable(
    conn: Connection, run_ids: Sequence[uuid.UUID], error: Mapping[str, Any], now: datetime
) -> list[Row]:
    """queued → failed for runs whose queue the deployment does not have, with no retry
    (another attempt would go nowhere either). A run whose job is locked is left for the
    next pass, as the scheduler's passes never wait."""
    if not run_ids:
        return []
    params = {"ids": list(run_ids), "error": as_json(dict(error)), "now": now}
    return list(conn.execute(FAIL_UNROUTABLE, params).mappings())


HEARTBEAT = text(
    """
    WITH beat AS (
        UPDATE runs SET heartbeat_at = :now WHERE id IN (
            SELECT id FROM runs WHERE id = ANY(:ids) AND state = 'running'
            FOR UPDATE SKIP LOCKED)
        RETURNING id, cancel_requested_at
    )
    SELECT id, cancel_requested_at FROM beat
    UNION ALL
    SELECT id, cancel_requested_at FROM runs
    WHERE id = ANY(:ids) AND state = 'running' AND id NOT IN (SELECT id FROM beat)
    """
)


def heartbeat(conn: Connection, run_ids: Sequence[uuid.UUID], now: datetime) -> list[Row]:
    """Refresh ``heartbeat_at`` of a worker process's running runs, in one statement.

    Returns the runs still running, with their cancellation flag; a run missing from the
    answer was deleted or taken from this worker (rescued as lost). It never waits for a
    lock: a run locked right now is being finished or cancelled, and is reported from
    the statement's snapshot instead of being refreshed."""
    if not run_ids:
        return []
    return list(conn.execute(HEARTBEAT, {"ids": list(run_ids), "now": now}).mappings())


def cancellation_flags(conn: Connection, run_ids: Sequence[uuid.UUID]) -> list[Row]:
    """A read-only check between heartbeats: which runs are still running, and flagged."""
    if not run_ids:
        return []
    return list(
        conn.execute(
            text(
                "SELECT id, cancel_requested_at FROM runs "
                "WHERE id = ANY(:ids) AND state = 'running'"
            ),
            {"ids": list(run_ids)},
        ).mappings()
    )


def claim_lost(conn: Connection, cutoff: datetime, now: datetime, limit: int) -> list[Row]:
    """running → lost for runs whose heartbeat stopped before ``cutoff``."""
    return list(
        conn.execute(
            text(
                "UPDATE runs AS r SET state = 'lost', finished_at = :now, "
                "error = jsonb_build_object('kind', 'lost', 'message', "
                "'the worker stopped sending heartbeats (' || coalesce(r.worker, '?') || ')') "
                "FROM jobs AS j WHERE r.id IN ("
                "  SELECT lr.id FROM runs AS lr JOIN jobs AS lj ON lj.id = lr.job_id"
                "  WHERE lr.state = 'running' AND lr.heartbeat_at < :cutoff"
                "  ORDER BY lr.heartbeat_at LIMIT :limit FOR UPDATE OF lr, lj SKIP LOCKED"
                ") AND j.id = r.job_id "
                f"RETURNING {RUN_WITH_JOB}"
            ),
            {"cutoff": cutoff, "now": now, "limit": limit},
        ).mappings()
    )


def prune_finished(conn: Connection, cutoff: datetime, limit: int) -> int:
    """Delete up to ``limit`` runs that finished before ``cutoff``, keeping each job's
    newest run that has left ``pending`` (its ``last_run``): a newer pending occurrence
    does not count, or a recurring job would lose its last outcome."""
    return conn.execute(
        text(
            "DELETE FROM runs WHERE id IN ("
            "  SELECT old.id FROM runs AS old WHERE old.finished_at < :cutoff"
            "  AND EXISTS (SELECT 1 FROM runs AS newer WHERE newer.job_id = old.job_id"
            "              AND newer.state <> 'pending'"
            "              AND (newer.created_at, newer.id) > (old.created_at, old.id))"
            "  LIMIT :limit FOR UPDATE SKIP LOCKED)"
        ),
        {"cutoff": cutoff, "limit": limit},
    ).rowcount


def ids(rows: Iterable[Row]) -> list[uuid.UUID]:
    return [row["id"] for row in rows]


def database_time(conn: Connection) -> datetime:
    """PostgreSQL's clock, which decides every time Chronos compares across processes."""
    now: datetime = conn.scalar(text("SELECT clock_timestamp()"))
    return now


def crashed_attempts(
    conn: Connection, attempts: Sequence[tuple[uuid.UUID, datetime, int]]
) -> set[tuple[uuid.UUID, datetime, int]]:
    """Which of these ``(job_id, scheduled_for, attempt)`` ended crashed or lost."""
    if not attempts:
        return set()
    rows = conn.execute(
        text(
            "SELECT r.job_id, r.scheduled_for, r.attempt FROM runs AS r "
            "JOIN unnest(CAST(:jobs AS uuid[]), CAST(:times AS timestamptz[]), "
            "CAST(:attempts AS int[])) AS k(job_id, scheduled_for, attempt) "
            "ON r.job_id = k.job_id AND r.scheduled_for = k.scheduled_for "
            "AND r.attempt = k.attempt "
            "WHERE r.state IN ('failed', 'lost') AND r.error->>'kind' IN ('crashed', 'lost')"
        ),
        {
            "jobs": [job for job, _, _ in attempts],
            "times": [moment for _, moment, _ in attempts],
            "attempts": [attempt for _, _, attempt in attempts],
        },
    )
    return {(row.job_id, row.scheduled_for, row.attempt) for row in rows}

"""Runs as the API sees them: materialising, listing, moving and cancelling.

The dispatch path (claim, publish, start, finish, rescue) is in
:mod:`shared.repository.dispatch`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

from shared.repository import Row, as_json
from shared.states import RunOrigin, RunState

RUN_COLUMNS = (
    "id, job_id, attempt, origin, priority, scheduled_for, due_at, state, queued_at, published_at, "
    "started_at, heartbeat_at, finished_at, cancel_requested_at, worker, result, error, "
    "created_at"
)
NOTIFY_CHANNEL = "chronos_due"

# A run's queue and owner are its job's (see shared.models.Run), read here so no caller
# can get them wrong.
INSERT_RUN = text(
    "INSERT INTO runs (id, job_id, attempt, origin, priority, queue, owner_id, scheduled_for, "
    "due_at, state, created_at) SELECT :id, :job_id, :attempt, :origin, :priority, j.queue, "
    "j.owner_id, :scheduled_for, :due_at, 'pending', :now FROM jobs AS j WHERE j.id = :job_id"
)


def run_params(
    job_id: uuid.UUID,
    scheduled_for: datetime,
    *,
    priority: int,
    now: datetime,
    due_at: datetime | None = None,
    attempt: int = 1,
    origin: RunOrigin = RunOrigin.SCHEDULE,
) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "job_id": job_id,
        "attempt": attempt,
        "origin": origin.value,
        "priority": priority,
        "scheduled_for": scheduled_for,
        "due_at": scheduled_for if due_at is None else due_at,
        "now": now,
    }


INSERT_MANY_PENDING = text(
    "INSERT INTO runs (id, job_id, attempt, origin, priority, queue, owner_id, scheduled_for, "
    "due_at, state, created_at) SELECT batch.id, batch.job_id, 1, 'schedule', batch.priority, "
    "j.queue, j.owner_id, batch.due, batch.due, 'pending', :now "
    "FROM unnest(CAST(:ids AS uuid[]), CAST(:job_ids AS uuid[]), "
    "CAST(:priorities AS smallint[]), CAST(:dues AS timestamptz[])) "
    "AS batch(id, job_id, priority, due) JOIN jobs AS j ON j.id = batch.job_id"
)


def insert_first_runs(
    conn: Connection, firsts: Sequence[tuple[uuid.UUID, int, datetime]], now: datetime
) -> None:
    """The first pending run of each of a batch of jobs, (job id, priority, due) each, in
    one multi-row statement."""
    conn.execute(
        INSERT_MANY_PENDING,
        {
            "ids": [uuid.uuid4() for _ in firsts],
            "job_ids": [job_id for job_id, _, _ in firsts],
            "priorities": [priority for _, priority, _ in firsts],
            "dues": [due for _, _, due in firsts],
            "now": now,
        },
    )


def insert_runs(conn: Connection, params: Sequence[dict[str, Any]]) -> None:
    """Materialise pending runs. An occurrence that already has its run is left alone."""
    if params:
        conn.execute(INSERT_RUN, list(params))


def get_run(conn: Connection, run_id: uuid.UUID) -> Row | None:
    return (
        conn.execute(text(f"SELECT {RUN_COLUMNS} FROM runs WHERE id = :id"), {"id": run_id})
        .mappings()
        .first()
    )


def list_runs(
    conn: Connection, job_id: uuid.UUID, *, limit: int, after: tuple[datetime, uuid.UUID] | None
) -> list[Row]:
    """A job's history, newest first, keyset-paged on (created_at, id)."""
    params: dict[str, Any] = {"job": job_id, "limit": limit}
    page = ""
    if after is not None:
        page = "AND (created_at, id) < (:after_time, :after_id) "
        params["after_time"], params["after_id"] = after
    return list(
        conn.execute(
            text(
                f"SELECT {RUN_COLUMNS} FROM runs WHERE job_id = :job {page}"
                "ORDER BY created_at DESC, id DESC LIMIT :limit"
            ),
            params,
        ).mappings()
    )


def next_due(conn: Connection, job_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, datetime]:
    """The earliest due time of each job's pending runs (held runs have none)."""
    rows = conn.execute(
        text(
            "SELECT job_id, min(due_at) AS due FROM runs "
            "WHERE job_id = ANY(:ids) AND state = 'pending' GROUP BY job_id"
        ),
        {"ids": list(job_ids)},
    )
    return {row.job_id: row.due for row in rows if row.due is not None}


def last_runs(conn: Connection, job_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Row]:
    """Each job's newest run that has left ``pending``."""
    # One short walk of ix_runs_history per job, newest first, stopping at the first run
    # that left pending; DISTINCT ON would read the job's whole history.
    rows = conn.execute(
        text(
            f"SELECT last.* FROM unnest(CAST(:ids AS uuid[])) AS wanted(job_id) "
            f"CROSS JOIN LATERAL (SELECT {RUN_COLUMNS} FROM runs "
            "WHERE runs.job_id = wanted.job_id AND state <> 'pending' "
            "ORDER BY created_at DESC, id DESC LIMIT 1) AS last"
        ),
        {"ids": list(job_ids)},
    ).mappings()
    return {row["job_id"]: row for row in rows}


def pending_runs(conn: Connection, job_id: uuid.UUID) -> list[Row]:
    """The job's pending runs, locked: the caller is about to move or cancel them."""
    return list(
        conn.execute(
            text(
                f"SELECT {RUN_COLUMNS} FROM runs WHERE job_id = :job AND state = 'pending' "
                "ORDER BY scheduled_for FOR UPDATE"
            ),
            {"job": job_id},
        ).mappings()
    )


def count_live(conn: Connection, job_id: uuid.UUID) -> int:
    """Runs of the job that a worker holds or is about to (queued or running)."""
    return int(
        conn.scalar(
            text(
                "SELECT count(*) FROM runs WHERE job_id = :job AND state IN ('queued', 'running')"
            ),
            {"job": job_id},
        )
        or 0
    )


def cancel_unstarted(
    conn: Connection,
    job_id: uuid.UUID,
    now: datetime,
    message: str,
    *,
    only: Sequence[uuid.UUID] = (),
) -> int:
    """pending/queued → cancelled. A queued run's message is dropped by the worker."""
    where = "AND id = ANY(:only) " if only else ""
    return conn.execute(
        text(
            "UPDATE runs SET state = 'cancelled', finished_at = :now, "
            "error = CAST(:error AS jsonb) "
            f"WHERE job_id = :job AND state IN ('pending', 'queued') {where}"
        ),
        {
            "job": job_id,
            "now": now,
            "only": list(only),
            "error": as_json({"kind": "cancelled", "message": message}),
        },
    ).rowcount


def request_cancel_running(conn: Connection, job_id: uuid.UUID, now: datetime) -> int:
    """Flag the job's running runs; the worker's heartbeat sees the flag and interrupts."""
    return conn.execute(
        text(
            "UPDATE runs SET cancel_requested_at = :now "
            "WHERE job_id = :job AND state = 'running' AND cancel_requested_at IS NULL"
        ),
        {"job": job_id, "now": now},
    ).rowcount


def hold_pending(conn: Connection, job_id: uuid.UUID) -> int:
    """Pause: a pending run with no due time is never claimed (the due index skips it)."""
    return conn.execute(
        text("UPDATE runs SET due_at = NULL WHERE job_id = :job AND state = 'pending'"),
        {"job": job_id},
    ).rowcount


def release_held(conn: Connection, job_id: uuid.UUID, now: datetime) -> int:
    """Resume: an occurrence is due at its own time again (the misfire policy then decides
    what a late one does); a held retry is due now."""
    return conn.execute(
        text(
            "UPDATE runs SET due_at = CASE WHEN origin = 'retry' THEN :now ELSE scheduled_for END "
            "WHERE job_id = :job AND state = 'pending' AND due_at IS NULL"
        ),
        {"job": job_id, "now": now},
    ).rowcount


def move_run(
    conn: Connection, run_id: uuid.UUID, scheduled_for: datetime, due_at: datetime | None
) -> bool:
    return (
        conn.execute(
            text(
                "UPDATE runs SET scheduled_for = :at, due_at = :due "
                "WHERE id = :id AND state = :pending"
            ),
            {"id": run_id, "at": scheduled_for, "due": due_at, "pending": RunState.PENDING.value},
        ).rowcount
        == 1
    )


def notify_due(conn: Connection, due_at: datetime) -> None:
    """Wake the schedulers (delivered when the transaction commits)."""
    conn.execute(
        text("SELECT pg_notify(:channel, :due)"),
        {"channel": NOTIFY_CHANNEL, "due": due_at.isoformat()},
    )


def pending_occurrences(conn: Connection, job_id: uuid.UUID) -> list[Row]:
    """The job's pending runs, unlocked, for reading."""
    return list(
        conn.execute(
            text(f"SELECT {RUN_COLUMNS} FROM runs WHERE job_id = :job AND state = 'pending'"),
            {"job": job_id},
        ).mappings()
    )


COUNT_LIVE_BY_QUEUE = text(
    """
    SELECT j.queue,
           CASE WHEN r.state <> 'pending' THEN r.state
                WHEN r.due_at <= :now THEN 'pending_due'
                ELSE 'pending_future' END AS state,
           count(*) AS n
    FROM runs AS r JOIN jobs AS j ON j.id = r.job_id
    WHERE r.state IN ('pending', 'queued', 'running')
    GROUP BY 1, 2
    """
)


def count_live_by_queue(conn: Connection, now: datetime) -> dict[tuple[str, str], int]:
    """Live runs per (queue, state), in one statement over the partial index of live runs
    (``ix_runs_live``), so that history does not slow it. The states are ``pending_due``
    (due at ``now``), ``pending_future`` (due later, or held by a paused job), ``queued``
    (published or not) and ``running``."""
    rows = conn.execute(COUNT_LIVE_BY_QUEUE, {"now": now})
    return {(row.queue, row.state): int(row.n) for row in rows}

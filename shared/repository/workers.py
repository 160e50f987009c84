"""The worker registry: one row per worker process, written by its heartbeat thread
(worker.registry), read by the dashboard's workers page and overview."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, text

from shared.repository import Row

REGISTER = text(
    """
    INSERT INTO workers AS w (name, queues, threads, in_flight, started_at, heartbeat_at)
    VALUES (:name, :queues, :threads, :in_flight, coalesce(CAST(:at AS timestamptz), now()),
            coalesce(CAST(:at AS timestamptz), now()))
    ON CONFLICT (name) DO UPDATE SET queues = excluded.queues, threads = excluded.threads,
        in_flight = excluded.in_flight, heartbeat_at = excluded.heartbeat_at,
        -- The same host:pid after a restart (a container's pid 1): a new process.
        started_at = CASE WHEN :booting THEN excluded.started_at ELSE w.started_at END
    """
)
# Every process seen since ``since``, with the runs the database has it running: from
# the registry, and from runs.worker for a process that never registered (one of an
# older version, during a rolling upgrade). ix_runs_running answers the second part.
LIST_WORKERS = text(
    """
    WITH running AS (
        SELECT r.worker AS name, count(*) AS running, max(r.heartbeat_at) AS run_heartbeat
        FROM runs AS r WHERE r.state = 'running' AND r.worker IS NOT NULL
        GROUP BY r.worker
    )
    SELECT coalesce(w.name, running.name) AS name, w.queues, w.threads, w.in_flight,
        w.started_at, greatest(w.heartbeat_at, running.run_heartbeat) AS heartbeat_at,
        coalesce(running.running, 0) AS running, w.name IS NOT NULL AS registered
    FROM (SELECT * FROM workers WHERE heartbeat_at >= :since) AS w
    FULL JOIN running ON running.name = w.name
    ORDER BY name
    """
)


def register(
    conn: Connection,
    name: str,
    queues: Sequence[str],
    threads: int,
    in_flight: int,
    at: datetime | None = None,
    *,
    booting: bool = False,
) -> None:
    """Write the process's row, heart-beating ``at`` (PostgreSQL's ``now()`` unless
    given: a worker passes none, so that beating never reads, or resynchronises, its
    process's clock)."""
    conn.execute(
        REGISTER,
        {
            "name": name,
            "queues": list(queues),
            "threads": threads,
            "in_flight": in_flight,
            "at": at,
            "booting": booting,
        },
    )


def forget(conn: Connection, name: str) -> None:
    """A process that stops cleanly leaves the registry at once."""
    conn.execute(text("DELETE FROM workers WHERE name = :name"), {"name": name})


def list_workers(conn: Connection, since: datetime) -> list[Row]:
    """Every worker process heard from since ``since`` or running a run now."""
    return list(conn.execute(LIST_WORKERS, {"since": since}).mappings())


def prune(conn: Connection, before: datetime, limit: int) -> int:
    """Forget up to ``limit`` processes silent since before ``before`` (killed ones)."""
    return conn.execute(
        text(
            "DELETE FROM workers WHERE name IN (SELECT name FROM workers "
            "WHERE heartbeat_at < :before ORDER BY heartbeat_at LIMIT :limit)"
        ),
        {"before": before, "limit": limit},
    ).rowcount

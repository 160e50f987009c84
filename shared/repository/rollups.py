"""The per-minute rollups' statements (scheduler.rollups writes them; the dashboard's
charts and lag percentiles read them).

A minute is rolled up in one transaction that first inserts its ``rolled_minutes`` row.
Two schedulers rolling the same minute collide on that key: the second waits for the
first's commit and finds the row there (``ON CONFLICT DO NOTHING`` returns nothing), so
it writes nothing. If the first rolls back, the second goes on. No leader is needed, and
the stats upsert makes a second write of a minute (after a restore, say) harmless.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, text

from shared.repository import Row
from shared.rollups import COUNTED_STATES, LAG_BUCKETS

MINUTE = timedelta(minutes=1)

LAST_ROLLED = text("SELECT max(minute) FROM rolled_minutes")
OLDEST_FINISHED = text("SELECT min(finished_at) FROM runs WHERE finished_at IS NOT NULL")
CLAIM_MINUTE = text(
    "INSERT INTO rolled_minutes (minute, rolled_at) VALUES (:minute, :now) "
    "ON CONFLICT DO NOTHING RETURNING minute"
)
# One row per (queue, type, lag bucket) of the runs that ended in the minute, from
# ix_runs_finished; runs that never started (skipped, cancelled while pending) have no
# lag and fall in no bucket (NULL).
MINUTE_RUNS = text(
    f"""
    SELECT r.queue, j.type,
        {
        ", ".join(
            f"count(*) FILTER (WHERE r.state = '{state}') AS {state}" for state in COUNTED_STATES
        )
    },
        CASE WHEN r.started_at IS NULL THEN NULL ELSE width_bucket(
            extract(epoch FROM r.started_at - r.scheduled_for),
            CAST(:bounds AS double precision[])) END AS bucket
    FROM runs AS r JOIN jobs AS j ON j.id = r.job_id
    WHERE r.finished_at >= :start AND r.finished_at < :end
        AND r.state IN ({", ".join(f"'{state}'" for state in COUNTED_STATES)})
    GROUP BY r.queue, j.type, bucket
    """
)
UPSERT_STATS = text(
    f"""
    INSERT INTO run_stats_minute (minute, queue, type, {", ".join(COUNTED_STATES)}, lag_buckets)
    VALUES (:minute, :queue, :type, {", ".join(f":{state}" for state in COUNTED_STATES)},
            :lag_buckets)
    ON CONFLICT (minute, queue, type) DO UPDATE SET
        {", ".join(f"{state} = excluded.{state}" for state in COUNTED_STATES)},
        lag_buckets = excluded.lag_buckets
    """
)


def last_rolled(conn: Connection) -> datetime | None:
    value: datetime | None = conn.scalar(LAST_ROLLED)
    return value


def oldest_finished(conn: Connection) -> datetime | None:
    value: datetime | None = conn.scalar(OLDEST_FINISHED)
    return value


def roll_minute(conn: Connection, minute: datetime, now: datetime) -> int | None:
    """Write ``minute``'s stats, unless another pass has (None); how many rows."""
    if conn.execute(CLAIM_MINUTE, {"minute": minute, "now": now}).first() is None:
        return None
    rows = conn.execute(
        MINUTE_RUNS, {"start": minute, "end": minute + MINUTE, "bounds": list(LAG_BUCKETS)}
    ).mappings()
    stats: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        kind = (row["queue"], row["type"])
        entry = stats.setdefault(
            kind,
            {state: 0 for state in COUNTED_STATES} | {"lag_buckets": [0] * (len(LAG_BUCKETS) + 1)},
        )
        for state in COUNTED_STATES:
            entry[state] += row[state]
        if row["bucket"] is not None:
            entry["lag_buckets"][row["bucket"]] += sum(row[state] for state in COUNTED_STATES)
    params = [
        {"minute": minute, "queue": queue, "type": type_, **entry}
        for (queue, type_), entry in stats.items()
    ]
    if params:
        conn.execute(UPSERT_STATS, params)
    return len(params)


def stats_between(conn: Connection, start: datetime, end: datetime) -> list[Row]:
    """The rolled-up minutes in [start, end), oldest first."""
    return list(
        conn.execute(
            text(
                "SELECT * FROM run_stats_minute WHERE minute >= :start AND minute < :end "
                "ORDER BY minute, queue, type"
            ),
            {"start": start, "end": end},
        ).mappings()
    )


def prune(conn: Connection, before: datetime, limit: int) -> int:
    """Delete up to ``limit`` rolled minutes before ``before``, with their stats."""
    doomed = (
        conn.execute(
            text(
                "DELETE FROM rolled_minutes WHERE minute IN (SELECT minute FROM rolled_minutes "
                "WHERE minute < :before ORDER BY minute LIMIT :limit) RETURNING minute"
            ),
            {"before": before, "limit": limit},
        )
        .scalars()
        .all()
    )
    if doomed:
        conn.execute(
            text("DELETE FROM run_stats_minute WHERE minute = ANY(:minutes)"),
            {"minutes": list(doomed)},
        )
    return len(doomed)

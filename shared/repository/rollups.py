"""The per-minute rollups' statements (scheduler.rollups writes them; the dashboard's
charts and lag percentiles read them).

A minute is rolled up in one transaction that first inserts its ``rolled_minutes`` row.
Two schedulers rolling the same minute collide on that key: the second waits for the
first's commit and finds the row there (``ON CONFLICT DO NOTHING`` returns nothing), so
it writes nothing. If the first rolls back, the second goes on. No leader is needed.

The minute's own rows are an upsert, but the hourly rows (``run_stats_hour``,
``job_stats_hour``) are added to: rolling a minute again by deleting its
``rolled_minutes`` row (after a restore, say) would count it twice in its hour. Delete
the hour's rows and all its minutes' claim rows together to roll an hour again.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
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
# One row per (queue, type, job, lag bucket) of the runs that ended in the minute, from
# ix_runs_finished; runs that never started (skipped, cancelled while pending) have no
# lag and fall in no bucket (NULL). roll_minute folds the jobs together for
# run_stats_minute and adds each job's rows to its hour in job_stats_hour.
MINUTE_RUNS = text(
    f"""
    SELECT r.queue, j.type, r.job_id,
        {
        ", ".join(
            f"count(*) FILTER (WHERE r.state = '{state}') AS {state}" for state in COUNTED_STATES
        )
    },
        max(extract(epoch FROM r.started_at - r.scheduled_for)) AS lag_max,
        CASE WHEN r.started_at IS NULL THEN NULL ELSE width_bucket(
            extract(epoch FROM r.started_at - r.scheduled_for),
            CAST(:bounds AS double precision[])) END AS bucket
    FROM runs AS r JOIN jobs AS j ON j.id = r.job_id
    WHERE r.finished_at >= :start AND r.finished_at < :end
        AND r.state IN ({", ".join(f"'{state}'" for state in COUNTED_STATES)})
    GROUP BY r.queue, j.type, r.job_id, bucket
    """
)
STAT_COLUMNS = ", ".join((*COUNTED_STATES, "lag_buckets", "lag_max"))
STAT_VALUES = ", ".join(f":{column}" for column in (*COUNTED_STATES, "lag_buckets", "lag_max"))
UPSERT_STATS = text(
    f"""
    INSERT INTO run_stats_minute (minute, queue, type, {STAT_COLUMNS})
    VALUES (:minute, :queue, :type, {STAT_VALUES})
    ON CONFLICT (minute, queue, type) DO UPDATE SET
        {", ".join(f"{state} = excluded.{state}" for state in COUNTED_STATES)},
        lag_buckets = excluded.lag_buckets, lag_max = excluded.lag_max
    """
)


def add_to_hour(table: str, key: tuple[str, ...]) -> Any:
    """Adds a minute's stats to their hour's row in ``table`` (keyed by ``key`` and the
    hour); the minute's claim row makes that happen once per minute."""
    columns = ", ".join((*key, "hour", *COUNTED_STATES, "lag_buckets", "lag_max"))
    values = ", ".join(f":{column}" for column in columns.split(", "))
    return text(
        f"""
        INSERT INTO {table} AS h ({columns}) VALUES ({values})
        ON CONFLICT ({", ".join(key)}, hour) DO UPDATE SET
            {", ".join(f"{state} = h.{state} + excluded.{state}" for state in COUNTED_STATES)},
            lag_buckets = ARRAY(
                SELECT a + b FROM unnest(h.lag_buckets, excluded.lag_buckets)
                    WITH ORDINALITY AS t(a, b, i) ORDER BY i),
            lag_max = greatest(h.lag_max, excluded.lag_max)
        """
    )


ADD_TO_KIND_HOUR = add_to_hour("run_stats_hour", ("queue", "type"))
ADD_TO_JOB_HOUR = add_to_hour("job_stats_hour", ("job_id",))


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
    kinds: dict[tuple[str, str], dict[str, Any]] = {}
    jobs: dict[Any, dict[str, Any]] = {}
    for row in rows:
        for entry in (
            kinds.setdefault((row["queue"], row["type"]), empty_stats()),
            jobs.setdefault(row["job_id"], empty_stats()),
        ):
            add_row(entry, row)
    if kinds:
        conn.execute(
            UPSERT_STATS,
            [
                {"minute": minute, "queue": queue, "type": type_, **entry}
                for (queue, type_), entry in kinds.items()
            ],
        )
        # The UTC hour: the session's zone would key hours of a +05:30 zone on the half.
        hour = minute.astimezone(UTC).replace(minute=0)
        conn.execute(
            ADD_TO_KIND_HOUR,
            [
                {"hour": hour, "queue": queue, "type": type_, **entry}
                for (queue, type_), entry in kinds.items()
            ],
        )
        conn.execute(
            ADD_TO_JOB_HOUR,
            [{"job_id": job_id, "hour": hour, **entry} for job_id, entry in jobs.items()],
        )
    return len(kinds)


def empty_stats() -> dict[str, Any]:
    return {state: 0 for state in COUNTED_STATES} | {
        "lag_buckets": [0] * (len(LAG_BUCKETS) + 1),
        "lag_max": None,
    }


def add_row(entry: dict[str, Any], row: Row) -> None:
    """Adds one (queue, type, job, bucket) row of MINUTE_RUNS to ``entry``."""
    for state in COUNTED_STATES:
        entry[state] += row[state]
    if row["bucket"] is not None:
        entry["lag_buckets"][row["bucket"]] += sum(row[state] for state in COUNTED_STATES)
    if row["lag_max"] is not None:
        lag = float(row["lag_max"])
        entry["lag_max"] = lag if entry["lag_max"] is None else max(entry["lag_max"], lag)


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
    """Delete up to ``limit`` rolled minutes before ``before``, with their stats, and up
    to ``limit`` of each hourly table's hours that ended by then; the larger of the two counts."""
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
    # An hour goes once all of it is past: its last minute is before ``before``.
    hours = [
        conn.execute(
            text(
                f"DELETE FROM {table} WHERE ({key}, hour) IN (SELECT {key}, hour "
                f"FROM {table} WHERE hour <= :last_start ORDER BY hour LIMIT :limit)"
            ),
            {"last_start": before - timedelta(hours=1), "limit": limit},
        ).rowcount
        for table, key in (("run_stats_hour", "queue, type"), ("job_stats_hour", "job_id"))
    ]
    return max(len(doomed), *hours)


def summed_by_age(
    conn: Connection,
    table: str,
    column: str,
    edges: list[datetime],
    *,
    keys: tuple[str, ...] = (),
    job_id: Any = None,
) -> list[Row]:
    """Rollup rows of ``table`` summed per ``keys`` and age, in the database: age 0 is
    from ``edges[0]`` on, age 1 from ``edges[1]`` to ``edges[0]``, and so on, oldest
    edge last. Histograms are summed bucket by bucket, so a month of hourly rows per
    queue and type costs one scan, not a row per hour in Python. ``table``, ``column``
    and ``keys`` are this package's constants, never a caller's input."""
    age = " ".join(f"WHEN {column} >= :edge{i} THEN {i}" for i in range(len(edges)))
    buckets = ", ".join(f"sum(lag_buckets[{i}])" for i in range(1, len(LAG_BUCKETS) + 2))
    grouped = ", ".join((*keys, "age"))
    only_job = " AND job_id = :job" if job_id is not None else ""
    statement = text(
        f"""
        SELECT {"".join(f"{key}, " for key in keys)}CASE {age} END AS age,
            {", ".join(f"CAST(sum({state}) AS integer) AS {state}" for state in COUNTED_STATES)},
            max(lag_max) AS lag_max, CAST(ARRAY[{buckets}] AS integer[]) AS lag_buckets
        FROM {table} WHERE {column} >= :edge{len(edges) - 1}{only_job}
        GROUP BY {grouped}
        """
    )
    params = {f"edge{i}": edge for i, edge in enumerate(edges)} | {"job": job_id}
    return list(conn.execute(statement, params).mappings())

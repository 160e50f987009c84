"""Per-job hourly rollups, the rollups' worst lag, and the worker registry.

- ``run_stats_minute.lag_max``: the largest start lag of the minute's runs, so the
  dashboard's "max" is a measured value, not a bucket's bound.
- ``run_stats_hour``: ``run_stats_minute`` summed per hour, so a week's or a month's
  percentiles read 720 rows per queue and type, not 43,200.
- ``job_stats_hour``: the same per job and hour, for each job's lag percentiles over a
  month (per minute, a job running every few seconds would make one row a minute for 90
  days; per hour it is 24 a day). No foreign key: a deleted job's hours age out with the
  rest, and a rollup never waits on a job's row lock.
- ``workers``: one row per worker process, refreshed with its heartbeat, so the
  dashboard lists idle workers too, not only those holding a run.

All three are new columns or tables: nothing existing is rewritten or locked for long.
The hourly tables are filled from what is already rolled up, so a week's lag is whole
from the first page after the upgrade: ``run_stats_hour`` from ``run_stats_minute``
(exactly), ``job_stats_hour`` from the runs still kept that ended in a rolled minute
(the per-minute rollups have no job). That reads those runs once, on ``ix_runs_finished``.

Revision ID: 0014
Revises: 0013
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIME = postgresql.TIMESTAMP(timezone=True)
STATES = ("succeeded", "failed", "skipped", "lost", "cancelled")
# shared.rollups.LAG_BUCKETS as of this revision, frozen: a migration must not change
# when the code's buckets do. A histogram has one bucket more than its bounds.
LAG_BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
              300.0, 900.0, 3600.0)  # fmt: skip
BUCKETS = len(LAG_BOUNDS) + 1

# UTC hours, as the rollup pass keys them; each histogram summed bucket by bucket.
BACKFILL_KIND_HOURS = f"""
INSERT INTO run_stats_hour (hour, queue, type, {", ".join(STATES)}, lag_buckets, lag_max)
SELECT date_trunc('hour', minute, 'UTC'), queue, type,
    {", ".join(f"sum({state})" for state in STATES)},
    CAST(ARRAY[{", ".join(f"sum(lag_buckets[{i}])" for i in range(1, BUCKETS + 1))}]
        AS integer[]),
    max(lag_max)
FROM run_stats_minute
GROUP BY 1, 2, 3
"""
# The runs that ended in a rolled minute, per job, hour and lag bucket, then per hour.
BACKFILL_JOB_HOURS = f"""
WITH rolled AS (
    SELECT min(minute) AS first, max(minute) + interval '1 minute' AS last
    FROM rolled_minutes
), per_bucket AS (
    SELECT r.job_id, date_trunc('hour', r.finished_at, 'UTC') AS hour,
        {", ".join(f"count(*) FILTER (WHERE r.state = '{state}') AS {state}" for state in STATES)},
        max(extract(epoch FROM r.started_at - r.scheduled_for)) AS lag_max,
        CASE WHEN r.started_at IS NULL THEN NULL ELSE width_bucket(
            extract(epoch FROM r.started_at - r.scheduled_for),
            CAST(ARRAY[{", ".join(map(str, LAG_BOUNDS))}] AS double precision[])) END AS bucket
    FROM runs AS r, rolled
    WHERE r.finished_at >= rolled.first AND r.finished_at < rolled.last
        AND r.state IN ({", ".join(f"'{state}'" for state in STATES)})
    GROUP BY 1, 2, bucket
)
INSERT INTO job_stats_hour (job_id, hour, {", ".join(STATES)}, lag_buckets, lag_max)
SELECT job_id, hour, {", ".join(f"sum({state})" for state in STATES)},
    CAST(ARRAY[{", ".join(
        f"coalesce(sum({' + '.join(STATES)}) FILTER (WHERE bucket = {i}), 0)"
        for i in range(BUCKETS)
    )}] AS integer[]),
    max(lag_max)
FROM per_bucket
GROUP BY 1, 2
"""


def upgrade() -> None:
    op.add_column("run_stats_minute", sa.Column("lag_max", sa.Float(), nullable=True))
    op.create_table(
        "run_stats_hour",
        sa.Column("hour", TIME, nullable=False),
        sa.Column("queue", sa.Text(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        *(sa.Column(state, sa.Integer(), nullable=False) for state in STATES),
        sa.Column("lag_buckets", postgresql.ARRAY(sa.Integer()), nullable=False),
        sa.Column("lag_max", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("hour", "queue", "type", name=op.f("pk_run_stats_hour")),
    )
    op.create_table(
        "job_stats_hour",
        sa.Column("job_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("hour", TIME, nullable=False),
        *(sa.Column(state, sa.Integer(), nullable=False) for state in STATES),
        sa.Column("lag_buckets", postgresql.ARRAY(sa.Integer()), nullable=False),
        sa.Column("lag_max", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("job_id", "hour", name=op.f("pk_job_stats_hour")),
    )
    op.create_index("ix_job_stats_hour_hour", "job_stats_hour", ["hour"])
    op.create_table(
        "workers",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("queues", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("threads", sa.Integer(), nullable=False),
        sa.Column("in_flight", sa.Integer(), nullable=False),
        sa.Column("started_at", TIME, nullable=False),
        sa.Column("heartbeat_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_workers")),
    )
    op.create_index("ix_workers_heartbeat_at", "workers", ["heartbeat_at"])
    op.execute(BACKFILL_KIND_HOURS)
    op.execute(BACKFILL_JOB_HOURS)


def downgrade() -> None:
    op.drop_index("ix_workers_heartbeat_at", table_name="workers")
    op.drop_table("workers")
    op.drop_index("ix_job_stats_hour_hour", table_name="job_stats_hour")
    op.drop_table("job_stats_hour")
    op.drop_table("run_stats_hour")
    op.drop_column("run_stats_minute", "lag_max")

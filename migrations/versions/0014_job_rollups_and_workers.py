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


def downgrade() -> None:
    op.drop_index("ix_workers_heartbeat_at", table_name="workers")
    op.drop_table("workers")
    op.drop_index("ix_job_stats_hour_hour", table_name="job_stats_hour")
    op.drop_table("job_stats_hour")
    op.drop_table("run_stats_hour")
    op.drop_column("run_stats_minute", "lag_max")

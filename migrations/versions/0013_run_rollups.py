"""Per-minute rollups of finished runs, for the dashboard's charts and lag percentiles.

``run_stats_minute`` holds, per closed minute, queue and job type, the count of runs that
ended in each state and a histogram of their start lag in fixed buckets. A scheduler's
maintenance pass writes each minute once (``scheduler.rollups``), and ``rolled_minutes``
says which minutes are done. Both are new tables: nothing is locked.

Revision ID: 0013
Revises: 0012
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIME = postgresql.TIMESTAMP(timezone=True)


def upgrade() -> None:
    op.create_table(
        "rolled_minutes",
        sa.Column("minute", TIME, nullable=False),
        sa.Column("rolled_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("minute", name=op.f("pk_rolled_minutes")),
    )
    op.create_table(
        "run_stats_minute",
        sa.Column("minute", TIME, nullable=False),
        sa.Column("queue", sa.Text(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        *(
            sa.Column(state, sa.Integer(), nullable=False)
            for state in ("succeeded", "failed", "skipped", "lost", "cancelled")
        ),
        sa.Column("lag_buckets", postgresql.ARRAY(sa.Integer()), nullable=False),
        sa.PrimaryKeyConstraint("minute", "queue", "type", name=op.f("pk_run_stats_minute")),
    )


def downgrade() -> None:
    op.drop_table("run_stats_minute")
    op.drop_table("rolled_minutes")

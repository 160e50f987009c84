"""Per-user limits: a job's liveness as a stored column, and an index of live jobs by owner.

``live`` is generated from ``status`` (not finished, not cancelled), so no code path can
forget it. It is a column rather than an index predicate on ``status`` so that status
changes within the live states stay HOT updates. Adding a stored generated column
rewrites ``jobs`` once, under an exclusive lock: run this migration in a quiet moment.

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here: a migration must not change when shared.states does.
LIVE_JOB = "status NOT IN ('cancelled', 'failed', 'succeeded')"


def upgrade() -> None:
    op.add_column(
        "jobs",
        sa.Column("live", sa.Boolean(), sa.Computed(LIVE_JOB, persisted=True), nullable=True),
    )
    op.create_index(
        "ix_jobs_owner_live", "jobs", ["owner_id"], postgresql_where=sa.text("live")
    )


def downgrade() -> None:
    op.drop_index("ix_jobs_owner_live", table_name="jobs")
    op.drop_column("jobs", "live")

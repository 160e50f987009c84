"""An index on queued runs by publish time, for re-publishing runs whose message went
missing after a confirmed publish.

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_runs_queued",
        "runs",
        ["published_at"],
        unique=False,
        postgresql_where=sa.text("state = 'queued'"),
    )


def downgrade() -> None:
    op.drop_index("ix_runs_queued", table_name="runs", postgresql_where=sa.text("state = 'queued'"))

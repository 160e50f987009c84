"""A publish receipt per batch, instead of a write to every run it published.

The scheduler recorded a confirmed publish by setting ``published_at`` on each run: a
second write to the run's row, not HOT (it moved the run in ``ix_runs_queued``), and
five index entries, for every run. Now each claim gives its runs a ``batch_id`` (in the
write that queues them) and, once RabbitMQ confirms the batch, inserts one row here.
A queued run's publish is confirmed when its ``published_at`` is set (a run from before
this migration, or one a worker started) or its batch has a receipt; recovery publishes
again the queued runs with neither. The worker's start copies the receipt's time into
``published_at``, in the write it makes anyway, so a started run still carries it.

Both changes are instant: a nullable column with no default, and a new table.

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("runs", sa.Column("batch_id", postgresql.UUID(), nullable=True))
    op.create_table(
        "publish_receipts",
        sa.Column("batch_id", postgresql.UUID(), nullable=False),
        sa.Column("published_at", postgresql.TIMESTAMP(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("batch_id", name=op.f("pk_publish_receipts")),
    )
    op.create_index(
        "ix_publish_receipts_published_at", "publish_receipts", ["published_at"], unique=False
    )


def downgrade() -> None:
    # Runs still queued keep their confirmation: a downgraded scheduler reads
    # published_at alone.
    op.execute(
        "UPDATE runs SET published_at = p.published_at FROM publish_receipts AS p "
        "WHERE runs.batch_id = p.batch_id AND runs.state = 'queued' "
        "AND runs.published_at IS NULL"
    )
    op.drop_index("ix_publish_receipts_published_at", table_name="publish_receipts")
    op.drop_table("publish_receipts")
    op.drop_column("runs", "batch_id")

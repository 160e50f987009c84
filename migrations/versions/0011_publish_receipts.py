"""A publish receipt per batch, instead of a write to every run it published.

The scheduler recorded a confirmed publish by setting ``published_at`` on each run: a
second write to the run's row, not HOT (it moved the run in ``ix_runs_queued``), and
five index entries, for every run. Now each claim gives its runs a ``batch_id`` (in the
write that queues them) and a row here (``claimed_at``); once RabbitMQ confirms the
batch, that one row gets ``published_at``. A queued run's publish is confirmed when its
own ``published_at`` is set (a run from before this migration, or one a worker started)
or its batch's is. Recovery reads the unconfirmed batches from this small table, and the
runs with no batch (from before this migration, or whose message came back unrouted)
from ``ix_runs_unpublished``, which now holds only those. The worker's start copies the
batch's time into ``published_at``, in the write it makes anyway.

The column and the table are instant; the index is rebuilt CONCURRENTLY.

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

UNCONFIRMED_BATCH = sa.text("published_at IS NULL")
UNBATCHED = sa.text("state = 'queued' AND published_at IS NULL AND batch_id IS NULL")
UNPUBLISHED = sa.text("state = 'queued' AND published_at IS NULL")  # before 0011


def rebuild_unpublished_index(where: sa.TextClause) -> None:
    """ix_runs_unpublished with a new predicate, built CONCURRENTLY (no lock on runs)."""
    with op.get_context().autocommit_block():
        op.execute("DROP INDEX CONCURRENTLY IF EXISTS ix_runs_unpublished")
        op.create_index(
            "ix_runs_unpublished",
            "runs",
            ["queued_at"],
            unique=False,
            postgresql_where=where,
            postgresql_concurrently=True,
        )


def upgrade() -> None:
    op.add_column("runs", sa.Column("batch_id", postgresql.UUID(), nullable=True))
    op.create_table(
        "publish_receipts",
        sa.Column("batch_id", postgresql.UUID(), nullable=False),
        sa.Column("claimed_at", postgresql.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("published_at", postgresql.TIMESTAMP(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("batch_id", name=op.f("pk_publish_receipts")),
    )
    op.create_index(
        "ix_publish_receipts_published_at", "publish_receipts", ["published_at"], unique=False
    )
    op.create_index(
        "ix_publish_receipts_unconfirmed",
        "publish_receipts",
        ["claimed_at"],
        unique=False,
        postgresql_where=UNCONFIRMED_BATCH,
    )
    rebuild_unpublished_index(UNBATCHED)


def downgrade() -> None:
    # Runs still queued keep their confirmation: a downgraded scheduler reads
    # published_at alone.
    op.execute(
        "UPDATE runs SET published_at = p.published_at FROM publish_receipts AS p "
        "WHERE runs.batch_id = p.batch_id AND runs.state = 'queued' "
        "AND runs.published_at IS NULL AND p.published_at IS NOT NULL"
    )
    rebuild_unpublished_index(UNPUBLISHED)
    op.drop_index("ix_publish_receipts_unconfirmed", table_name="publish_receipts")
    op.drop_index("ix_publish_receipts_published_at", table_name="publish_receipts")
    op.drop_table("publish_receipts")
    op.drop_column("runs", "batch_id")

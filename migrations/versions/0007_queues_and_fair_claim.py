"""Queues and fair claiming: the ``queues`` table, and each run's queue and owner.

- ``queues``: one row per queue with the operators' controls, ``paused`` and
  ``concurrency`` (null: no limit). The processes add a row for each name in
  ``CHRONOS_QUEUES`` when they start; a queue with no row is unpaused and unlimited.
- ``runs.queue`` and ``runs.owner_id``: copied from the run's job (neither ever changes),
  so that the claim can take due runs in turns by owner, queue by queue, from one index,
  and count a queue's busy runs without a join. A trigger fills them from the job for
  a writer that leaves them out.
- ``ix_runs_fair_due`` replaces ``ix_runs_due``: the claim skips from one (queue, owner,
  priority) to the next on it, reading each one's earliest due run, and then takes only
  the runs it will claim. ``ix_runs_queued`` and ``ix_runs_running`` lead with the queue,
  so a queue's queued and running runs are counted from them.

Upgrading copies the two columns into every existing run in one UPDATE: on a large
``runs`` table, run it in a quiet hour (it rewrites each row once).

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "queues",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("paused", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("concurrency", sa.Integer(), nullable=True),
        sa.Column(
            "updated_at",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("concurrency BETWEEN 1 AND 10000", name=op.f("ck_queues_concurrency")),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_queues")),
    )
    op.add_column("runs", sa.Column("queue", sa.Text(), nullable=True))
    op.add_column("runs", sa.Column("owner_id", postgresql.UUID(), nullable=True))
    op.execute(
        "UPDATE runs SET queue = jobs.queue, owner_id = jobs.owner_id "
        "FROM jobs WHERE jobs.id = runs.job_id"
    )
    # Chronos writes both columns itself; this fills them for any other writer (a script,
    # an older process during a rolling upgrade). Its WHEN is checked without calling the
    # function, so Chronos's own inserts pay nothing for it.
    op.execute(
        """
        CREATE FUNCTION runs_copy_job_columns() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            SELECT queue, owner_id INTO NEW.queue, NEW.owner_id FROM jobs WHERE id = NEW.job_id;
            RETURN NEW;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER runs_copy_job_columns BEFORE INSERT ON runs FOR EACH ROW "
        "WHEN (NEW.queue IS NULL OR NEW.owner_id IS NULL) "
        "EXECUTE FUNCTION runs_copy_job_columns()"
    )
    op.alter_column("runs", "queue", nullable=False)
    op.alter_column("runs", "owner_id", nullable=False)
    op.create_index(
        "ix_runs_fair_due",
        "runs",
        ["queue", "owner_id", "priority", "due_at"],
        postgresql_where=sa.text("state = 'pending' AND due_at IS NOT NULL"),
    )
    op.drop_index("ix_runs_due", table_name="runs")
    op.drop_index("ix_runs_queued", table_name="runs")
    op.create_index(
        "ix_runs_queued",
        "runs",
        ["queue", "published_at"],
        postgresql_where=sa.text("state = 'queued'"),
    )
    op.drop_index("ix_runs_running", table_name="runs")
    op.create_index(
        "ix_runs_running",
        "runs",
        ["queue", "started_at"],
        postgresql_where=sa.text("state = 'running'"),
    )


def downgrade() -> None:
    op.drop_index("ix_runs_running", table_name="runs")
    op.create_index(
        "ix_runs_running", "runs", ["started_at"], postgresql_where=sa.text("state = 'running'")
    )
    op.drop_index("ix_runs_queued", table_name="runs")
    op.create_index(
        "ix_runs_queued", "runs", ["published_at"], postgresql_where=sa.text("state = 'queued'")
    )
    op.drop_index("ix_runs_fair_due", table_name="runs")
    op.create_index(
        "ix_runs_due", "runs", ["priority", "due_at"], postgresql_where=sa.text("state = 'pending'")
    )
    op.execute("DROP TRIGGER runs_copy_job_columns ON runs")
    op.execute("DROP FUNCTION runs_copy_job_columns()")
    op.drop_column("runs", "owner_id")
    op.drop_column("runs", "queue")
    op.drop_table("queues")

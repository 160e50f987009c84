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

Upgrading copies the two columns into every existing run in batches of 10,000 and
builds the indexes CONCURRENTLY, so dispatch goes on meanwhile; on a large ``runs``
table it still rewrites every row once, so prefer a quiet hour.

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


BACKFILL_BATCH = 10_000
PENDING = sa.text("state = 'pending' AND due_at IS NOT NULL")


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
    # The rest runs outside one long transaction, so a busy installation keeps
    # dispatching: the existing runs are filled in short batches, NOT NULL is proved by a
    # constraint validated without blocking writes, and the indexes are built
    # CONCURRENTLY.
    with op.get_context().autocommit_block():
        conn = op.get_bind()
        while conn.execute(
            sa.text(
                "UPDATE runs SET queue = jobs.queue, owner_id = jobs.owner_id FROM jobs "
                "WHERE jobs.id = runs.job_id AND runs.id IN ("
                "  SELECT id FROM runs WHERE queue IS NULL OR owner_id IS NULL LIMIT :n)"
            ),
            {"n": BACKFILL_BATCH},
        ).rowcount:
            pass
        op.execute(
            "ALTER TABLE runs ADD CONSTRAINT runs_filled "
            "CHECK (queue IS NOT NULL AND owner_id IS NOT NULL) NOT VALID"
        )
        op.execute("ALTER TABLE runs VALIDATE CONSTRAINT runs_filled")
        # With the valid constraint, SET NOT NULL skips its scan of the table.
        op.alter_column("runs", "queue", nullable=False)
        op.alter_column("runs", "owner_id", nullable=False)
        op.execute("ALTER TABLE runs DROP CONSTRAINT runs_filled")
        op.create_index(
            "ix_runs_fair_due",
            "runs",
            ["queue", "owner_id", "priority", "due_at"],
            postgresql_where=PENDING,
            postgresql_concurrently=True,
        )
        for name, columns, state in (
            ("ix_runs_queued", ["queue", "published_at"], "queued"),
            ("ix_runs_running", ["queue", "started_at"], "running"),
        ):
            # Built under a new name first, so the scans are never without an index.
            op.create_index(
                f"{name}_new",
                "runs",
                columns,
                postgresql_where=sa.text(f"state = '{state}'"),
                postgresql_concurrently=True,
            )
            op.drop_index(name, table_name="runs", postgresql_concurrently=True)
            op.execute(f"ALTER INDEX {name}_new RENAME TO {name}")
        op.drop_index("ix_runs_due", table_name="runs", postgresql_concurrently=True)


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

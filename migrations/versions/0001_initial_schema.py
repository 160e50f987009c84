"""The initial schema: users, jobs and runs, with the constraints and indexes of dispatch.

Revision ID: 0001
Revises:
Create Date: 2026-11-28 09:24:46.309270
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("username", sa.Text(), nullable=False),
        sa.Column("email", sa.Text(), nullable=True),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("role", sa.Text(), server_default="user", nullable=False),
        sa.Column("created_at", postgresql.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("updated_at", postgresql.TIMESTAMP(timezone=True), nullable=False),
        sa.CheckConstraint("role IN ('admin', 'user')", name=op.f("ck_users_role")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
    )
    op.create_index(
        "uq_users_username_lower", "users", [sa.literal_column("lower(username)")], unique=True
    )
    op.create_table(
        "jobs",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("owner_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("queue", sa.Text(), nullable=False),
        sa.Column("priority", sa.SmallInteger(), nullable=False),
        sa.Column("run_at", postgresql.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("repeat", sa.Text(), nullable=True),
        sa.Column("interval_seconds", sa.Integer(), nullable=True),
        sa.Column("cron", sa.Text(), nullable=True),
        sa.Column("timezone", sa.Text(), nullable=False),
        sa.Column("end_at", postgresql.TIMESTAMP(timezone=True), nullable=True),
        sa.Column("max_runs", sa.Integer(), nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("run_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("max_attempts", sa.SmallInteger(), nullable=False),
        sa.Column("retry_backoff_seconds", sa.Integer(), nullable=False),
        sa.Column("timeout_seconds", sa.Integer(), nullable=False),
        sa.Column("misfire_policy", sa.Text(), nullable=False),
        sa.Column("overlap_policy", sa.Text(), nullable=False),
        sa.Column("idempotency_key", sa.Text(), nullable=True),
        sa.Column("request_fingerprint", sa.Text(), nullable=True),
        sa.Column("created_at", postgresql.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("updated_at", postgresql.TIMESTAMP(timezone=True), nullable=False),
        sa.CheckConstraint(
            "misfire_policy IN ('run_all', 'run_once', 'skip')", name=op.f("ck_jobs_misfire_policy")
        ),
        sa.CheckConstraint(
            "overlap_policy IN ('allow', 'forbid', 'replace')", name=op.f("ck_jobs_overlap_policy")
        ),
        sa.CheckConstraint(
            "status IN ('cancelled', 'failed', 'paused', 'queued', 'running', 'scheduled', 'succeeded')",
            name=op.f("ck_jobs_status"),
        ),
        sa.CheckConstraint(
            "(repeat IS NOT NULL)::int + (interval_seconds IS NOT NULL)::int + (cron IS NOT NULL)::int <= 1",
            name=op.f("ck_jobs_one_recurrence"),
        ),
        sa.CheckConstraint("max_attempts BETWEEN 1 AND 100", name=op.f("ck_jobs_max_attempts")),
        sa.CheckConstraint("priority BETWEEN 0 AND 9", name=op.f("ck_jobs_priority")),
        sa.CheckConstraint(
            "retry_backoff_seconds >= 0", name=op.f("ck_jobs_retry_backoff_seconds")
        ),
        sa.CheckConstraint(
            "timeout_seconds BETWEEN 1 AND 86400", name=op.f("ck_jobs_timeout_seconds")
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_jobs_owner_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
    )
    op.create_index(
        "ix_jobs_listing",
        "jobs",
        [sa.literal_column("created_at DESC"), sa.literal_column("id DESC")],
        unique=False,
    )
    op.create_index(
        "ix_jobs_owner_listing",
        "jobs",
        ["owner_id", sa.literal_column("created_at DESC"), sa.literal_column("id DESC")],
        unique=False,
    )
    op.create_index(
        "uq_jobs_owner_idempotency_key",
        "jobs",
        ["owner_id", "idempotency_key"],
        unique=True,
        postgresql_where=sa.text("idempotency_key IS NOT NULL"),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("job_id", sa.UUID(), nullable=False),
        sa.Column("attempt", sa.SmallInteger(), nullable=False),
        sa.Column("origin", sa.Text(), nullable=False),
        sa.Column("priority", sa.SmallInteger(), nullable=False),
        sa.Column("scheduled_for", postgresql.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("due_at", postgresql.TIMESTAMP(timezone=True), nullable=True),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("queued_at", postgresql.TIMESTAMP(timezone=True), nullable=True),
        sa.Column("published_at", postgresql.TIMESTAMP(timezone=True), nullable=True),
        sa.Column("started_at", postgresql.TIMESTAMP(timezone=True), nullable=True),
        sa.Column("heartbeat_at", postgresql.TIMESTAMP(timezone=True), nullable=True),
        sa.Column("finished_at", postgresql.TIMESTAMP(timezone=True), nullable=True),
        sa.Column("cancel_requested_at", postgresql.TIMESTAMP(timezone=True), nullable=True),
        sa.Column("worker", sa.Text(), nullable=True),
        sa.Column("result", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("error", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("created_at", postgresql.TIMESTAMP(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(state IN ('cancelled', 'failed', 'lost', 'skipped', 'succeeded')) = (finished_at IS NOT NULL)",
            name=op.f("ck_runs_finished_iff_terminal"),
        ),
        sa.CheckConstraint(
            "origin IN ('manual', 'retry', 'schedule')", name=op.f("ck_runs_origin")
        ),
        sa.CheckConstraint(
            "state <> 'pending' OR (queued_at IS NULL AND started_at IS NULL)",
            name=op.f("ck_runs_pending_not_started"),
        ),
        sa.CheckConstraint(
            "state <> 'running' OR (started_at IS NOT NULL AND heartbeat_at IS NOT NULL AND worker IS NOT NULL)",
            name=op.f("ck_runs_running_has_worker"),
        ),
        sa.CheckConstraint(
            "state IN ('cancelled', 'failed', 'lost', 'pending', 'queued', 'running', 'skipped', 'succeeded')",
            name=op.f("ck_runs_state"),
        ),
        sa.CheckConstraint(
            "state NOT IN ('queued', 'running', 'succeeded', 'failed', 'lost') OR queued_at IS NOT NULL",
            name=op.f("ck_runs_queued_has_queued_at"),
        ),
        sa.CheckConstraint(
            "state NOT IN ('succeeded', 'failed', 'lost') OR started_at IS NOT NULL",
            name=op.f("ck_runs_outcome_was_started"),
        ),
        sa.CheckConstraint("attempt >= 1", name=op.f("ck_runs_attempt")),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_runs_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runs")),
    )
    op.create_index(
        "ix_runs_due",
        "runs",
        ["priority", "due_at"],
        unique=False,
        postgresql_where=sa.text("state = 'pending'"),
    )
    op.create_index(
        "ix_runs_finished",
        "runs",
        ["finished_at"],
        unique=False,
        postgresql_where=sa.text("finished_at IS NOT NULL"),
    )
    op.create_index(
        "ix_runs_history",
        "runs",
        ["job_id", sa.literal_column("created_at DESC"), sa.literal_column("id DESC")],
        unique=False,
    )
    op.create_index(
        "ix_runs_running",
        "runs",
        ["started_at"],
        unique=False,
        postgresql_where=sa.text("state = 'running'"),
    )
    op.create_index(
        "ix_runs_unpublished",
        "runs",
        ["queued_at"],
        unique=False,
        postgresql_where=sa.text("state = 'queued' AND published_at IS NULL"),
    )
    op.create_index(
        "uq_runs_occurrence_attempt",
        "runs",
        ["job_id", "scheduled_for", "attempt"],
        unique=True,
        postgresql_where=sa.text("origin <> 'manual'"),
    )

    # runs churns: each run is inserted, updated several times (queued, published,
    # running, heartbeats, finished) and later pruned. Vacuum and analyse it after 2% of
    # its rows change instead of the default 20%, so dead rows don't pile up in front of
    # the due index, and leave a fifth of each page free so that those updates stay HOT.
    op.execute(
        "ALTER TABLE runs SET (fillfactor = 80, autovacuum_vacuum_scale_factor = 0.02,"
        " autovacuum_analyze_scale_factor = 0.02)"
    )
    # No Chronos transaction waits on anything but the database; one left idle is a bug
    # or a dead client, and it would hold row locks that stall the schedulers.
    op.execute(
        "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET idle_in_transaction_session_timeout"
        " = %L', current_database(), '60s'); END $$"
    )


def downgrade() -> None:
    op.execute(
        "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I RESET idle_in_transaction_session_timeout',"
        " current_database()); END $$"
    )
    op.drop_index(
        "uq_runs_occurrence_attempt",
        table_name="runs",
        postgresql_where=sa.text("origin <> 'manual'"),
    )
    op.drop_index(
        "ix_runs_unpublished",
        table_name="runs",
        postgresql_where=sa.text("state = 'queued' AND published_at IS NULL"),
    )
    op.drop_index(
        "ix_runs_running", table_name="runs", postgresql_where=sa.text("state = 'running'")
    )
    op.drop_index("ix_runs_history", table_name="runs")
    op.drop_index(
        "ix_runs_finished", table_name="runs", postgresql_where=sa.text("finished_at IS NOT NULL")
    )
    op.drop_index("ix_runs_due", table_name="runs", postgresql_where=sa.text("state = 'pending'"))
    op.drop_table("runs")
    op.drop_index(
        "uq_jobs_owner_idempotency_key",
        table_name="jobs",
        postgresql_where=sa.text("idempotency_key IS NOT NULL"),
    )
    op.drop_index("ix_jobs_owner_listing", table_name="jobs")
    op.drop_index("ix_jobs_listing", table_name="jobs")
    op.drop_table("jobs")
    op.drop_index("uq_users_username_lower", table_name="users")
    op.drop_table("users")

"""A GIN index on jobs.payload, for the dashboard's ``payload.<path>:<value>`` search.

The search compiles to JSONB containment (``payload @> '{"url": "https://x"}'``), which
``jsonb_path_ops`` answers from the index instead of reading every job's payload. The
payload never changes after submit, so the index does not stop the status updates from
being HOT. Built CONCURRENTLY: no lock on jobs while it builds.

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.get_context().autocommit_block():
        op.create_index(
            "ix_jobs_payload",
            "jobs",
            ["payload"],
            unique=False,
            postgresql_using="gin",
            postgresql_ops={"payload": "jsonb_path_ops"},
            postgresql_concurrently=True,
            if_not_exists=True,
        )


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.drop_index("ix_jobs_payload", table_name="jobs", postgresql_concurrently=True)

"""Two indexes for the dashboard: its payload search and its failures page.

- ``ix_jobs_payload``, GIN over jobs.payload: the search ``payload.<path>:<value>``
  compiles to JSONB containment (``payload @> '{"url": "https://x"}'``), which
  ``jsonb_path_ops`` answers from the index instead of reading every payload. The
  payload never changes after submit, so the status updates stay HOT.
- ``ix_runs_failures`` and ``ix_runs_owner_failures``, the finish time (and owner) of
  failed and lost runs only: the failures page reads the newest of them, an admin's
  across owners and a user's their own, without walking the succeeded ones. A run's
  state change is never HOT anyway (``state`` is in other indexes' predicates), so
  these cost only an entry each per failure.

Both are built CONCURRENTLY: no lock on jobs or runs while they build.

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FAILURES = sa.text("state IN ('failed', 'lost')")


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
        )
        for name, columns in (
            ("ix_runs_failures", ["finished_at"]),
            ("ix_runs_owner_failures", ["owner_id", "finished_at"]),
        ):
            op.create_index(
                name,
                "runs",
                columns,
                unique=False,
                postgresql_where=FAILURES,
                postgresql_concurrently=True,
            )


def downgrade() -> None:
    with op.get_context().autocommit_block():
        for name in ("ix_runs_owner_failures", "ix_runs_failures"):
            op.drop_index(name, table_name="runs", postgresql_concurrently=True)
        op.drop_index("ix_jobs_payload", table_name="jobs", postgresql_concurrently=True)

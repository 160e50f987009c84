"""The audit log: one row per change a user or operator makes.

``actor_id`` has no foreign key on purpose: the record of what a user did must outlive
the user. The indexes serve the listing (newest first, which the retention prune also
walks) and its three filters, each in the listing's order so a filtered page is one
index range scan; there are no others, since every change writes a row.

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ORDER = [sa.text("at DESC"), sa.text("id DESC")]


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("id", postgresql.UUID(), nullable=False),
        sa.Column("at", postgresql.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("actor_id", postgresql.UUID(), nullable=True),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("object_type", sa.Text(), nullable=False),
        sa.Column("object_id", sa.Text(), nullable=False),
        sa.Column("request_id", sa.Text(), nullable=True),
        sa.Column("details", postgresql.JSONB(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_events"),
    )
    op.create_index("ix_audit_events_listing", "audit_events", ORDER)
    op.create_index(
        "ix_audit_events_actor",
        "audit_events",
        [sa.text("actor_id"), *ORDER],
        postgresql_where=sa.text("actor_id IS NOT NULL"),
    )
    op.create_index("ix_audit_events_object", "audit_events", [sa.text("object_id"), *ORDER])
    op.create_index("ix_audit_events_action", "audit_events", [sa.text("action"), *ORDER])


def downgrade() -> None:
    op.drop_table("audit_events")

"""Accounts and tokens: folded usernames, token versions, deleted accounts.

- ``username_folded``: the NFKC + case-folded name, computed by Python and unique. It
  replaces the unique index on SQL ``lower(username)``, which folds ``İ`` differently
  from Python. Existing rows are folded here, in Python, with a frozen copy of
  ``shared.usernames.fold_username`` (a migration must not change when the code does).
- ``token_version``: carried in tokens as ``ver``; a password or role change raises it.
- ``deleted_at``: an account deleted while its run history is still being purged.

Revision ID: 0006
Revises: 0005
"""

import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _fold(username: str) -> str:
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", username).casefold())


def upgrade() -> None:
    op.add_column("users", sa.Column("username_folded", sa.Text(), nullable=True))
    op.add_column(
        "users", sa.Column("token_version", sa.Integer(), server_default="0", nullable=False)
    )
    op.add_column(
        "users", sa.Column("deleted_at", postgresql.TIMESTAMP(timezone=True), nullable=True)
    )
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, username FROM users")).all()
    folded = [{"id": row.id, "folded": _fold(row.username)} for row in rows]
    seen: dict[str, object] = {}
    for row in folded:
        if row["folded"] in seen:
            raise RuntimeError(
                f"users {seen[row['folded']]} and {row['id']} fold to the same name "
                f"{row['folded']!r}: rename one of them, then migrate again"
            )
        seen[row["folded"]] = row["id"]
    if folded:
        conn.execute(sa.text("UPDATE users SET username_folded = :folded WHERE id = :id"), folded)
    op.drop_index("uq_users_username_lower", table_name="users")
    op.create_index("uq_users_username_folded", "users", ["username_folded"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_users_username_folded", table_name="users")
    op.execute("DELETE FROM users WHERE deleted_at IS NOT NULL")
    op.create_index(
        "uq_users_username_lower", "users", [sa.literal_column("lower(username)")], unique=True
    )
    op.drop_column("users", "deleted_at")
    op.drop_column("users", "token_version")
    op.drop_column("users", "username_folded")

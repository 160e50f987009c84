"""random_page_cost 1.1 for the Chronos database (PostgreSQL's advice for cached or SSD
storage).

At the default 4, PostgreSQL read a whole 20,000-row runs or jobs table rather than probe
its primary key 500 times for a batch of ids, at twice the time: mark-queued of 500 runs
took 27.7 ms instead of 13.5, mark-published 17.6 instead of 7.8. Set on the database, not
per connection, so that it holds behind a connection pooler too.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET random_page_cost = %L',"
        " current_database(), '1.1'); END $$"
    )


def downgrade() -> None:
    op.execute(
        "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I RESET random_page_cost',"
        " current_database()); END $$"
    )

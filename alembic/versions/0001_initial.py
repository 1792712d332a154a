"""The initial schema: tasks, history, queues, workers, keys, the SQL API.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from alembic import op

from pgtask.store.migrate import execute_sql_file

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Frozen copies of sql/postgres/pgtask.sql and sql/mysql/pgtask.sql as of this revision
    # (the dialect picks one): once released, never edited. Later schema changes get a
    # revision (and frozen files) of their own.
    execute_sql_file(op, "0001_initial.sql")


def downgrade() -> None:
    raise NotImplementedError("pgtask migrations only go forward; drop schema pgtask instead")

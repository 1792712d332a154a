"""Features as users meet them: task types in the database, limits that deliver, operators' tools.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from alembic import op

from pgtask.store.migrate import execute_sql_file

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_sql_file(op, "0005_features.sql")


def downgrade() -> None:
    raise NotImplementedError("pgtask migrations only go forward; drop schema pgtask instead")

"""The hot path: claim and finish plans that no statistics can turn quadratic.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from alembic import op

from pgtask.store.migrate import execute_sql_file

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Postgres only: the MySQL schema has no such functions (its store issues the SQL).
    if op.get_bind().dialect.name == "postgresql":
        execute_sql_file(op, "0002_hot_path.sql")


def downgrade() -> None:
    raise NotImplementedError("pgtask migrations only go forward; drop schema pgtask instead")

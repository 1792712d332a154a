"""The worker under faults: refuse a lease shorter than 5 s; forget silent workers sooner.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from alembic import op

from pgtask.store.migrate import execute_sql_file

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Postgres only: on MySQL both rules live in the store's Python and SQL statements
    # (store/mysql/queue_settings.py, store/mysql/sql.py), not in the schema.
    if op.get_bind().dialect.name == "postgresql":
        execute_sql_file(op, "0003_worker_faults.sql")


def downgrade() -> None:
    raise NotImplementedError("pgtask migrations only go forward; drop schema pgtask instead")

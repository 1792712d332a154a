"""Security: only the owner passes "now"; bounds on run_at, payload depth, delays; least privilege.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from alembic import op

from pgtask.store.migrate import execute_sql_file

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Both: MySQL has no roles of pgtask's nor "now" parameters, only the enqueue bounds
    # (its stored procedure here, the store's Python in store/mysql/rules.py).
    execute_sql_file(op, "0004_security.sql")


def downgrade() -> None:
    raise NotImplementedError("pgtask migrations only go forward; drop schema pgtask instead")

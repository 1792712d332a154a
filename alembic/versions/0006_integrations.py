"""Fit where Python teams already are: the enqueuer's trace context travels with its task.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from alembic import op

from pgtask.store.migrate import execute_sql_file

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_sql_file(op, "0006_integrations.sql")


def downgrade() -> None:
    raise NotImplementedError("pgtask migrations only go forward; drop schema pgtask instead")

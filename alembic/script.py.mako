"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}
"""

from alembic import op

from pgtask.store.migrate import execute_sql_file

revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_sql_file(op, "postgres/migrations/${up_revision}.sql")


def downgrade() -> None:
    raise NotImplementedError("pgtask migrations only go forward")

"""Alembic environment for pgtask's own schema.

pgtask runs this programmatically (pgtask.store.migrate): the caller hands over an open
SQLAlchemy connection in config.attributes["connection"]. The version table is pgtask's own
(pgtask.alembic_version on Postgres, pgtask_alembic_version on MySQL), so it never collides
with the application's own alembic history.
"""

from alembic import context

from pgtask.store.migrate import version_table_options

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    # MySQL commits DDL as it goes; its migration files are idempotent instead.
    transactional_ddl=connection.dialect.name != "mysql",
    **version_table_options(connection.dialect.name),
)
with context.begin_transaction():
    context.run_migrations()

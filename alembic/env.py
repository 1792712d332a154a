"""Alembic environment for pgtask's own schema.

pgtask runs this programmatically (pgtask.store.migrate): the caller hands over an open
SQLAlchemy connection in config.attributes["connection"]. The version table lives in
schema pgtask, so it never collides with the application's own alembic history.
"""

from alembic import context

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    version_table="alembic_version",
    version_table_schema="pgtask",
    transactional_ddl=True,
)
with context.begin_transaction():
    context.run_migrations()

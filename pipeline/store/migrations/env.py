"""Alembic's entry: migrate on the connection ``db.open_store`` passes in (never a URL here)."""

from alembic import context

from pipeline.store.schema import VERSION_TABLE

connection = context.config.attributes["connection"]
context.configure(connection=connection, version_table=VERSION_TABLE, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()

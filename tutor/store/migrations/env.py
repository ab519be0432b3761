"""Alembic's entry point: always run from tutor.store.migrations.upgrade_to_head with an open connection."""

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()

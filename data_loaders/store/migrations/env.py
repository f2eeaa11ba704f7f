"""Alembic environment: runs migrations on the connection handed over by ``upgrade``."""

from alembic import context

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("Run the store's migrations through data_loaders.store.migrations.upgrade(engine).")
context.configure(connection=connection, target_metadata=None, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()

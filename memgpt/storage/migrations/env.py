"""Alembic environment: runs on the connection memgpt hands it (see memgpt.storage.db)."""

from alembic import context

from memgpt.storage.tables import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()

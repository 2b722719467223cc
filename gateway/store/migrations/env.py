"""Alembic environment: runs on the connection handed over by gateway.store.migrate."""

from __future__ import annotations

from alembic import context

from gateway.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only `gateway init` and tests drive migrations
    raise RuntimeError("run migrations through `gateway init`, which supplies the connection")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True,
                  compare_type=True)
with context.begin_transaction():
    context.run_migrations()

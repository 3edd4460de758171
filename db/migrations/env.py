"""Alembic environment: runs on the engine db.migrate hands in."""
from alembic import context

import db.models  # noqa: F401  (registers every table on Base.metadata)
from db.base import Base

engine = context.config.attributes["engine"]

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        compare_type=True,
        # SQLite cannot ALTER most things: rebuild the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    context.run_migrations()

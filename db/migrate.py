"""Alembic, driven from code: `hotline db upgrade` and the drift test use these."""
from __future__ import annotations

import warnings
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.exc import SAWarning

from db.base import Base

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # env.py takes this engine rather than building one from a URL string, so tests can
    # hand in an engine bound to a private PostgreSQL schema.
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    command.upgrade(alembic_config(engine), revision)


def downgrade(engine: Engine, revision: str) -> None:
    command.downgrade(alembic_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str:
    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


def drift(engine: Engine) -> list:
    """Differences between the migrated database and the models; empty when in step."""
    with engine.connect() as connection, warnings.catch_warnings():
        # SQLite's reflection cannot read an expression index (the 70% denominators' one
        # per month, on coalesce(district_id, 0)), so it is left out of the comparison
        # there; tests/test_workforce.py holds it to what it refuses.
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based index", SAWarning)
        warnings.filterwarnings("ignore", "autogenerate skipping metadata-specified expression-based index", UserWarning)
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, Base.metadata)

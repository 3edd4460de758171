"""Alembic environment: runs on the engine db.migrate hands in."""
from alembic import context
from sqlalchemy import text

import db.models  # noqa: F401  (registers every table on Base.metadata)
from db.base import Base

engine = context.config.attributes["engine"]


def run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        compare_type=True,
        # SQLite cannot ALTER most things: rebuild the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    context.run_migrations()


def run_on_sqlite() -> None:
    """A batch rebuild drops the old table, and with foreign keys enforced SQLite's DROP
    TABLE first deletes its rows: ON DELETE CASCADE would empty the tables that refer to
    it (a rebuilt `surveys` would take its survey attempts along) and any other reference
    would refuse the drop. So keys are off while migrating, as SQLite's own procedure for
    altering a table says (the pragma is a no-op inside a transaction: it is set before
    one begins), and every key is checked before the migration commits."""
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        connection.commit()
        try:
            with connection.begin():
                run(connection)
                broken = connection.execute(text("PRAGMA foreign_key_check")).all()
                if broken:
                    raise RuntimeError(f"the migration left rows whose foreign keys point nowhere: {broken[:10]}")
        finally:
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")
            connection.commit()


if engine.dialect.name == "sqlite":
    run_on_sqlite()
else:
    with engine.begin() as connection:
        run(connection)

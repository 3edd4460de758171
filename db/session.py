"""Engines and sessions. Knows nothing of Flask: the console, the IVR and the CLI share it."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy import Engine, Table, create_engine, event, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker


def make_engine(url: str, echo: bool = False, **kwargs) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, echo, **kwargs)
    return create_engine(parsed, echo=echo, pool_pre_ping=True, **kwargs)


def _sqlite_engine(url, echo: bool, **kwargs) -> Engine:
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    # Threads of the IVR server share the engine; SQLite serialises writers, so wait for
    # the lock instead of failing a caller's step with "database is locked".
    connect_args = {"check_same_thread": False, "timeout": 15}
    if url.database and url.database != ":memory:":
        # Readers do not block each other in WAL mode: let many call threads read at once.
        kwargs.setdefault("pool_size", 20)
        kwargs.setdefault("max_overflow", 80)
    engine = create_engine(url, echo=echo, connect_args=connect_args, **kwargs)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        if url.database and url.database != ":memory:":
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return engine


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    # expire_on_commit=False: handlers read back what they wrote after the transaction.
    return sessionmaker(engine, expire_on_commit=False)


def insert_for(session: Session, table: Table | type):
    """INSERT into `table` in the session's database's own dialect (SQLite or PostgreSQL),
    for its ON CONFLICT clauses."""
    return {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[session.get_bind().dialect.name](table)


def hold_row(session: Session, column, row_id: int) -> None:
    """Take the row's lock for the rest of the transaction by writing one of its columns
    (`column`, e.g. Provider.status) to itself: a row lock on PostgreSQL, the write lock on
    SQLite. Of two transactions doing the same check-then-write at once, the second waits
    here until the first commits, then its check sees what the first wrote."""
    model = column.class_
    session.execute(update(model).where(model.id == row_id).values({column.key: column})
                    .execution_options(synchronize_session=False))


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any exception."""
    with factory() as session, session.begin():
        yield session

"""Shared fixtures: settings on a temporary folder, migrated SQLite and PostgreSQL engines."""
from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from config import load_settings
from db import migrate
from db.reference import ensure_reference_data
from db.session import make_engine, make_session_factory, transaction

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.fixture
def settings(tmp_path: Path):
    database = tmp_path / "hotline.sqlite3"
    return load_settings(environ={}, overrides={"database.url": f"sqlite:///{database}", "app.data_dir": str(tmp_path)})


def _postgres_schema_engine() -> tuple[Engine, Engine, str]:
    admin = make_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
    try:
        with admin.connect():
            pass
    except OperationalError as exc:
        admin.dispose()
        pytest.skip(f"PostgreSQL at 127.0.0.1:5432 (database test) is unreachable: {exc.orig}")
    # A private schema per run keeps parallel runs and leftovers from colliding.
    schema = f"hotline_test_{uuid.uuid4().hex[:12]}"
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(POSTGRES_URL, connect_args={"options": f"-csearch_path={schema}"})
    return admin, engine, schema


def _drop_schema(admin: Engine, engine: Engine, schema: str) -> None:
    engine.dispose()
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def empty_engine(request, tmp_path: Path):
    """An engine on an empty database of each backend (tests parametrise it)."""
    backend = getattr(request, "param", "sqlite")
    if backend == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'empty.sqlite3'}")
        yield engine
        engine.dispose()
        return
    admin, engine, schema = _postgres_schema_engine()
    yield engine
    _drop_schema(admin, engine, schema)


@pytest.fixture(scope="session")
def _migrated_sqlite(tmp_path_factory):
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('db') / 'hotline.sqlite3'}")
    migrate.upgrade(engine)
    with transaction(make_session_factory(engine)) as session:
        ensure_reference_data(session)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def _migrated_postgres():
    admin, engine, schema = _postgres_schema_engine()
    migrate.upgrade(engine)
    with transaction(make_session_factory(engine)) as session:
        ensure_reference_data(session)
    yield engine
    _drop_schema(admin, engine, schema)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request) -> Engine:
    """A migrated database with reference data, on SQLite and on PostgreSQL."""
    return request.getfixturevalue(f"_migrated_{'postgres' if request.param == 'postgresql' else 'sqlite'}")


@pytest.fixture
def session(engine: Engine):
    """A session whose work is rolled back after the test, commits included."""
    connection = engine.connect()
    outer = connection.begin()
    db_session = Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
    yield db_session
    db_session.close()
    outer.rollback()
    connection.close()

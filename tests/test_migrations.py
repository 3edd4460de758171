import pytest
from sqlalchemy import inspect

from db import migrate
from db.base import Base

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.mark.parametrize("empty_engine", BACKENDS, indirect=True)
def test_empty_database_upgrades_to_head_without_drift(empty_engine):
    migrate.upgrade(empty_engine)
    assert migrate.current_revision(empty_engine) == migrate.head_revision()
    assert set(inspect(empty_engine).get_table_names()) >= set(Base.metadata.tables)
    assert migrate.drift(empty_engine) == []


@pytest.mark.parametrize("empty_engine", BACKENDS, indirect=True)
def test_downgrade_to_base_and_back(empty_engine):
    migrate.upgrade(empty_engine)
    migrate.downgrade(empty_engine, "base")
    assert set(inspect(empty_engine).get_table_names()) <= {"alembic_version"}
    migrate.upgrade(empty_engine)
    assert migrate.drift(empty_engine) == []


def test_drift_is_detected(empty_engine):
    """The drift check itself must be able to fail: a column the migrations lack."""
    from sqlalchemy import Column, Integer

    migrate.upgrade(empty_engine)
    table = Base.metadata.tables["callers"]
    extra = Column("shoe_size", Integer)
    table.append_column(extra)
    try:
        differences = migrate.drift(empty_engine)
    finally:
        table._columns.remove(extra)
    assert any(diff[0] == "add_column" and diff[3].name == "shoe_size" for diff in differences)


def test_the_base_score_migration_keeps_providers_categories_both_ways(tmp_path):
    """On SQLite a batch table copy would cascade-delete provider_categories: it must not happen."""
    from sqlalchemy import text

    from db import migrate
    from db.session import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'm.sqlite3'}")
    migrate.upgrade(engine, "0004")
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO service_categories (id, code, name_zh, name_en, sort_order, active) "
                                "VALUES (1, 'x', 'x', 'x', 0, 1)"))
        connection.execute(text("INSERT INTO providers (id, name, licence_number, phone, rating_count, capacity, status, "
                                "created_at, grade, rating_avg) VALUES (1, 'a', 'L1', '139', 5, 5, 'active', "
                                "'2026-01-01', 3, 4.5)"))
        connection.execute(text("INSERT INTO provider_categories VALUES (1, 1)"))
    migrate.upgrade(engine)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT base_score FROM providers")).scalar() == 33  # 3 stars, rating 4.5
        assert connection.execute(text("SELECT count(*) FROM provider_categories")).scalar() == 1
    migrate.downgrade(engine, "0004")
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM provider_categories")).scalar() == 1
    engine.dispose()

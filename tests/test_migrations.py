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

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


@pytest.mark.parametrize("empty_engine", BACKENDS, indirect=True)
def test_ivr_steps_move_onto_their_session_and_back(empty_engine):
    """0006 keeps every recorded step, in order, with its time, both ways."""
    import datetime as dt

    from sqlalchemy import select, text
    from sqlalchemy.orm import Session

    from db.models import IvrSession, IvrStep

    migrate.upgrade(empty_engine, "0005")
    with empty_engine.begin() as connection:
        connection.execute(text("INSERT INTO calls (id, uniqueid, direction, started_at, outcome) "
                                "VALUES (1, 'u1', 'inbound', '2026-11-27 02:00:00', 'answered')"))
        connection.execute(text("INSERT INTO ivr_sessions (id, call_id, script, started_at, outcome) VALUES "
                                "(1, 1, 'ivr', '2026-11-27 02:00:00', 'routed'), "
                                "(2, 1, 'ivr', '2026-11-27 02:01:00', 'abandoned')"))
        connection.execute(text('INSERT INTO ivr_steps (session_id, seq, node, prompt, "key", at) VALUES '
                                "(1, 1, 'main', 'main_menu', '1', '2026-11-27 02:00:09'), "
                                "(1, 0, 'welcome', 'welcome', '2', '2026-11-27 02:00:04.250000'), "
                                "(2, 0, 'status', NULL, 'hangup', '2026-11-27 02:01:30')"))
    migrate.upgrade(empty_engine)
    with Session(empty_engine) as session:
        walks = {s.id: s.walk for s in session.scalars(select(IvrSession))}
    utc = dt.timezone.utc
    assert walks == {
        1: [IvrStep("welcome", "welcome", "2", dt.datetime(2026, 11, 27, 2, 0, 4, 250000, tzinfo=utc)),
            IvrStep("main", "main_menu", "1", dt.datetime(2026, 11, 27, 2, 0, 9, tzinfo=utc))],
        2: [IvrStep("status", None, "hangup", dt.datetime(2026, 11, 27, 2, 1, 30, tzinfo=utc))],
    }
    migrate.downgrade(empty_engine, "0005")
    with empty_engine.connect() as connection:
        rows = connection.execute(text('SELECT session_id, seq, node, "key" FROM ivr_steps ORDER BY session_id, seq')).all()
    assert [tuple(row) for row in rows] == [(1, 0, "welcome", "2"), (1, 1, "main", "1"), (2, 0, "status", "hangup")]


@pytest.mark.parametrize("empty_engine", BACKENDS, indirect=True)
def test_downgrading_0009_gives_back_the_end_of_each_wrap_up_that_ran_its_course(empty_engine):
    """Before 0009 a wrap-up's end was an "available" row: downgrading writes those rows,
    and none for a wrap-up cut short (a pause taken during it)."""
    import datetime as dt

    from sqlalchemy import text
    from sqlalchemy.orm import Session

    from db.models import OperatorState, OperatorStateChange, PauseReason, User

    migrate.upgrade(empty_engine)
    t = lambda seconds: dt.datetime(2026, 11, 27, 2, 0, tzinfo=dt.timezone.utc) + dt.timedelta(seconds=seconds)  # noqa: E731
    with Session(empty_engine) as session, session.begin():
        session.add(user := User(username="op", display_name="op", role="operator", password_hash="x", sip_extension="1001"))
        session.flush()
        session.add_all([
            OperatorStateChange(user_id=user.id, state=OperatorState.WRAP_UP, at=t(0), ends_at=t(15), source="ami"),
            OperatorStateChange(user_id=user.id, state=OperatorState.ON_CALL, at=t(100), source="ami"),
            OperatorStateChange(user_id=user.id, state=OperatorState.WRAP_UP, at=t(200), ends_at=t(215), source="ami"),
            OperatorStateChange(user_id=user.id, state=OperatorState.PAUSED, reason=PauseReason.MEAL, at=t(205),
                                source="console"),
        ])
    migrate.downgrade(empty_engine, "0008")
    with empty_engine.connect() as connection:
        rows = connection.execute(text("SELECT state, source FROM operator_state_changes ORDER BY at")).all()
    assert [tuple(row) for row in rows] == [("wrap_up", "ami"), ("available", "ami"), ("on_call", "ami"),
                                            ("wrap_up", "ami"), ("paused", "console")]


@pytest.mark.parametrize("empty_engine", BACKENDS, indirect=True)
def test_0014_keeps_survey_attempts_and_call_backs_and_gives_each_survey_its_requests_caller(empty_engine):
    """On SQLite 0014 rebuilds `surveys`: dropping the old table must neither cascade-delete
    its attempts nor be refused for the call-back that names a survey. A survey whose
    request's caller was corrected since takes that caller, as the new key requires."""
    from sqlalchemy import text

    migrate.upgrade(empty_engine, "0013")
    at = "'2026-11-27 02:00:00'"
    with empty_engine.begin() as connection:
        for statement in (
            "INSERT INTO service_categories (id, code, name_zh, name_en, sort_order, active) "
            "VALUES (1, 'household', '家政', 'Housekeeping', 0, true)",
            "INSERT INTO callers (id, phone, phone_kind, do_not_call, created_at) VALUES "
            f"(1, '13800138000', 'mobile', false, {at}), (2, '13912345678', 'mobile', false, {at})",
            "INSERT INTO service_requests (id, number, caller_id, category_id, description, channel, status, priority, "
            f"created_at, updated_at) VALUES (1, 'HY1', 1, 1, '', 'phone', 'surveyed', 'normal', {at}, {at}), "
            f"(2, 'HY2', 1, 1, '', 'phone', 'completed', 'normal', {at}, {at})",
            # Request 2's caller was corrected to caller 2 after its survey was queued for caller 1.
            "INSERT INTO surveys (id, request_id, caller_id, language, due_at, status, attempt_count, created_at) VALUES "
            f"(1, 1, 1, 'cmn', {at}, 'completed', 2, {at}), (2, 2, 1, 'cmn', {at}, 'scheduled', 0, {at})",
            "UPDATE service_requests SET caller_id = 2 WHERE id = 2",
            f"INSERT INTO survey_attempts (survey_id, started_at, action_id) VALUES (1, {at}, 'a1'), (1, {at}, 'a2')",
            "INSERT INTO callback_tasks (caller_id, phone, reason, request_id, survey_id, due_at, status, attempts, "
            f"created_at) VALUES (1, '13800138000', 'survey_follow_up', 1, 1, {at}, 'pending', 0, {at})",
        ):
            connection.execute(text(statement))

    def counts() -> tuple:
        with empty_engine.connect() as connection:
            return tuple(connection.execute(text(f"SELECT count(*) FROM {table}")).scalar()
                         for table in ("surveys", "survey_attempts", "callback_tasks"))

    migrate.upgrade(empty_engine)
    assert counts() == (2, 2, 1)
    with empty_engine.connect() as connection:
        assert dict(connection.execute(text("SELECT id, caller_id FROM surveys")).all()) == {1: 1, 2: 2}
    assert migrate.drift(empty_engine) == []
    migrate.downgrade(empty_engine, "0013")
    assert counts() == (2, 2, 1)
    migrate.upgrade(empty_engine)
    assert counts() == (2, 2, 1)


@pytest.mark.parametrize("empty_engine", BACKENDS, indirect=True)
def test_0021_drops_the_kpi_rollups_made_without_the_language_match(empty_engine):
    from sqlalchemy import text

    migrate.upgrade(empty_engine, "0019")
    with empty_engine.begin() as connection:
        connection.execute(text("INSERT INTO kpi_daily_tallies (day, dimension, member, tally, built_at) "
                                "VALUES ('2026-11-01', 'all', '', '{\"inbound\": 3}', '2026-11-05 00:00:00')"))
    migrate.upgrade(empty_engine)
    with empty_engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM kpi_daily_tallies")).scalar() == 0


# Where a figure of the industry report can move: a batch rebuild of one of these tables
# on SQLite (a copy, then a rename) drops its triggers, and the report would then read
# stale tallies; a migration that rebuilds one must create its triggers again.
REPORT_TALLY_TRIGGERS = {"service_requests": 3, "dispatches": 3, "surveys": 3}


@pytest.mark.parametrize("empty_engine", BACKENDS, indirect=True)
def test_the_report_tallies_triggers_are_on_their_tables_at_head(empty_engine):
    from sqlalchemy import text

    migrate.upgrade(empty_engine)
    query = ("SELECT tbl_name, count(*) FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'report_tally_%' "
             "GROUP BY tbl_name" if empty_engine.dialect.name == "sqlite" else
             "SELECT event_object_table, count(DISTINCT trigger_name) FROM information_schema.triggers "
             "WHERE trigger_name LIKE 'report_tally_%' AND trigger_schema = current_schema() GROUP BY event_object_table")
    with empty_engine.connect() as connection:
        assert dict(connection.execute(text(query)).all()) == REPORT_TALLY_TRIGGERS
    migrate.downgrade(empty_engine, "0021")
    with empty_engine.connect() as connection:
        assert dict(connection.execute(text(query)).all()) == {}


@pytest.mark.parametrize("empty_engine", BACKENDS, indirect=True)
def test_0022_keeps_the_last_entered_of_duplicate_denominators(empty_engine):
    """Double submits stored before 0022: one row a key stays, the last entered (the
    same time: the later row), the whole city's (NULL district) included."""
    from sqlalchemy import text

    migrate.upgrade(empty_engine, "0021")
    rows = [  # (id, measure, district, value, entered at)
        (1, "demand", None, 100, "2026-11-02 01:00:00"), (2, "demand", None, 120, "2026-11-03 01:00:00"),
        (3, "demand", None, 110, "2026-11-01 01:00:00"),
        (4, "workers", 1, 30, "2026-11-02 01:00:00"), (5, "workers", 1, 35, "2026-11-02 01:00:00"),
        (6, "workers", 2, 40, "2026-11-02 01:00:00"), (7, "businesses", None, 9, "2026-11-02 01:00:00"),
    ]
    with empty_engine.begin() as connection:
        connection.execute(text("INSERT INTO districts (id, code, name_zh, name_en, sort_order) VALUES "
                                "(1, 'yuancheng', '源城区', 'Yuancheng', 1), (2, 'dongyuan', '东源县', 'Dongyuan', 2)"))
        for row in rows:
            connection.execute(text("INSERT INTO seventy_denominators (id, measure, district_id, month, value, entered_at) "
                                    "VALUES (:id, :measure, :district, '2026-11-01', :value, :at)"),
                               dict(zip(("id", "measure", "district", "value", "at"), row)))
    migrate.upgrade(empty_engine)
    with empty_engine.connect() as connection:
        kept = connection.execute(text("SELECT id, value FROM seventy_denominators ORDER BY id")).all()
    assert [tuple(row) for row in kept] == [(2, 120), (5, 35), (6, 40), (7, 9)]


@pytest.mark.parametrize("empty_engine", BACKENDS, indirect=True)
def test_0027_lets_a_callback_be_for_a_lost_call_and_still_refuses_nonsense(empty_engine):
    """The reason's CHECK constraint takes 'lost_call' (SQLite by copying the table, PostgreSQL
    in place); tasks already there stay, and an unknown reason is refused as before."""
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    def add(connection, reason: str) -> None:
        connection.execute(text("INSERT INTO callback_tasks (phone, reason, due_at, status, attempts, created_at) "
                                "VALUES ('13800138000', :reason, '2026-11-30 02:00:00+00', 'pending', 0, "
                                "'2026-11-30 02:00:00+00')"), {"reason": reason})

    migrate.upgrade(empty_engine, "0026")
    with empty_engine.begin() as connection:
        add(connection, "voicemail")
    with pytest.raises(IntegrityError), empty_engine.begin() as connection:
        add(connection, "lost_call")  # not yet a reason
    migrate.upgrade(empty_engine)
    with empty_engine.begin() as connection:
        add(connection, "lost_call")
    with pytest.raises(IntegrityError), empty_engine.begin() as connection:
        add(connection, "lost_calls")
    with empty_engine.connect() as connection:
        assert connection.execute(text("SELECT reason FROM callback_tasks ORDER BY id")).scalars().all() == [
            "voicemail", "lost_call"]
    migrate.downgrade(empty_engine, "0026")  # back: the lost calls' callbacks become "other" again
    with empty_engine.connect() as connection:
        assert connection.execute(text("SELECT reason FROM callback_tasks ORDER BY id")).scalars().all() == [
            "voicemail", "other"]

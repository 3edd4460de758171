"""The IVR's call log: bulk writes on both databases, repeat passes, and the spool."""
import datetime as dt
import json
import time
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, func, select

from db.models import (
    Call, CallbackTask, Caller, CallOutcome, IvrOutcome, IvrSession, IvrStep, Language, PhoneKind,
    RequestChannel, ServiceRequest,
)
from db.phones import Phone
from conftest import wait_until
from db.session import make_session_factory
from ivr.call_log import CallLogStore, IvrCallRecord, save_calls
from ivr.call_log_process import CallLogProcess

SHANGHAI = ZoneInfo("Asia/Shanghai")
T0 = dt.datetime(2026, 11, 27, 2, 0, tzinfo=dt.timezone.utc)


def record(uniqueid, phone="13811112222", **fields):
    defaults = dict(
        uniqueid=uniqueid, linkedid=uniqueid, did="4008300762", caller_number=phone,
        phone=Phone(phone, PhoneKind.MOBILE) if phone else None, script="ivr", started_at=T0,
        language="yue", language_chosen=True, ended_at=T0 + dt.timedelta(seconds=30),
        outcome=IvrOutcome.ROUTED, end_node="medical", path=["welcome", "main", "family_services", "medical"],
        steps=[IvrStep("welcome", "welcome", "2", T0), IvrStep("main", "main_menu", "1", T0)],
        result={"HOTLINE_QUEUE": "general"}, queue="general",
    )
    return IvrCallRecord(**{**defaults, **fields})


def test_a_batch_is_written_whole(session):
    records = [
        record("u1"),
        record("u2", language_chosen=False, language="cmn", outcome=IvrOutcome.ABANDONED, queue=None),  # same caller again
        record("u3", phone=None, outcome=IvrOutcome.VOICEMAIL, voicemail="/var/voicemail/u3.wav", queue=None),
        record("u4", phone="07623660360", outcome=IvrOutcome.CALLBACK, callback_due=T0 + dt.timedelta(hours=10),
               business_open=False, queue=None),
    ]
    save_calls(session, records, SHANGHAI)
    caller = session.scalar(select(Caller).where(Caller.phone == "13811112222"))
    assert caller.language is Language.CANTONESE  # chosen on u1; u2 defaulted and does not overwrite
    calls = {c.uniqueid: c for c in session.scalars(select(Call))}
    assert calls["u1"].caller_id == caller.id and calls["u1"].queue == "general"
    assert calls["u2"].outcome is CallOutcome.ABANDONED_IN_IVR
    assert calls["u3"].caller_id is None and calls["u3"].outcome is CallOutcome.VOICEMAIL
    assert session.scalar(select(func.count(IvrSession.id))) == 4
    assert sum(len(s.walk) for s in session.scalars(select(IvrSession))) == 8
    voicemail = session.scalar(select(ServiceRequest).where(ServiceRequest.channel == RequestChannel.VOICEMAIL))
    assert voicemail.caller_id is None and voicemail.voicemail_file == "/var/voicemail/u3.wav"
    task = session.scalar(select(CallbackTask))
    assert task.phone == "07623660360" and task.due_at == T0 + dt.timedelta(hours=10)


def test_a_second_pass_on_the_same_call_adds_to_it(session):
    save_calls(session, [record("same", path=["welcome", "main"], outcome=IvrOutcome.TO_OPERATOR)], SHANGHAI)
    save_calls(session, [record("same", path=["status"], outcome=IvrOutcome.ABANDONED, queue=None)], SHANGHAI)
    call = session.scalar(select(Call).where(Call.uniqueid == "same"))
    session.refresh(call)
    assert call.ivr_path == "welcome>main>status"
    assert call.queue == "general"
    assert call.outcome is CallOutcome.ABANDONED_IN_IVR
    assert session.scalar(select(func.count(IvrSession.id)).where(IvrSession.call_id == call.id)) == 2


def test_two_passes_of_one_call_in_one_batch_keep_their_own_steps(session):
    first = record("twice", path=["welcome"], steps=[IvrStep("welcome", "welcome", "0", T0)],
                   outcome=IvrOutcome.TO_OPERATOR)
    again = record("twice", path=["voicemail"], steps=[IvrStep("voicemail", "vm_prompt", "recorded", T0),
                                                     IvrStep("voicemail", None, "hangup", T0)],
                   outcome=IvrOutcome.ABANDONED, queue=None)
    others = [record(f"other-{n}", phone=f"136{n:08d}") for n in range(3)]
    save_calls(session, [others[0], first, others[1], again, others[2]], SHANGHAI)
    call = session.scalar(select(Call).where(Call.uniqueid == "twice"))
    passes = session.scalars(select(IvrSession).where(IvrSession.call_id == call.id).order_by(IvrSession.id)).all()
    keys = [[step.key for step in p.walk] for p in passes]
    assert sorted(keys) == [["0"], ["recorded", "hangup"]]
    assert session.scalar(select(func.count(IvrSession.id)).join(Call).where(Call.uniqueid.like("other-%"))) == 3


def test_records_survive_json():
    original = record("j1", callback_due=T0, voicemail="/x.wav")
    assert IvrCallRecord.from_json(original.to_json()) == original


def test_a_record_that_cannot_be_written_is_spooled_and_replayed(tmp_path, ivr_db, monkeypatch):
    import ivr.call_log

    factory = make_session_factory(ivr_db)
    spool = tmp_path / "spool" / "ivr-calls.jsonl"
    real = ivr.call_log.save_calls

    def database_down_for_u9(session, records, tz):
        if any(r.uniqueid == "u9" for r in records):
            raise ConnectionError("database unreachable")
        return real(session, records, tz)

    monkeypatch.setattr(ivr.call_log, "save_calls", database_down_for_u9)
    CallLogStore(factory, SHANGHAI, spool).write_batch([record(uniqueid) for uniqueid in ("u8", "u9", "u10")])
    assert spool.exists() and '"u9"' in spool.read_text()
    with factory() as session:
        assert set(session.scalars(select(Call.uniqueid).where(Call.uniqueid.like("u%")))) == {"u8", "u10"}

    monkeypatch.setattr(ivr.call_log, "save_calls", real)  # the database is back
    CallLogStore(factory, SHANGHAI, spool).replay_spool()  # as the writer does when it starts
    assert not spool.exists()
    with factory() as session:
        assert session.scalar(select(func.count(Call.id)).where(Call.uniqueid == "u9")) == 1


def _writer(engine, tmp_path, **options) -> CallLogProcess:
    return CallLogProcess(str(engine.url), "Asia/Shanghai", tmp_path / "spool.jsonl", **options).start()


def test_many_records_are_written_in_few_transactions(ivr_db, tmp_path):
    factory = make_session_factory(ivr_db)
    writer = _writer(ivr_db, tmp_path)
    for n in range(400):
        writer.submit(record(f"bulk-{n}", phone=f"139{n:08d}"))
    assert writer.flush(timeout=20)
    writer.stop()
    with factory() as session:
        assert session.scalar(select(func.count(IvrSession.id)).join(Call).where(Call.uniqueid.like("bulk-%"))) == 400


def test_the_writer_gathers_calls_into_few_transactions_and_flush_does_not_wait(ivr_db, tmp_path):
    writer = _writer(ivr_db, tmp_path, linger=0.3)
    for n in range(200):  # calls ending one after another, as on a busy line
        writer.submit(record(f"gather-{n}", phone=f"137{n:08d}"))
        time.sleep(0.001)
    with make_session_factory(ivr_db)() as session:
        written = lambda: session.scalar(  # noqa: E731
            select(func.count(IvrSession.id)).join(Call).where(Call.uniqueid.like("gather-%")))
        assert wait_until(lambda: written() == 200, timeout=10)
    assert writer._next_batch <= 3, writer._next_batch  # batches handed over: not a transaction a call
    writer.linger = 30.0
    writer.submit(record("urgent"))
    started = time.monotonic()
    assert writer.flush(timeout=5)  # flush does not sit out the linger
    assert time.monotonic() - started < 2
    writer.stop()


# The writer's faster conversions store exactly what SQLAlchemy's own would ------------------

import json  # noqa: E402

import pytest  # noqa: E402
from hypothesis import given, settings, strategies as st  # noqa: E402
from sqlalchemy import JSON  # noqa: E402
from psycopg.adapt import PyFormat, Transformer  # noqa: E402
from sqlalchemy.dialects import sqlite  # noqa: E402
from sqlalchemy.dialects.postgresql import psycopg as sqlalchemy_psycopg  # noqa: E402

from db.base import UTCDateTime  # noqa: E402
from db.models import steps_json  # noqa: E402
from ivr.call_log import _bind_processor  # noqa: E402

_SQLITE, _PSYCOPG, _PSYCOPG_TEXT = sqlite.dialect(), sqlalchemy_psycopg.dialect(), Transformer()
_AWARE_TIMES = st.datetimes(min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30),
                            timezones=st.sampled_from([dt.timezone.utc, SHANGHAI, dt.timezone(dt.timedelta(hours=-9, minutes=-30))]))
_WORDS = st.one_of(st.none(), st.text(max_size=12), st.sampled_from(["main", "1", "timeout", "家政", '"', "\\", "\n"]))
_STEPS = st.lists(st.builds(IvrStep, st.text(max_size=12), _WORDS, _WORDS, _AWARE_TIMES), max_size=6)


@settings(max_examples=300, deadline=None)
@given(_STEPS)
def test_steps_json_is_what_the_json_column_stores(steps):
    as_json = [step.to_json() for step in steps]
    assert steps_json(steps) == JSON().dialect_impl(_SQLITE).bind_processor(_SQLITE)(as_json)
    # psycopg is handed a wrapper and dumps it itself
    wrapped = JSON().dialect_impl(_PSYCOPG).bind_processor(_PSYCOPG)(as_json)
    assert steps_json(steps).encode() == bytes(_PSYCOPG_TEXT.get_dumper(wrapped, PyFormat.TEXT).dump(wrapped))
    assert [IvrStep.from_json(step) for step in json.loads(steps_json(steps))] == [
        IvrStep.from_json(step) for step in as_json]


@settings(max_examples=300, deadline=None)
@given(_AWARE_TIMES)
def test_the_sqlite_time_conversion_is_sqlalchemys(moment):
    dialect = sqlite.dialect()
    type_ = UTCDateTime().dialect_impl(dialect)
    assert _bind_processor(type_, dialect)(moment) == type_.bind_processor(dialect)(moment)


def test_the_sqlite_time_conversion_refuses_naive_times():
    dialect = sqlite.dialect()
    with pytest.raises(ValueError):
        _bind_processor(UTCDateTime().dialect_impl(dialect), dialect)(dt.datetime(2026, 11, 27, 10, 0))


def test_steps_and_times_read_back_as_written(session):
    late = dt.datetime(2026, 11, 27, 23, 59, 59, 999999, tzinfo=SHANGHAI)
    steps = [IvrStep("welcome", None, "timeout", late), IvrStep("main", "main_menu", '"#"', T0)]
    save_calls(session, [record("times", started_at=late, ended_at=late + dt.timedelta(microseconds=1), steps=steps)],
               SHANGHAI)
    stored = session.scalar(select(IvrSession).join(Call).where(Call.uniqueid == "times"))
    session.refresh(stored)
    assert stored.walk == steps
    assert stored.started_at == late and stored.ended_at == late + dt.timedelta(microseconds=1)


# One bad record costs only itself ---------------------------------------------------------------


def poison(uniqueid):
    """What an adversary once got stored: a 40-digit DNID (calls.did is VARCHAR(32)) and a
    lone surrogate as a key, both refused by PostgreSQL."""
    return record(uniqueid, did="4" * 40, steps=[IvrStep("main", "main_menu", "\ud800", T0)])


@pytest.mark.postgres
def test_a_record_the_database_refuses_costs_only_itself(_migrated_postgres, tmp_path, caplog):
    factory = make_session_factory(_migrated_postgres)
    spool = tmp_path / "ivr-calls.jsonl"
    writer = CallLogStore(factory, SHANGHAI, spool)
    writer.write_batch([record("poison-0"), poison("poison-1"), record("poison-2", phone="13811113333")])
    with factory() as session:
        written = set(session.scalars(select(Call.uniqueid).where(Call.uniqueid.like("poison-%"))))
        session.execute(delete(Call).where(Call.uniqueid.like("poison-%")))  # the schema is shared
        session.commit()
    assert written == {"poison-0", "poison-2"}
    assert not spool.exists()  # it would only fail again at every start
    kept = writer.rejected.read_text(encoding="ascii").splitlines()
    assert len(kept) == 1 and IvrCallRecord.from_json(json.loads(kept[0])) == poison("poison-1")
    assert "poison-1 was refused by the database" in caplog.text


def test_any_text_can_be_spooled_and_read_back(tmp_path):
    spool = tmp_path / "ivr-calls.jsonl"
    bad = record("s1", caller_number="\udfff\ud800\x00陈", steps=[IvrStep("main", None, "\udc80", T0)])
    CallLogStore.spool_records(spool, [bad, record("s2")])
    lines = spool.read_text(encoding="ascii").splitlines()
    assert [IvrCallRecord.from_json(json.loads(line)) for line in lines] == [bad, record("s2")]


def test_a_spool_line_that_cannot_be_read_is_set_aside_and_the_rest_replayed(tmp_path, ivr_db):
    factory = make_session_factory(ivr_db)
    spool = tmp_path / "ivr-calls.jsonl"
    CallLogStore.spool_records(spool, [record("r1")])
    with spool.open("a") as handle:
        handle.write('{"uniqueid": "half a rec\n')
    CallLogStore.spool_records(spool, [record("r2", phone="13811114444")])
    writer = CallLogStore(factory, SHANGHAI, spool)
    writer.replay_spool()
    with factory() as session:
        assert set(session.scalars(select(Call.uniqueid).where(Call.uniqueid.in_(["r1", "r2"])))) == {"r1", "r2"}
    assert not spool.exists()
    assert "half a rec" in writer.rejected.read_text()


# Calls nothing followed after the IVR -------------------------------------------------------------


def test_calls_nothing_followed_after_the_ivr_are_settled(session):
    """`hotline call` without Asterisk, or an IVR error's fallback with no AMI link: the row
    stayed in progress, with no end, forever."""
    from ivr.call_log import settle_unfollowed_calls

    end = T0 + dt.timedelta(seconds=30)
    save_calls(session, [
        record("settle-routed"),
        record("settle-error", phone="13811115555", outcome=IvrOutcome.ERROR, queue=None),
        record("settle-recent", phone="13811116666", ended_at=T0 + dt.timedelta(minutes=9)),
        record("settle-followed", phone="13811117777"),
        record("settle-hung-up", phone="13811118888", outcome=IvrOutcome.ABANDONED, queue=None),
    ], SHANGHAI)
    followed = session.scalar(select(Call).where(Call.uniqueid == "settle-followed"))
    followed.queue_entered_at = end  # the AMI link saw it join its queue
    session.flush()

    settled = settle_unfollowed_calls(session, T0 + dt.timedelta(minutes=15), dt.timedelta(minutes=10))
    session.expire_all()
    calls = {c.uniqueid: c for c in session.scalars(select(Call).where(Call.uniqueid.like("settle-%")))}
    assert settled >= 2  # (on PostgreSQL the schema is shared: other tests' calls may be settled too)
    assert (calls["settle-routed"].outcome, calls["settle-routed"].ended_at) == (CallOutcome.FAILED, end)
    assert (calls["settle-error"].outcome, calls["settle-error"].ended_at) == (CallOutcome.FAILED, end)
    assert (calls["settle-recent"].outcome, calls["settle-recent"].ended_at) == (CallOutcome.IN_PROGRESS, None)
    assert (calls["settle-followed"].outcome, calls["settle-followed"].ended_at) == (CallOutcome.IN_PROGRESS, None)
    assert calls["settle-hung-up"].outcome is CallOutcome.ABANDONED_IN_IVR
    # Later: the recent one too; the call the AMI link follows stays its to end.
    settle_unfollowed_calls(session, T0 + dt.timedelta(minutes=30), dt.timedelta(minutes=10))
    session.expire_all()
    assert session.scalar(select(Call.outcome).where(Call.uniqueid == "settle-recent")) is CallOutcome.FAILED
    assert session.scalar(select(Call.outcome).where(Call.uniqueid == "settle-followed")) is CallOutcome.IN_PROGRESS

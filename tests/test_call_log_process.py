"""The call-log writer in its own process: written, handed over again after a crash, spooled at stop."""
import os
import signal
import time

import pytest

from sqlalchemy import delete, func, select

from conftest import wait_until
from db.models import Call, IvrSession
from db.session import make_session_factory
from ivr.call_log import rejected_file
from ivr.call_log_process import CallLogProcess
from test_call_log import poison, record


def _written(engine, prefix):
    with make_session_factory(engine)() as session:
        return session.scalar(select(func.count(IvrSession.id)).join(Call).where(Call.uniqueid.like(f"{prefix}%")))


def _writer(engine, tmp_path, **options):
    return CallLogProcess(str(engine.url), "Asia/Shanghai", tmp_path / "spool.jsonl", **options).start()


def test_records_are_written_by_the_child_process(ivr_db, tmp_path):
    writer = _writer(ivr_db, tmp_path)
    try:
        assert writer._child.pid != os.getpid()
        for n in range(50):
            writer.submit(record(f"proc-{n}", phone=f"135{n:08d}"))
        assert writer.flush(timeout=20)
        assert _written(ivr_db, "proc-") == 50
    finally:
        writer.stop()


def test_batches_go_after_the_linger_or_at_once_when_full(ivr_db, tmp_path):
    writer = _writer(ivr_db, tmp_path, linger=0.3, max_batch=5)
    try:
        writer.submit(record("linger-0"))
        assert _written(ivr_db, "linger-") == 0  # still gathering
        assert wait_until(lambda: _written(ivr_db, "linger-") == 1, timeout=10)
        writer.linger = 3600.0  # from the next batch on: only a full batch goes
        time.sleep(0.5)
        for n in range(1, 5):
            writer.submit(record(f"linger-{n}", phone=f"136{n:08d}"))
        time.sleep(0.5)
        assert _written(ivr_db, "linger-") == 1
        writer.submit(record("linger-5", phone="13600000005"))  # the fifth fills the batch
        assert wait_until(lambda: _written(ivr_db, "linger-") == 6, timeout=10)
    finally:
        writer.stop()


def test_a_killed_writer_process_is_replaced_and_loses_nothing(ivr_db, tmp_path):
    writer = _writer(ivr_db, tmp_path, linger=0.05)
    try:
        writer.submit(record("crash-0"))
        assert writer.flush(timeout=20)
        first = writer._child.pid
        os.kill(first, signal.SIGSTOP)  # hold it mid-life, give it a batch, then kill it
        for n in range(1, 21):
            writer.submit(record(f"crash-{n}", phone=f"134{n:08d}"))
        time.sleep(0.3)  # the batch is sent, not acknowledged
        os.kill(first, signal.SIGKILL)
        assert writer.flush(timeout=30)
        assert writer._child.pid != first
        assert _written(ivr_db, "crash-") == 21
    finally:
        writer.stop()


def test_what_cannot_be_handed_over_at_stop_goes_to_the_spool(ivr_db, tmp_path):
    writer = _writer(ivr_db, tmp_path)
    os.kill(writer._child.pid, signal.SIGSTOP)  # a writer that never answers
    writer.submit(record("stuck-1"))
    writer.stop(timeout=1.0)
    spool = tmp_path / "spool.jsonl"
    assert '"stuck-1"' in spool.read_text()
    # The next writer writes it as it starts.
    _writer(ivr_db, tmp_path).stop()
    assert _written(ivr_db, "stuck-") == 1


def test_the_ivr_writes_its_call_log_from_a_process(ivr_db, tmp_path, clock):
    from config import load_settings
    from emulator.agi_channel import CallSpec, parse_keys
    from emulator.fastagi_client import place_call
    from ivr.handlers import handler_table
    from ivr.server import FastAGIServer
    from ivr.services import IvrServices

    settings = load_settings(environ={}, overrides={"database.url": str(ivr_db.url), "app.data_dir": str(tmp_path)})
    services = IvrServices.from_settings(settings, make_session_factory(ivr_db), clock=clock)
    server = FastAGIServer(handler_table(services), services.fallback_variables(), port=0)
    server.on_stopped.append(services.close)
    server.start()
    try:
        assert isinstance(services.call_log, CallLogProcess)
        transcript = place_call(CallSpec(port=server.address[1], events=parse_keys("1 1 1")))
        assert transcript.variables["HOTLINE_CATEGORY"] == "household"
        assert wait_until(lambda: _written(ivr_db, transcript.variables["HOTLINE_CALL_ID"]) == 1, timeout=20)
    finally:
        server.stop(grace=2)


def _schema_url(engine) -> str:
    """The engine's URL with its schema, for a child process that makes its own engine."""
    with engine.connect() as connection:
        schema = connection.exec_driver_sql("SELECT current_schema()").scalar()
    url = engine.url.update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


@pytest.mark.postgres
def test_a_record_the_database_refuses_does_not_stop_the_writer_process(_migrated_postgres, tmp_path, caplog):
    """Once, such a record killed the writer (its spool could not encode it), and every
    writer started after it was handed the same batch: no call was written again."""
    writer = CallLogProcess(_schema_url(_migrated_postgres), "Asia/Shanghai", tmp_path / "spool.jsonl",
                            linger=0.05).start()
    try:
        first = writer._child.pid
        writer.submit(record("refused-0"))
        writer.submit(poison("refused-1"))
        writer.submit(record("refused-2", phone="13411112222"))
        assert writer.flush(timeout=20)
        for n in range(3, 13):
            writer.submit(record(f"refused-{n}", phone=f"134{n:08d}"))
        assert writer.flush(timeout=20)
        assert writer._child.pid == first
        assert _written(_migrated_postgres, "refused-") == 12
    finally:
        writer.stop()
        with make_session_factory(_migrated_postgres)() as session:
            session.execute(delete(Call).where(Call.uniqueid.like("refused-%")))  # the schema is shared
            session.commit()
    assert '"refused-1"' in rejected_file(tmp_path / "spool.jsonl").read_text()
    assert not (tmp_path / "spool.jsonl").exists()


def _die_unless_in(pid: int) -> str:
    if os.getpid() != pid:
        os._exit(3)  # no exception, no clean-up: as a crash in a database driver would
    return "ivr"


class KillsTheWriter:
    """A script name that kills the process that unpickles it, unless it is this one."""

    def __reduce__(self):
        return _die_unless_in, (os.getpid(),)


@pytest.mark.slow
def test_a_record_that_kills_the_writer_costs_a_few_restarts_then_only_itself(ivr_db, tmp_path, monkeypatch):
    monkeypatch.setattr("ivr.call_log_process.RESTART_PAUSE", 0.0)
    writer = _writer(ivr_db, tmp_path, linger=0.05, max_batch=1000)
    try:
        first = writer._child.pid
        for n in range(5):
            writer.submit(record(f"killer-{n}", phone=f"133{n:08d}", script=KillsTheWriter() if n == 2 else "ivr"))
        assert writer.flush(timeout=60)
        assert _written(ivr_db, "killer-") == 4
        assert writer._child.pid != first
    finally:
        writer.stop()
    assert '"killer-2"' in rejected_file(tmp_path / "spool.jsonl").read_text()


def test_the_writer_process_settles_calls_nothing_followed(ivr_db, tmp_path):
    import datetime as dt

    from db.base import utcnow
    from db.models import CallOutcome

    writer = _writer(ivr_db, tmp_path, linger=0.05, unfollowed_after=0.5)
    try:
        now = utcnow()
        writer.submit(record("unfollowed-1", started_at=now - dt.timedelta(seconds=5), ended_at=now))
        assert writer.flush(timeout=20)

        def outcome():
            with make_session_factory(ivr_db)() as session:
                return session.scalar(select(Call.outcome).where(Call.uniqueid == "unfollowed-1"))

        assert wait_until(lambda: outcome() is CallOutcome.FAILED, timeout=10)
    finally:
        writer.stop()


def test_a_signal_to_the_whole_process_group_leaves_the_writer_writing(ivr_db, tmp_path, caplog):
    """Ctrl-C or a service stop signals the child too: it killed the writer, and the IVR
    logged an error and started another while shutting down. The parent ends it at stop."""
    writer = _writer(ivr_db, tmp_path, linger=0.05)
    try:
        child = writer._child.pid
        os.kill(child, signal.SIGINT)
        os.kill(child, signal.SIGTERM)
        time.sleep(0.5)
        assert writer._child.pid == child and writer._child.is_alive()
        writer.submit(record("group-1"))
        assert writer.flush(timeout=20)
        assert _written(ivr_db, "group-") == 1
    finally:
        writer.stop()
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


def test_a_writer_that_dies_during_shutdown_is_neither_replaced_nor_an_error(ivr_db, tmp_path, caplog):
    writer = _writer(ivr_db, tmp_path, linger=0.05)
    child = writer._child.pid
    writer.closing()  # the IVR is shutting down
    os.kill(child, signal.SIGSTOP)  # a batch in its hands, unacknowledged
    writer.submit(record("shutdown-1"))
    time.sleep(0.3)
    os.kill(child, signal.SIGKILL)
    time.sleep(0.5)
    writer.submit(record("shutdown-2", phone="13500000002"))  # a call that ended in the grace period
    time.sleep(0.3)
    assert writer._child is None  # not replaced
    started = time.monotonic()
    writer.stop(timeout=10)
    assert time.monotonic() - started < 5  # no waiting for a writer that is gone
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
    spool = (tmp_path / "spool.jsonl").read_text()
    assert '"shutdown-1"' in spool and '"shutdown-2"' in spool  # nothing lost
    _writer(ivr_db, tmp_path).stop()  # the next writer writes them as it starts
    assert _written(ivr_db, "shutdown-") == 2


def test_the_ivr_server_says_shutdown_has_begun_to_the_writer_process(ivr_db, tmp_path):
    from config import load_settings
    from hotline.context import AppContext
    from hotline.ivr_commands import start_ivr_server

    settings = load_settings(environ={}, overrides={"database.url": str(ivr_db.url), "app.data_dir": str(tmp_path)})
    server = start_ivr_server(AppContext(settings), port=0)
    writer = server.on_stopped[0].__self__.call_log
    assert isinstance(writer, CallLogProcess) and not writer._closing
    server.stop(grace=0)
    assert writer._closing

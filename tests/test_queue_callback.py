"""`queue_callback`: a caller in a queue presses 1 to be called back, keeping their place."""
from sqlalchemy import select

from db.models import CallbackReason, CallbackTask, Language
from db.session import make_session_factory


def tasks(ivr_db):
    with make_session_factory(ivr_db)() as session:
        return session.scalars(select(CallbackTask).order_by(CallbackTask.id)).all()


def queued(position="4", language="yue"):
    return {"HOTLINE_QUEUE": "general", "QUEUEPOSITION": position, "HOTLINE_LANG": language}


def test_callback_is_booked_with_queue_and_position(dial, ivr_db):
    transcript = dial(caller="13766660000", script="queue_callback", variables=queued())
    assert transcript.variables["HOTLINE_CALLBACK_BOOKED"] == "1"
    assert transcript.heard[-1].endswith("/zh_yue/queue_callback_booked")
    task = tasks(ivr_db)[-1]
    assert (task.phone, task.queue, task.queue_position) == ("13766660000", "general", 4)
    assert task.reason is CallbackReason.QUEUE_CALLBACK and task.language is Language.CANTONESE
    assert transcript.variables["HOTLINE_CALLBACK_ID"] == str(task.id)


def test_withheld_number_is_not_booked_and_stays_queued(dial, ivr_db):
    before = len(tasks(ivr_db))
    transcript = dial(caller="anonymous", script="queue_callback", variables=queued(language="hak"))
    assert transcript.variables["HOTLINE_CALLBACK_BOOKED"] == "0"
    assert transcript.heard[-1].endswith("/zh_hak/callback_no_number")
    assert len(tasks(ivr_db)) == before


def test_a_database_failure_leaves_the_caller_queued(dial, ivr_db, monkeypatch):
    def down(*args, **kwargs):
        raise ConnectionError("database unreachable")

    monkeypatch.setattr("ivr.handlers.queue_callback.transaction", down)
    transcript = dial(caller="13766660001", script="queue_callback", variables=queued())
    assert "HOTLINE_CALLBACK_BOOKED" not in transcript.variables  # the dialplan requeues at QUEUEPOSITION
    assert transcript.variables["HOTLINE_FALLBACK"] == "1"

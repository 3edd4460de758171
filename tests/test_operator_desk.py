"""Operators' states: in Asterisk's queues first, then on the supervisors' record."""
import datetime as dt

import pytest
from sqlalchemy import select

from db.models import OperatorState, OperatorStateChange, PauseReason, User
from db.session import make_session_factory
from emulator.ami_server import AmiServer
from telephony.ami import AmiError, AmiLink
from telephony.call_events import CallTracker
from telephony.operator_desk import DeskError, OperatorDesk
from test_call_events import trace_events

QUEUES = ["hotline-general", "hotline-priority"]


@pytest.fixture
def desk(ivr_db):
    server = AmiServer().start()
    link = AmiLink("127.0.0.1", server.port, "hotline", "development-ami-secret", ping_interval=30).start()
    assert link.wait_connected(3)
    yield server, OperatorDesk(link, make_session_factory(ivr_db), QUEUES)
    link.stop()
    server.stop()


def operator(ivr_db, extension="1001"):
    with make_session_factory(ivr_db)() as session:
        return session.scalar(select(User).where(User.sip_extension == extension))


def states(ivr_db, user):
    with make_session_factory(ivr_db)() as session:
        changes = session.scalars(select(OperatorStateChange).where(OperatorStateChange.user_id == user.id)
                                  .order_by(OperatorStateChange.at, OperatorStateChange.id)).all()
    return [(c.state, c.reason, c.source) for c in changes]


def test_login_pause_unpause_logout(desk, ivr_db):
    server, operators = desk
    user = operator(ivr_db)
    operators.login(user)
    assert set(server.queue_members) == set(QUEUES)
    assert all(m["PJSIP/1001"]["Paused"] == "0" for m in server.queue_members.values())
    operators.pause(user, "meal")
    assert all(m["PJSIP/1001"] == {"Paused": "1", "PausedReason": "meal"} for m in server.queue_members.values())
    operators.unpause(user)
    operators.logout(user)
    assert all("PJSIP/1001" not in m for m in server.queue_members.values())
    assert states(ivr_db, user) == [
        (OperatorState.LOGGED_IN, None, "console"), (OperatorState.AVAILABLE, None, "console"),
        (OperatorState.PAUSED, PauseReason.MEAL, "console"), (OperatorState.AVAILABLE, None, "console"),
        (OperatorState.LOGGED_OUT, None, "console"),
    ]


def test_a_pause_needs_a_known_reason(desk, ivr_db):
    server, operators = desk
    user = operator(ivr_db)
    operators.login(user)
    with pytest.raises(DeskError, match="break, meal, training, after_call_work"):
        operators.pause(user, "nap")
    assert states(ivr_db, user)[-1][0] is OperatorState.AVAILABLE


def test_nothing_is_recorded_when_asterisk_refuses(desk, ivr_db):
    server, operators = desk
    user = operator(ivr_db)
    with pytest.raises(AmiError, match="Interface not found"):
        operators.pause(user, "break")  # not logged in to any queue
    assert states(ivr_db, user) == []


def test_an_account_without_an_extension_cannot_log_in(desk, ivr_db):
    server, operators = desk
    user = User(username="nophone", display_name="无分机", role="operator", password_hash="x", sip_extension=None)
    with pytest.raises(DeskError, match="no SIP extension"):
        operators.login(user)


def test_calls_and_automatic_wrap_up_come_from_ami_events(ivr_db):
    tracker = CallTracker(make_session_factory(ivr_db), wrapup_seconds=15)
    for _ in range(2):  # replayed: recorded once
        for event in trace_events("answered_call.trace"):
            tracker.apply(event)
        tracker.flush()
    user = operator(ivr_db)
    with make_session_factory(ivr_db)() as session:
        changes = session.scalars(select(OperatorStateChange).where(OperatorStateChange.user_id == user.id)
                                  .order_by(OperatorStateChange.at)).all()
    at = lambda stamp: dt.datetime.fromtimestamp(stamp, dt.timezone.utc)  # noqa: E731
    assert [(c.state, c.at, c.source) for c in changes] == [
        (OperatorState.ON_CALL, at(1795740032.0), "ami"),
        (OperatorState.WRAP_UP, at(1795740127.0), "ami"),
        (OperatorState.AVAILABLE, at(1795740142.0), "ami"),
    ]

"""Operators' states: in Asterisk's queues first, then on the supervisors' record."""
import datetime as dt
import queue
import time

import pytest
import sqlalchemy
from sqlalchemy import delete, select

from db.base import utcnow
from db.models import OperatorState, OperatorStateChange, PauseReason, User
from db.session import make_session_factory
from emulator.ami_server import AmiServer
from telephony.ami import AmiError, AmiEvent, AmiLink
from telephony.call_events import CallTracker
from telephony.operator_desk import DeskError, OperatorDesk, day_of, latest_states, record_states
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
    assert all((m["PJSIP/1001"]["Paused"], m["PJSIP/1001"]["PausedReason"], m["PJSIP/1001"]["Penalty"]) == ("1", "meal", "0")
               for m in server.queue_members.values())
    operators.unpause(user)
    operators.logout(user)
    assert all("PJSIP/1001" not in m for m in server.queue_members.values())
    assert states(ivr_db, user) == [
        (OperatorState.LOGGED_IN, None, "console"), (OperatorState.AVAILABLE, None, "console"),
        (OperatorState.PAUSED, PauseReason.MEAL, "console"), (OperatorState.AVAILABLE, None, "console"),
        (OperatorState.LOGGED_OUT, None, "console"),
    ]


def member_events(link, wanted: int) -> list[AmiEvent]:
    seen, deadline = [], time.monotonic() + 3
    while len(seen) < wanted and time.monotonic() < deadline:
        try:
            event = link.events.get(timeout=0.1)
        except queue.Empty:
            continue
        if event.name.startswith("QueueMember"):
            seen.append(event)
    return seen


def test_the_emulator_tells_every_agent_reader_of_member_changes(desk, ivr_db):
    """As app_queue does: QueueMemberAdded/Pause/Removed (class agent), one a queue."""
    server, operators = desk
    user = operator(ivr_db)
    operators.login(user)
    operators.pause(user, "meal")
    operators.logout(user)
    events = member_events(operators.link, 6)
    assert [(e.name, e.get("Queue"), e.get("StateInterface"), e.get("Paused"), e.get("PausedReason")) for e in events] == [
        ("QueueMemberAdded", "hotline-general", "PJSIP/1001", "0", ""),
        ("QueueMemberAdded", "hotline-priority", "PJSIP/1001", "0", ""),
        ("QueueMemberPause", "hotline-general", "PJSIP/1001", "1", "meal"),
        ("QueueMemberPause", "hotline-priority", "PJSIP/1001", "1", "meal"),
        ("QueueMemberRemoved", "hotline-general", "PJSIP/1001", "1", "meal"),
        ("QueueMemberRemoved", "hotline-priority", "PJSIP/1001", "1", "meal"),
    ]
    assert all(e.headers["Privilege"] == "agent,all" and e.get("MemberName") for e in events)


def test_member_changes_recorded_on_a_real_asterisk_become_operator_states(ivr_db):
    """Recorded on Asterisk 22.10.1 (the member a Local channel): added to both queues,
    removed, added again, paused for a meal, unpaused. Each change is recorded once though
    it comes once a queue, and a member leaves only when out of every queue."""
    user = operator(ivr_db)
    tracker = CallTracker(make_session_factory(ivr_db))
    for event in trace_events("operator_member_changes_real.trace"):
        tracker.apply(event)
        tracker.flush()
    assert states(ivr_db, user) == [
        (OperatorState.AVAILABLE, None, "ami"), (OperatorState.LOGGED_OUT, None, "ami"),
        (OperatorState.AVAILABLE, None, "ami"), (OperatorState.PAUSED, PauseReason.MEAL, "ami"),
        (OperatorState.AVAILABLE, None, "ami"),
    ]


def test_a_pause_made_outside_the_console_is_recorded_and_the_consoles_own_is_not_twice(desk, ivr_db):
    """The Asterisk CLI (`queue pause member ... reason lunch`) or a phone pauses the
    operator: another AMI session here. The tracker on the hotline's link records it, with
    no reason of ours; the console's own changes, echoed back, are not recorded again."""
    server, operators = desk
    user = operator(ivr_db)
    tracker = CallTracker(make_session_factory(ivr_db))
    operators.login(user)
    operators.pause(user, "meal")
    elsewhere = AmiLink("127.0.0.1", server.port, "hotline", "development-ami-secret", ping_interval=30).start()
    try:
        assert elsewhere.wait_connected(3)
        elsewhere.action("QueuePause", Interface="PJSIP/1001", Paused="false")
        elsewhere.action("QueuePause", Interface="PJSIP/1001", Paused="true", Reason="lunch")
    finally:
        elsewhere.stop()
    for event in member_events(operators.link, 8):
        tracker.apply(event)
    tracker.flush()
    assert states(ivr_db, user) == [
        (OperatorState.LOGGED_IN, None, "console"), (OperatorState.AVAILABLE, None, "console"),
        (OperatorState.PAUSED, PauseReason.MEAL, "console"),
        (OperatorState.AVAILABLE, None, "ami"), (OperatorState.PAUSED, None, "ami"),
    ]


def test_login_gives_each_language_queue_a_penalty_by_how_well_the_operator_speaks_it(ivr_db):
    """Native 0, fluent 1, basic 2, not at all 3; the emergency queue (no language) 0 for all.
    Logging in again while still a member (persistentmembers) sets the penalties anew."""
    from db.languages import set_languages
    from db.models import Fluency, Language

    queues = [("hotline-general-cmn", Language.MANDARIN), ("hotline-general-yue", Language.CANTONESE),
              ("hotline-general-hak", Language.HAKKA), ("hotline-priority", None)]
    server = AmiServer().start()
    link = AmiLink("127.0.0.1", server.port, "hotline", "development-ami-secret", ping_interval=30).start()
    try:
        assert link.wait_connected(3)
        operators = OperatorDesk(link, make_session_factory(ivr_db), queues)
        sessions = make_session_factory(ivr_db)
        with sessions() as session:
            user = session.scalar(select(User).where(User.sip_extension == "1001"))
            operators.login(user)  # nothing recorded: taken as fluent Mandarin only
            assert {q: m["PJSIP/1001"]["Penalty"] for q, m in server.queue_members.items()} == {
                "hotline-general-cmn": "1", "hotline-general-yue": "3", "hotline-general-hak": "3", "hotline-priority": "0"}
            set_languages(session, user, {Language.MANDARIN: Fluency.FLUENT, Language.HAKKA: Fluency.NATIVE,
                                          Language.CANTONESE: Fluency.BASIC}, None)
            session.commit()
            operators.login(user)
        assert {q: m["PJSIP/1001"]["Penalty"] for q, m in server.queue_members.items()} == {
            "hotline-general-cmn": "1", "hotline-general-yue": "2", "hotline-general-hak": "0", "hotline-priority": "0"}
    finally:
        link.stop()
        server.stop()


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
    assert [(c.state, c.at, c.ends_at, c.source) for c in changes] == [
        (OperatorState.ON_CALL, at(1795740032.0), None, "ami"),
        (OperatorState.WRAP_UP, at(1795740127.0), at(1795740142.0), "ami"),
    ]
    with make_session_factory(ivr_db)() as session:
        assert latest_states(session, at(1795740141.0))[user.id] == (OperatorState.WRAP_UP, None)
        assert latest_states(session, at(1795740142.0))[user.id] == (OperatorState.AVAILABLE, None)
    assert day_of(changes, at(1795740200.0))[-1] == (at(1795740142.0), OperatorState.AVAILABLE, None)


def answered_and_hung_up(tracker, extension: str, hung_up: dt.datetime) -> None:
    """A call the queue gave the operator, ended at hung_up: their wrap-up starts then."""
    ids = dict(Uniqueid="1.1", Linkedid="1.1", Interface=f"PJSIP/{extension}")
    stamp = lambda moment: f"{moment.timestamp():.6f}"  # noqa: E731
    tracker.apply(AmiEvent("AgentConnect", dict(ids, Timestamp=stamp(hung_up - dt.timedelta(seconds=60)), HoldTime="3")))
    tracker.apply(AmiEvent("AgentComplete", dict(ids, Timestamp=stamp(hung_up), TalkTime="60")))
    tracker.flush()


def test_a_pause_taken_during_wrap_up_outlasts_it(desk, ivr_db):
    server, operators = desk
    user = operator(ivr_db)
    operators.login(user)
    tracker = CallTracker(make_session_factory(ivr_db), wrapup_seconds=1)
    answered_and_hung_up(tracker, "1001", utcnow())
    with make_session_factory(ivr_db)() as session:
        assert latest_states(session)[user.id] == (OperatorState.WRAP_UP, None)  # not "available" in advance
    operators.pause(user, "after_call_work")
    time.sleep(1)  # the wrap-up's end has passed
    assert all(m["PJSIP/1001"]["Paused"] == "1" for m in server.queue_members.values())
    with make_session_factory(ivr_db)() as session:
        assert latest_states(session)[user.id] == (OperatorState.PAUSED, PauseReason.AFTER_CALL_WORK)
        changes = session.scalars(select(OperatorStateChange).where(OperatorStateChange.user_id == user.id)
                                  .order_by(OperatorStateChange.at, OperatorStateChange.id)).all()
    assert [(state, reason) for _, state, reason in day_of(changes, utcnow())][-2:] == [
        (OperatorState.WRAP_UP, None), (OperatorState.PAUSED, PauseReason.AFTER_CALL_WORK)]


def test_a_queue_resync_during_wrap_up_keeps_the_wrap_up(ivr_db):
    """QueueMember shows a member in wrap-up as neither paused nor in a call."""
    tracker = CallTracker(make_session_factory(ivr_db), wrapup_seconds=60)
    answered_and_hung_up(tracker, "1001", utcnow())
    tracker.begin_queue_resync()
    tracker.apply(AmiEvent("QueueMember", {"Queue": "hotline-general", "Interface": "PJSIP/1001", "Paused": "0",
                                           "InCall": "0"}))
    tracker.apply(AmiEvent("QueueStatusComplete", {}))
    user = operator(ivr_db)
    assert states(ivr_db, user)[-1][0] is OperatorState.WRAP_UP
    with make_session_factory(ivr_db)() as session:
        assert latest_states(session)[user.id] == (OperatorState.WRAP_UP, None)


def call_burst(calls: int, extension: str = "1001"):
    """calls answered by one operator, one after another: AgentConnect and AgentComplete each."""
    for n in range(calls):
        ids = dict(Uniqueid=f"{n}.1", Linkedid=f"{n}.1", Interface=f"PJSIP/{extension}")
        yield AmiEvent("AgentConnect", dict(ids, Timestamp=f"{1795740000 + 200 * n}.0", HoldTime="3"))
        yield AmiEvent("AgentComplete", dict(ids, Timestamp=f"{1795740100 + 200 * n}.0", TalkTime="100"))


def test_a_batch_of_calls_records_operators_states_in_a_few_statements(ivr_db):
    """One statement a state change made the AMI link three times slower (bench B2)."""
    tracker = CallTracker(make_session_factory(ivr_db))
    for event in call_burst(300):
        tracker.apply(event)
    statements = []
    listen = lambda *args: statements.append(args[2])  # noqa: E731
    sqlalchemy.event.listen(ivr_db, "before_cursor_execute", listen)
    try:
        tracker.flush()
    finally:
        sqlalchemy.event.remove(ivr_db, "before_cursor_execute", listen)
    state_inserts = [s for s in statements if "operator_state_changes" in s]
    assert len(state_inserts) <= 2, f"{len(state_inserts)} statements for 300 calls' operator states"
    user = operator(ivr_db)
    assert [s for s, _, _ in states(ivr_db, user)].count(OperatorState.ON_CALL) == 300


def test_state_changes_recorded_together_keep_one_of_each(engine):
    with make_session_factory(engine)() as session, session.begin():
        user = User(username="batch", display_name="批量", role="operator", password_hash="x", sip_extension="1099")
        session.add(user)
        session.flush()
        at = dt.datetime(2026, 11, 27, 2, 0, tzinfo=dt.timezone.utc)
        changes = [dict(user_id=user.id, state=OperatorState.ON_CALL, at=at, source="ami"),
                   dict(user_id=user.id, state=OperatorState.ON_CALL, at=at, source="ami"),  # replayed
                   dict(user_id=user.id, state=OperatorState.PAUSED, reason=PauseReason.MEAL, at=at, source="console")]
        record_states(session, changes)
        record_states(session, changes[:1])
    try:
        assert states(engine, user) == [(OperatorState.ON_CALL, None, "ami"),
                                        (OperatorState.PAUSED, PauseReason.MEAL, "console")]
    finally:
        # The engine's database is shared by the session's tests (the demo data test counts its users).
        with make_session_factory(engine)() as session, session.begin():
            session.execute(delete(OperatorStateChange).where(OperatorStateChange.user_id == user.id))
            session.execute(delete(User).where(User.id == user.id))

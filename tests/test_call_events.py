"""Call state from AMI events: recorded traces replayed through the real AMI link."""
import datetime as dt
import queue
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from db.base import utcnow
from db.models import Call, CallbackReason, CallbackTask, CallDirection, CallOutcome, IvrOutcome, PhoneKind, TaskStatus, User
from db.phones import Phone
from db.session import make_session_factory
from emulator.ami_server import AmiServer
from telephony.ami import AmiEvent, AmiLink
from telephony.ami_service import EVENT_CLASSES
from telephony.call_events import CallTracker
from telephony.callback_placer import CallbackPlacer
from ivr.call_log import IvrCallRecord, save_calls

TRACES = Path(__file__).parent / "fixtures" / "ami"
SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def at(stamp: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(stamp, dt.timezone.utc)


@pytest.fixture
def link():
    """The hotline's account as manager.conf renders it, logged in as `hotline ami` does."""
    server = AmiServer().start()
    ami = AmiLink("127.0.0.1", server.port, "hotline", "development-ami-secret", ping_interval=30,
                  event_mask=",".join(EVENT_CLASSES)).start()
    assert ami.wait_connected(3)
    yield server, ami
    ami.stop()
    server.stop()


def replay(server, ami, tracker, name: str) -> None:
    """Send a recorded trace from the AMI peer and let the tracker consume what arrives
    (only the events the account's read classes and the link's mask let through)."""
    text = (TRACES / name).read_text(encoding="utf-8").replace("\n", "\r\n")
    expected = server.send_raw(text)
    seen, deadline = 0, time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            event = ami.events.get(timeout=0.1)
        except queue.Empty:
            continue
        if event.name == "FullyBooted":
            continue
        tracker.apply(event)
        seen += 1
        if seen == expected:
            break
    assert seen == expected
    tracker.flush()


def call_row(engine, uniqueid):
    with make_session_factory(engine)() as session:
        call = session.scalar(select(Call).where(Call.uniqueid == uniqueid))
        return {column: getattr(call, column) for column in (
            "direction", "caller_number", "did", "started_at", "queue", "queue_entered_at", "queue_wait_seconds",
            "answered_at", "agent_extension", "agent_id", "ended_at", "hangup_cause", "recording_file", "outcome",
            "callback_task_id")}


def test_an_answered_call_gets_every_time_and_its_agent(link, ivr_db):
    server, ami = link
    tracker = CallTracker(make_session_factory(ivr_db))
    replay(server, ami, tracker, "answered_call.trace")
    row = call_row(ivr_db, "1795740000.1")
    with make_session_factory(ivr_db)() as session:
        operator = session.scalar(select(User.id).where(User.sip_extension == "1001"))
    assert row == {
        "direction": row["direction"], "caller_number": "13912345678", "did": "4008300762",
        "started_at": at(1795740000.0001), "queue": "general", "queue_entered_at": at(1795740020.0),
        "queue_wait_seconds": 12, "answered_at": at(1795740032.0), "agent_extension": "1001", "agent_id": operator,
        "ended_at": at(1795740127.0003), "hangup_cause": 16,
        "recording_file": "/var/spool/asterisk/monitor/hotline/20261127/1795740000.1.wav",
        "outcome": CallOutcome.ANSWERED, "callback_task_id": None,
    }
    assert row["direction"].value == "inbound"
    assert tracker.calls == {}  # ended calls are written and forgotten


def test_replaying_the_same_events_gives_the_same_rows(link, ivr_db):
    server, ami = link
    tracker = CallTracker(make_session_factory(ivr_db))
    replay(server, ami, tracker, "answered_call.trace")
    first = call_row(ivr_db, "1795740000.1")
    replay(server, ami, tracker, "answered_call.trace")
    replay(server, ami, CallTracker(make_session_factory(ivr_db)), "answered_call.trace")
    assert call_row(ivr_db, "1795740000.1") == first
    with make_session_factory(ivr_db)() as session:
        assert len(session.scalars(select(Call).where(Call.uniqueid == "1795740000.1")).all()) == 1


def test_a_caller_who_gives_up_in_the_queue(link, ivr_db):
    server, ami = link
    replay(server, ami, CallTracker(make_session_factory(ivr_db)), "abandoned_in_queue.trace")
    row = call_row(ivr_db, "1795741000.3")
    assert (row["outcome"], row["queue"], row["queue_wait_seconds"], row["answered_at"]) == (
        CallOutcome.ABANDONED_IN_QUEUE, "priority", 40, None)


def test_a_call_never_answered_names_no_recording(link, ivr_db):
    """Recorded on Asterisk 22.10.1: a caller who hung up in the queue. The dialplan's
    MixMonitor (option b) records only once bridged, so HOTLINE_RECORDING names a file that
    holds a bare 44-byte header: the row must not offer it as a recording."""
    server, ami = link
    replay(server, ami, CallTracker(make_session_factory(ivr_db)), "abandoned_in_queue_real.trace")
    row = call_row(ivr_db, "1796039293.108")
    assert (row["outcome"], row["queue"], row["answered_at"], row["caller_number"]) == (
        CallOutcome.ABANDONED_IN_QUEUE, "general", None, "13700000017")
    assert row["recording_file"] is None


def test_the_ivr_verdict_stands_and_both_writers_meet_on_one_row(link, ivr_db):
    """The IVR wrote a voicemail for this call; AMI's view of the same call adds times only."""
    server, ami = link
    factory = make_session_factory(ivr_db)
    record = IvrCallRecord(
        uniqueid="1795741000.3", linkedid="1795741000.3", did="4008300762", caller_number="07623660360",
        phone=Phone("07623660360", PhoneKind.LANDLINE), script="ivr", started_at=at(1795741000.5),
        language="hak", outcome=IvrOutcome.VOICEMAIL, ended_at=at(1795741090.0), path=["welcome", "voicemail"],
    )
    with factory.begin() as session:
        save_calls(session, [record], SHANGHAI)
    replay(server, ami, CallTracker(factory), "abandoned_in_queue.trace")
    row = call_row(ivr_db, "1795741000.3")
    assert row["outcome"] is CallOutcome.VOICEMAIL
    assert row["started_at"] == at(1795741000.0001)  # the earliest start either writer saw
    assert row["hangup_cause"] == 16


def add_task(engine, task_id: int, call_uniqueid: str | None = None) -> None:
    """The queue callback task 7001 the callback traces name."""
    with make_session_factory(engine).begin() as session:
        call_id = session.scalar(select(Call.id).where(Call.uniqueid == call_uniqueid)) if call_uniqueid else None
        session.add(CallbackTask(id=task_id, phone="13766660000", reason=CallbackReason.QUEUE_CALLBACK, queue="general",
                                 queue_position=4, call_id=call_id, due_at=at(1795742081.0)))


def test_a_caller_who_takes_the_callback_offer_is_not_counted_as_abandoned(link, ivr_db):
    """Pressing 1 at the offer: QueueCallerLeave, the queue_callback AGI sets HOTLINE_CALLBACK_ID
    (seen only as a channelvar, never as a VarSet), then the caller hangs up."""
    server, ami = link
    add_task(ivr_db, 7001)  # booked before the call's row was written: no call_id yet
    replay(server, ami, CallTracker(make_session_factory(ivr_db)), "queue_callback_taken.trace")
    row = call_row(ivr_db, "1795742000.5")
    assert (row["outcome"], row["queue"], row["queue_wait_seconds"], row["answered_at"]) == (
        CallOutcome.CALLBACK_REQUESTED, "general", 61, None)
    assert row["recording_file"] is None  # never connected: no recording to offer
    assert row["callback_task_id"] is None  # the task points to this call, not the other way
    with make_session_factory(ivr_db)() as session:
        call_id = session.scalar(select(Call.id).where(Call.uniqueid == "1795742000.5"))
        assert session.get(CallbackTask, 7001).call_id == call_id


def test_a_call_back_names_the_number_dialled_back_and_its_task(link, ivr_db):
    """The operator who answers the placeholder gives its halves his extension (NewCallerid
    1001); the row still names the customer and links to the task it was placed for."""
    server, ami = link
    add_task(ivr_db, 7001)
    tracker = CallTracker(make_session_factory(ivr_db))
    replay(server, ami, tracker, "callback_placeholder.trace")
    row = call_row(ivr_db, "1795743000.7")
    assert (row["caller_number"], row["callback_task_id"], row["direction"]) == ("13766660000", 7001, CallDirection.OUTBOUND)
    # answered when the customer answered (DialEnd), not when the operator took the placeholder
    assert (row["agent_extension"], row["answered_at"], row["outcome"]) == ("1001", at(1795743012.0001), CallOutcome.ANSWERED)
    assert row["ended_at"] == at(1795743130.0002)
    with make_session_factory(ivr_db)() as session:
        assert session.get(CallbackTask, 7001).call_id is None  # the task's own call is the one that asked


def test_a_callback_id_naming_no_task_costs_no_row(link, ivr_db):
    """A channel variable is input: a task id that names nothing is dropped, the rows are written."""
    server, ami = link
    tracker = CallTracker(make_session_factory(ivr_db))
    tracker.apply(AmiEvent("Newchannel", {"Uniqueid": "8.1", "Linkedid": "8.1", "CallerIDNum": "13912345678"}))
    for task in ("99999999999999999999", "-3", "７"):
        tracker.apply(AmiEvent("NewCallerid", {"Uniqueid": "8.2", "Linkedid": "8.2", "CallerIDNum": "1001",
                                               "ChanVariable": {"HOTLINE_CALLBACK_ID": task, "HOTLINE_CALLBACK_NUMBER": "13766660000"}}))
    replay(server, ami, tracker, "callback_placeholder.trace")  # names task 7001, which does not exist here
    replay(server, ami, tracker, "queue_callback_taken.trace")  # the same
    assert call_row(ivr_db, "1795742000.5")["outcome"] is CallOutcome.CALLBACK_REQUESTED
    assert call_row(ivr_db, "1795743000.7")["callback_task_id"] is None
    assert call_row(ivr_db, "1795743000.7")["caller_number"] == "13766660000"
    assert call_row(ivr_db, "8.1")["caller_number"] == "13912345678"
    assert (call_row(ivr_db, "8.2")["caller_number"], call_row(ivr_db, "8.2")["callback_task_id"]) == ("13766660000", None)


def test_a_callback_taker_as_a_real_asterisk_reports_it(link, ivr_db):
    """Recorded on Asterisk 22.10.1 with our rendered configuration (the caller a Local
    channel standing in for the trunk): 1 1 1 through the IVR, the queue, 1 at the offer.
    The recording and the booked task come only as channelvars (the account has no
    dialplan class); the queue lets the caller go with QueueCallerLeave, no abandon."""
    server, ami = link
    add_task(ivr_db, 5)
    replay(server, ami, CallTracker(make_session_factory(ivr_db)), "callback_offer_taken_real.trace")
    row = call_row(ivr_db, "1796038720.64")
    assert (row["outcome"], row["queue"], row["answered_at"], row["caller_number"]) == (
        CallOutcome.CALLBACK_REQUESTED, "general", None, "13700000012")
    assert row["recording_file"] is None  # never connected: MixMonitor's `b` left an empty file
    with make_session_factory(ivr_db)() as session:
        call_id = session.scalar(select(Call.id).where(Call.uniqueid == "1796038720.64"))
        assert session.get(CallbackTask, 5).call_id == call_id


def placed_task(engine, task_id: int, phone: str, action_id: str) -> None:
    """A queue callback the placer has originated (its placeholder now in the queue)."""
    with make_session_factory(engine).begin() as session:
        session.add(CallbackTask(id=task_id, phone=phone, reason=CallbackReason.QUEUE_CALLBACK, queue="general",
                                 queue_position=1, due_at=utcnow(), status=TaskStatus.IN_PROGRESS, attempts=1,
                                 originate_action_id=action_id))


@pytest.mark.parametrize("trace, task_id, phone, action_id, answered", [
    ("callback_customer_busy.trace", 6, "13799990002", "hotline-161", False),
    ("callback_customer_answered.trace", 5, "13700000012", "hotline-82", True),
])
def test_a_call_back_is_done_only_when_the_customer_answers(link, ivr_db, trace, task_id, phone, action_id, answered):
    """Recorded on Asterisk 22.10.1 with our rendered configuration (Local channels standing
    in for the trunk and the operator's phone). The operator takes the placeholder, which
    answers the Originate (OriginateResponse Reason 4) before the customer is even rung;
    then hotline-callback-dial's DialEnd says BUSY or ANSWER. A busy customer's task is
    tried again later, not done."""
    server, ami = link
    placed_task(ivr_db, task_id, phone, action_id)
    sessions = make_session_factory(ivr_db)
    tracker = CallTracker(sessions)
    tracker.listeners.append(CallbackPlacer(ami, sessions))
    replay(server, ami, tracker, trace)
    with sessions() as session:
        task = session.get(CallbackTask, task_id)
        call_back = session.scalar(select(Call).where(Call.callback_task_id == task_id))
        assert call_back.caller_number == phone and call_back.agent_extension == "1001"
        assert call_back.outcome is (CallOutcome.ANSWERED if answered else CallOutcome.FAILED)
        assert (call_back.answered_at is not None) == answered
        if answered:
            assert (task.status, task.attempts) == (TaskStatus.DONE, 1) and task.done_at is not None
        else:
            assert (task.status, task.attempts, task.done_at) == (TaskStatus.PENDING, 1, None)
            assert task.due_at > utcnow() and task.originate_action_id is None


def test_a_call_back_found_after_its_placeholder_was_taken_is_answered_only_by_its_customer(ivr_db):
    """The link comes back after the operator took the placeholder (its AgentConnect
    missed): the AgentComplete that says the operator talked is no answer of the busy
    customer."""
    placed_task(ivr_db, 6, "13799990002", "hotline-161")
    tracker = CallTracker(make_session_factory(ivr_db))
    events = trace_events("callback_customer_busy.trace")
    offered = next(i for i, e in enumerate(events) if e.name == "AgentCalled")
    connected = next(i for i, e in enumerate(events) if e.name == "AgentConnect")
    for event in events[:offered] + events[connected + 1:]:
        tracker.apply(event)
    tracker.flush()
    with make_session_factory(ivr_db)() as session:
        call_back = session.scalar(select(Call).where(Call.callback_task_id == 6))
        assert (call_back.outcome, call_back.answered_at) == (CallOutcome.FAILED, None)


def test_a_busy_call_back_written_batch_by_batch_is_not_reached(ivr_db):
    """The operator takes the placeholder, and the customer rings for a while: the row is
    written between AgentConnect and DialEnd BUSY. It must still end as not reached, not
    `answered` with answered_at at the hang-up."""
    sessions = make_session_factory(ivr_db)
    placed_task(ivr_db, 6, "13799990002", "hotline-161")
    tracker = CallTracker(sessions)
    for event in trace_events("callback_customer_busy.trace"):
        tracker.apply(event)
        tracker.flush()
    with sessions() as session:
        call_back = session.scalar(select(Call).where(Call.callback_task_id == 6))
        assert (call_back.outcome, call_back.answered_at, call_back.agent_extension) == (CallOutcome.FAILED, None, "1001")
        assert call_back.ended_at is not None


def test_another_sessions_originate_response_settles_none_of_our_tasks(link, ivr_db):
    """Asterisk sends every OriginateResponse to every account that reads `call`: the
    console's or another `hotline ami`'s must not settle a task this placer originated."""
    server, ami = link
    sessions = make_session_factory(ivr_db)
    placer = CallbackPlacer(ami, sessions)
    ours = ami.originate("Local/general@hotline-callback-hold/n", "hotline-callback-dial", "s")
    theirs = "hotline-0badc0de-" + ours.rsplit("-", 1)[1]  # same number, another process
    placed_task(ivr_db, 8101, "13700000021", theirs)
    placed_task(ivr_db, 8102, "13700000022", "hotline-1")  # the old per-connection scheme
    placed_task(ivr_db, 8103, "13700000023", ours)
    for action_id in (theirs, "hotline-1", ours):
        placer.on_event(AmiEvent("OriginateResponse", {"ActionID": action_id, "Response": "Failure", "Reason": "5",
                                                        "Channel": "PJSIP/13700000021@trunk"}))
    placer.after_flush()
    with sessions() as session:
        status = {task_id: session.get(CallbackTask, task_id).status for task_id in (8101, 8102, 8103)}
    assert status == {8101: TaskStatus.IN_PROGRESS, 8102: TaskStatus.IN_PROGRESS, 8103: TaskStatus.PENDING}


def test_a_try_whose_answer_went_to_a_process_now_gone_is_tried_again(link, ivr_db):
    """`hotline ami` restarted while a placeholder waited: its OriginateResponse carries the
    old process's ActionID, which the new one ignores. Once the placeholder's own timeout is
    surely over, the task is tried again rather than left in progress for good."""
    server, ami = link
    sessions = make_session_factory(ivr_db)
    now = utcnow()
    placer = CallbackPlacer(ami, sessions, clock=lambda: now)
    placed_task(ivr_db, 8201, "13700000031", "hotline-0badc0de-7")
    placed_task(ivr_db, 8202, "13700000032", "hotline-0badc0de-8")
    with sessions.begin() as session:
        session.get(CallbackTask, 8201).due_at = now - dt.timedelta(hours=4, minutes=11)
        session.get(CallbackTask, 8202).due_at = now - dt.timedelta(hours=3)  # may still be waiting
    placer.place_due()
    with sessions() as session:
        stale, recent = session.get(CallbackTask, 8201), session.get(CallbackTask, 8202)
        assert (stale.status, stale.originate_action_id, stale.attempts) == (TaskStatus.PENDING, None, 1)
        assert stale.due_at == now + dt.timedelta(minutes=5)
        assert recent.status is TaskStatus.IN_PROGRESS


def test_malformed_events_are_ignored(ivr_db):
    tracker = CallTracker(make_session_factory(ivr_db))
    for event in (
        AmiEvent("Newchannel", {"Uniqueid": "9.9"}),  # no Linkedid, unknown channel
        AmiEvent("AgentConnect", {"Linkedid": "9.8", "Uniqueid": "9.8", "HoldTime": "soon", "Timestamp": "yesterday"}),
        AmiEvent("Hangup", {"Linkedid": "9.8", "Uniqueid": "9.8", "Cause": "?"}),
        AmiEvent("SomethingNew", {"Linkedid": "9.8"}),
    ):
        tracker.apply(event)
    tracker.flush()
    row = call_row(ivr_db, "9.8")
    assert row["outcome"] is CallOutcome.ANSWERED and row["queue_wait_seconds"] is None and row["hangup_cause"] is None


def trace_events(name: str) -> list[AmiEvent]:
    """The trace parsed by the same library parser the link uses."""
    from asterisk.ami import Event

    text = (TRACES / name).read_text(encoding="utf-8").replace("\n", "\r\n")
    return [AmiEvent(e.name, dict(e.keys)) for e in (Event.read(pack) for pack in text.split("\r\n\r\n") if pack.strip())]


def test_events_after_a_call_ended_neither_keep_it_in_memory_nor_rewrite_it(ivr_db):
    """The operator's channel hangs up after the caller's (the call's first channel): that
    late Hangup, and a placeholder half's late caller ID, belong to a call already written."""
    tracker = CallTracker(make_session_factory(ivr_db))
    for event in trace_events("answered_call.trace"):
        tracker.apply(event)
    tracker.flush()
    written = call_row(ivr_db, "1795740000.1")
    for name, headers in (("NewCallerid", {"CallerIDNum": "1001"}), ("Hangup", {"Cause": "17"})):
        tracker.apply(AmiEvent(name, {"Uniqueid": "1795740029.2", "Linkedid": "1795740000.1",
                                      "Channel": "PJSIP/1001-00000002", "Timestamp": "1795740300.0", **headers}))
    tracker.flush()
    assert tracker.calls == {}
    assert call_row(ivr_db, "1795740000.1") == written


def test_the_tracker_on_both_databases(engine):
    from sqlalchemy import delete

    factory = make_session_factory(engine)
    for _ in range(2):  # and replayed
        tracker = CallTracker(factory)
        for event in trace_events("answered_call.trace"):
            tracker.apply(event)
        tracker.flush()
    try:
        row = call_row(engine, "1795740000.1")
        assert (row["outcome"], row["queue_wait_seconds"], row["agent_extension"]) == (CallOutcome.ANSWERED, 12, "1001")
        assert row["answered_at"] == at(1795740032.0)
    finally:
        with factory.begin() as session:
            session.execute(delete(Call).where(Call.uniqueid == "1795740000.1"))


def test_many_calls_in_one_batch(ivr_db):
    """Several calls written by one executemany (a bound IN list would fail here)."""
    tracker = CallTracker(make_session_factory(ivr_db))
    for uid in ("7.1", "7.2", "7.3"):
        tracker.apply(AmiEvent("Newchannel", {"Uniqueid": uid, "Linkedid": uid, "CallerIDNum": "13912345678"}))
        tracker.apply(AmiEvent("Hangup", {"Uniqueid": uid, "Linkedid": uid, "Cause": "16"}))
    tracker.flush()
    assert {call_row(ivr_db, uid)["outcome"] for uid in ("7.1", "7.2", "7.3")} == {CallOutcome.ABANDONED_IN_IVR}

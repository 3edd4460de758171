"""The live wallboard against what a real Asterisk 22.10.1 sent.

Recorded with the rendered configuration (language routing, manager.conf's hotline
account and the link's `call,agent` mask): callers over PJSIP from sipp through the IVR
into hotline-general-cmn/-hak and hotline-priority, operator 1001 signed in at the console
(a sipp softphone), paused for a meal while callers waited. MusicOnHold and
DeviceStateChange packets are left out of the traces; every other packet is as received.

- queue_wait_answered_real.trace: a Hakka caller waits 23 s for the language rule, 1001
  answers, the caller hangs up.
- queue_waiting_real.trace: from the pause until the link's outage: five callers join;
  a Mandarin caller and the emergency caller hang up waiting; three still wait.
- queue_resync_real.trace: what the link was answered when it logged in again 41 s
  later (CoreShowChannels, then QueueStatus): meanwhile a Hakka caller joined and the
  longest-waiting Mandarin caller hung up.
- queue_status_in_call_real.trace: QueueStatus while 1001 talks to a caller that
  hotline-general-cmn connected.
"""
from __future__ import annotations

import datetime as dt
import queue as queues

import pytest
from sqlalchemy import select

from db.models import CallOutcome, OperatorState, User
from db.session import make_session_factory
from emulator.ami_server import AmiServer
from telephony.ami import AmiEvent, AmiLink
from telephony.call_events import CallTracker
from telephony.operator_desk import latest_states, record_state
from telephony.pop_bus import InProcessBus
from telephony.wallboard import WALLBOARD_TOPIC, WallboardNotifier, operators_now, wallboard
from test_call_events import at, call_row, link, replay, trace_events  # noqa: F401 (link: a fixture)

QUEUES = ["general", "priority"]
# When the recorder sent the listings the link got at its login (CoreShowChannels, then QueueStatus).
CHANNELS_LISTED, QUEUES_LISTED = at(1796060344.865170), at(1796060346.027763)
# Callers' real joining times (QueueCallerJoin), and who they were.
HAKKA_E, MANDARIN_F, HAKKA_G = "1796060133.5", "1796060227.6", "1796060304.7"
MANDARIN_B, MANDARIN_B2, EMERGENCY_C = "1796059993.2", "1796060008.4", "1796059998.3"
JOINED = {HAKKA_E: at(1796060151.851286), MANDARIN_F: at(1796060245.969577), HAKKA_G: at(1796060323.502080),
          MANDARIN_B: at(1796060064.063738)}


class TrackerClock:
    """The tracker's clock, set to the moments the listings were taken."""

    def __init__(self, now: dt.datetime):
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def tracker_clock(monkeypatch):
    clock = TrackerClock(CHANNELS_LISTED)
    monkeypatch.setattr("telephony.call_events.utcnow", clock)
    return clock


def board(engine, now):
    with make_session_factory(engine)() as session:
        return {q.name: (q.waiting, q.longest_wait(now)) for q in wallboard(session, now, QUEUES, {}, 60).queues}


def operator_1001(engine) -> int:
    with make_session_factory(engine)() as session:
        return session.scalar(select(User.id).where(User.sip_extension == "1001"))


def latest_state(engine, user_id):
    with make_session_factory(engine)() as session:
        return latest_states(session)[user_id]


def resync(tracker: CallTracker, clock: TrackerClock) -> None:
    """As AmiService._resync does after a login: both listings asked for, then their events
    applied as they arrive; the channels' listing comes in a batch before the queues'."""
    listing = trace_events("queue_resync_real.trace")
    clock.now = CHANNELS_LISTED
    tracker.begin_resync()
    tracker.begin_queue_resync()
    for event in listing:
        if event.name.startswith("Queue"):
            clock.now = QUEUES_LISTED
        tracker.apply(event)
        if event.name == "CoreShowChannelsComplete":
            tracker.flush()
    tracker.flush()


# --- a caller waits, then is answered --------------------------------------------------------

def test_a_caller_waiting_for_a_speaker_of_their_language_is_on_the_board_until_answered(ivr_db):
    tracker = CallTracker(make_session_factory(ivr_db))
    events = trace_events("queue_wait_answered_real.trace")
    offered = next(i for i, event in enumerate(events) if event.name == "AgentCalled")
    for event in events[:offered]:
        tracker.apply(event)
    tracker.flush()
    # 21 s after joining hotline-general-hak, the rule lets 1001 (fluent Mandarin only) take her.
    assert board(ivr_db, at(1796059915.581888)) == {"general": (1, 21), "priority": (0, 0)}
    for event in events[offered:]:
        tracker.apply(event)
    tracker.flush()
    assert board(ivr_db, at(1796059940)) == {"general": (0, 0), "priority": (0, 0)}
    row = call_row(ivr_db, "1796059807.0")
    assert (row["caller_number"], row["queue"], row["queue_entered_at"], row["queue_wait_seconds"], row["answered_at"],
            row["agent_extension"], row["ended_at"], row["outcome"]) == (
        "07623660360", "general", at(1796059894.553035), 23, at(1796059917.590334), "1001", at(1796059939.553818),
        CallOutcome.ANSWERED)
    with make_session_factory(ivr_db)() as session:
        shown = {o.extension: (o.state, o.since, o.until) for o in operators_now(session, at(1796059940))}
    assert shown["1001"] == (OperatorState.WRAP_UP, at(1796059939.550711), at(1796059954.550711))


def test_the_same_call_through_the_link_hints_the_wallboard(link, ivr_db):
    server, ami = link
    bus = InProcessBus()
    hints = bus.subscribe(WALLBOARD_TOPIC)
    tracker = CallTracker(make_session_factory(ivr_db))
    tracker.listeners.append(WallboardNotifier(bus))
    replay(server, ami, tracker, "queue_wait_answered_real.trace")
    assert call_row(ivr_db, "1796059807.0")["outcome"] is CallOutcome.ANSWERED
    assert hints.get(0.1) == {"kind": WALLBOARD_TOPIC}


@pytest.mark.parametrize("missed", ["the answer", "the join and the answer"])
def test_a_call_answered_while_the_link_was_down_counts_as_answered(ivr_db, missed):
    """The link comes back while the caller talks (hotline ami restarted, or the link
    redialled): AgentComplete still says how long the caller waited and talked."""
    events = trace_events("queue_wait_answered_real.trace")
    first_missed = next(i for i, e in enumerate(events) if e.name == ("AgentCalled" if missed == "the answer" else "Newchannel"))
    back = next(i for i, e in enumerate(events) if e.name == "AgentConnect") + 1
    tracker = CallTracker(make_session_factory(ivr_db))
    for event in events[:first_missed] + events[back:]:
        tracker.apply(event)
    tracker.flush()
    row = call_row(ivr_db, "1796059807.0")
    assert (row["outcome"], row["queue"], row["queue_wait_seconds"], row["agent_extension"]) == (
        CallOutcome.ANSWERED, "general", 23, "1001")
    assert abs((row["answered_at"] - at(1796059917.590334)).total_seconds()) <= 1  # AgentConnect's time
    assert abs((row["queue_entered_at"] - at(1796059894.553035)).total_seconds()) <= 1  # QueueCallerJoin's


# --- callers waiting while the link is down -----------------------------------------------------

def test_the_board_after_the_link_logs_in_again_shows_who_waits_with_their_real_waits(ivr_db, tracker_clock):
    tracker = CallTracker(make_session_factory(ivr_db))
    for event in trace_events("queue_waiting_real.trace"):
        tracker.apply(event)
    tracker.flush()
    resync(tracker, tracker_clock)
    assert_board_after_the_outage(ivr_db)


def test_the_board_after_hotline_ami_restarts_shows_who_waits_and_settles_who_left(ivr_db, tracker_clock):
    before = CallTracker(make_session_factory(ivr_db))
    for event in trace_events("queue_waiting_real.trace"):
        before.apply(event)
    before.flush()
    resync(CallTracker(make_session_factory(ivr_db)), tracker_clock)  # a new process: nothing in memory
    assert_board_after_the_outage(ivr_db)


def assert_board_after_the_outage(engine):
    # Waiting: E and F, as the link saw them join, and G, who joined during the outage:
    # QueueEntry's whole seconds of Wait put G within a second of her real join.
    rows = {uniqueid: call_row(engine, uniqueid) for uniqueid in (HAKKA_E, MANDARIN_F, HAKKA_G, MANDARIN_B,
                                                                  MANDARIN_B2, EMERGENCY_C)}
    assert rows[HAKKA_E]["queue_entered_at"] == JOINED[HAKKA_E]
    assert rows[MANDARIN_F]["queue_entered_at"] == JOINED[MANDARIN_F]
    assert abs((rows[HAKKA_G]["queue_entered_at"] - JOINED[HAKKA_G]).total_seconds()) < 1
    assert rows[HAKKA_G]["queue"] == "general" and rows[HAKKA_G]["caller_number"] == "07623660360"
    # The longest wait is E's: 194 s when QueueStatus was answered (its Wait said 195).
    assert board(engine, QUEUES_LISTED) == {"general": (3, 194), "priority": (0, 0)}
    # B hung up during the outage: no longer listed, so ended, abandoned in the queue, and
    # its wait counted to when the link found it gone (it had waited at least 243 s).
    b = rows[MANDARIN_B]
    assert (b["outcome"], b["ended_at"]) == (CallOutcome.ABANDONED_IN_QUEUE, CHANNELS_LISTED)
    assert b["queue_wait_seconds"] == round((CHANNELS_LISTED - JOINED[MANDARIN_B]).total_seconds())
    # B2 and C hung up while the link was up: Asterisk's own hold times.
    assert (rows[MANDARIN_B2]["outcome"], rows[MANDARIN_B2]["queue_wait_seconds"]) == (CallOutcome.ABANDONED_IN_QUEUE, 57)
    assert (rows[EMERGENCY_C]["outcome"], rows[EMERGENCY_C]["queue"], rows[EMERGENCY_C]["queue_wait_seconds"]) == (
        CallOutcome.ABANDONED_IN_QUEUE, "priority", 211)


# --- operators' states from QueueStatus -----------------------------------------------------------

@pytest.mark.parametrize("known", [OperatorState.AVAILABLE, OperatorState.ON_CALL])
def test_an_operator_in_a_call_stays_on_call_after_a_resync(ivr_db, known):
    """Asterisk sets InCall only on the member of the queue that connected the call
    (hotline-general-cmn, listed third); its other queues say InCall: 0."""
    user_id = operator_1001(ivr_db)
    with make_session_factory(ivr_db).begin() as session:
        record_state(session, user_id, known, at(1796060530), "ami")
    tracker = CallTracker(make_session_factory(ivr_db))
    tracker.begin_queue_resync()
    listing = trace_events("queue_status_in_call_real.trace")
    assert [(e.get("Queue"), e.get("InCall")) for e in listing if e.name == "QueueMember"] == [
        ("hotline-priority", "0"), ("hotline-general-hak", "0"), ("hotline-general-cmn", "1"), ("hotline-general-yue", "0")]
    for event in listing:
        tracker.apply(event)
    tracker.flush()
    assert latest_state(ivr_db, user_id) == (OperatorState.ON_CALL, None)


# --- the emulator answers QueueStatus as Asterisk does -------------------------------------------

def header_names(events, name):
    return {frozenset(key for key in e.headers if key not in ("ActionID", "Privilege")) for e in events if e.name == name}


def test_the_emulators_queuestatus_has_asterisks_fields():
    real = trace_events("queue_resync_real.trace")
    server = AmiServer().start()
    link = AmiLink("127.0.0.1", server.port, "hotline", "development-ami-secret", ping_interval=30).start()
    try:
        assert link.wait_connected(3)
        link.action("QueueAdd", Queue="hotline-general-hak", Interface="PJSIP/1001", MemberName="小陈", Penalty="3")
        link.action("QueuePause", Interface="PJSIP/1001", Paused="true", Reason="meal")
        server.queue_entries["hotline-general-hak"] = {
            "1796060133.5": {"Channel": "PJSIP/hotline-trunk-00000005", "CallerIDNum": "07623660360", "joined": 0}}
        link.action("QueueStatus")
        emulated = []
        while not emulated or emulated[-1].name != "QueueStatusComplete":
            emulated.append(link.events.get(timeout=3))
    finally:
        link.stop()
        server.stop()
    for name in ("QueueParams", "QueueMember", "QueueEntry", "QueueStatusComplete"):
        assert header_names(emulated, name) == header_names(real, name), name
    member = next(e for e in emulated if e.name == "QueueMember")
    assert (member.get("Location"), member.get("StateInterface"), member.get("Name"), member.get("Paused"),
            member.get("PausedReason"), member.get("InCall")) == ("PJSIP/1001", "PJSIP/1001", "小陈", "1", "meal", "0")
    entry = next(e for e in emulated if e.name == "QueueEntry")
    real_entry = next(e for e in real if e.name == "QueueEntry")
    assert (entry.get("CallerIDName"), entry.get("ConnectedLineNum")) == (
        real_entry.get("CallerIDName"), real_entry.get("ConnectedLineNum")) == ("unknown", "unknown")


# --- the emulator's queue events carry what Asterisk's do -----------------------------------------

# The fields of queue events that the tracker, the screen pop and the wallboard read.
READ_FIELDS = {"Queue", "Position", "Count", "OriginalPosition", "HoldTime", "RingTime", "TalkTime", "Reason", "Interface",
               "MemberName", "DestChannel", "Channel", "Uniqueid", "Linkedid", "CallerIDNum", "Timestamp", "ChanVariable"}
QUEUE_EVENTS = ("QueueCallerJoin", "QueueCallerLeave", "QueueCallerAbandon", "AgentCalled", "AgentConnect", "AgentComplete")


def queue_steps(events, queue_name):
    return [(e.name, e.get("Position"), e.get("Count") or None) for e in events
            if e.name.startswith("QueueCaller") and e.get("Queue") == queue_name]


@pytest.fixture
def emulated(ivr_db, ivr_server, tmp_path):
    """The demo's emulated Asterisk and a session reading its events with the link's mask."""
    from config import load_settings
    from hotline.demo_stack import EmulatedAsterisk

    settings = load_settings(environ={}, overrides={"database.url": str(ivr_db.url), "app.data_dir": str(tmp_path)})
    asterisk = EmulatedAsterisk(ivr_server.address, settings, port=0, talk_seconds=5).start()
    reader = AmiLink("127.0.0.1", asterisk.port, "hotline", "development-ami-secret", ping_interval=30,
                     event_mask="call,agent").start()
    assert reader.wait_connected(3)
    yield asterisk, reader
    reader.stop()
    asterisk.stop()


def drained(reader) -> list[AmiEvent]:
    events = []
    while True:
        try:
            events.append(reader.events.get(timeout=0.3))
        except queues.Empty:
            return events


def test_the_emulators_queue_events_carry_asterisks_positions_and_fields(emulated):
    """Two callers wait in one queue and the second hangs up first, as B and B2 did on
    Asterisk: positions and counts as Asterisk gave them, the abandon followed by the
    leave; then a call answered, whose events carry every field we read that Asterisk's do."""
    import threading

    from conftest import wait_until

    asterisk, reader = emulated
    real = trace_events("queue_waiting_real.trace")
    b_and_b2 = [e for e in real if e.get("Uniqueid") in (MANDARIN_B, MANDARIN_B2)]
    expected = queue_steps(b_and_b2, "hotline-general-cmn")[:4]
    assert expected == [("QueueCallerJoin", "1", "1"), ("QueueCallerJoin", "2", "2"),
                        ("QueueCallerAbandon", "2", None), ("QueueCallerLeave", "2", "1")]
    holds = [threading.Event(), threading.Event()]
    callers = [threading.Thread(target=asterisk.call, args=("13800138000", "1 1"),
                                kwargs={"wait_in_queue": 60, "hold": hold}, daemon=True) for hold in holds]
    for number, caller in enumerate(callers, 1):
        caller.start()
        assert wait_until(lambda: len(asterisk.ami.queue_entries.get("hotline-general", {})) == number, timeout=20)
    for hold, caller in zip(reversed(holds), reversed(callers)):
        hold.set()
        caller.join(20)
    emulated_events = drained(reader)
    assert queue_steps(emulated_events, "hotline-general") == expected + [
        ("QueueCallerAbandon", "1", None), ("QueueCallerLeave", "1", "0")]

    asterisk.log_in_operators(["1001"], ["hotline-general"])
    asterisk.call("13800138000", "1 1")
    emulated_events += drained(reader)
    real += trace_events("queue_wait_answered_real.trace")
    for name in QUEUE_EVENTS:
        wanted = set().union(*header_names(real, name)) & READ_FIELDS
        for fields in header_names(emulated_events, name):
            assert wanted <= fields, (name, wanted - fields)

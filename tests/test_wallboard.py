"""The wallboard's state: read from the database (so a restarted console shows the truth),
corrected by QueueStatus after the AMI link reconnects, red past each queue's threshold."""
import datetime as dt
import time

import click
import pytest
from sqlalchemy import select

from config import ConfigError, load_settings
from db.models import Call, CallDirection, CallOutcome, OperatorState, OperatorStateChange, PauseReason, Role
from db.session import make_session_factory
from db.users import create_user
from telephony.ami import AmiEvent
from telephony.call_events import CallTracker
from telephony.pop_bus import InProcessBus
from telephony.wallboard import (
    WAIT_HORIZON, WALLBOARD_TOPIC, QueueOnBoard, WallboardNotifier, operators_now, unknown_queues, waiting_callers,
    wallboard,
)

NOW = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.timezone.utc)  # 10:00 in Heyuan
QUEUES = ["general", "priority"]


def add_call(session, uniqueid, *, queue="general", entered=None, answered=None, ended=None, waited=None,
             started=None, outcome=CallOutcome.IN_PROGRESS):
    session.add(Call(uniqueid=uniqueid, direction=CallDirection.INBOUND, started_at=started or NOW - dt.timedelta(minutes=2),
                     queue=queue, queue_entered_at=entered, answered_at=answered, ended_at=ended,
                     queue_wait_seconds=waited, outcome=outcome))


def ago(seconds):
    return NOW - dt.timedelta(seconds=seconds)


def person(session, username, extension, *changes, active=True):
    user = create_user(session, username, f"{username}-password-2026", Role.OPERATOR, username.title(), extension)
    user.active = active
    session.flush()
    for state, at, extra in changes:
        session.add(OperatorStateChange(user_id=user.id, state=state, at=at, source="ami", **extra))
    session.flush()
    return user


def test_callers_waiting_are_the_queued_calls_not_yet_out_of_the_queue(session):
    add_call(session, "w.1", entered=ago(50))
    add_call(session, "w.2", entered=ago(10))
    add_call(session, "w.3", queue="priority", entered=ago(25))
    add_call(session, "answered", entered=ago(40), answered=ago(30), waited=10, outcome=CallOutcome.ANSWERED)
    add_call(session, "took-callback-offer", entered=ago(90), waited=60)  # left the queue, call goes on
    add_call(session, "abandoned", entered=ago(80), ended=ago(20), waited=60, outcome=CallOutcome.ABANDONED_IN_QUEUE)
    add_call(session, "in-ivr")  # never joined a queue
    add_call(session, "stale", entered=NOW - WAIT_HORIZON - dt.timedelta(minutes=1),
             started=NOW - WAIT_HORIZON - dt.timedelta(minutes=2))  # a row nothing settled
    add_call(session, "long-in-ivr", entered=ago(5), started=NOW - WAIT_HORIZON - dt.timedelta(minutes=1))
    session.flush()

    assert waiting_callers(session, NOW) == [("general", ago(50)), ("priority", ago(25)), ("general", ago(10)),
                                             ("general", ago(5))]
    board = wallboard(session, NOW, QUEUES, {"priority": 20}, 60)
    general, priority = board.queues
    assert (general.name, general.waiting, general.longest_wait(NOW), general.red(NOW)) == ("general", 3, 50, False)
    assert (priority.name, priority.waiting, priority.longest_wait(NOW), priority.red(NOW)) == ("priority", 1, 25, True)


def test_every_queue_of_the_menu_is_shown_and_a_caller_in_another_too(session):
    add_call(session, "other.1", queue="complaints", entered=ago(5))
    session.flush()
    board = wallboard(session, NOW, QUEUES, {}, 60)
    assert [(q.name, q.waiting) for q in board.queues] == [("general", 0), ("priority", 0), ("complaints", 1)]


@pytest.mark.parametrize("waited, red", [(0, False), (59, False), (60, True), (61, True)])
def test_a_queue_turns_red_when_its_longest_wait_reaches_its_threshold(waited, red):
    queue = QueueOnBoard("general", 60, [ago(waited), ago(1)])
    assert queue.red(NOW) is red
    assert QueueOnBoard("general", 60, []).red(NOW) is False  # nobody waiting: never red


def test_operators_by_state_with_the_pause_reason_and_since_when(session):
    available, on_call, done, wrapping, paused, gone = (OperatorState.AVAILABLE, OperatorState.ON_CALL,
                                                        OperatorState.WRAP_UP, OperatorState.WRAP_UP,
                                                        OperatorState.PAUSED, OperatorState.LOGGED_OUT)
    person(session, "wb-a", "2001", (OperatorState.LOGGED_IN, ago(600), {}), (available, ago(600), {}))
    person(session, "wb-b", "2002", (on_call, ago(120), {}))
    person(session, "wb-c", "2003", (done, ago(100), {"ends_at": ago(85)}))
    person(session, "wb-d", "2004", (wrapping, ago(5), {"ends_at": NOW + dt.timedelta(seconds=10)}))
    person(session, "wb-e", "2005", (paused, ago(300), {"reason": PauseReason.MEAL}))
    person(session, "wb-f", "2006", (OperatorState.LOGGED_IN, ago(900), {}), (gone, ago(60), {}))
    person(session, "wb-g", "2007")  # never signed in
    person(session, "wb-h", "2008", (available, ago(60), {}), active=False)
    person(session, "wb-i", "2009", (OperatorState.LOGGED_IN, ago(30), {}))  # "available" not recorded yet
    shown = {o.extension: (o.state, o.reason, o.since) for o in operators_now(session, NOW) if o.extension.startswith("20")}
    assert shown == {
        "2001": (OperatorState.AVAILABLE, None, ago(600)),
        "2002": (OperatorState.ON_CALL, None, ago(120)),
        "2003": (OperatorState.AVAILABLE, None, ago(85)),  # the wrap-up ran out: available since its end
        "2004": (OperatorState.WRAP_UP, None, ago(5)),
        "2005": (OperatorState.PAUSED, PauseReason.MEAL, ago(300)),
        "2006": (OperatorState.LOGGED_OUT, None, ago(60)),
        "2007": (OperatorState.LOGGED_OUT, None, None),
        "2009": (OperatorState.AVAILABLE, None, ago(30)),
    }
    board = wallboard(session, NOW, QUEUES, {}, 60)
    assert board.count(OperatorState.AVAILABLE) >= 3 and board.count(OperatorState.PAUSED) >= 1
    assert board.next_change == NOW + dt.timedelta(seconds=10)  # 2004's wrap-up ends: no event says so


# --- from AMI events: restarts and reconnects ---------------------------------------------------

def stamp(seconds_ago: float = 0) -> str:
    return f"{time.time() - seconds_ago:.6f}"


def joined(tracker, uniqueid, seconds_ago, queue="hotline-general"):
    for name, headers in (("Newchannel", {"Context": "hotline-inbound", "CallerIDNum": "13912345678", "Exten": "4008300762"}),
                          ("QueueCallerJoin", {"Queue": queue, "Position": "1", "Count": "1"})):
        tracker.apply(AmiEvent(name, {"Uniqueid": uniqueid, "Linkedid": uniqueid, "Channel": f"PJSIP/trunk-{uniqueid}",
                                      "Timestamp": stamp(seconds_ago), **headers}))


def board_now(sessions):
    from db.base import utcnow

    with sessions() as session:
        now = utcnow()
        return {q.name: (q.waiting, q.longest_wait(now)) for q in wallboard(session, now, QUEUES, {}, 60).queues}


def test_a_restarted_console_and_ami_link_show_the_callers_still_waiting(ivr_db):
    """The board is read from the database: nothing a process kept in memory is needed."""
    sessions = make_session_factory(ivr_db)
    tracker = CallTracker(sessions)
    joined(tracker, "7001.1", 40)
    joined(tracker, "7001.2", 15, queue="hotline-priority")
    tracker.flush()
    del tracker  # the AMI link stops; the console restarts with nothing in memory
    board = board_now(sessions)
    assert board["general"][0] == 1 and 39 <= board["general"][1] <= 45
    assert board["priority"][0] == 1 and 14 <= board["priority"][1] <= 20


def queue_status(tracker, entries, members=()):
    """What a QueueStatus after a reconnect answers: the members, the callers waiting."""
    tracker.begin_queue_resync()
    for extension, paused, reason in members:
        tracker.apply(AmiEvent("QueueMember", {"Queue": "hotline-general", "Interface": f"PJSIP/{extension}",
                                               "StateInterface": f"PJSIP/{extension}", "Paused": paused,
                                               "PausedReason": reason, "InCall": "0"}))
    for uniqueid, queue, wait in entries:
        tracker.apply(AmiEvent("QueueEntry", {"Queue": queue, "Position": "1", "Channel": f"PJSIP/trunk-{uniqueid}",
                                              "Uniqueid": uniqueid, "CallerIDNum": "07623660360", "Wait": str(wait)}))
    tracker.apply(AmiEvent("QueueStatusComplete", {"EventList": "Complete"}))
    tracker.flush()


def test_queuestatus_after_a_reconnect_corrects_the_callers_waiting(ivr_db):
    sessions = make_session_factory(ivr_db)
    tracker = CallTracker(sessions)
    joined(tracker, "7101.1", 90)  # answered while the link was down: no longer in the queue
    joined(tracker, "7101.2", 30)  # still waiting
    tracker.flush()
    # 7101.3 joined while the link was down; a new AMI process (restart) knows none of them.
    restarted = CallTracker(sessions)
    queue_status(restarted, [("7101.2", "hotline-general", 31), ("7101.3", "hotline-priority", 12)])
    board = board_now(sessions)
    assert board["general"][0] == 1 and 30 <= board["general"][1] <= 36  # 7101.1 left it
    assert board["priority"][0] == 1 and 11 <= board["priority"][1] <= 17  # 7101.3 found by QueueStatus
    with sessions() as session:
        left = session.scalar(select(Call).where(Call.uniqueid == "7101.1"))
        assert left.queue_wait_seconds >= 90 and left.outcome is CallOutcome.IN_PROGRESS  # still on the line
        found = session.scalar(select(Call).where(Call.uniqueid == "7101.3"))
        assert found.queue == "priority"


def test_queuestatus_settles_a_leaver_the_tracker_still_holds_and_spares_a_later_join(ivr_db):
    sessions = make_session_factory(ivr_db)
    tracker = CallTracker(sessions)
    joined(tracker, "7201.1", 60)
    tracker.flush()
    tracker.begin_queue_resync()
    joined(tracker, "7201.2", -1)  # joins just after the listing began: not in it
    tracker.flush()
    tracker.apply(AmiEvent("QueueStatusComplete", {"EventList": "Complete"}))
    tracker.flush()
    with sessions() as session:
        rows = {c.uniqueid: c.queue_wait_seconds for c in session.scalars(
            select(Call).where(Call.uniqueid.in_(["7201.1", "7201.2"])))}
    assert rows["7201.1"] >= 60 and rows["7201.2"] is None
    assert tracker.calls["7201.1"].queue_wait_seconds == rows["7201.1"]  # memory agrees: no rewrite to NULL


def test_queuestatus_corrects_the_operators_states_on_the_board(ivr_db):
    sessions = make_session_factory(ivr_db)
    tracker = CallTracker(sessions)
    queue_status(tracker, [], members=[("1001", "1", "meal"), ("1003", "0", "")])
    with sessions() as session:
        from db.base import utcnow
        shown = {o.extension: (o.state, o.reason) for o in operators_now(session, utcnow())}
    assert shown["1001"] == (OperatorState.PAUSED, PauseReason.MEAL)
    assert shown["1003"] == (OperatorState.AVAILABLE, None)


def test_the_notifier_hints_once_a_write_and_only_for_queue_and_member_events():
    bus = InProcessBus()
    hints = bus.subscribe(WALLBOARD_TOPIC)
    notifier = WallboardNotifier(bus)
    notifier.on_event(AmiEvent("Newchannel", {}))
    notifier.after_flush()
    assert hints.get(0.01) is None
    for name in ("QueueCallerJoin", "QueueMemberPause", "AgentConnect"):
        notifier.on_event(AmiEvent(name, {}))
    notifier.after_flush()
    notifier.after_flush()
    assert hints.get(0.01) == {"kind": WALLBOARD_TOPIC}
    assert hints.get(0.01) is None


def test_one_subscription_takes_an_extension_and_the_wallboard():
    bus = InProcessBus()
    both = bus.subscribe("1002", WALLBOARD_TOPIC)
    bus.publish("1002", {"uniqueid": "1.1"})
    bus.publish(WALLBOARD_TOPIC, {"kind": WALLBOARD_TOPIC})
    bus.publish("1001", {"uniqueid": "1.2"})
    assert [both.get(0.01), both.get(0.01), both.get(0.01)] == [{"uniqueid": "1.1"}, {"kind": WALLBOARD_TOPIC}, None]
    both.close()
    bus.publish(WALLBOARD_TOPIC, {"kind": WALLBOARD_TOPIC})
    assert both.get(0.01) is None


# --- the threshold setting ---------------------------------------------------------------------

def test_thresholds_from_toml_and_environment():
    settings = load_settings(environ={"HOTLINE_WALLBOARD_RED_AFTER_BY_QUEUE": "priority=10, general=90"})
    assert settings.wallboard.red_after_by_queue == {"priority": 10, "general": 90}
    assert load_settings(environ={}).wallboard.red_after_by_queue == {"priority": 20}
    assert load_settings(environ={}, overrides={"wallboard.red_after_seconds": "45"}).wallboard.red_after_seconds == 45


@pytest.mark.parametrize("key, value", [
    ("wallboard.red_after_seconds", 0), ("wallboard.red_after_seconds", "soon"),
    ("wallboard.red_after_by_queue", "priority"), ("wallboard.red_after_by_queue", {"priority": 0}),
    ("wallboard.red_after_by_queue", {"Priority Queue": 20}), ("wallboard.red_after_by_queue", [20]),
])
def test_a_bad_threshold_stops_start_up_naming_the_setting(key, value):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.") + r" \(from overrides\).*expected"):
        load_settings(environ={}, overrides={key: value})


def test_a_threshold_for_a_queue_the_menu_does_not_have_stops_the_console(tmp_path):
    from hotline.console_commands import check_wallboard_queues
    from hotline.context import AppContext

    assert unknown_queues({"priority": 20, "genral": 60}, {"general": {}, "priority": {}}) == ["genral"]
    app = AppContext(load_settings(environ={}, overrides={"wallboard.red_after_by_queue": {"genral": 60},
                                                          "app.data_dir": str(tmp_path)}))
    with pytest.raises(click.ClickException, match="genral.*general, priority"):
        check_wallboard_queues(app)


# --- end to end: the emulated Asterisk, the AMI link, a caller who joins while it is down ---------

@pytest.fixture
def linked(ivr_db, ivr_server, tmp_path):
    """An emulated Asterisk with 1001 in the queues, and the AMI link following it onto a pop bus."""
    import threading

    from hotline.demo_stack import EmulatedAsterisk
    from telephony.ami import AmiLink
    from telephony.ami_service import AmiService

    settings = load_settings(environ={}, overrides={"database.url": str(ivr_db.url), "app.data_dir": str(tmp_path)})
    asterisk = EmulatedAsterisk(ivr_server.address, settings, port=0, talk_seconds=5).start()
    asterisk.log_in_operators(["1001"], ["hotline-general", "hotline-priority"])
    bus = InProcessBus()
    link = AmiLink("127.0.0.1", asterisk.port, "hotline", "development-ami-secret", ping_interval=0.5, reply_timeout=1.0)
    ami = AmiService(link, CallTracker(make_session_factory(ivr_db)), pop_bus=bus)
    thread = threading.Thread(target=ami.run, daemon=True)
    thread.start()
    assert link.wait_connected(3)
    yield asterisk, ami, bus
    ami.stop()
    thread.join(10)
    asterisk.stop()


def test_a_caller_who_joined_while_the_link_was_down_is_on_the_board_after_the_reconnect(linked, ivr_db):
    import threading

    from conftest import wait_until

    asterisk, ami, bus = linked
    sessions = make_session_factory(ivr_db)
    hints = bus.subscribe(WALLBOARD_TOPIC)
    asterisk.ami.pause_member("PJSIP/1001", True, "break")
    assert hints.get(5) == {"kind": WALLBOARD_TOPIC}
    asterisk.ami.hang()  # the link's connection goes silent: the caller's events never reach it
    hold = threading.Event()
    caller = threading.Thread(target=asterisk.call, args=("13800138000", "1 1"),
                              kwargs={"wait_in_queue": 60, "hold": hold}, daemon=True)
    caller.start()
    try:
        assert wait_until(lambda: asterisk.ami.queue_entries.get("hotline-general"), timeout=20)
        assert board_now(sessions)["general"][0] == 0
        asterisk.ami.resume()  # the link finds its connection dead, reconnects and resyncs
        assert wait_until(lambda: board_now(sessions)["general"][0] == 1, timeout=15)
        assert ami.link.reconnects >= 1
        while hints.get(0.01) is not None:
            pass
    finally:
        hold.set()  # the caller gives up
        caller.join(20)
    assert wait_until(lambda: board_now(sessions)["general"][0] == 0, timeout=10)
    assert hints.get(5) == {"kind": WALLBOARD_TOPIC}
    with sessions() as session:
        from db.base import utcnow
        paused = {o.extension: (o.state, o.reason) for o in operators_now(session, utcnow())}["1001"]
    assert paused == (OperatorState.PAUSED, PauseReason.BREAK)


def test_the_demo_can_hold_a_caller_in_the_queue_for_the_wallboard(linked):
    asterisk, _, _ = linked
    started = time.monotonic()
    reply = asterisk._call_action({"Caller": "07623660360", "Keys": "5", "WaitInQueue": "2"})  # emergency
    assert (reply["Queue"], reply["Agent"]) == ("priority", "")  # nobody answered, though 1001 was free
    assert time.monotonic() - started >= 2
    for bad in ("soon", "0", "241"):
        with pytest.raises(ValueError, match="WaitInQueue"):
            asterisk._call_action({"Caller": "07623660360", "Keys": "5", "WaitInQueue": bad})


def test_waiting_in_a_queue_needs_a_call_through_asterisk():
    from click.testing import CliRunner

    from hotline.cli import cli

    result = CliRunner().invoke(cli, ["call", "--keys", "1 1", "--wait-in-queue", "5"])
    assert result.exit_code == 2 and "only a call placed --through-asterisk reaches a queue" in result.output


def test_one_redis_subscription_takes_an_extension_and_the_wallboard():
    """Between processes (`hotline ami`, the console's workers) the hints cross Redis."""
    import uuid

    from telephony.pop_bus import RedisBus

    redis = pytest.importorskip("redis")
    try:
        redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis at 127.0.0.1:6379 is unreachable: {exc}")
    extension = f"t{uuid.uuid4().hex[:8]}"
    publisher, subscriber = RedisBus("redis://127.0.0.1:6379/0"), RedisBus("redis://127.0.0.1:6379/0")
    subscription = subscriber.subscribe(extension, WALLBOARD_TOPIC)
    time.sleep(0.1)
    publisher.publish(extension, {"uniqueid": "9.8"})
    publisher.publish(WALLBOARD_TOPIC, {"kind": WALLBOARD_TOPIC})
    got = []
    deadline = time.monotonic() + 2
    while len({json_key(message) for message in got}) < 2 and time.monotonic() < deadline:
        message = subscription.get(0.2)
        if message is not None:
            got.append(message)
    subscription.close()
    assert {"uniqueid": "9.8"} in got and {"kind": WALLBOARD_TOPIC} in got


def json_key(message: dict) -> str:
    return repr(sorted(message.items()))

"""A call end to end on the emulator: IVR over FastAGI, queue and operator over AMI, one call row."""
import datetime as dt
import threading
import time

import pytest
from sqlalchemy import select

from db.models import Call, CallbackTask, CallDirection, CallOutcome, IvrOutcome, IvrSession, TaskStatus, User
from db.session import make_session_factory
from emulator.agi_channel import CallSpec, parse_keys
from emulator.ami_server import AmiServer
from emulator.switch import Switch
from telephony.ami import AmiLink
from telephony.ami_service import EVENT_CLASSES, AmiService
from telephony.call_events import CallTracker
from telephony.callback_placer import CallbackPlacer
from tests.conftest import wait_until


@pytest.fixture
def asterisk(ivr_db, ivr_server, ivr_services, clock):
    # The account as manager.conf renders it, logged in with `hotline ami`'s mask.
    ami_server = AmiServer().start()
    link = AmiLink("127.0.0.1", ami_server.port, "hotline", "development-ami-secret", ping_interval=30,
                   event_mask=",".join(EVENT_CLASSES))
    sessions = make_session_factory(ivr_db)
    service = AmiService(link, CallTracker(sessions), CallbackPlacer(link, sessions))
    service.PLACE_INTERVAL = 0.1
    thread = threading.Thread(target=service.run, daemon=True)
    thread.start()
    assert link.wait_connected(3)
    # Asterisk's clock is the IVR's (fixed inside business hours).
    yield ami_server, link, Switch(ami_server, clock=lambda: clock.now.timestamp())
    service.stop()
    thread.join(10)
    ami_server.stop()


def settled(ivr_db, ivr_services, uniqueid):
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        ivr_services.call_log.flush()
        with make_session_factory(ivr_db)() as session:
            call = session.scalar(select(Call).where(Call.uniqueid == uniqueid))
            if call is not None and call.ended_at is not None and call.ivr_language is not None:
                return call
        time.sleep(0.05)
    raise AssertionError("the call row did not settle")


def test_a_call_walks_the_ivr_queues_is_answered_and_hangs_up(asterisk, ivr_db, ivr_server, ivr_services):
    ami_server, link, switch = asterisk
    link.action("QueueAdd", Queue="hotline-general", Interface="PJSIP/1001", Paused="false")  # the operator logs in
    host, port = ivr_server.address
    switched = switch.call(CallSpec(caller="13912345678", host=host, port=port, events=parse_keys("2 1 3")))
    assert switched.queue == "general" and switched.agent == "PJSIP/1001"
    call = settled(ivr_db, ivr_services, switched.uniqueid)
    with make_session_factory(ivr_db)() as session:
        operator = session.scalar(select(User.id).where(User.sip_extension == "1001"))
        ivr = session.scalar(select(IvrSession).where(IvrSession.call_id == call.id))
    assert call.outcome is CallOutcome.ANSWERED
    assert call.ivr_language.value == "yue" and call.ivr_path.endswith("family_services>medical")
    assert call.queue == "general" and call.queue_wait_seconds == 3  # offered at once, rang 3 s
    assert call.agent_id == operator and call.agent_extension == "1001"
    assert call.started_at < call.queue_entered_at < call.answered_at < call.ended_at
    assert call.hangup_cause == 16 and call.caller_number == "13912345678"
    assert ivr.outcome is IvrOutcome.ROUTED
    # What MixMonitor writes: <recordings_dir>/<day in Asia/Shanghai>/<uniqueid>.wav
    assert call.recording_file == f"/var/spool/asterisk/monitor/hotline/20261127/{switched.uniqueid}.wav"


def test_a_caller_who_takes_the_callback_offer_is_called_back_by_name(asterisk, ivr_db, ivr_server, ivr_services):
    """Pressing 1 while waiting books a callback (not an abandon); the placeholder that keeps
    the caller's place is answered by 1001, and its row names the caller, not 1001."""
    ami_server, link, switch = asterisk
    host, port = ivr_server.address
    switched = switch.call(CallSpec(caller="13766665555", host=host, port=port, events=parse_keys("2 1 3")),
                           take_callback=True)
    assert switched.callback.variables["HOTLINE_CALLBACK_BOOKED"] == "1"
    task_id = int(switched.callback.variables["HOTLINE_CALLBACK_ID"])
    call = settled(ivr_db, ivr_services, switched.uniqueid)
    assert call.outcome is CallOutcome.CALLBACK_REQUESTED and call.queue == "general" and call.answered_at is None
    assert call.queue_wait_seconds == switch.callback_offer_after

    def task():
        with make_session_factory(ivr_db)() as session:
            return session.get(CallbackTask, task_id)
    assert wait_until(lambda: task().call_id == call.id)  # the task points to the call...
    # ...which an operator returns from the caller's place in the queue.
    link.action("QueueAdd", Queue="hotline-general", Interface="PJSIP/1001", Paused="false")
    assert wait_until(lambda: task().status is TaskStatus.DONE, timeout=5)

    def call_back():
        with make_session_factory(ivr_db)() as session:
            return session.scalar(select(Call).where(Call.callback_task_id == task_id, Call.ended_at.is_not(None)))
    assert wait_until(lambda: call_back() is not None, timeout=5)
    back = call_back()
    assert (back.caller_number, back.direction, back.agent_extension) == ("13766665555", CallDirection.OUTBOUND, "1001")
    assert back.outcome is CallOutcome.ANSWERED and back.uniqueid != call.uniqueid


def test_a_callback_placeholder_queues_in_the_callers_language(asterisk, ivr_db, ivr_server, ivr_services, settings, clock):
    """Routing by language: a Cantonese caller's placeholder waits in the Cantonese queue
    (HOTLINE_LANG on the Originate) and is answered by the Cantonese speaker, though a
    Mandarin-only operator signed in first; both rows name the menu's queue."""
    from dialplans.render import caller_route
    from ivr.menu import load_menu

    ami_server, link, _ = asterisk
    menu = load_menu()
    switch = Switch(ami_server, clock=lambda: clock.now.timestamp(),
                    routes=lambda queue, language: caller_route(menu, settings.asterisk, queue, language))
    for extension, penalty in (("1002", "3"), ("1001", "0")):  # 1002 speaks no Cantonese; 1001 natively
        link.action("QueueAdd", Queue="hotline-general-yue", Interface=f"PJSIP/{extension}", Penalty=penalty, Paused="false")
    host, port = ivr_server.address
    switched = switch.call(CallSpec(caller="13766665556", host=host, port=port, events=parse_keys("2 1 3")),
                           take_callback=True)
    task_id = int(switched.callback.variables["HOTLINE_CALLBACK_ID"])
    call = settled(ivr_db, ivr_services, switched.uniqueid)
    assert call.outcome is CallOutcome.CALLBACK_REQUESTED and call.queue == "general"

    def call_back():
        with make_session_factory(ivr_db)() as session:
            return session.scalar(select(Call).where(Call.callback_task_id == task_id, Call.ended_at.is_not(None)))
    assert wait_until(lambda: call_back() is not None, timeout=5)
    back = call_back()
    assert back.agent_extension == "1001" and back.queue == "general" and back.caller_number == "13766665556"


def test_nobody_logged_in_the_caller_abandons_in_the_queue(asterisk, ivr_db, ivr_server, ivr_services):
    ami_server, link, switch = asterisk
    host, port = ivr_server.address
    switched = switch.call(CallSpec(caller="13912345679", host=host, port=port, events=parse_keys("1 5")))
    call = settled(ivr_db, ivr_services, switched.uniqueid)
    assert switched.queue == "priority"
    assert call.outcome is CallOutcome.ABANDONED_IN_QUEUE and call.queue == "priority" and call.answered_at is None


def test_a_caller_who_hangs_up_in_the_ivr(asterisk, ivr_db, ivr_server, ivr_services):
    ami_server, link, switch = asterisk
    host, port = ivr_server.address
    switched = switch.call(CallSpec(caller="13912345670", host=host, port=port, events=parse_keys("1 h")))
    call = settled(ivr_db, ivr_services, switched.uniqueid)
    assert call.outcome is CallOutcome.ABANDONED_IN_IVR and call.queue is None


def test_the_queue_offers_a_caller_only_to_a_member_free_to_take_it(asterisk, ivr_db, ivr_server, ivr_services):
    """As app_queue (ringinuse = no): not to one already in a call, not to one paused."""
    ami_server, link, switch = asterisk
    for extension in ("1001", "1002", "1003"):
        link.action("QueueAdd", Queue="hotline-general", Interface=f"PJSIP/{extension}", Paused="false")
    link.action("QueuePause", Queue="hotline-general", Interface="PJSIP/1003", Paused="true", Reason="meal")
    host, port = ivr_server.address
    # Three callers at once (the clock stands still); each talks for 95 s once answered.
    calls = [switch.call(CallSpec(caller=f"1370000000{n}", host=host, port=port, events=parse_keys("2 1 3")))
             for n in range(3)]
    assert [c.agent for c in calls] == ["PJSIP/1001", "PJSIP/1002", None]
    assert all(c.queue == "general" for c in calls)
    third = settled(ivr_db, ivr_services, calls[2].uniqueid)
    assert third.outcome is CallOutcome.ABANDONED_IN_QUEUE  # nobody came free within 30 s


def test_a_member_in_wrap_up_is_offered_the_next_caller_when_it_ends(asterisk, ivr_db, ivr_server, ivr_services, clock):
    ami_server, link, _ = asterisk
    switch = Switch(ami_server, clock=lambda: clock.now.timestamp(), talk_seconds=10, wrapup_seconds=15)
    link.action("QueueAdd", Queue="hotline-general", Interface="PJSIP/1001", Paused="false")
    host, port = ivr_server.address
    first = switch.call(CallSpec(caller="13700000011", host=host, port=port, events=parse_keys("2 1 3")))
    clock.now += dt.timedelta(seconds=20)  # the next caller reaches the queue during 1001's wrap-up
    second = switch.call(CallSpec(caller="13700000012", host=host, port=port, events=parse_keys("2 1 3")))
    assert first.agent == second.agent == "PJSIP/1001"
    first_row, second_row = (settled(ivr_db, ivr_services, c.uniqueid) for c in (first, second))
    assert second_row.outcome is CallOutcome.ANSWERED
    # The first call's hangup starts 15 s of wrap-up: the second caller waited them out.
    assert second_row.answered_at - first_row.ended_at >= dt.timedelta(seconds=15)
    assert second_row.queue_wait_seconds > 4

"""A call end to end on the emulator: IVR over FastAGI, queue and operator over AMI, one call row."""
import threading
import time

import pytest
from sqlalchemy import select

from db.models import Call, CallbackTask, CallDirection, CallOutcome, IvrOutcome, IvrSession, TaskStatus, User
from db.session import make_session_factory
from emulator.agi_channel import CallSpec, parse_keys
from emulator.ami_server import AmiServer
from emulator.switch import Switch
from ivr.ami import AmiLink
from ivr.ami_service import EVENT_CLASSES, AmiService
from ivr.call_events import CallTracker
from ivr.callback_placer import CallbackPlacer
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
    assert call.queue == "general" and call.queue_wait_seconds == 4
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

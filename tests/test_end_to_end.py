"""A call end to end on the emulator: IVR over FastAGI, queue and operator over AMI, one call row."""
import threading
import time

import pytest
from sqlalchemy import select

from db.models import Call, CallOutcome, IvrOutcome, IvrSession, User
from db.session import make_session_factory
from emulator.agi_channel import CallSpec, parse_keys
from emulator.ami_server import AmiServer
from emulator.switch import Switch
from telephony.ami import AmiLink
from telephony.ami_service import AmiService
from telephony.call_events import CallTracker


@pytest.fixture
def asterisk(ivr_db, ivr_server, ivr_services, clock):
    ami_server = AmiServer().start()
    link = AmiLink("127.0.0.1", ami_server.port, "hotline", "development-ami-secret", ping_interval=30)
    service = AmiService(link, CallTracker(make_session_factory(ivr_db)))
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

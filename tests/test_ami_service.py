"""`hotline ami`: the link cut mid-call resyncs; a flood of events is consumed in bounded memory."""
import datetime as dt
import threading
import time

import pytest
from sqlalchemy import func, select

from db.models import Call, CallOutcome
from db.session import make_session_factory
from emulator.ami_server import AmiServer, message
from telephony.ami import AmiLink
from telephony.ami_service import AmiService
from conftest import wait_until
from telephony.call_events import CallTracker


def wait_until_long(condition):
    return wait_until(condition, timeout=8.0, step=0.05)



def row(engine, uniqueid):
    with make_session_factory(engine)() as session:
        return session.scalar(select(Call).where(Call.uniqueid == uniqueid))


@pytest.fixture
def service(ivr_db):
    server = AmiServer().start()
    link = AmiLink("127.0.0.1", server.port, "hotline", "development-ami-secret", ping_interval=1.0, reply_timeout=1.5)
    ami = AmiService(link, CallTracker(make_session_factory(ivr_db)))
    thread = threading.Thread(target=ami.run, daemon=True)
    thread.start()
    assert link.wait_connected(3)
    yield server, ami
    ami.stop()
    thread.join(10)
    server.stop()


def start_call(server, uniqueid):
    # The channel is live before its first event, as on Asterisk: the service's listing of
    # live channels after login, which may run at any moment here, must find it.
    server.channels[uniqueid] = {"Linkedid": uniqueid, "Channel": f"PJSIP/hotline-trunk-{uniqueid}",
                                 "CallerIDNum": "13912345678", "Duration": "00:00:05"}
    stamp = f"{time.time():.6f}"
    server.emit("Newchannel", Timestamp=stamp, Channel=f"PJSIP/hotline-trunk-{uniqueid}", CallerIDNum="13912345678",
                Context="hotline-trunk", Exten="4008300762", Uniqueid=uniqueid, Linkedid=uniqueid)
    server.emit("QueueCallerJoin", Timestamp=stamp, Queue="hotline-general", Uniqueid=uniqueid, Linkedid=uniqueid, Position="1")


@pytest.mark.parametrize("cut", ["close", "hang"])
def test_link_cut_mid_call_reconnects_and_resyncs(service, ivr_db, cut):
    server, ami = service
    start_call(server, "100.1")
    assert wait_until_long(lambda: row(ivr_db, "100.1") is not None)
    assert row(ivr_db, "100.1").outcome is CallOutcome.IN_PROGRESS
    cut_at = time.monotonic()
    if cut == "close":
        server.close_all()
    else:
        server.hang()
        server.resume()
    # While the link is down, call 100.1 ends and call 200.2 begins.
    del server.channels["100.1"]
    server.channels["200.2"] = {"Linkedid": "200.2", "Channel": "PJSIP/hotline-trunk-2", "CallerIDNum": "07623660360",
                                "Duration": "0:00:07"}
    assert wait_until_long(lambda: ami.link.reconnects >= 1 and ami.link.connected.is_set())
    assert time.monotonic() - cut_at < 5
    assert wait_until_long(lambda: row(ivr_db, "100.1").ended_at is not None and row(ivr_db, "200.2") is not None)
    ended = row(ivr_db, "100.1")
    assert ended.outcome is CallOutcome.ABANDONED_IN_QUEUE  # it never reached an operator
    began = row(ivr_db, "200.2")
    assert began.caller_number == "07623660360"
    assert abs((dt.datetime.now(dt.timezone.utc) - began.started_at).total_seconds() - 7) < 5
    with make_session_factory(ivr_db)() as session:
        assert session.scalar(select(func.count(Call.id)).where(Call.uniqueid.in_(["100.1", "200.2"]))) == 2


def test_a_flood_of_100k_events_is_consumed_without_dropping(service, ivr_db):
    server, ami = service
    calls = 10_000  # of ten events each
    deepest = [0]

    def watch():
        while not done.is_set():
            deepest[0] = max(deepest[0], ami.link.events.qsize())
            time.sleep(0.01)

    done = threading.Event()
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    chunk = []
    for n in range(calls):
        uid = f"9{n:06d}.1"
        base = dict(Uniqueid=uid, Linkedid=uid, Timestamp=f"{1795750000 + n}.0")
        chunk += [message(Event="Newchannel", Channel="PJSIP/t", CallerIDNum="13912345678", Context="hotline-trunk", Exten="4008300762", **base)]
        chunk += [message(Event="VarSet", Variable=f"V{k}", Value="x", **base) for k in range(5)]
        chunk += [message(Event="QueueCallerJoin", Queue="hotline-general", **base),
                  message(Event="AgentConnect", Interface="PJSIP/1001", HoldTime="3", **base),
                  message(Event="AgentComplete", TalkTime="60", **base),
                  message(Event="Hangup", Cause="16", **base)]
        if len(chunk) >= 5000:
            server.send_raw("".join(chunk))
            chunk = []
    server.send_raw("".join(chunk))
    assert wait_until(lambda: _count(ivr_db) == calls and not ami.tracker.calls, timeout=60)
    done.set()
    assert ami.link.dropped_events == 0
    assert deepest[0] <= ami.link.events.maxsize
    assert not ami.tracker.calls  # every ended call was written and forgotten


def _count(engine):
    with make_session_factory(engine)() as session:
        return session.scalar(select(func.count(Call.id)).where(Call.uniqueid.like("9%.1"), Call.outcome == CallOutcome.ANSWERED))


def test_an_idle_link_sleeps_on_its_event_queue(ivr_db):
    """No calls: the loop wakes for the next look for callbacks (every PLACE_INTERVAL), not
    ten times a second; an event, a login or stop() wakes it at once."""
    server = AmiServer().start()
    link = AmiLink("127.0.0.1", server.port, "hotline", "development-ami-secret", ping_interval=30)
    tracker = CallTracker(make_session_factory(ivr_db))
    ami = AmiService(link, tracker)
    drains = []
    drain = tracker.drain
    tracker.drain = lambda events, **kwargs: drains.append(kwargs.get("wait")) or drain(events, **kwargs)
    thread = threading.Thread(target=ami.run, daemon=True)
    thread.start()
    try:
        assert link.wait_connected(3)
        time.sleep(0.5)  # the login's resync is over
        before = len(drains)
        time.sleep(1.5)
        assert len(drains) - before <= 1
        start_call(server, "300.3")
        assert wait_until(lambda: row(ivr_db, "300.3") is not None, timeout=1.0)  # an event wakes it
        stopping = time.monotonic()
        ami.stop()
        thread.join(3)
        assert not thread.is_alive() and time.monotonic() - stopping < 1.0
    finally:
        ami.stop()
        server.stop()

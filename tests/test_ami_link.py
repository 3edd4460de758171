"""The AMI link against the emulator's AMI server: each asterisk-ami defect stays contained."""
import logging
import re
import queue
import socket
import threading
import time

import pytest
from asterisk.ami import AMIClient, SimpleAction

from emulator.ami_server import REASON_ANSWERED, REASON_BUSY, AmiServer
from telephony.ami import AmiError, AmiLink, is_own_action_id
from conftest import wait_until

SECRET = "development-ami-secret"



def next_event(link, name, timeout=3.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            event = link.events.get(timeout=0.1)
        except queue.Empty:
            continue
        if event.name == name:
            return event
    raise AssertionError(f"no {name} event")


@pytest.fixture
def server():
    ami = AmiServer(originate_outcome=lambda channel: REASON_BUSY if "13800138005" in channel else REASON_ANSWERED).start()
    yield ami
    ami.stop()


@pytest.fixture
def make_link(server):
    links = []

    def _make(**options):
        link = AmiLink("127.0.0.1", server.port, "hotline", options.pop("secret", SECRET), **options).start()
        links.append(link)
        return link

    yield _make
    for link in links:
        link.stop()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # else its notifyAll() deadlocks first
def test_the_library_reader_dies_after_its_timeout():
    """The defect itself: asterisk-ami's read timeout is its reply timeout."""
    ami = AmiServer().start()
    try:
        client = AMIClient("127.0.0.1", ami.port, timeout=0.3)
        assert not client.login("hotline", SECRET).response.is_error()
        time.sleep(1.0)
        assert client.send_action(SimpleAction("Ping")).response is None
        client.disconnect()
    finally:
        ami.stop()


def test_idle_longer_than_the_reply_timeout_keeps_the_reader_alive(server, make_link):
    link = make_link(reply_timeout=0.3, ping_interval=30)
    assert link.wait_connected(3)
    time.sleep(1.0)
    server.emit("UserEvent", UserEvent="HotlineTest", Uniqueid="1.1")
    assert next_event(link, "UserEvent").get("UserEvent") == "HotlineTest"
    assert link.action("Ping")["Ping"] == "Pong"


def test_a_failing_consumer_hook_or_a_bad_packet_does_not_kill_the_reader(server, make_link):
    class Flaky(queue.Queue):
        armed = failed = False

        def put_nowait(self, item):
            if Flaky.armed and not Flaky.failed:
                Flaky.failed = True
                raise RuntimeError("consumer bug")
            super().put_nowait(item)

    link = make_link(ping_interval=30)
    link.events = Flaky()
    assert link.wait_connected(3)
    next_event(link, "FullyBooted")
    Flaky.armed = True
    server.emit("UserEvent", UserEvent="First")
    for session in server._live():
        session.send("Event: Broken\r\nno colon here at all\r\n\xff\r\n\r\n")
    server.emit("UserEvent", UserEvent="Second")
    assert next_event(link, "UserEvent").get("UserEvent") == "Second"
    assert Flaky.failed


def test_reconnects_within_5_s_after_the_peer_closes_and_resyncs(server, make_link):
    logins = []
    link = make_link()
    link.on_connected.append(lambda l: logins.append(time.monotonic()))
    assert link.wait_connected(3)
    started = time.monotonic()
    server.close_all()
    assert wait_until(lambda: link.reconnects >= 1 and link.connected.is_set() and server.logged_in_sessions() == 1)
    assert time.monotonic() - started < 5
    assert len(logins) == 2  # a resync hook after every login


def test_detects_a_silently_hung_peer_and_reconnects_within_5_s(server, make_link, caplog):
    caplog.set_level(logging.WARNING, logger="telephony.ami")
    link = make_link(ping_interval=1.0, reply_timeout=2.0)
    assert link.wait_connected(3)
    started = time.monotonic()
    server.hang()
    server.resume()  # new connections are served; the hung one never answers again
    assert wait_until(lambda: link.reconnects >= 1 and link.connected.is_set() and server.logged_in_sessions() == 1, timeout=6)
    assert time.monotonic() - started < 5
    # The link was dropped because the Ping went unanswered, not because the peer closed
    # (last_error is cleared by the new login, so the log line is what is left of it).
    downs = [r.getMessage() for r in caplog.records if "down:" in r.getMessage()]
    assert downs and all("peer hung" in message for message in downs), downs


def test_a_peer_busy_sending_events_is_not_taken_for_hung(server, make_link):
    """Under a flood the Pong comes late, behind the events before it: no reconnect for that
    (each one would drop whatever was still in flight)."""
    server.custom_actions["ping"] = lambda action: time.sleep(1.2) or {"Ping": "Pong"}
    link = make_link(ping_interval=0.3, reply_timeout=0.5)
    assert link.wait_connected(3)
    deadline = time.monotonic() + 2.5
    while time.monotonic() < deadline:
        server.emit("Newchannel", Uniqueid="1.1", Linkedid="1.1", Channel="PJSIP/t")
        time.sleep(0.05)
    assert link.reconnects == 0 and link.connected.is_set()
    server.hang()  # and now silent: that is a hung peer
    assert wait_until(lambda: link.reconnects >= 1, timeout=5)


def test_stop_returns_at_once_while_the_reader_waits(make_link):
    link = make_link(ping_interval=30)
    assert link.wait_connected(3)
    started = time.monotonic()
    link.stop()
    assert time.monotonic() - started < 1.5


def test_line_breaks_in_values_are_refused(make_link, server):
    link = make_link()
    assert link.wait_connected(3)
    with pytest.raises(AmiError, match="inject AMI headers"):
        link.action("UserEvent", UserEvent="x\r\nAction: Originate")
    assert not any(action.get("Action") == "Originate" for action in server.actions)


def test_failed_login_is_reported_and_retried_with_backoff(server, make_link):
    link = make_link(secret="wrong-secret-123456")
    assert wait_until(lambda: link.last_error is not None)
    assert "refused: Authentication failed" in link.last_error
    assert not link.connected.is_set()
    time.sleep(1.5)
    attempts = sum(1 for action in server.actions if action.get("Action") == "Login")
    assert 2 <= attempts <= 6  # retried, but backing off rather than hammering


def test_originate_is_asynchronous_and_matched_by_action_id(server, make_link):
    link = make_link()
    assert link.wait_connected(3)
    answered = link.originate("Local/13800138000@hotline-outbound/n", "hotline-outbound", "13800138000",
                              variables={"HOTLINE_SURVEY_ID": "7"})
    busy = link.originate("Local/13800138005@hotline-outbound/n", "hotline-outbound", "13800138005")
    reasons = {}
    while len(reasons) < 2:
        event = next_event(link, "OriginateResponse")
        reasons[event.get("ActionID")] = event.get("Reason")
    assert reasons == {answered: "4", busy: "5"}
    originate = next(a for a in server.actions if a.get("ActionID") == answered)
    assert originate["Async"] == "true" and originate["Variable"] == "HOTLINE_SURVEY_ID=7"


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_action_ids_are_unique_to_the_process_and_survive_a_reconnection(server, make_link):
    """Asterisk sends every session's OriginateResponse to every `call` reader: an ActionID
    that two processes (or two connections) could both send would settle the wrong task."""
    link = make_link()
    assert link.wait_connected(3)
    first = link.originate("Local/13800138000@hotline-outbound/n", "hotline-outbound", "13800138000")
    server.close_all()
    assert wait_until(lambda: link.reconnects >= 1 and link.connected.is_set())
    second = link.originate("Local/13800138000@hotline-outbound/n", "hotline-outbound", "13800138000")
    prefix, number = first.rsplit("-", 1)
    assert re.fullmatch(r"hotline-[0-9a-f]{8}", prefix) and second.startswith(prefix + "-")
    assert int(second.rsplit("-", 1)[1]) > int(number)  # the counter did not restart with the connection
    assert is_own_action_id(second) and not is_own_action_id("hotline-2") and not is_own_action_id("hotline-0badc0de-2")


def test_concurrent_actions_get_their_own_responses(make_link):
    link = make_link()
    assert link.wait_connected(3)
    results, errors = [], []

    def worker():
        try:
            for _ in range(20):
                results.append(link.action("Ping")["ActionID"])
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(results) == 160 and len(set(results)) == 160


def test_a_full_event_queue_drops_and_counts_rather_than_blocking(server, make_link):
    link = make_link(max_events=10)
    assert link.wait_connected(3)
    for n in range(50):
        server.emit("UserEvent", UserEvent="X", Value=str(n))
    assert wait_until(lambda: link.dropped_events >= 35)
    assert link.action("Ping")["Ping"] == "Pong"  # the reader is still serving replies


def test_queue_member_actions_and_lists(server, make_link):
    link = make_link()
    assert link.wait_connected(3)
    link.action("QueueAdd", Queue="hotline-general", Interface="PJSIP/1001", Paused="false")
    link.action("QueuePause", Queue="hotline-general", Interface="PJSIP/1001", Paused="true", Reason="meal")
    response = link.action("QueueStatus")
    member = next_event(link, "QueueMember")
    assert (member.get("Location"), member.get("Paused"), member.get("PausedReason")) == ("PJSIP/1001", "1", "meal")
    assert member.get("ActionID") == response["ActionID"]
    assert next_event(link, "QueueStatusComplete").get("EventList") == "Complete"
    with pytest.raises(AmiError, match="Not there"):
        link.action("QueueRemove", Queue="hotline-general", Interface="PJSIP/1999")


def test_not_connected_is_a_clear_error():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    link = AmiLink("127.0.0.1", port, "hotline", SECRET).start()
    try:
        with pytest.raises(AmiError, match="not connected"):
            link.action("Ping")
        assert wait_until(lambda: link.last_error is not None)
    finally:
        link.stop()


def drain(link, settle: float = 0.3) -> list:
    time.sleep(settle)
    events = []
    while True:
        try:
            events.append(link.events.get_nowait())
        except queue.Empty:
            return events


@pytest.mark.parametrize("read, mask, delivered", [
    # The rendered manager.conf's account: no dialplan, agi (nor cdr...) events.
    (("system", "call", "agent", "user", "dtmf"), "on", {"Newchannel", "QueueCallerLeave", "UserEvent", "DTMFEnd"}),
    # The login's mask narrows what the account may read; it never widens it.
    (("system", "call", "agent", "user", "dtmf"), "call,agent,dialplan", {"Newchannel", "QueueCallerLeave"}),
    (("call", "dialplan"), "on", {"Newchannel", "VarSet", "Newexten"}),
    (("system", "call", "agent", "user", "dtmf"), "off", set()),
])
def test_events_go_only_to_accounts_whose_read_classes_and_mask_cover_them(read, mask, delivered):
    """manager.c: send_events = readperm & mask; an event goes out if its class is in it."""
    server = AmiServer(read=read).start()
    link = AmiLink("127.0.0.1", server.port, "hotline", SECRET, event_mask=mask, ping_interval=30).start()
    try:
        assert link.wait_connected(3)
        drain(link)
        ids = {"Channel": "PJSIP/hotline-trunk-00000001", "Uniqueid": "1.1", "Linkedid": "1.1"}
        for name in ("Newchannel", "VarSet", "Newexten", "QueueCallerLeave", "UserEvent", "DTMFEnd", "AGIExecStart"):
            server.emit(name, **ids)
        # A recorded trace is filtered by its packets' Privilege headers, the same way.
        server.send_raw("Event: VarSet\r\nPrivilege: dialplan,all\r\nVariable: __HOTLINE_RECORDING\r\n\r\n"
                        "Event: Cdr\r\nPrivilege: cdr,all\r\nUniqueid: 1.1\r\n\r\n")
        events = drain(link)
        assert {event.name for event in events} == delivered
        assert all(event.get("Privilege").endswith(",all") for event in events)
    finally:
        link.stop()
        server.stop()

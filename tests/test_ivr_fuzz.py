"""Property-based fuzzing of the FastAGI server: headers, replies, keys and disconnects.

Whatever a peer sends, the server keeps serving, leaks no thread or socket, and every
call that got as far as a complete header ends recorded (never left in progress).
"""
import socket
import threading
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from db.models import IvrOutcome, IvrSession
from db.session import make_session_factory
from emulator.agi_channel import AsteriskChannel, CallerEvent, CallSpec
from emulator.fastagi_client import place_call

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

header_values = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"), max_size=40)
replies = st.one_of(
    st.sampled_from([
        "200 result=0", "200 result=49", "200 result=35", "200 result=-1", "200 result=0 endpos=3404",
        "200 result=-1 endpos=0", "200 result=1 (5551234)", "200 result=42 (timeout)", "200 result=1",
        "HANGUP", "510 Invalid or unknown command", "511 Command Not Permitted on a dead channel",
        "520-Invalid command syntax.  Proper usage follows:", "520 End of proper usage.",
        "", "200", "200 result=", "200 result=999999999999999999999", "hello", "200 result=-2",
    ]),
    st.text(max_size=60).map(lambda text: text.replace("\n", " ")),
)


def count_sessions(engine, outcome=None):
    with make_session_factory(engine)() as session:
        query = select(func.count(IvrSession.id))
        if outcome is not None:
            query = query.where(IvrSession.outcome == outcome)
        return session.scalar(query)


def wait_served(server, services, finished_before):
    """The server accepted and finished this example's connection, and logged it."""
    assert server.wait_finished(finished_before + 1, timeout=10)
    assert services.call_log.flush()


@pytest.fixture
def baseline(ivr_server, dial):
    dial("0")  # warm up so pools and imports do not count as leaks
    return threading.active_count()


@FUZZ
@given(
    fields=st.dictionaries(st.sampled_from(["agi_callerid", "agi_uniqueid", "agi_dnid", "agi_channel", "agi_language", "agi_type"]),
                           header_values, max_size=6),
    script=st.sampled_from(["ivr", "ivr?mode=basic", "nothing", ""]),
    # Lines that are not AGI (an empty one would end the header instead).
    garbage=st.lists(st.binary(max_size=30).filter(lambda b: b"\n" not in b).map(lambda b: b"X" + b), max_size=2),
    cut=st.one_of(st.none(), st.integers(min_value=0, max_value=400)),
)
def test_random_headers(ivr_server, ivr_services, ivr_db, baseline, fields, script, garbage, cut):
    lines = [f"{key}: {value}" for key, value in fields.items()]
    if script:
        lines.insert(0, f"agi_network_script: {script}")
    payload = "".join(line + "\n" for line in lines).encode() + b"".join(g + b"\n" for g in garbage) + b"\n"
    complete = (cut is None or cut >= len(payload)) and not garbage and script.startswith("ivr")
    if cut is not None:
        payload = payload[:cut]
    before, finished = count_sessions(ivr_db), ivr_server.finished
    with socket.create_connection(ivr_server.address) as client:
        client.sendall(payload)
        if complete:
            # Behave like Asterisk with a caller who hangs up at once.
            client.settimeout(5)
            client.recv(4096)
        client.shutdown(socket.SHUT_WR)
        client.settimeout(5)
        while client.recv(4096):
            pass
    wait_served(ivr_server, ivr_services, finished)
    assert count_sessions(ivr_db) == before + (1 if complete else 0)
    assert count_sessions(ivr_db, IvrOutcome.IN_PROGRESS) == 0
    assert threading.active_count() <= baseline + 1


@FUZZ
@given(script=st.lists(st.lists(replies, min_size=1, max_size=3), max_size=25),
       caller=st.sampled_from(["13800138000", "13912345678", "anonymous"]))
def test_random_replies_from_asterisk(ivr_server, ivr_services, ivr_db, baseline, script, caller):
    """A peer that sends a good header and then answers each command with anything."""
    channel = AsteriskChannel(CallSpec(caller=caller))
    before, finished = count_sessions(ivr_db), ivr_server.finished
    with socket.create_connection(ivr_server.address) as client:
        client.settimeout(5)
        client.sendall(channel.header().encode())
        reader = client.makefile("rb")
        for batch in script:
            try:
                if not reader.readline():
                    break
                client.sendall("".join(reply + "\n" for reply in batch).encode())
            except OSError:
                break
        reader.close()
    wait_served(ivr_server, ivr_services, finished)
    assert count_sessions(ivr_db) == before + 1
    assert count_sessions(ivr_db, IvrOutcome.IN_PROGRESS) == 0
    assert threading.active_count() <= baseline + 1


caller_events = st.lists(
    st.one_of(
        st.builds(CallerEvent, st.just("key"), st.sampled_from(list("0123456789*#")),
                  st.one_of(st.none(), st.integers(min_value=0, max_value=8000))),
        st.just(CallerEvent("timeout")),
        st.builds(CallerEvent, st.just("hangup"), st.just(""), st.one_of(st.none(), st.integers(min_value=0, max_value=3000))),
    ),
    max_size=15,
)


@FUZZ
@given(events=caller_events, caller=st.sampled_from(["13800138000", "13912345678", "07623660360", "anonymous"]),
       style=st.sampled_from(["sighup", "eof"]), open_hours=st.booleans())
def test_random_callers_are_never_left_on_a_dead_line(ivr_server, ivr_services, ivr_db, clock, baseline, events, caller, style, open_hours):
    from conftest import CLOSED_TIME, OPEN_TIME

    clock.now = OPEN_TIME if open_hours else CLOSED_TIME
    before, finished = count_sessions(ivr_db), ivr_server.finished
    host, port = ivr_server.address
    transcript = place_call(CallSpec(caller=caller, host=host, port=port, events=list(events), hangup_style=style))
    wait_served(ivr_server, ivr_services, finished)
    if transcript.agi_status != "HANGUP":
        # Still on the line: the IVR handed the call back with somewhere to go.
        assert transcript.variables.get("HOTLINE_NEXT") in ("queue", "hangup")
        if transcript.variables["HOTLINE_NEXT"] == "queue":
            assert transcript.variables["HOTLINE_QUEUE"]
    assert count_sessions(ivr_db) == before + 1
    assert count_sessions(ivr_db, IvrOutcome.IN_PROGRESS) == 0
    assert count_sessions(ivr_db, IvrOutcome.ERROR) == 0
    assert threading.active_count() <= baseline + 1

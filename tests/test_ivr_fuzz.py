"""Property-based fuzzing of the FastAGI server: headers, replies, keys and disconnects.

Whatever a peer sends, the server keeps serving, leaks no thread or socket, and every
call that got as far as a complete header ends recorded (never left in progress). The
acceptance run of issue 13 sends 10,000 hostile sessions to the real `hotline ivr` on
PostgreSQL, then 100 ordinary calls.
"""
import asyncio
import datetime as dt
import os
import random
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from db.models import IvrOutcome, IvrSession
from db.session import make_session_factory
from dialplans.contract import ivr_script
from emulator.agi_channel import AsteriskChannel, CallerEvent, CallSpec
from emulator.fastagi_client import place_call

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

header_values = st.one_of(
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"), max_size=40),
    st.text("0123456789", min_size=33, max_size=400),  # longer than their columns
)
replies = st.one_of(
    st.sampled_from([
        "200 result=0", "200 result=49", "200 result=35", "200 result=-1", "200 result=0 endpos=3404",
        "200 result=-1 endpos=0", "200 result=1 (5551234)", "200 result=42 (timeout)", "200 result=1",
        "HANGUP", "510 Invalid or unknown command", "511 Command Not Permitted on a dead channel",
        "520-Invalid command syntax.  Proper usage follows:", "520 End of proper usage.",
        "", "200", "200 result=", "200 result=999999999999999999999", "hello", "200 result=-2",
    ]),
    st.text(max_size=60).map(lambda text: text.replace("\n", " ")),
    st.integers().map(lambda number: f"200 result={number}"),  # 55296 was a lone surrogate as a key
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


# Acceptance (issue 13): an adversary's 10,000 sessions, then 100 callers -----------------------

FUZZ_SESSIONS = 10_000
NORMAL_CALLS = 100
# A weekday morning in the app's zone (Asia/Shanghai): the line is open.
OPEN_LOCAL_TIME = dt.datetime(2026, 11, 27, 10, 0)


def _fuzz_value(rng: random.Random, n: int) -> bytes:
    """An AGI header value: ordinary, over-long, not UTF-8, with control bytes, or empty."""
    kind = rng.randrange(6)
    if kind == 0:
        return str(rng.randrange(10 ** rng.randint(1, 60))).encode()  # digits, up to 60 (dnid is 32)
    if kind == 1:
        return (b"fuzz-%d-" % n) + b"9" * rng.randint(40, 3000)  # far beyond any column
    if kind == 2:
        return bytes(rng.randrange(256) for _ in range(rng.randint(1, 80))).replace(b"\n", b"").replace(b"\r", b"")
    if kind == 3:
        return b"1380013\x00\x1b[2J\x7f\xc2\x85" + bytes(rng.randrange(32) for _ in range(8)).replace(b"\n", b"")
    if kind == 4:
        return "来电\udcff".encode("utf-8", "surrogateescape") + b"\xed\xa0\x80"  # an encoded surrogate
    return b""


def _fuzz_header(rng: random.Random, n: int) -> bytes:
    script = rng.choice([b"ivr"] * 8 + [b"queue_callback", b"ivr?start=\xff\x00"])
    fields = {b"agi_network_script": script, b"agi_uniqueid": b"fuzz-%d" % n}
    for key in (b"agi_uniqueid", b"agi_linkedid", b"agi_callerid", b"agi_dnid", b"agi_extension",
                b"agi_calleridname", b"agi_channel", b"agi_language", b"agi_x_" + str(n % 7).encode()):
        if rng.random() < 0.6:
            fields[key] = _fuzz_value(rng, n)
    if rng.random() < 0.3:
        fields[b"agi_dnid"] = b"4" * 40
    return b"".join(key + b": " + value + b"\n" for key, value in fields.items()) + b"\n"


def _fuzz_reply(rng: random.Random) -> bytes:
    number = rng.choice([
        rng.randint(-(10 ** 30), 10 ** 30), rng.randint(-2, 300), rng.randint(0xD800, 0xDFFF), 55296,
        rng.randint(0x110000, 0x7FFFFFFF), ord(rng.choice("0123456789*#ABCDabcd")), 0, -1,
    ])
    tail = rng.choice([b"", b" endpos=%d" % rng.randint(-5, 10 ** 12), b" (timeout)", b" (dtmf) endpos=8"])
    return b"200 result=%d%s\n" % (number, tail)


async def _fuzz_session(host: str, port: int, rng: random.Random, n: int) -> None:
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 10)
    except (OSError, asyncio.TimeoutError):
        return
    try:
        writer.write(_fuzz_header(rng, n))
        for _ in range(rng.randint(0, 10)):
            if not await asyncio.wait_for(reader.readline(), 10):
                break
            writer.write(_fuzz_reply(rng))
    except (OSError, asyncio.TimeoutError, ValueError):
        pass
    finally:
        writer.close()


async def _run_all(count: int, concurrency: int, one) -> list:
    slots = asyncio.Semaphore(concurrency)

    async def limited(n):
        async with slots:
            return await one(n)

    return await asyncio.gather(*(limited(n) for n in range(count)))


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.fixture
def private_postgres():
    """A migrated PostgreSQL schema of its own (the fuzz writes thousands of calls), and
    its URL with the schema for other processes."""
    from conftest import _drop_schema, _postgres_schema_engine
    from db import migrate
    from db.reference import ensure_reference_data
    from db.session import transaction

    admin, engine, schema = _postgres_schema_engine()
    migrate.upgrade(engine)
    with transaction(make_session_factory(engine)) as session:
        ensure_reference_data(session)
    url = engine.url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    yield engine, url
    _drop_schema(admin, engine, schema)


@pytest.mark.slow
@pytest.mark.postgres
def test_ten_thousand_hostile_sessions_cost_no_normal_call(private_postgres, tmp_path):
    """Headers with over-long, non-UTF-8 and control-byte fields and replies with any
    integer, then 100 normal calls: every normal call is written, the writer process
    restarts at most once, and the IVR's memory grows by less than 20 MB."""
    from sqlalchemy import select

    from conftest import free_port, wait_until
    from db.models import Call
    from emulator.agi_channel import parse_keys
    from emulator.fastagi_client import place_call_async

    engine, url = private_postgres
    port = free_port()
    env = {**os.environ, "HOTLINE_DATABASE_URL": url, "HOTLINE_IVR_PORT": str(port),
           "HOTLINE_APP_DATA_DIR": str(tmp_path), "HOTLINE_IVR_SOUNDS_DIR": str(tmp_path / "sounds"),
           "HOTLINE_IVR_SHUTDOWN_GRACE": "5",
           # The normal calls take the menu in business hours whatever the time of the run.
           "HOTLINE_IVR_DEMO_CLOCK": "true"}
    env.pop("HOTLINE_CONFIG", None)
    log_path = tmp_path / "ivr.log"
    with log_path.open("w") as log_file:
        ivr = subprocess.Popen([sys.executable, "-m", "hotline", "ivr"], env=env, stdout=log_file,
                               stderr=subprocess.STDOUT)
    try:
        def accepts():
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return True
            except OSError:
                return False

        assert wait_until(accepts, timeout=30), log_path.read_text()[-3000:]

        async def normal(n):
            spec = CallSpec(caller=f"139{n:08d}", port=port, uniqueid=f"normal-{n}", events=parse_keys("1 1 1"),
                            script=ivr_script(OPEN_LOCAL_TIME))
            return await place_call_async(spec, prompt_ms=lambda path: 0)

        # Warm up (imports, caches, pools), then measure.
        asyncio.run(_run_all(20, 10, lambda n: normal(1000 + n)))
        rss_before = _rss_kb(ivr.pid)
        rng = random.Random(13)
        asyncio.run(_run_all(FUZZ_SESSIONS, 48, lambda n: _fuzz_session("127.0.0.1", port, rng, n)))
        transcripts = asyncio.run(_run_all(NORMAL_CALLS, 20, normal))
        assert all(t.variables.get("HOTLINE_CATEGORY") == "household" for t in transcripts)
        rss_after = _rss_kb(ivr.pid)

        written = set()

        def all_written():
            with make_session_factory(engine)() as session:
                written.update(session.scalars(select(Call.uniqueid).where(Call.uniqueid.like("normal-%"))))
            return all(f"normal-{n}" in written for n in range(NORMAL_CALLS))

        assert wait_until(all_written, timeout=30), sorted(set(f"normal-{n}" for n in range(NORMAL_CALLS)) - written)
        assert (rss_after - rss_before) < 20 * 1024, (rss_before, rss_after)
    finally:
        ivr.send_signal(signal.SIGTERM)
        try:
            ivr.wait(30)
        except subprocess.TimeoutExpired:
            ivr.kill()
            ivr.wait()
    log = log_path.read_text(errors="replace")
    assert log.count("the call-log writer process is gone") <= 1, log[-3000:]
    assert ivr.returncode == 0, log[-3000:]

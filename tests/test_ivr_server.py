"""The FastAGI server: probes, fallbacks, limits, and a graceful stop."""
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import BARE_FALLBACK as FALLBACK
from conftest import free_port, wait_until
from db.models import IvrOutcome
from emulator.agi_channel import CallSpec, parse_keys
from emulator.fastagi_client import place_call
from ivr.hub import blocking
from ivr.server import parse_script

def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_parse_script():
    assert parse_script({"agi_network_script": "ivr?mode=basic&x=1"}) == ("ivr", {"mode": ["basic"], "x": ["1"]})
    assert parse_script({"agi_request": "agi://127.0.0.1:4573/survey?id=7"}) == ("survey", {"id": ["7"]})
    assert parse_script({"agi_network_script": "/ivr/"})[0] == "ivr"


def test_a_silent_port_probe_costs_one_socket_for_the_header_timeout(bare_server):
    server = bare_server({})
    probe = socket.create_connection(server.address)
    assert wait_until(lambda: server.live_calls == 1)
    started = time.monotonic()
    probe.settimeout(5)
    assert probe.recv(1) == b""  # closed by the server
    assert 0.4 < time.monotonic() - started < 1.5
    assert wait_until(lambda: server.live_calls == 0)
    probe.close()


def test_many_probes_and_garbage_leave_no_threads_or_sockets(bare_server):
    server = bare_server({})
    threads, fds = threading.active_count(), open_fds()
    clients = [socket.create_connection(server.address) for _ in range(40)]
    for client in clients[:20]:
        client.sendall(b"GET / HTTP/1.0\r\n\r\n")
    for client in clients[20:30]:
        client.sendall(b"agi_network: yes\n")  # truncated header, then silence
    for client in clients:
        client.settimeout(5)
        assert client.recv(100) == b""
        client.close()
    assert wait_until(lambda: server.live_calls == 0)
    assert wait_until(lambda: threading.active_count() <= threads)
    assert open_fds() <= fds


def test_listen_backlog_is_at_least_1024(bare_server):
    server = bare_server({})
    port = server.address[1]
    somaxconn = int(Path("/proc/sys/net/core/somaxconn").read_text())
    listing = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True)
    if listing.returncode != 0 or not listing.stdout.strip():
        pytest.skip("ss (iproute2) is not available to read the listen queue")
    backlog = int(listing.stdout.split()[2])  # Send-Q of a listening socket: its backlog
    assert backlog == min(1024, somaxconn)
    assert backlog >= 1024 or somaxconn < 1024


def test_a_failing_handler_sends_the_call_to_the_operator(bare_server, caplog):
    def broken(agi, request):
        agi.wait_for_digit(100)
        raise RuntimeError("the handler has a bug")

    server = bare_server({"ivr": broken})
    with caplog.at_level(logging.ERROR, logger="ivr.server"):
        transcript = place_call(CallSpec(port=server.address[1], events=parse_keys("-")))
    assert transcript.variables == FALLBACK
    assert "the handler has a bug" in caplog.text and "Traceback" in caplog.text


def test_an_unknown_script_goes_to_the_operator(bare_server, caplog):
    server = bare_server({"ivr": lambda agi, request: None})
    with caplog.at_level(logging.ERROR, logger="ivr.server"):
        transcript = place_call(CallSpec(port=server.address[1], script="surveyy"))
    assert transcript.variables == FALLBACK
    assert "no handler for AGI script 'surveyy'" in caplog.text
    assert "Traceback" not in caplog.text  # anyone reaching the port could fill the log with them


def test_connections_over_the_limit_are_refused_at_once(bare_server):
    release = threading.Event()

    def slow(agi, request):
        blocking(release.wait, 5)

    server = bare_server({"ivr": slow}, max_connections=2)
    host, port = server.address
    held = [threading.Thread(target=place_call, args=(CallSpec(port=port),)) for _ in range(2)]
    for thread in held:
        thread.start()
    assert wait_until(lambda: server.live_calls == 2)
    started = time.monotonic()
    refused = place_call(CallSpec(port=port))
    assert refused.variables == {} and time.monotonic() - started < 1.0
    release.set()
    for thread in held:
        thread.join()


def test_ivr_handler_error_is_recorded_and_falls_back(ivr_server, ivr_services, dial, ivr_sessions, monkeypatch):
    def database_down(*args, **kwargs):
        raise ConnectionError("database went away")

    monkeypatch.setattr("ivr.call_log.request_status", database_down)
    transcript = dial("1 3")
    assert transcript.variables["HOTLINE_INTENT"] == "operator"
    assert transcript.variables["HOTLINE_FALLBACK"] == "1"
    assert ivr_sessions()[-1].outcome is IvrOutcome.ERROR


def test_calls_no_ami_link_follows_are_ended_by_the_ivr_in_the_end(ivr_server, ivr_services, dial, ivr_sessions, clock,
                                                                   monkeypatch):
    """A call routed to a queue by plain `hotline call` (no Asterisk, no AMI link), and one
    sent to the fallback queue after a handler error, stayed in progress forever."""
    import datetime as dt

    from db.models import CallOutcome

    routed = dial("1 1 1").variables["HOTLINE_CALL_ID"]
    monkeypatch.setattr("ivr.call_log.request_status", lambda *a, **k: 1 / 0)
    failed = dial("1 3").variables["HOTLINE_CALL_ID"]
    left_the_ivr_at = clock.now

    def outcomes():
        return {s.call.uniqueid: (s.call.outcome, s.call.ended_at) for s in ivr_sessions()}

    assert outcomes()[routed] == outcomes()[failed] == (CallOutcome.IN_PROGRESS, None)
    clock.now += dt.timedelta(seconds=ivr_services.unfollowed_after + 1)
    ivr_services.call_log._next_settle = 0  # the writer looks once a minute (once an unfollowed_after at most)
    dial("1 1 1")  # the writer settles after this call's batch
    assert wait_until(lambda: outcomes()[routed][0] is CallOutcome.FAILED)
    assert outcomes()[failed][0] is CallOutcome.FAILED
    assert outcomes()[routed][1] == left_the_ivr_at  # the end of its IVR session: all that is known
    assert sum(outcome is CallOutcome.IN_PROGRESS for outcome, _ in outcomes().values()) == 1  # the last call


def test_header_fields_are_cut_to_their_columns_and_odd_keys_are_no_keys(ivr_server, dial, ivr_sessions):
    """A 40-digit DNID (calls.did is VARCHAR(32)), a 300-character uniqueid and caller ID
    with control characters, and a reply that is no DTMF key (55296, a lone surrogate):
    the call is served and stored with what fits."""
    from db.models import Call

    long_id = "1764000000." + "7" * 289
    transcript = dial("1 1 1", did="4" * 40,
                      extra_header={"agi_uniqueid": long_id, "agi_linkedid": long_id, "agi_callerid": "\x1b[31m" + "9" * 60})
    assert transcript.variables["HOTLINE_CATEGORY"] == "household"
    call = ivr_sessions()[-1].call
    assert (call.uniqueid, call.linkedid) == (long_id[:64], long_id[:64])
    assert transcript.variables["HOTLINE_CALL_ID"] == long_id[:64]
    assert call.did == "4" * 32
    assert call.caller_number == "[31m" + "9" * 36
    for column in ("uniqueid", "linkedid", "did", "caller_number"):
        assert len(getattr(call, column)) <= Call.__table__.c[column].type.length


def test_arguments_the_ivr_ignores_take_no_room_in_its_caches(ivr_services, dial):
    """The engine caches its decisions by how a call starts: unknown `start` and `lang`
    arguments of kilobytes each, from a peer that varies them, once took an entry each."""
    dial("1 1 1")
    dial("1 1 1")  # the caller is a returning one from now on
    cached = ivr_services.engine.start.cache_info().currsize
    for n in range(5):
        transcript = dial("1 1 1", script=f"ivr?start={n}{'x' * 3000}&lang={n}{'y' * 3000}")
        assert transcript.variables["HOTLINE_CATEGORY"] == "household"
    assert ivr_services.engine.start.cache_info().currsize == cached


def test_a_reply_that_is_no_dtmf_key_is_taken_as_no_key(ivr_server, ivr_services, ivr_sessions):
    host, port = ivr_server.address
    with socket.create_connection((host, port)) as client:
        client.settimeout(5)
        client.sendall(b"agi_network_script: ivr\nagi_uniqueid: surrogate-1\nagi_callerid: 13800138000\n\n")
        reader = client.makefile("rb")
        for _ in range(12):  # every prompt and wait for a key is answered with 55296
            if not reader.readline():
                break
            client.sendall(b"200 result=55296\n")
        reader.close()
    assert ivr_server.wait_finished(1, timeout=10) and ivr_services.call_log.flush()
    session = ivr_sessions()[-1]
    assert session.call.uniqueid == "surrogate-1"
    assert all(step.key in ("timeout", "played", "hangup") for step in session.walk), session.walk


def test_calls_release_their_threads_and_sockets(ivr_server, dial):
    walks = ("1 0", "2 h", "3 1 1", "- - -", "1 9 9 9")
    for keys in walks:  # warm up: imports, pools, the hub's worker threads (started at first use)
        dial(keys)
    threads, fds = threading.active_count(), open_fds()
    for keys in walks:
        dial(keys)
    assert wait_until(lambda: threading.active_count() <= threads)
    assert open_fds() <= fds + 2  # the SQLite pool may keep a connection


def test_stop_lets_live_calls_finish_then_cuts_the_rest(ivr_server, ivr_services, ivr_sessions):
    host, port = ivr_server.address
    results = {}

    def slow_call(name, keys):
        spec = CallSpec(caller="13766667777", port=port, events=parse_keys(keys))
        results[name] = place_call(spec, prompt_ms=lambda path: 400, pace=1.0)

    caller = threading.Thread(target=slow_call, args=("finishes", "1 1 1"))
    caller.start()
    assert wait_until(lambda: ivr_server.live_calls == 1)
    stopper = threading.Thread(target=ivr_server.stop, kwargs={"grace": 20.0})
    stopper.start()
    assert wait_until(lambda: ivr_server.stopping.is_set())
    time.sleep(0.3)
    assert place_call(CallSpec(port=port)).agi_status == "FAILURE"  # no new calls
    caller.join(20)
    stopper.join(20)
    assert results["finishes"].variables["HOTLINE_CATEGORY"] == "household"  # it finished


def test_stop_cuts_calls_that_outlast_the_grace(ivr_server, ivr_sessions):
    host, port = ivr_server.address
    thread = threading.Thread(target=place_call, args=(CallSpec(port=port, events=parse_keys("1 1 1")),),
                              kwargs={"prompt_ms": lambda path: 1000, "pace": 1.0})
    thread.start()
    assert wait_until(lambda: ivr_server.live_calls == 1)
    assert ivr_server.stop(grace=0.2) == 1
    thread.join(10)
    assert ivr_sessions()[-1].outcome is IvrOutcome.ABANDONED


def test_hotline_ivr_process_stops_on_sigterm(tmp_path, demo_database_template):
    """The real command: serves, SIGTERM, a live call finishes, exit 0."""
    import shutil

    database = tmp_path / "hotline.sqlite3"
    shutil.copy(demo_database_template, database)
    port = free_port()
    env = {**os.environ, "HOTLINE_DATABASE_URL": f"sqlite:///{database}", "HOTLINE_IVR_PORT": str(port),
           "HOTLINE_IVR_SOUNDS_DIR": str(tmp_path / "sounds"), "HOTLINE_IVR_SHUTDOWN_GRACE": "15"}
    env.pop("HOTLINE_CONFIG", None)
    process = subprocess.Popen([sys.executable, "-m", "hotline", "ivr"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert wait_until(lambda: _accepts(port), timeout=15), "hotline ivr did not start"
        results = []
        caller = threading.Thread(target=lambda: results.append(
            # '0' reaches the operator in business hours, voicemail (ended by '#') after.
            place_call(CallSpec(caller="13500001111", port=port, events=parse_keys("0 #@300")), prompt_ms=lambda p: 300, pace=1.0)))
        caller.start()
        time.sleep(0.5)
        process.send_signal(signal.SIGTERM)
        caller.join(20)
        output, _ = process.communicate(timeout=20)
        assert process.returncode == 0
        assert results[0].variables.get("HOTLINE_INTENT") == "operator" or results[0].variables.get("HOTLINE_NEXT") == "hangup"
        assert "stopping: no new calls" in output and "stopped (0 call(s) cut)" in output
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


# Out of file descriptors ---------------------------------------------------------------------

_SHORT_OF_DESCRIPTORS = r'''
import logging, os, resource, socket, sys, time
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s %(message)s")
from ivr.server import FastAGIServer

class CountingListener(socket.socket):
    accepts = 0

    def accept(self):
        CountingListener.accepts += 1
        return super().accept()

server = FastAGIServer({"ivr": lambda agi, request: agi.set_variable("SERVED", "1")}, {"HOTLINE_NEXT": "queue"},
                       port=0, header_timeout=60)
server._listener = CountingListener(fileno=server._listener.detach())
server._listener.setblocking(False)
server.start()
used = len(os.listdir("/proc/self/fd")) - 1  # less the one listdir held
resource.setrlimit(resource.RLIMIT_NOFILE, (used + 3, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
print(server.address[1], flush=True)
for line in sys.stdin:
    print(CountingListener.accepts, time.process_time(), server.live_calls, flush=True)
'''


def test_out_of_descriptors_the_server_pauses_accepting_and_logs_once(tmp_path):
    """accept() failing with EMFILE leaves the listener readable: the server used to try
    again at once, at 99 % CPU and 55,000 log lines a second."""
    log_file = tmp_path / "ivr.log"
    with log_file.open("w") as stderr:
        process = subprocess.Popen([sys.executable, "-c", _SHORT_OF_DESCRIPTORS], stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, stderr=stderr, text=True, cwd=Path(__file__).parent.parent)
    clients = []
    try:
        port = int(process.stdout.readline())

        def state():
            process.stdin.write("?\n")
            process.stdin.flush()
            accepts, cpu, live = process.stdout.readline().split()
            return int(accepts), float(cpu), int(live)

        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(8)]  # silent: held for 60 s
        assert wait_until(lambda: state()[2] == 3, timeout=10)  # three descriptors were left
        time.sleep(0.5)
        accepts, cpu, _ = state()
        time.sleep(2.0)
        accepts_after, cpu_after, live = state()
        assert live == 3
        assert accepts_after - accepts <= 10  # a pause that doubles up to 1 s: a few tries
        assert cpu_after - cpu < 0.5  # not a spin
        log = log_file.read_text()
        assert log.count("cannot accept FastAGI connections") == 1, log[-2000:]
        assert log.count("\n") < 10

        # A call that ends frees a descriptor: the next waiting connection gets it.
        for client in clients[:3]:
            client.close()
        assert wait_until(lambda: state()[2] == 3, timeout=5)
        for client in clients:
            client.close()
        assert wait_until(lambda: state()[2] == 0, timeout=10)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as caller:
            caller.sendall(b"agi_network_script: ivr\n\n")
            assert caller.recv(100).startswith(b'SET VARIABLE "SERVED"')
        assert "accepting FastAGI connections again" in log_file.read_text()
    finally:
        for client in clients:
            client.close()
        process.kill()
        process.communicate()

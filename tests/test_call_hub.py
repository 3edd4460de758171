"""The call hub: every live call on one thread, blocking work off it, stalls reported."""
import logging
import socket
import threading
import time

import pytest
from sqlalchemy import select

from conftest import BARE_FALLBACK as FALLBACK
from conftest import wait_until
from db.models import Caller, Language, PhoneKind
from db.phones import Phone
from db.session import make_session_factory, transaction
from emulator.agi_channel import CallSpec, parse_keys
from emulator.fastagi_client import place_call
from ivr import hub
from ivr.agi import CallerGone
from ivr.call_log import CallerLanguages
from ivr.hub import blocking


def _call(server, keys="", **spec):
    return place_call(CallSpec(port=server.address[1], events=parse_keys(keys), **spec))


def test_blocking_work_runs_off_the_hub_while_other_calls_go_on(bare_server):
    gate, order = threading.Event(), []

    def handler(agi, request):
        if request.args.get("slow"):
            order.append(("slow waits", blocking(gate.wait, 10)))
        agi.set_variable("DONE", request.script)
        order.append(("done", bool(request.args.get("slow"))))

    server = bare_server({"ivr": handler})
    slow = threading.Thread(target=_call, args=(server,), kwargs={"script": "ivr?slow=1"})
    slow.start()
    assert wait_until(lambda: server.live_calls == 1)
    started = time.monotonic()
    assert _call(server).variables == {"DONE": "ivr"}  # not held up by the slow call's wait
    assert time.monotonic() - started < 2
    gate.set()
    slow.join(10)
    assert order == [("done", False), ("slow waits", True), ("done", True)]


def test_an_error_in_blocking_work_reaches_the_handler_and_the_call_falls_back(bare_server, caplog):
    def handler(agi, request):
        blocking(lambda: 1 / 0)

    server = bare_server({"ivr": handler})
    with caplog.at_level(logging.ERROR, logger="ivr.server"):
        assert _call(server).variables == FALLBACK
    assert "ZeroDivisionError" in caplog.text


def test_blocking_outside_the_hub_just_runs():
    assert blocking(sum, [1, 2, 3]) == 6
    assert threading.current_thread().name == blocking(lambda: threading.current_thread().name)


def test_a_handler_that_blocks_the_hub_is_reported_with_its_stack(bare_server, caplog):
    def sleepy(agi, request):
        time.sleep(hub.STALL_SECONDS * 2)  # what a handler must not do
        agi.set_variable("DONE", "1")

    server = bare_server({"ivr": sleepy})
    with caplog.at_level(logging.ERROR, logger="ivr.hub"):
        assert _call(server).variables == {"DONE": "1"}
    assert "the call hub has been blocked" in caplog.text
    assert "in sleepy" in caplog.text


def test_hundreds_of_live_calls_hold_no_thread_each(bare_server):
    def listen(agi, request):
        agi.wait_for_digit(20000)
        agi.set_variable("DONE", "1")

    server = bare_server({"ivr": listen})
    threads = threading.active_count()
    clients = []
    try:
        for n in range(300):
            client = socket.create_connection(server.address)
            client.sendall(f"agi_network_script: ivr\nagi_channel: PJSIP/load-{n}\n\n".encode())
            clients.append(client)
        assert wait_until(lambda: server.live_calls == 300, timeout=10)
        for client in clients:
            client.settimeout(5)
            assert client.recv(100).startswith(b"WAIT FOR DIGIT")
        # The 300 calls live on the hub's thread. (Not "==": a daemon thread an earlier
        # test left behind, a writer's courier say, may end meanwhile.)
        assert threading.active_count() <= threads
        for client in clients:
            client.sendall(b"200 result=49\n")
        for client in clients:
            assert b"SET VARIABLE" in client.recv(100)
            client.sendall(b"200 result=1\n")
        assert wait_until(lambda: server.live_calls == 0, timeout=10)
    finally:
        for client in clients:
            client.close()


def test_asterisk_silent_after_a_command_ends_the_call_at_the_command_timeout(bare_server):
    outcome = []

    def handler(agi, request):
        try:
            agi.wait_for_digit(1000)
        except CallerGone as gone:
            outcome.append(str(gone))
            raise

    server = bare_server({"ivr": handler}, command_timeout=0.5)
    client = socket.create_connection(server.address)
    client.sendall(b"agi_network_script: ivr\n\n")
    client.settimeout(5)
    assert client.recv(100).startswith(b"WAIT FOR DIGIT")
    started = time.monotonic()
    assert client.recv(100) == b""  # no reply from us: the server gives up and closes
    assert 0.4 < time.monotonic() - started < 2.0
    assert outcome and "timed out" in outcome[0]
    client.close()


# --- the caller's language on arrival -----------------------------------------------------


def _caller_with_language(engine, number, language):
    with transaction(make_session_factory(engine)) as session:
        if session.scalar(select(Caller).where(Caller.phone == number)) is None:
            session.add(Caller(phone=number, phone_kind=PhoneKind.MOBILE, language=language))


def test_caller_languages_on_each_database(engine):
    _caller_with_language(engine, "13712340001", Language.HAKKA)
    languages = CallerLanguages(engine)
    assert languages.of(Phone("13712340001", PhoneKind.MOBILE)) == "hak"
    assert languages.of(Phone("13712340002", PhoneKind.MOBILE)) is None
    assert languages.of(None) is None


def test_sqlite_language_look_up_is_read_only_and_on_the_calling_thread(ivr_db):
    _caller_with_language(ivr_db, "13712340003", Language.CANTONESE)
    languages = CallerLanguages(ivr_db)
    seen = []
    original = languages._read_sqlite
    languages._read_sqlite = lambda number: seen.append(threading.current_thread()) or original(number)
    assert languages.of(Phone("13712340003", PhoneKind.MOBILE)) == "yue"
    assert seen == [threading.current_thread()]
    with pytest.raises(Exception, match="readonly"):
        languages._local.connection.execute("DELETE FROM callers")


def test_a_failed_language_look_up_offers_the_language_menu(tmp_path, caplog):
    from db.session import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'never-migrated.sqlite3'}")
    with engine.connect():
        pass  # the file exists, the callers table does not
    with caplog.at_level(logging.WARNING, logger="ivr.call_log"):
        assert CallerLanguages(engine).of(Phone("13712340004", PhoneKind.MOBILE)) is None
    assert "offering the language menu" in caplog.text
    engine.dispose()


def test_timers_run_on_the_hub_in_order_and_a_failing_one_stops_nothing():
    from ivr.hub import CallHub

    hub = CallHub(workers=1, name="timers").start()
    ran, done = [], threading.Event()
    try:
        def arm():
            hub.call_later(0.05, lambda: ran.append(("late", threading.current_thread().name)))
            hub.call_later(0.01, lambda: 1 / 0)
            hub.call_later(0.02, lambda: ran.append(("early", threading.current_thread().name)))
            hub.call_later(0.08, done.set)

        hub.call_soon_threadsafe(arm)
        assert done.wait(5)
        assert ran == [("early", "timers"), ("late", "timers")]
    finally:
        hub.stop()

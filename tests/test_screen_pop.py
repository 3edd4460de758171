"""Screen pops: a call offered to an operator's phone pops up in their console within 1 s."""
from __future__ import annotations

import json
import queue
import threading
import time
import uuid

import pytest
from sqlalchemy import select

from db.models import CallbackReason, CallbackTask, Language, OperatorState, PauseReason, TaskStatus, User
from db.base import utcnow
from emulator.agi_channel import CallSpec, parse_keys
from emulator.ami_server import REASON_ANSWERED, REASON_NO_ANSWER, AmiServer
from emulator.switch import Switch
from telephony.pop_bus import InProcessBus, RedisBus
from telephony.ami import AmiLink
from telephony.ami_service import AmiService
from telephony.call_events import CallTracker
from telephony.callback_placer import CallbackPlacer
from telephony.operator_desk import latest_states
from tests.conftest import wait_until


@pytest.fixture
def asterisk(console_services, ivr_server, clock):
    outcomes = {"default": REASON_ANSWERED}
    ami_server = AmiServer(originate_outcome=lambda channel: outcomes["default"]).start()
    link = AmiLink("127.0.0.1", ami_server.port, "hotline", "development-ami-secret", ping_interval=30)
    sessions = console_services.sessions
    service = AmiService(link, CallTracker(sessions), CallbackPlacer(link, sessions, max_attempts=2),
                         pop_bus=console_services.pop_bus)
    service.PLACE_INTERVAL = 0.1
    thread = threading.Thread(target=service.run, daemon=True)
    thread.start()
    assert link.wait_connected(3)
    yield ami_server, link, Switch(ami_server, clock=lambda: clock.now.timestamp()), outcomes
    service.stop()
    thread.join(10)
    ami_server.stop()


def _read_stream(response, into: queue.Queue):
    for chunk in response.iter_encoded():
        text = chunk.decode()
        if "event: pop" in text:
            into.put((time.monotonic(), text))
            return


def test_the_offered_operator_gets_the_pop_with_the_callers_history(asterisk, client, auth, ivr_server):
    ami_server, link, switch, _ = asterisk
    auth.login("operator")  # extension 1001
    stream = client.get("/pop/stream")
    assert stream.mimetype == "text/event-stream"
    pops: queue.Queue = queue.Queue()
    threading.Thread(target=_read_stream, args=(stream, pops), daemon=True).start()
    time.sleep(0.2)
    link.action("QueueAdd", Queue="hotline-general", Interface="PJSIP/1001", Paused="false")
    host, port = ivr_server.address
    # The demo's returning caller: Mandarin, with a dispatched request. He asks about housing.
    switched = switch.call(CallSpec(caller="13800138000", host=host, port=port, events=parse_keys("2 2")))
    assert switched.agent == "PJSIP/1001"
    _, text = pops.get(timeout=10)  # how fast: bench/b6_pop.py (timings live in benchmarks)
    assert switched.uniqueid in text and '"language": "cmn"' in text and '"caller": "13800138000"' in text
    stream.close()
    # As console.js does: the pop's body, asked with what the event carried (the IVR's
    # own call log may not be written yet: it commits in groups), and the offer the
    # stream signed for this operator; never the caller's number.
    event = json.loads(text.split("data: ", 1)[1].split("\n", 1)[0])
    query = {key: event.get(key) or "" for key in ("offer", "language", "category", "priority")}
    pop = client.get(f"/pop/{switched.uniqueid}", query_string=query).get_data(as_text=True)
    assert "13800138000" in pop and "HY" in pop and "普通话" in pop  # history: his earlier request
    assert event["category"] == "housing" and "房屋租售" in pop  # the IVR's category, by name
    form = client.get(f"/requests/new?call={switched.uniqueid}").get_data(as_text=True)
    assert 'value="13800138000"' in form
    assert switched.uniqueid in form  # the new request will be linked to this call


def test_an_operator_without_that_extension_gets_nothing(console_services):
    bus = console_services.pop_bus
    mine, theirs = bus.subscribe("1001"), bus.subscribe("1002")
    bus.publish("1002", {"uniqueid": "1.1"})
    assert mine.get(0.1) is None and theirs.get(0.1) == {"uniqueid": "1.1"}
    mine.close()
    theirs.close()


def test_pops_cross_processes_through_redis():
    redis = pytest.importorskip("redis")
    try:
        redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis at 127.0.0.1:6379 is unreachable: {exc}")
    extension = f"t{uuid.uuid4().hex[:8]}"
    publisher, subscriber = RedisBus("redis://127.0.0.1:6379/0"), RedisBus("redis://127.0.0.1:6379/0")
    subscription = subscriber.subscribe(extension)
    time.sleep(0.1)
    publisher.publish(extension, {"uniqueid": "9.9", "caller": "13912345678"})
    got = None
    deadline = time.monotonic() + 2
    while got is None and time.monotonic() < deadline:
        got = subscription.get(0.2)
    subscription.close()
    assert got == {"uniqueid": "9.9", "caller": "13912345678"}


def test_a_dead_redis_does_not_break_the_ami_link():
    bus = RedisBus("redis://127.0.0.1:1/0")
    bus.publish("1001", {"uniqueid": "1.1"})  # logged, not raised
    assert bus.ping() is False


def _book_callback(sessions, queue_name="general", position=3) -> int:
    with sessions() as session, session.begin():
        task = CallbackTask(phone="13912345678", language=Language.CANTONESE, reason=CallbackReason.QUEUE_CALLBACK,
                            queue=queue_name, queue_position=position, due_at=utcnow())
        session.add(task)
        session.flush()
        return task.id


def test_a_booked_queue_callback_is_originated_as_a_placeholder_at_the_callers_place(asterisk, console_services):
    ami_server, link, switch, outcomes = asterisk
    task_id = _book_callback(console_services.sessions)
    assert wait_until(lambda: any(a.get("Action") == "Originate" for a in ami_server.actions), timeout=5)
    originate = next(a for a in ami_server.actions if a.get("Action") == "Originate")
    assert originate["Channel"] == "Local/general@hotline-callback-hold/n"
    assert originate["Context"] == "hotline-callback-dial" and originate["Async"] == "true"
    assert "HOTLINE_CALLBACK_POSITION=3" in originate["Variable"] and "HOTLINE_CALLBACK_NUMBER=13912345678" in originate["Variable"]
    assert "HOTLINE_LANG=yue" in originate["Variable"] and int(originate["Timeout"]) >= 3600_000

    def status():
        with console_services.sessions() as session:
            return session.get(CallbackTask, task_id).status
    assert wait_until(lambda: status() == TaskStatus.DONE, timeout=5)


def test_an_unanswered_placeholder_is_retried_then_shown_as_failed(asterisk, console_services):
    ami_server, link, switch, outcomes = asterisk
    outcomes["default"] = REASON_NO_ANSWER
    task_id = _book_callback(console_services.sessions)

    def task():
        with console_services.sessions() as session:
            return session.get(CallbackTask, task_id)
    assert wait_until(lambda: task().attempts == 1 and task().status == TaskStatus.PENDING, timeout=5)
    with console_services.sessions() as session, session.begin():
        session.get(CallbackTask, task_id).due_at = utcnow()  # skip the five-minute wait
    assert wait_until(lambda: task().status == TaskStatus.FAILED, timeout=5)
    assert task().attempts == 2


def test_operators_states_are_resynced_from_queue_status_after_a_reconnect(asterisk, console_services):
    ami_server, link, switch, _ = asterisk
    with console_services.sessions() as session:
        users = {u.sip_extension: u.id for u in session.scalars(select(User).where(User.sip_extension.is_not(None)))}
    # While the link was away, 1001 logged in and went to lunch; 1002 logged in.
    ami_server.queue_members["hotline-general"] = {
        "PJSIP/1001": {"Paused": "1", "PausedReason": "meal"}, "PJSIP/1002": {"Paused": "0", "PausedReason": ""}}
    ami_server.close_all()

    def states():
        with console_services.sessions() as session:
            return latest_states(session)
    assert wait_until(lambda: states().get(users["1001"]) == (OperatorState.PAUSED, PauseReason.MEAL), timeout=6)
    assert states().get(users["1002"]) == (OperatorState.AVAILABLE, None)
    assert users["1003"] not in states()  # never logged in: nothing invented
    # 1002 logs out while the link is away again.
    ami_server.queue_members["hotline-general"].pop("PJSIP/1002")
    ami_server.close_all()
    assert wait_until(lambda: states().get(users["1002"]) == (OperatorState.LOGGED_OUT, None), timeout=6)


def test_the_pop_puts_the_callers_language_first_and_warns_one_who_does_not_speak_it(client, auth, console_services):
    """Hakka caller, offered (after the language's wait) to someone who never recorded Hakka."""
    from db.languages import set_languages
    from db.models import Fluency, Language, User

    auth.login("admin")  # sees any call's pop; the demo's admin speaks Mandarin and Cantonese
    page = client.get("/pop/1.5", query_string={"language": "hak", "category": "", "priority": ""}).get_data(as_text=True)
    banner = page.split('id="pop-language">', 1)[1].split("</p>", 1)[0]
    assert page.index('id="pop-language"') < page.index('id="pop-number"')  # before anything else
    assert "请用客家话接听" in banner and "您未登记会说此语言" in banner
    with console_services.sessions() as session:
        admin = session.scalar(select(User).where(User.username == "admin"))
        set_languages(session, admin, {Language.HAKKA: Fluency.NATIVE}, None)
        session.commit()
    page = client.get("/pop/1.5", query_string={"language": "hak"}).get_data(as_text=True)
    assert "请用客家话接听" in page and "您未登记会说此语言" not in page
    unknown = client.get("/pop/1.5", query_string={"language": "xx"}).get_data(as_text=True)
    assert 'id="pop-language"' not in unknown and "未知" in unknown


def test_a_pops_queries_do_not_grow_with_the_callers_history(client, auth, console_services, ivr_db):
    """Each part of the history is one query with its providers and categories read along
    (no query a row), and the reader's languages come with the account (bench B3)."""
    import datetime as dt

    from sqlalchemy import event

    from db.models import (
        Call, CallDirection, Caller, Complaint, Dispatch, DispatchStatus, PhoneKind, Provider, RequestChannel,
        ServiceCategory, Survey, SurveyStatus,
    )
    from db.service_requests import open_request
    from config import load_settings

    tz = load_settings(environ={}).tz
    at = dt.datetime(2026, 11, 27, 2, 0, tzinfo=dt.timezone.utc)
    with console_services.sessions() as session:
        providers = session.scalars(select(Provider).limit(4)).all()
        category = session.scalar(select(ServiceCategory).limit(1))
        for phone, rows in (("13912343001", 1), ("13912343002", 4)):
            caller = Caller(phone=phone, phone_kind=PhoneKind.MOBILE, language=Language.MANDARIN)
            session.add_all([caller, Call(uniqueid=f"history.{phone}", direction=CallDirection.INBOUND, caller=caller,
                                          caller_number=phone, started_at=at)])
            for n in range(rows):
                request = open_request(session, caller, category, RequestChannel.PHONE, tz, now=at)
                session.add_all([
                    Dispatch(request=request, provider=providers[n], status=DispatchStatus.ACCEPTED, offered_at=at),
                    Survey(request_id=request.id, caller_id=caller.id, provider=providers[n], language=Language.MANDARIN,
                           due_at=at, status=SurveyStatus.COMPLETED, rating=4, completed_at=at),
                    Complaint(caller=caller, provider=providers[n], description="迟到", created_at=at)])
        session.commit()
    auth.login("admin")
    statements: list[str] = []

    def count(_connection, _cursor, statement, *_args):
        statements.append(statement)

    def queries_for(phone: str) -> int:
        statements.clear()
        event.listen(ivr_db, "before_cursor_execute", count)
        try:
            page = client.get(f"/pop/history.{phone}").get_data(as_text=True)
        finally:
            event.remove(ivr_db, "before_cursor_execute", count)
        assert page.count("★") == min(3, 4 if phone.endswith("2") else 1)  # the history is on the page
        return len(statements)

    few, many = queries_for("13912343001"), queries_for("13912343002")
    assert few == many, statements
    # The account (with its languages), the call (with its caller), requests (with their
    # categories), their dispatches (with providers), ratings, complaints.
    assert many <= 6, statements

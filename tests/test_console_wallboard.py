"""The wallboard's pages: supervisors only, words not codes, a full-screen mode without the
console's menus, and its "changed" hints on the supervisor's one stream."""
import datetime as dt
import re

import pytest
from sqlalchemy import select

from conftest import AuthActions
from db.base import utcnow
from db.models import Call, CallDirection, CallOutcome, OperatorState, OperatorStateChange, PauseReason, User
from telephony.wallboard import WALLBOARD_TOPIC

PAGES = ["/wallboard", "/wallboard?full=1", "/wallboard/board"]


def visible_text(html: str) -> str:
    """The page's words, without its tags and attributes (where class names may be codes)."""
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"<[^>]+>", " ", html)


def seed(console_services):
    now = utcnow()
    with console_services.sessions() as session:
        session.add(Call(uniqueid="wb.1", direction=CallDirection.INBOUND, started_at=now - dt.timedelta(minutes=2),
                         queue="priority", queue_entered_at=now - dt.timedelta(seconds=45),
                         outcome=CallOutcome.IN_PROGRESS))
        operator = session.scalar(select(User).where(User.sip_extension == "1001"))
        session.add(OperatorStateChange(user_id=operator.id, state=OperatorState.PAUSED, reason=PauseReason.MEAL,
                                        at=now - dt.timedelta(minutes=3), source="console"))
        session.commit()


@pytest.mark.parametrize("path", PAGES)
def test_an_operator_gets_403_on_every_wallboard_page(client, auth, path):
    auth.login("operator")
    response = client.get(path)
    assert response.status_code == 403 and "实时监控" not in response.get_data(as_text=True)


@pytest.mark.parametrize("path", PAGES)
def test_signed_out_goes_to_the_sign_in_page(client, path):
    response = client.get(path)
    assert response.status_code == 302 and "/login" in response.headers["Location"]


@pytest.mark.parametrize("who", ["supervisor", "admin"])
def test_supervisors_see_queues_operators_and_todays_figures_in_words(client, console_services, who):
    seed(console_services)
    AuthActions(client).login(who)
    html = client.get("/wallboard").get_data(as_text=True)
    words = visible_text(html)
    assert "紧急求助队列" in words and "综合服务队列" in words
    row = re.search(r'<tr class="wb-queue red" data-red-after="20" data-oldest="[\d.]+">(.*?)</tr>', html, re.S)
    assert row, "the emergency queue is red: its caller has waited 45 s, its threshold is 20 s"
    assert "0:4" in row.group(1) and "等待超过 20 秒" in row.group(1)
    assert "暂停（用餐）" in words and "服务水平（20秒内接听）" in words and "排队放弃率" in words
    for code in ("priority", "general", "meal", "paused", "logged_out", "on_call"):
        assert code not in words
    assert 'class="top"' in html  # the console's menus, outside full-screen mode
    assert 'src="/static/wallboard.js"' in html


def test_full_screen_mode_has_no_console_menus(client, auth):
    auth.login("supervisor")
    html = client.get("/wallboard?full=1").get_data(as_text=True)
    assert 'class="wall"' in html and 'class="top"' not in html and "主菜单" not in html
    assert 'id="wb-fullscreen"' in html and 'id="board"' in html


def test_the_board_alone_is_fetched_uncached(client, auth, console_services):
    seed(console_services)
    auth.login("supervisor")
    response = client.get("/wallboard/board")
    html = response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    assert '<div id="board"' in html
    assert "<header" not in html and "紧急求助队列" in html


def test_the_page_is_served_under_the_strict_policy_with_no_inline_script_or_style(client, auth):
    auth.login("supervisor")
    for path in ("/wallboard", "/wallboard?full=1"):
        response = client.get(path)
        html = response.get_data(as_text=True)
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        assert not re.search(r"<script(?![^>]*\bsrc=)", html) and " style=" not in html and "<style" not in html


def read_events(stream, wanted: int):
    """The stream's named events, up to `wanted` of them."""
    found = []
    for chunk in stream.response:
        for block in chunk.decode().split("\n\n"):
            name = re.search(r"^event: (\w+)", block, re.M)
            if name:
                found.append(name.group(1))
        if len(found) >= wanted:
            break
    return found


def test_the_supervisors_one_stream_carries_wallboard_hints_and_pops(client, auth, console_services):
    auth.login("supervisor")  # extension 1002
    stream = client.get("/pop/stream")
    bus = console_services.pop_bus
    bus.publish(WALLBOARD_TOPIC, {"kind": WALLBOARD_TOPIC})
    bus.publish("1002", {"uniqueid": "1.1", "caller": None})
    assert read_events(stream, 2) == ["wallboard", "pop"]
    stream.close()


def test_an_operators_stream_carries_no_wallboard_hints(client, auth, console_services):
    auth.login("operator")  # extension 1001
    stream = client.get("/pop/stream")
    bus = console_services.pop_bus
    bus.publish(WALLBOARD_TOPIC, {"kind": WALLBOARD_TOPIC})
    bus.publish("1001", {"uniqueid": "1.2", "caller": None})
    assert read_events(stream, 1) == ["pop"]
    stream.close()


def test_a_supervisor_without_an_extension_still_gets_the_wallboards_stream(app, console_services):
    from db.models import Role
    from db.users import create_user

    with console_services.sessions() as session:
        create_user(session, "wall", "wall-monitor-2026", Role.SUPERVISOR, "大屏")
        session.commit()
    client = app.test_client()
    AuthActions(client).login("wall", "wall-monitor-2026")
    html = client.get("/wallboard").get_data(as_text=True)
    assert 'data-pop-stream="/pop/stream"' in html
    stream = client.get("/pop/stream")
    console_services.pop_bus.publish(WALLBOARD_TOPIC, {"kind": WALLBOARD_TOPIC})
    assert read_events(stream, 1) == ["wallboard"]
    stream.close()


def test_the_figures_are_todays_from_the_kpi_module(client, auth, console_services, monkeypatch):
    """The board asks kpi.formulas.headline for today in Heyuan: from local midnight to now."""
    import kpi.formulas

    asked = []
    real = kpi.formulas.headline
    monkeypatch.setattr(kpi.formulas, "headline", lambda *a: asked.append(a[1:3]) or real(*a))
    auth.login("supervisor")
    assert client.get("/wallboard/board").status_code == 200
    (start, end), = asked
    local = start.astimezone(console_services.tz)
    assert (local.hour, local.minute) == (0, 0) and local.date() == end.astimezone(console_services.tz).date()
    assert dt.timedelta(0) <= utcnow() - end < dt.timedelta(seconds=30)  # ending now


def test_supervisors_reach_the_wallboard_from_the_dashboard_and_the_operators_page(client, auth):
    auth.login("supervisor")
    for path in ("/", "/operators"):
        assert 'id="wallboard-link"' in client.get(path).get_data(as_text=True)


def test_an_operators_dashboard_has_no_wallboard_link(client, auth):
    auth.login("operator")
    assert 'id="wallboard-link"' not in client.get("/").get_data(as_text=True)


def test_figures_that_fail_cost_neither_the_queues_nor_the_operators(client, auth, console_services, monkeypatch):
    import kpi.formulas

    def broken(session, *args):
        raise RuntimeError("the KPI module failed")

    monkeypatch.setattr(kpi.formulas, "headline", broken)
    seed(console_services)
    auth.login("supervisor")
    response = client.get("/wallboard/board")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and 'id="wb-figures-missing"' in html
    assert "紧急求助队列" in html and "暂停（用餐）" in html


def test_an_operators_pause_at_the_desk_hints_the_wallboard(client, auth, console_services):
    """The desk records the change after Asterisk accepted it, perhaps after the AMI link's
    hint for Asterisk's echo of it: the desk hints once more."""
    from emulator.ami_server import AmiServer
    from telephony.ami import AmiLink

    server = AmiServer().start()
    link = AmiLink("127.0.0.1", server.port, "hotline", "development-ami-secret", event_mask="off").start()
    try:
        assert link.wait_connected(3)
        console_services._ami = link
        hints = console_services.pop_bus.subscribe(WALLBOARD_TOPIC)
        auth.login("operator")
        auth.post("/desk/login", page="/desk")
        assert hints.get(1) == {"kind": WALLBOARD_TOPIC}
        auth.post("/desk/pause", {"reason": "nap"}, page="/desk")  # refused: nothing changed
        assert hints.get(0.2) is None
    finally:
        link.stop()
        server.stop()

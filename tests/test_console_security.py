"""Roles on every route, CSRF on every form, hostile input escaped or refused, sign-in throttled."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from agent_console.auth import ADMINS, OPERATORS, SUPERVISORS
from db.models import AuditEntry, Complaint, Role, ServiceRequest
from tests.conftest import AuthActions

SAMPLE_VALUES = {"number": "HY20261127-0001", "uniqueid": "1764208800.1", "dispatch_id": 1, "provider_id": 1,
                 "task_id": 1, "complaint_id": 1, "message_id": 1, "code": "en", "filename": "console.css", "action": "login", "survey_id": 1, "caller_id": 1, "user_id": 1, "token_id": 1, "worker_id": 1,
                 "call_id": 1, "dispute_id": 1, "period": "2026-11", "kind": "csv", "seeker_id": 1, "opening_id": 1, "session_id": 1, "reply_id": 1, "_rest": "nothing"}
XSS = '<script>alert("x")</script>'
SQLI = "' OR 1=1; DROP TABLE service_requests; --"


def _routes(app):
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", lambda m: str(SAMPLE_VALUES[m.group(1)]), rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule.endpoint, method, path, view


def test_every_route_declares_its_roles(app):
    undeclared = [endpoint for endpoint, _, _, view in _routes(app) if not hasattr(view, "hotline_roles")]
    assert undeclared == []
    public = sorted({endpoint for endpoint, _, _, view in _routes(app) if view.hotline_roles is None})
    assert public == ["api.openapi", "api.unknown", "auth.language", "auth.login", "main.favicon", "main.health",
                      "sms_inbound.inbound", "static"]


@pytest.mark.parametrize("username", ["operator", "supervisor", "admin"])
def test_every_route_refuses_the_roles_it_does_not_declare(app, client, auth, username):
    """Signed in as each role, every route either serves it or answers 403 — as declared."""
    auth.login(username)
    role = Role(username)
    app.config["WTF_CSRF_ENABLED"] = False  # this test is about roles; CSRF has its own
    for endpoint, method, path, view in _routes(app):
        if view.hotline_roles is None or endpoint in ("calls.pop_stream", "auth.logout"):
            continue
        if endpoint == "calls.pop" and role == Role.OPERATOR:
            continue  # an operator's pop is decided call by call: test_a_pop_is_for_the_operator_it_was_offered_to
        response = client.open(path, method=method)
        if role in view.hotline_roles:
            assert response.status_code != 403, f"{role.value} refused {method} {path}"
        else:
            assert response.status_code == 403, f"{role.value} allowed {method} {path}: {response.status_code}"


def test_signed_out_every_protected_route_asks_for_sign_in(app, client):
    for endpoint, method, path, view in _routes(app):
        if view.hotline_roles is None:
            continue
        response = client.open(path, method=method)
        expected = (401,) if path.startswith("/api/") else (302, 400)  # 400: CSRF checked before the view
        assert response.status_code in expected, f"{method} {path}: {response.status_code}"


def test_roles_are_as_the_console_intends():
    assert set(SUPERVISORS) < set(OPERATORS) and set(ADMINS) < set(SUPERVISORS)


def test_every_post_without_a_csrf_token_is_refused(app, client, auth, console_services):
    auth.login("admin")
    with console_services.sessions() as session:
        before = len(session.scalars(select(AuditEntry)).all())
    for endpoint, method, path, view in _routes(app):
        if method != "POST" or path.startswith("/api/") or endpoint == "sms_inbound.inbound":
            continue  # the API and Twilio's webhook authenticate each request (their own tests)
        response = client.post(path, data={"note": "x", "provider_id": "1", "accepted": "1", "to_status": "cancelled",
                                           "reason": "x", "resolution": "x", "description": "x"})
        assert response.status_code == 400, f"POST {path} without CSRF: {response.status_code}"
    with console_services.sessions() as session:
        assert len(session.scalars(select(AuditEntry)).all()) == before  # nothing changed


def test_a_cookie_session_cannot_write_through_the_api_without_the_csrf_header(client, auth):
    auth.login()
    body = {"phone": "13912345678", "category": "repair", "district": "yuancheng", "address": "x"}
    assert client.post("/api/v1/requests", json=body).status_code == 400
    token = auth.csrf_token("/")
    assert client.post("/api/v1/requests", json=body, headers={"X-CSRFToken": token}).status_code == 201


def test_hostile_text_in_every_request_field_is_stored_as_text_and_shown_escaped(client, auth, console_services):
    auth.login()
    with console_services.sessions() as session:
        from db.models import ServiceCategory
        category = session.scalar(select(ServiceCategory.id).where(ServiceCategory.code == "repair"))
    response = auth.post("/requests/new", {"phone": "13912345679", "caller_name": XSS, "category": category,
                                           "district": 1, "address": XSS + SQLI, "description": SQLI + XSS,
                                           "priority": "normal"}, page="/requests/new")
    assert response.status_code == 302
    number = re.search(r"HY\d{8}-\d{4}", response.headers["Location"]).group(0)
    page = client.get(f"/requests/{number}").get_data(as_text=True)
    assert XSS not in page and "&lt;script&gt;" in page
    with console_services.sessions() as session:
        stored = session.scalar(select(ServiceRequest).where(ServiceRequest.number == number))
        assert stored.address == XSS + SQLI  # kept exactly, as data
    for query in (XSS, SQLI, "%", "_", "\\"):
        listing = client.get("/requests", query_string={"q": query, "status": SQLI, "category": SQLI, "page": SQLI})
        assert listing.status_code == 200 and XSS not in listing.get_data(as_text=True)
    assert client.get("/requests", query_string={"q": XSS}).get_data(as_text=True).count("&lt;script&gt;") >= 1


def test_hostile_input_elsewhere_is_refused_or_escaped(client, auth, console_services):
    auth.login("supervisor")
    complaint = auth.post("/complaints/new", {"phone": XSS, "request_number": SQLI, "description": XSS},
                          page="/complaints/new")
    assert complaint.status_code == 200  # bad phone and unknown request number: the form again
    assert XSS not in complaint.get_data(as_text=True)
    created = auth.post("/complaints/new", {"description": XSS + SQLI}, page="/complaints/new")
    assert created.status_code == 302
    page = client.get(created.headers["Location"]).get_data(as_text=True)
    assert XSS not in page and "&lt;script&gt;" in page
    for path in ("/providers", "/calls", "/sms", "/callbacks"):
        response = client.get(path, query_string={"q": XSS, "category": SQLI, "outcome": SQLI, "status": XSS, "show": XSS})
        assert response.status_code == 200 and XSS not in response.get_data(as_text=True)
    for path in (f"/requests/{XSS}", f"/calls/{SQLI}", f"/pop/{XSS}"):
        response = client.get(path)
        assert response.status_code in (200, 404) and XSS not in response.get_data(as_text=True)
    api = client.get("/api/v1/requests", query_string={"phone": SQLI})
    assert api.status_code == 400
    with console_services.sessions() as session:
        assert session.scalar(select(Complaint.description).order_by(Complaint.id.desc()).limit(1)) == XSS + SQLI


def test_sign_in_is_throttled_per_account(client, auth, console_services):
    limit = console_services.settings.console.login_max_failures
    for _ in range(limit):
        assert "不正确" in auth.login("operator", "wrong-password").get_data(as_text=True)
    locked = auth.login("operator")  # the right password, but locked
    assert locked.status_code == 200 and "次数过多" in locked.get_data(as_text=True)
    # The API's Basic sign-in shares the same lock.
    assert client.get("/api/v1/requests", auth=("operator", "operator-demo-2026")).status_code == 401


def test_session_cookie_is_http_only_and_secure_in_production(app, client, auth):
    cookie = auth.login().headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert app.config["SESSION_COOKIE_SECURE"] is False  # development
    from agent_console import create_app
    from config import load_settings

    production = load_settings(environ={}, overrides={"app.env": "production", "app.secret_key": "x" * 32,
                                                      "asterisk.trunk_password": "y" * 20, "asterisk.ami_secret": "z" * 20})
    from agent_console.services import ConsoleServices
    from telephony.pop_bus import InProcessBus

    prod_app = create_app(services=ConsoleServices(production, app.extensions["hotline"].sessions, InProcessBus()))
    assert prod_app.config["SESSION_COOKIE_SECURE"] is True


def test_pages_forbid_framing_and_inline_script(client):
    headers = client.get("/login").headers
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_login_never_redirects_off_site(client, auth):
    token = auth.csrf_token()
    response = client.post("/login?next=//evil.example/x", data={"username": "operator", "password": "operator-demo-2026",
                                                                 "csrf_token": token})
    assert response.headers["Location"] == "/"


QUERY_PARAMETERS = ("q", "status", "category", "district", "page", "outcome", "show", "phone", "limit", "caller",
                    "language", "priority", "call", "next", "lang", "offer", "number", "date_from", "date_to",
                    "operator", "queue", "has_recording", "has_request", "sort", "order", "after")


def _shown(response) -> str:
    """What a browser would render of a response: a binary download (an XLSX, a recording) renders nothing."""
    return response.get_data(as_text=True) if response.mimetype.startswith(("text/", "application/json")) else ""


@pytest.mark.parametrize("probe", [XSS, SQLI])
def test_every_page_escapes_or_refuses_every_query_parameter(app, client, auth, probe):
    auth.login("admin")
    for endpoint, method, path, view in _routes(app):
        if method != "GET" or endpoint in ("calls.pop_stream", "static"):
            continue
        response = client.get(path, query_string={name: probe for name in QUERY_PARAMETERS})
        assert response.status_code in (200, 302, 400, 404), f"GET {path}: {response.status_code}"
        assert XSS not in _shown(response), f"GET {path} echoed the probe unescaped"


# Valid values where a form needs them to get as far as saving; free text gets the probe.
VALID_FIELDS = {"phone": "13912345678", "category": "1", "district": "1", "priority": "normal", "to_status": "cancelled",
                "provider_id": "1", "accepted": "0", "provider": "1", "value": "1", "due": "2026-12-01T10:00"}
TEXT_FIELDS = ("caller_name", "address", "description", "note", "resolution", "reason", "next")


def test_hostile_text_posted_to_every_form_never_comes_back_unescaped(app, client, auth):
    """Stored XSS: every free-text field of every POST route gets the probe; then every page is read."""
    auth.login("admin")
    app.config["WTF_CSRF_ENABLED"] = False
    for endpoint, method, path, view in _routes(app):
        if method != "POST" or endpoint in ("auth.logout", "auth.login"):
            continue
        response = client.post(path, data={**VALID_FIELDS, **{name: XSS + SQLI for name in TEXT_FIELDS}})
        assert response.status_code in (200, 302, 400, 404), f"POST {path}: {response.status_code}"
        assert XSS not in response.get_data(as_text=True), f"POST {path} echoed the probe unescaped"
    escaped_somewhere = False
    for endpoint, method, path, view in _routes(app):
        if method == "GET" and endpoint not in ("calls.pop_stream", "static"):
            page = _shown(client.get(path))
            assert XSS not in page, f"GET {path} shows stored text unescaped"
            escaped_somewhere |= "&lt;script&gt;" in page
    assert escaped_somewhere, "no probe was stored: the test proved nothing"


def test_an_internal_error_gets_a_clear_page_and_saves_nothing_half_done(app, client, auth, console_services, monkeypatch):
    from db.models import SmsMessage

    auth.login()
    app.config["PROPAGATE_EXCEPTIONS"] = False

    def broken(*args, **kwargs):
        raise RuntimeError("the SMS outbox is unavailable")
    monkeypatch.setattr("agent_console.requests.dispatch_messages", broken)
    with console_services.sessions() as session:
        from db.models import ServiceCategory
        category = session.scalar(select(ServiceCategory.id).where(ServiceCategory.code == "repair"))
    created = auth.post("/requests/new", {"phone": "13912345670", "category": category, "district": 1,
                                          "address": "源城区", "priority": "normal"}, page="/requests/new")
    number = re.search(r"HY\d{8}-\d{4}", created.headers["Location"]).group(0)
    page = client.get(f"/requests/{number}").get_data(as_text=True)
    provider_id = re.search(r'name="provider_id" value="(\d+)"', page).group(1)
    response = auth.post(f"/requests/{number}/dispatch", {"provider_id": provider_id}, page=f"/requests/{number}")
    assert response.status_code == 500 and "这次操作没有保存" in response.get_data(as_text=True)
    with console_services.sessions() as session:
        request_row = session.scalar(select(ServiceRequest).where(ServiceRequest.number == number))
        assert request_row.status.value == "new" and request_row.dispatches == []  # the dispatch was rolled back
        assert session.scalars(select(SmsMessage).where(SmsMessage.request_id == request_row.id)).all() == []


def _throttled_sign_ins(services, trusted_proxies: int) -> tuple[bool, bool]:
    """Fail the limit from 10.0.0.1 on unknown accounts; is a right password then locked
    from 10.0.0.1, and from 10.0.0.2 (as X-Forwarded-For says, through one proxy)?"""
    from agent_console import create_app

    services.settings.console.trusted_proxies = trusted_proxies
    app = create_app({"TESTING": True, "WTF_CSRF_ENABLED": False}, services=services)

    def sign_in(username, password, address):
        with app.test_client() as client:
            return "次数过多" in client.post("/login", data={"username": username, "password": password},
                                          headers={"X-Forwarded-For": address}).get_data(as_text=True)

    for n in range(services.settings.console.login_max_failures):
        sign_in(f"nobody-{n}", "wrong", "10.0.0.1")
    return sign_in("operator", "operator-demo-2026", "10.0.0.1"), sign_in("operator", "operator-demo-2026", "10.0.0.2")


def test_behind_a_trusted_proxy_each_operator_is_throttled_by_their_own_address(console_services):
    assert _throttled_sign_ins(console_services, trusted_proxies=1) == (True, False)


def test_without_a_trusted_proxy_x_forwarded_for_cannot_dodge_the_lock(console_services):
    # Everyone is the test client's one address: the lock holds whatever the header says.
    assert _throttled_sign_ins(console_services, trusted_proxies=0) == (True, True)


# --- issue 13: what an adversary found -----------------------------------------------------


def _add_call(services, uniqueid: str, phone: str = "13800138000", **fields):
    """A call from a demo caller with history (13800138000 has an earlier request)."""
    from db.models import Call, CallDirection, Caller

    with services.sessions() as session:
        caller = session.scalar(select(Caller).where(Caller.phone == phone))
        session.add(Call(uniqueid=uniqueid, direction=CallDirection.INBOUND, caller_number=phone,
                         caller_id=caller.id if caller else None, **fields))
        session.commit()


def test_a_lone_surrogate_stored_in_a_call_shows_as_a_replacement_glyph(client, auth, console_services):
    import datetime as dt

    from db.models import Call, IvrSession

    bad = chr(55296)  # what "200 result=55296" made of a key before the IVR refused it
    _add_call(console_services, "1764208800.17")
    with console_services.sessions() as session:
        call = session.scalar(select(Call).where(Call.uniqueid == "1764208800.17"))
        session.add(IvrSession(call_id=call.id, script="main", result={"HOTLINE_CATEGORY": bad},
                               steps=[{"node": "main", "prompt": "menu", "key": bad,
                                       "at": dt.datetime(2026, 11, 27, 2, 0, tzinfo=dt.timezone.utc).isoformat()}]))
        session.commit()
    auth.login("supervisor")
    page = client.get("/calls/1764208800.17")
    assert page.status_code == 200
    assert "\ufffd" in page.get_data(as_text=True)
    assert client.get("/calls").status_code == 200
    assert client.get("/requests/new?call=1764208800.17").status_code == 200


@pytest.mark.parametrize("target", [
    "/\t/evil.example", "/%09/evil.example".replace("%09", "\t"), "/\n/evil.example", "/\r\n/evil.example",
    "\t//evil.example", "/\\evil.example", "/\\/evil.example", "//evil.example", "https://evil.example/",
    "/ok\nSet-Cookie: x=1", "/\x00/evil.example".replace("\x00", "\x0b"),
])
def test_sign_in_never_redirects_off_site_even_through_what_browsers_strip(client, auth, target):
    response = client.post("/login", query_string={"next": target},
                           data={"username": "operator", "password": "operator-demo-2026", "csrf_token": auth.csrf_token()})
    assert response.status_code == 302 and response.headers["Location"] == "/"


def test_sign_in_still_returns_to_a_page_of_this_site(client, auth):
    response = client.post("/login?next=%2Frequests%3Fstatus%3Dnew",
                           data={"username": "operator", "password": "operator-demo-2026", "csrf_token": auth.csrf_token()})
    assert response.headers["Location"] == "/requests?status=new"
    switched = auth.post("/language/en", {"next": "/\t/evil.example"})
    assert switched.status_code == 302 and switched.headers["Location"] == "/"


def test_a_session_cookie_copied_before_signing_out_stops_working(app, client, auth):
    auth.login("operator")
    copied = client.get_cookie("session").value
    assert client.get("/").status_code == 200
    assert auth.logout().status_code == 302
    thief = app.test_client()
    thief.set_cookie("session", copied)
    response = thief.get("/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    # Signing in again works, with a fresh session.
    assert auth.login("operator").status_code == 302 and client.get("/").status_code == 200


@pytest.mark.parametrize("who", ["unknown", "inactive", "wrong password"])
def test_every_refused_sign_in_checks_a_password_hash(client, auth, console_services, monkeypatch, who):
    """Timing must not tell whether an account exists: each refusal costs one password hash."""
    import db.users
    from db.models import User

    if who == "inactive":
        with console_services.sessions() as session:
            session.scalar(select(User).where(User.username == "operator")).active = False
            session.commit()
    checked = []
    real = db.users.check_password_hash
    monkeypatch.setattr(db.users, "check_password_hash", lambda *a: checked.append(a[0]) or real(*a))
    username, password = {"unknown": ("nobody-here", "whatever-1234"), "inactive": ("operator", "operator-demo-2026"),
                          "wrong password": ("operator", "wrong-password")}[who]
    response = auth.login(username, password)
    assert response.status_code == 200 and "不正确" in response.get_data(as_text=True)
    assert len(checked) == 1 and checked[0].startswith("scrypt:")


def test_a_pop_is_for_the_operator_it_was_offered_to(app, client, auth, console_services):
    from db.users import create_user

    with console_services.sessions() as session:
        create_user(session, "operator2", "operator2-demo-2026", Role.OPERATOR, sip_extension="1004")
        session.commit()
    _add_call(console_services, "1764208800.23")
    auth.login("operator")  # extension 1001
    stream = client.get("/pop/stream")
    console_services.pop_bus.publish("1001", {"uniqueid": "1764208800.23", "caller": "13800138000", "language": "cmn"})
    import json
    event = next(json.loads(c.decode().split("data: ", 1)[1].split("\n", 1)[0]) for c in stream.response
                 if b"event: pop" in c)
    stream.close()
    assert "13800138000" not in event["offer"]  # an opaque signature, not the number in disguise
    mine = client.get("/pop/1764208800.23", query_string={"offer": event["offer"], "language": "cmn"})
    assert mine.status_code == 200 and "13800138000" in mine.get_data(as_text=True)
    link = re.search(r'id="pop-new-request" href="([^"]+)"', mine.get_data(as_text=True)).group(1)
    assert "13800138000" not in link
    assert 'value="13800138000"' in client.get(link.replace("&amp;", "&")).get_data(as_text=True)
    assert client.get("/pop/1764208800.23").status_code == 403  # no offer, and not answered by 1001 yet

    other = app.test_client()
    AuthActions(other).login("operator2", "operator2-demo-2026")
    for query in ({}, {"offer": event["offer"]}, {"offer": "forged"}):
        response = other.get("/pop/1764208800.23", query_string=query)
        assert response.status_code == 403 and "13800138000" not in response.get_data(as_text=True)
    assert other.get("/requests/new", query_string={"call": "1764208800.23", "offer": event["offer"]}).status_code == 403

    with console_services.sessions() as session:  # operator2 answered it
        from db.models import Call
        session.scalar(select(Call).where(Call.uniqueid == "1764208800.23")).agent_extension = "1004"
        session.commit()
    assert other.get("/pop/1764208800.23").status_code == 200
    supervisor = app.test_client()
    AuthActions(supervisor).login("supervisor")
    assert supervisor.get("/pop/1764208800.23").status_code == 200


def test_the_console_script_never_puts_the_callers_number_in_a_url():
    from pathlib import Path

    script = Path(__file__).parents[1].joinpath("agent_console", "static", "console.js").read_text(encoding="utf-8")
    query = re.search(r"new URLSearchParams\(\{(.*?)\}\)", script, re.DOTALL).group(1)
    assert "offer" in query and "caller" not in query


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def console_on_each_database(request, tmp_path):
    """The console on a migrated SQLite and PostgreSQL database of its own (the account it
    adds must not reach the databases other tests share), with one admin account."""
    import uuid

    from agent_console import create_app
    from agent_console.services import ConsoleServices
    from config import load_settings
    from db import migrate
    from db.reference import ensure_reference_data
    from db.session import make_engine, make_session_factory, transaction
    from db.users import create_user
    from telephony.pop_bus import InProcessBus

    from conftest import _drop_schema, _postgres_schema_engine

    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'own.sqlite3'}")
        request.addfinalizer(engine.dispose)
    else:
        admin, engine, schema = _postgres_schema_engine()
        request.addfinalizer(lambda: _drop_schema(admin, engine, schema))
    migrate.upgrade(engine)
    sessions = make_session_factory(engine)
    with transaction(sessions) as session:
        ensure_reference_data(session)
    username = f"admin-{uuid.uuid4().hex[:8]}"
    with sessions() as session:
        create_user(session, username, "admin-password-2026", Role.ADMIN, sip_extension=None)
        session.commit()
    services = ConsoleServices(load_settings(environ={}, overrides={"app.data_dir": str(tmp_path)}), sessions, InProcessBus())
    app = create_app({"TESTING": True, "WTF_CSRF_ENABLED": False}, services=services)
    yield app, (username, "admin-password-2026")
    services.close()


HUGE = "9" * 25  # beyond 64 bits


def test_nul_bytes_huge_integers_and_bottomless_json_get_a_clear_400(console_on_each_database):
    app, account = console_on_each_database
    client = app.test_client()
    assert client.post("/login", data={"username": "adm\x00in", "password": "x"}).status_code == 400
    assert client.post("/login", data={"username": account[0], "password": account[1]}).status_code == 302
    pages = [("/requests", {"q": "a\x00b"}), ("/requests", {"category": HUGE}), ("/requests", {"page": HUGE}),
             ("/providers", {"q": "\x00"}), ("/providers", {"category": HUGE}), (f"/providers/{HUGE}", {}),
             ("/pop/%00", {}), ("/calls/%00", {}), ("/calls", {"outcome": "\x00"}), (f"/surveys/{HUGE}", {}),
             ("/requests/HY%00", {}), ("/requests/new", {"call": "1.\x00"})]
    for path, query in pages:
        response = client.get(path, query_string=query)
        assert response.status_code == 400, (path, query, response.status_code)
        assert "请求无效" in response.get_data(as_text=True)
    api = app.test_client()
    for path, query in [("/api/v1/requests", {"phone": "\x00"}), ("/api/v1/requests", {"status": "\x00"}),
                        ("/api/v1/requests", {"limit": HUGE}), ("/api/v1/providers", {"category": "\x00"}),
                        (f"/api/v1/providers/{HUGE}", {}), ("/api/v1/requests/HY%00", {}),
                        ("/api/v1/requests/HY%00/suggestions", {})]:
        response = api.get(path, query_string=query, auth=account)
        assert response.status_code == 400 and response.json["error"], (path, query, response.status_code)
    assert api.get("/api/v1/requests", auth=(account[0] + "\x00", account[1])).status_code == 400
    assert api.get("/api/v1/requests", headers={"Authorization": "Bearer hl_\x00"}).status_code == 400
    for body in ('{"phone": "139\\u0000", "category": "repair"}', '{"address\\u0000": "x"}', "[" * 100_000 + "]" * 100_000,
                 '{"a": ' * 20 + "1" + "}" * 20, f'{{"phone": {HUGE}}}'):
        response = api.post("/api/v1/requests", data=body, content_type="application/json", auth=account)
        assert response.status_code in (400, 422) and response.json["error"], (body[:40], response.status_code)
    assert api.post("/api/v1/requests", data="[" * 9 + "]" * 9, content_type="application/json",
                    auth=account).status_code == 400
    repeated = client.get("/requests", query_string=[("category", "1"), ("category", HUGE)])
    assert repeated.status_code == 400  # every value of a repeated parameter, not only the first
    # A twenty-digit password is a password, not a number out of range.
    assert api.get("/api/v1/requests", auth=(account[0], HUGE)).status_code == 401
    # A string that merely looks like brackets or an escaped backslash is not refused.
    fine = api.post("/api/v1/requests", data='{"phone": "13912345678", "address": "[[[[[[[[[[{{{{{{{\\\\u0000"}',
                    content_type="application/json", auth=account)
    assert fine.status_code == 422 and "category" in fine.json["fields"]


def test_an_id_beyond_32_bits_in_a_query_is_no_row_not_a_500(console_on_each_database):
    """Under 19 digits the number reaches the view: PostgreSQL refused 2147483648 for an id
    ("integer out of range"), so /jobs/seekers/new?lead= was a 500 there."""
    app, account = console_on_each_database
    client = app.test_client()
    assert client.post("/login", data={"username": account[0], "password": account[1]}).status_code == 302
    for lead in ("2147483648", "99999999999", "-2147483649", "-1", "0"):
        response = client.get("/jobs/seekers/new", query_string={"lead": lead})
        assert response.status_code == 200, (lead, response.status_code)


def test_a_lone_surrogate_in_json_gets_a_clear_400_not_a_500(console_on_each_database):
    """'\\ud800' is valid JSON and parses to a lone surrogate, which no database driver encodes:
    refused before any view, in a key or a value, at any depth."""
    app, account = console_on_each_database
    api = app.test_client()
    for body in ('{"phone": "13912345678", "category": "household", "district": "yuancheng", "address": "\\ud800"}',
                 '{"phone": "13912345678", "category": "\\udfff", "district": "yuancheng", "address": "x"}',
                 '{"address\\ud800": "x"}', '{"a": ["x", {"b": "\\ud83d"}]}'):
        response = api.post("/api/v1/requests", data=body, content_type="application/json", auth=account)
        assert response.status_code == 400 and response.json["error"], (body, response.status_code)
    # A surrogate pair is one ordinary character (an emoji), and stays welcome.
    fine = api.post("/api/v1/requests", data='{"phone": "13912345678", "address": "\\ud83d\\ude00"}',
                    content_type="application/json", auth=account)
    assert fine.status_code == 422 and "category" in fine.json["fields"]


def test_a_new_request_from_the_pop_keeps_the_ivr_choices_before_the_ivr_log_lands(client, auth, console_services):
    """The IVR writes its call log in batches, a moment after Asterisk offers the call:
    the pop's link carries what the channel variables said, so the form opened at once
    still has the caller's category and priority."""
    from db.models import Call, IvrSession, ServiceCategory

    _add_call(console_services, "1764208800.31", agent_extension="1001")
    auth.login("operator")  # extension 1001, who answered
    pop = client.get("/pop/1764208800.31", query_string={"language": "cmn", "category": "housing",
                                                        "priority": "urgent"}).get_data(as_text=True)
    link = re.search(r'id="pop-new-request" href="([^"]+)"', pop).group(1).replace("&amp;", "&")
    assert "category=housing" in link and "priority=urgent" in link
    with console_services.sessions() as session:
        housing, legal = (session.scalar(select(ServiceCategory.id).where(ServiceCategory.code == code))
                          for code in ("housing", "legal"))
    form = client.get(link).get_data(as_text=True)
    assert f'<option selected value="{housing}">' in form and '<option selected value="urgent">' in form

    # Once the IVR's log is written, it is what the form believes.
    with console_services.sessions() as session:
        call = session.scalar(select(Call).where(Call.uniqueid == "1764208800.31"))
        session.add(IvrSession(call_id=call.id, script="ivr", language="cmn",
                               result={"HOTLINE_CATEGORY": "legal", "HOTLINE_PRIORITY": "normal"}))
        session.commit()
    form = client.get(link).get_data(as_text=True)
    assert f'<option selected value="{legal}">' in form and '<option selected value="normal">' in form

    # A link's words that name no category or priority leave the fields for the operator;
    # words no database could store are refused before any view (the app's 400).
    assert client.get("/requests/new?call=1764208800.31&category=no-such%00&priority=urgent%ED%A0%80").status_code == 400
    unknown = f"category={'x' * 5000}&priority=99"
    assert f'<option selected value="{legal}">' in client.get(f"/requests/new?call=1764208800.31&{unknown}").get_data(as_text=True)
    _add_call(console_services, "1764208800.32", agent_extension="1001")
    response = client.get(f"/requests/new?call=1764208800.32&{unknown}")
    category = re.search(r'name="category".*?</select>', response.get_data(as_text=True), re.S).group(0)
    assert response.status_code == 200 and "selected" not in category

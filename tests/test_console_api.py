"""The JSON API and its OpenAPI document."""
from __future__ import annotations

import re

OPERATOR = ("operator", "operator-demo-2026")
SUPERVISOR = ("supervisor", "supervisor-demo-2026")


def test_create_read_and_list_a_request_with_basic_auth(client):
    body = {"phone": "0762-3661234", "name": "李伯", "category": "elderly_care", "district": "dongyuan",
            "address": "东源县仙塘镇", "priority": "urgent"}
    created = client.post("/api/v1/requests", json=body, auth=OPERATOR)
    assert created.status_code == 201, created.json
    number = created.json["number"]
    assert created.json["phone"] == "07623661234" and created.json["priority"] == "urgent"
    assert client.get(f"/api/v1/requests/{number}", auth=OPERATOR).json["status"] == "new"
    listed = client.get("/api/v1/requests", query_string={"phone": "07623661234"}, auth=OPERATOR).json["requests"]
    assert [r["number"] for r in listed] == [number]
    again = client.post("/api/v1/requests", json=body, auth=OPERATOR)
    assert again.status_code == 409 and again.json["fields"]["duplicate_of"] == number
    suggestions = client.get(f"/api/v1/requests/{number}/suggestions", auth=OPERATOR).json["suggestions"]
    assert suggestions and all(s["reasons"] for s in suggestions)
    assert [s["score"] for s in suggestions] == sorted((s["score"] for s in suggestions), reverse=True)


def test_bad_input_gets_a_clear_error(client):
    assert client.post("/api/v1/requests", data="not json", auth=OPERATOR).status_code == 400
    missing = client.post("/api/v1/requests", json={"phone": "13912345678"}, auth=OPERATOR)
    assert missing.status_code == 422 and "category" in missing.json["fields"]
    wrong = client.post("/api/v1/requests", json={"phone": "12", "category": "x", "district": "y", "address": "z"},
                        auth=OPERATOR)
    assert wrong.status_code == 422 and "phone" in wrong.json["fields"]
    typed = client.post("/api/v1/requests", json={"phone": 13912345678}, auth=OPERATOR)
    assert typed.status_code == 422
    assert client.get("/api/v1/requests", query_string={"status": "bogus"}, auth=OPERATOR).status_code == 400
    assert client.get("/api/v1/requests/HY0", auth=OPERATOR).status_code == 404
    assert client.get("/api/v1/nothing", auth=OPERATOR).json["error"]


def test_roles_and_sign_in(client):
    assert client.get("/api/v1/requests").status_code == 401
    assert client.get("/api/v1/requests", auth=("operator", "wrong")).status_code == 401
    assert client.get("/api/v1/calls", auth=OPERATOR).status_code == 403
    assert client.get("/api/v1/calls", auth=SUPERVISOR).status_code == 200
    providers = client.get("/api/v1/providers", query_string={"category": "legal"}, auth=OPERATOR).json["providers"]
    assert providers and all("legal" in p["categories"] for p in providers)


def test_the_openapi_document_describes_exactly_the_api(app, client):
    document = client.get("/api/v1/openapi.json").json
    assert document["openapi"].startswith("3.")
    described = {(path, method.upper()) for path, item in document["paths"].items() for method in item}
    served = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/") and "<path:" not in rule.rule:
            path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
            served |= {(path, m) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert described == served
    schemes = document["components"]["securitySchemes"]
    assert schemes["token"] == {**schemes["token"], "type": "http", "scheme": "bearer"}  # API tokens are described
    for item in document["paths"].values():
        for operation in item.values():
            for response in operation["responses"].values():
                schema = response["content"]["application/json"]["schema"]
                if "$ref" in schema:
                    assert schema["$ref"].split("/")[-1] in document["components"]["schemas"]


def _make_token(client, auth, username: str = "operator", name: str = "nightly report") -> str:
    auth.login(username)
    page = auth.post("/tokens", {"name": name}, page="/tokens").get_data(as_text=True)
    token = re.search(r"<code>(hl_[A-Za-z0-9_-]+)</code>", page).group(1)
    assert auth.logout().status_code == 302
    return token


def _counts(services) -> tuple[int, int]:
    from sqlalchemy import func, select

    from db.models import AuditEntry, LoginAttempt

    with services.sessions() as session:
        return (session.scalar(select(func.count()).select_from(LoginAttempt)),
                session.scalar(select(func.count()).select_from(AuditEntry)))


def test_an_api_token_is_shown_once_kept_hashed_and_checked_without_a_password_hash(client, auth, console_services,
                                                                                    monkeypatch):
    from sqlalchemy import select

    import db.users
    from db.models import ApiToken

    token = _make_token(client, auth)
    with console_services.sessions() as session:
        row = session.scalar(select(ApiToken))
        assert row.name == "nightly report" and token not in row.token_hash and len(row.token_hash) == 64
    auth.login("operator")
    assert token not in client.get("/tokens").get_data(as_text=True)  # shown once
    auth.logout()
    hashed = []
    monkeypatch.setattr(db.users, "check_password_hash", lambda *a: hashed.append(a) or False)
    before = _counts(console_services)
    for _ in range(3):
        assert client.get("/api/v1/requests", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        assert client.get("/api/v1/providers", auth=("operator", token)).status_code == 200
    assert hashed == []  # no scrypt: one keyed hash a request
    assert _counts(console_services) == before  # reads are not sign-ins: no attempt, no audit row
    assert client.get("/api/v1/calls", headers={"Authorization": f"Bearer {token}"}).status_code == 403  # the role's rights
    assert client.get("/api/v1/requests", auth=("supervisor", token)).status_code == 401  # someone else's token


def test_a_password_over_basic_is_not_audited_as_a_sign_in_but_failures_still_count(client, console_services):
    before = _counts(console_services)
    assert client.get("/api/v1/requests", auth=OPERATOR).status_code == 200
    assert _counts(console_services) == before
    assert client.get("/api/v1/requests", auth=("operator", "wrong")).status_code == 401
    assert client.get("/api/v1/requests", headers={"Authorization": "Bearer hl_forged"}).status_code == 401
    assert _counts(console_services)[0] == before[0] + 2


def test_a_revoked_token_or_one_of_an_inactive_account_is_refused(app, client, auth, console_services):
    from sqlalchemy import select

    from db.models import ApiToken, User
    from tests.conftest import AuthActions

    token = _make_token(client, auth)
    bearer = {"Authorization": f"Bearer {token}"}
    with console_services.sessions() as session:
        token_id = session.scalar(select(ApiToken.id))
    supervisor = app.test_client()
    AuthActions(supervisor).login("supervisor")
    assert AuthActions(supervisor).post(f"/tokens/{token_id}/revoke", page="/tokens").status_code == 403  # not theirs
    with console_services.sessions() as session:
        session.scalar(select(User).where(User.username == "operator")).active = False
        session.commit()
    assert client.get("/api/v1/requests", headers=bearer).status_code == 401
    with console_services.sessions() as session:
        session.scalar(select(User).where(User.username == "operator")).active = True
        session.commit()
    assert client.get("/api/v1/requests", headers=bearer).status_code == 200
    admin = app.test_client()
    AuthActions(admin).login("admin")
    assert "nightly report" in admin.get("/tokens").get_data(as_text=True)  # admins see everyone's
    assert AuthActions(admin).post(f"/tokens/{token_id}/revoke", page="/tokens").status_code == 302
    assert client.get("/api/v1/requests", headers=bearer).status_code == 401

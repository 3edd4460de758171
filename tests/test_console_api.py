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
    for item in document["paths"].values():
        for operation in item.values():
            for response in operation["responses"].values():
                schema = response["content"]["application/json"]["schema"]
                if "$ref" in schema:
                    assert schema["$ref"].split("/")[-1] in document["components"]["schemas"]

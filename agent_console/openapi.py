"""The API described as OpenAPI 3.1; a test checks it names exactly the API's routes."""
from __future__ import annotations

_ERROR = {"$ref": "#/components/schemas/Error"}


def _ok(schema: dict, description: str = "OK") -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict:
    meaning = {400: "Bad input (also: a NUL character, an id beyond 2**31-1, JSON nested deeper than 8)", 401: "Not signed in", 403: "Role not allowed", 404: "Not found",
               409: "Likely duplicate", 422: "Invalid fields"}
    return {str(code): _ok(_ERROR, meaning[code]) for code in codes}


def _get(summary: str, schema: dict, params: list | None = None, errors=(401, 403)) -> dict:
    return {"get": {"summary": summary, "parameters": params or [], "responses": {"200": _ok(schema), **_errors(*errors)}}}


def _param(name: str, where: str = "query", kind: str = "string", required: bool = False) -> dict:
    return {"name": name, "in": where, "required": required or where == "path", "schema": {"type": kind}}


def document() -> dict:
    ref = lambda name: {"$ref": f"#/components/schemas/{name}"}  # noqa: E731
    listing = lambda key, name: {"type": "object", "properties": {key: {"type": "array", "items": ref(name)}}}  # noqa: E731
    paths = {
        "/api/v1/requests": {
            **_get("Requests, newest first", listing("requests", "Request"),
                   [_param("status"), _param("phone"), _param("limit", kind="integer")], (400, 401, 403)),
            "post": {"summary": "Log a new request", "requestBody": {"required": True, "content": {
                "application/json": {"schema": ref("NewRequest")}}},
                     "responses": {"201": _ok(ref("Request"), "Created"), **_errors(400, 401, 403, 409, 422)}},
        },
        "/api/v1/requests/{number}": _get("One request with its history", ref("Request"),
                                          [_param("number", "path")], (401, 403, 404)),
        "/api/v1/requests/{number}/suggestions": _get(
            "Ranked providers for a request, with the reasons", {"type": "object", "properties": {
                "suggestions": {"type": "array", "items": ref("Suggestion")}}}, [_param("number", "path")], (401, 403, 404)),
        "/api/v1/providers": _get("Providers", listing("providers", "Provider"),
                                  [_param("category"), _param("limit", kind="integer")]),
        "/api/v1/providers/{provider_id}": _get("One provider", ref("Provider"),
                                                [_param("provider_id", "path", "integer")], (401, 403, 404)),
        "/api/v1/calls": _get("Calls, newest first (supervisors)", listing("calls", "Call"), [_param("limit", kind="integer")]),
        "/api/v1/openapi.json": {"get": {"summary": "This document", "security": [],
                                         "responses": {"200": _ok({"type": "object"})}}},
    }
    text, nullable = {"type": "string"}, {"type": ["string", "null"]}
    schemas = {
        "Error": {"type": "object", "required": ["error"], "properties": {"error": text, "fields": {"type": "object"}}},
        "NewRequest": {"type": "object", "required": ["phone", "category", "district", "address"], "properties": {
            "phone": text, "name": text, "category": text, "district": text, "address": text, "description": text,
            "priority": {"enum": ["normal", "urgent", "emergency"]}, "confirm_duplicate": {"type": "boolean"}}},
        "Request": {"type": "object", "properties": {
            "number": text, "status": text, "priority": text, "channel": text, "category": text, "district": nullable,
            "address": nullable, "description": text,
            "phone": {"type": ["string", "null"],
                      "description": "The caller's number; masked (138****8000) unless the account's role may unmask"},
            "window_start": nullable,
            "window_end": nullable, "created_at": text, "updated_at": text,
            "provider": {"type": ["object", "null"]}, "history": {"type": "array", "items": {"type": "object"}}}},
        "Provider": {"type": "object", "properties": {
            "id": {"type": "integer"}, "name": text, "phone": text, "grade": {"type": ["integer", "null"]},
            "rating_avg": {"type": ["number", "null"]}, "rating_count": {"type": "integer"},
            "capacity": {"type": "integer"}, "status": text,
            "categories": {"type": "array", "items": text}, "districts": {"type": "array", "items": text}}},
        "Suggestion": {"type": "object", "properties": {
            "provider_id": {"type": "integer"}, "name": text, "score": {"type": "number"},
            "reasons": {"type": "array", "items": text}}},
        "Call": {"type": "object", "properties": {
            "uniqueid": text, "direction": text,
            "caller": {"type": ["string", "null"],
                       "description": "The caller's number; masked (138****8000) unless the account's role may unmask"},
            "started_at": text, "answered_at": nullable,
            "ended_at": nullable, "language": nullable, "queue": nullable,
            "queue_wait_seconds": {"type": ["integer", "null"]}, "agent_extension": nullable, "outcome": text,
            "hangup_cause": {"type": ["integer", "null"]}, "recording_file": nullable}},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Heyuan household-services hotline API", "version": "1"},
        "security": [{"token": []}, {"basic": []}, {"session": []}],
        "components": {"securitySchemes": {
            "token": {"type": "http", "scheme": "bearer",
                      "description": "An API token made on the console's API tokens page (shown once); "
                                     "checked with one keyed hash, so it is the cheap way for scripts."},
            "basic": {"type": "http", "scheme": "basic",
                      "description": "Username and an API token as the password (cheap), or the account's "
                                     "password (a deliberately slow hash on every request; failures are "
                                     "throttled like the sign-in page)."},
            "session": {"type": "apiKey", "in": "cookie", "name": "session",
                        "description": "A console session; writes also need the X-CSRFToken header."}},
            "schemas": schemas},
        "paths": paths,
    }

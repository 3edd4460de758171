"""The JSON API: requests, providers, calls. Same accounts and roles as the console.

A script signs in with an API token (page 「API 令牌」), as `Authorization: Bearer <token>`
or as the password of HTTP Basic: one keyed hash a request. A password over HTTP Basic
still works but costs a deliberate scrypt each time. Failures are throttled like the
sign-in page; reads are not recorded as sign-ins. A browser uses its console session,
and then a write needs the X-CSRFToken header like any form.
"""
from __future__ import annotations

import datetime as dt
import functools

from flask import Blueprint, abort, current_app, g, jsonify, request
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from agent_console.auth import (
    OPERATORS, SUPERVISORS, ConsoleUser, check_credentials, client_address, phone_for_reader, public, record_failure,
)
from agent_console.database import get_db, services
from db.api_tokens import PREFIX as TOKEN_PREFIX
from db.api_tokens import user_for_token
from db.base import utcnow
from db.caller_history import provider_of
from db.dispatching import suggest_providers, tried_providers
from db.models import (
    Call, Caller, Dispatch, District, Priority, Provider, RequestChannel, RequestStatus, ServiceCategory, ServiceRequest,
    provider_categories,
)
from db.phones import try_normalise
from db.service_requests import caller_for_phone, likely_duplicate, open_request

bp = Blueprint("api", __name__, url_prefix="/api/v1")
MAX_LIMIT = 200


class ApiError(Exception):
    def __init__(self, status: int, message: str, fields: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.fields = status, message, fields or {}


@bp.errorhandler(ApiError)
def _api_error(error: ApiError):
    body = {"error": error.message}
    if error.fields:
        body["fields"] = error.fields
    return jsonify(body), error.status


def api_roles(*allowed):
    def decorate(view):
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            user = _authenticate()
            if user.role not in allowed:
                raise ApiError(403, "your role may not use this")
            g.api_user = user
            return view(*args, **kwargs)
        wrapped.hotline_roles = frozenset(allowed)
        return wrapped
    return decorate


def _authenticate() -> ConsoleUser:
    auth = request.authorization
    if auth is not None and auth.type == "bearer":
        return _token_user(auth.token or "")
    if auth is not None and auth.type == "basic":
        username, password = (auth.username or "")[:64], auth.password or ""
        if password.startswith(TOKEN_PREFIX):
            user = _token_user(password, username)
            if user is not None:
                return user
        user, error = check_credentials(get_db(), username, password, client_address(), sign_in=False)
        if user is None:
            raise ApiError(401, error)
        return ConsoleUser(user)
    if current_user.is_authenticated:
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            current_app.extensions["csrf"].protect()  # a cookie session: the browser must prove it is our page
        return current_user
    raise ApiError(401, "sign in: HTTP Basic, or a console session")


def _token_user(token: str, username: str | None = None) -> ConsoleUser | None:
    """The token's account. A Basic password that merely looks like a token (None) is then
    checked as a password; a refused Bearer token is recorded like a failed sign-in."""
    db = get_db()
    user = user_for_token(db, services().settings.app.secret_key, token)
    if user is not None and username in (None, user.username):
        found = ConsoleUser(user)
        db.commit()  # the token's last use, when it moved on
        return found
    if username is not None:
        return None
    record_failure(db, "(api token)", client_address())
    raise ApiError(401, "invalid or revoked API token")


def _limit() -> int:
    return max(1, min(request.args.get("limit", 50, type=int) or 50, MAX_LIMIT))


def request_json(found: ServiceRequest) -> dict:
    provider = provider_of(found)
    return {
        "number": found.number, "status": found.status.value, "priority": found.priority.value,
        "channel": found.channel.value, "category": found.category.code,
        "district": found.district.code if found.district else None, "address": found.address,
        "description": found.description, "phone": _caller_number(found.caller.phone if found.caller else None),
        "window_start": _iso(found.window_start), "window_end": _iso(found.window_end),
        "created_at": _iso(found.created_at), "updated_at": _iso(found.updated_at),
        "provider": {"id": provider.id, "name": provider.name} if provider else None,
        "history": [{"from": c.from_status.value if c.from_status else None, "to": c.to_status.value, "at": _iso(c.at),
                     "note": c.note} for c in found.history],
    }


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


@bp.route("/requests", methods=["GET"])
@api_roles(*OPERATORS)
def list_requests():
    # Everything request_json reads, in a few queries rather than several per request.
    query = select(ServiceRequest).options(
        selectinload(ServiceRequest.history), selectinload(ServiceRequest.dispatches).selectinload(Dispatch.provider),
        selectinload(ServiceRequest.category), selectinload(ServiceRequest.district), selectinload(ServiceRequest.caller))
    status = request.args.get("status")
    if status is not None:
        if status not in {s.value for s in RequestStatus}:
            raise ApiError(400, "unknown status", {"status": [s.value for s in RequestStatus]})
        query = query.where(ServiceRequest.status == RequestStatus(status))
    if request.args.get("phone"):
        phone = try_normalise(request.args["phone"], services().settings.phone.area_code)
        if phone is None:
            raise ApiError(400, "phone is not a mainland mobile or landline number")
        query = query.join(Caller, Caller.id == ServiceRequest.caller_id).where(Caller.phone == phone.number)
    rows = get_db().scalars(query.order_by(ServiceRequest.created_at.desc()).limit(_limit())).all()
    return {"requests": [request_json(r) for r in rows]}


@bp.route("/requests/<number>", methods=["GET"])
@api_roles(*OPERATORS)
def get_request(number: str):
    found = get_db().scalar(select(ServiceRequest).where(ServiceRequest.number == number[:20]))
    if found is None:
        raise ApiError(404, "no such request")
    return request_json(found)


def _field(body: dict, name: str, kind=str, required: bool = True, maximum: int = 255):
    value = body.get(name)
    if value is None or value == "":
        if required:
            raise ApiError(422, "invalid request", {name: "required"})
        return None
    if not isinstance(value, kind) or (isinstance(value, str) and len(value) > maximum):
        raise ApiError(422, "invalid request", {name: f"must be {kind.__name__} of at most {maximum}"})
    return value


@bp.route("/requests", methods=["POST"])
@api_roles(*OPERATORS)
def create_request():
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "send a JSON object")
    db = get_db()
    settings = services().settings
    phone = try_normalise(_field(body, "phone", maximum=30), settings.phone.area_code)
    if phone is None:
        raise ApiError(422, "invalid request", {"phone": "not a mainland mobile or landline number"})
    category = db.scalar(select(ServiceCategory).where(ServiceCategory.code == _field(body, "category", maximum=32)))
    district = db.scalar(select(District).where(District.code == _field(body, "district", maximum=32)))
    if category is None or district is None:
        raise ApiError(422, "invalid request", {"category" if category is None else "district": "unknown code"})
    priority = _field(body, "priority", required=False, maximum=16) or Priority.NORMAL.value
    if priority not in {p.value for p in Priority}:
        raise ApiError(422, "invalid request", {"priority": [p.value for p in Priority]})
    caller = caller_for_phone(db, phone, _field(body, "name", required=False, maximum=64))
    duplicate = likely_duplicate(db, caller, category.id, settings.console.duplicate_hours)
    if duplicate is not None and body.get("confirm_duplicate") is not True:
        db.rollback()
        raise ApiError(409, "likely duplicate of an open request; send confirm_duplicate: true to create anyway",
                       {"duplicate_of": duplicate.number})
    created = open_request(db, caller, category, RequestChannel.WEB, services().tz, user=g.api_user.row(),
                           district_id=district.id, address=_field(body, "address"),
                           description=_field(body, "description", required=False, maximum=2000) or "",
                           priority=Priority(priority))
    db.commit()
    return request_json(created), 201


def provider_json(provider: Provider) -> dict:
    return {"id": provider.id, "name": provider.name, "phone": provider.phone, "grade": provider.grade,
            "rating_avg": provider.rating_avg, "rating_count": provider.rating_count, "capacity": provider.capacity,
            "status": provider.status.value, "categories": [c.code for c in provider.categories],
            "districts": [d.code for d in provider.districts]}


@bp.route("/providers", methods=["GET"])
@api_roles(*OPERATORS)
def list_providers():
    query = select(Provider).options(selectinload(Provider.categories), selectinload(Provider.districts)).order_by(Provider.id)
    code = request.args.get("category")
    if code:
        query = query.join(provider_categories).join(ServiceCategory).where(ServiceCategory.code == code[:32])
    return {"providers": [provider_json(p) for p in get_db().scalars(query.limit(_limit()))]}


@bp.route("/providers/<int:provider_id>", methods=["GET"])
@api_roles(*OPERATORS)
def get_provider(provider_id: int):
    provider = get_db().get(Provider, provider_id)
    if provider is None:
        raise ApiError(404, "no such provider")
    return provider_json(provider)


@bp.route("/requests/<number>/suggestions", methods=["GET"])
@api_roles(*OPERATORS)
def suggestions(number: str):
    db = get_db()
    found = db.scalar(select(ServiceRequest).where(ServiceRequest.number == number[:20]))
    if found is None:
        raise ApiError(404, "no such request")
    ranked = suggest_providers(db, found.category_id, found.district_id, exclude=tried_providers(found), now=utcnow())
    return {"suggestions": [{"provider_id": s.provider_id, "name": s.name, "score": s.score, "reasons": list(s.reasons)}
                            for s in ranked]}


@bp.route("/calls", methods=["GET"])
@api_roles(*SUPERVISORS)
def list_calls():
    rows = get_db().scalars(select(Call).options(selectinload(Call.caller)).order_by(Call.started_at.desc()).limit(_limit()))
    return {"calls": [{
        "uniqueid": c.uniqueid, "direction": c.direction.value, "caller": _caller_number(c.caller.phone if c.caller else c.caller_number),
        "started_at": _iso(c.started_at), "answered_at": _iso(c.answered_at), "ended_at": _iso(c.ended_at),
        "language": c.ivr_language.value if c.ivr_language else None, "queue": c.queue,
        "queue_wait_seconds": c.queue_wait_seconds, "agent_extension": c.agent_extension, "outcome": c.outcome.value,
        "hangup_cause": c.hangup_cause, "recording_file": c.recording_file} for c in rows]}


def _caller_number(number: str | None) -> str | None:
    """As the token's or session's role may see it (auth.phone_for_reader); null for none."""
    return phone_for_reader(number, g.api_user.role) if number else None


@bp.route("/openapi.json", methods=["GET"])
@public
def openapi():
    from agent_console.openapi import document
    return document()


@bp.route("/<path:_rest>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
@public
def unknown(_rest: str):
    abort(404)

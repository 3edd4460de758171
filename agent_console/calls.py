"""Screen pops (Server-Sent Events); the call log itself is agent_console/call_log.py.

A pop shows a caller's history, which is for the operator the call was offered to (and
for supervisors). The stream that delivers a pop signs the offer for the operator it
delivers it to; the pop's body is given to that operator with that signature, to the
operator who answered the call, and to supervisors. A caller's number never travels in
a URL (access logs keep URLs): the body reads it from the call's row.
"""
from __future__ import annotations

import json

from flask import Blueprint, Response, abort, current_app, render_template, request, stream_with_context
from flask_login import current_user
from itsdangerous import BadData, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from agent_console.auth import OPERATORS, SUPERVISORS, phone_for_reader, roles
from agent_console.database import get_db, services
from db.caller_history import caller_history, provider_of
from db.models import Call, IvrSession, Language, ServiceCategory
from db.phones import try_normalise
from dialplans import contract
from telephony.pop_bus import iterate
from workforce.recruitment import JOBS_CATEGORY, JOBS_INTENT
from telephony.wallboard import WALLBOARD_TOPIC

bp = Blueprint("calls", __name__)
HEARTBEAT = 15.0  # seconds: keeps proxies from closing an idle stream


@bp.route("/pop/stream")
@roles(*OPERATORS)
def pop_stream():
    """The browser's one stream: screen pops for the operator's extension and, for
    supervisors, "the wallboard changed" (event `wallboard`, no data: the page fetches it)."""
    extension = current_user.sip_extension
    topics = [extension] if extension else []
    if current_user.has(*SUPERVISORS):
        topics.append(WALLBOARD_TOPIC)
    if not topics:
        return Response("retry: 60000\n\n", mimetype="text/event-stream")
    subscription = services().pop_bus.subscribe(*topics)
    signer, user_id, role = _offers(), current_user.id, current_user.role

    def events():
        try:
            yield "retry: 2000\n\n"
            for pop in iterate(subscription, HEARTBEAT):
                if pop is None:
                    yield ": keep-alive\n\n"
                elif pop.get("kind") == WALLBOARD_TOPIC:
                    yield "event: wallboard\ndata: {}\n\n"
                else:
                    pop = {**pop, "caller": phone_for_reader(pop.get("caller"), role) or None,
                           "offer": signer.dumps([user_id, str(pop.get("uniqueid"))])}
                    yield f"event: pop\ndata: {json.dumps(pop, ensure_ascii=False)}\n\n"
        finally:
            subscription.close()

    return Response(stream_with_context(events()), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _offers() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt="screen-pop-offer")


def sign_offer(user_id: int, uniqueid: str) -> str:
    """The signature the pop stream gives an operator for a call offered to them."""
    return _offers().dumps([user_id, str(uniqueid)])


def may_see_call(call: Call | None, uniqueid: str, offer: str | None) -> bool:
    """Supervisors see every call; an operator, a call they answered or were offered."""
    if current_user.has(*SUPERVISORS):
        return True
    if call is not None and (call.agent_id == current_user.id or (
            current_user.sip_extension and call.agent_extension == current_user.sip_extension)):
        return True
    try:
        user_id, offered = _offers().loads(offer or "", max_age=services().settings.console.session_hours * 3600)
    except (BadData, TypeError, ValueError):
        return False
    return user_id == current_user.id and offered == uniqueid


def call_from_pop_link(db) -> Call | None:
    """The call a form opened from the screen pop names (?call=…&offer=…): its caller's
    number and address are the pop's, so the reader must be one who may see that call."""
    uniqueid = request.args.get("call", "")[:64]
    if not uniqueid:
        return None
    call = db.scalar(select(Call).where(Call.uniqueid == uniqueid))
    if call is not None and not may_see_call(call, uniqueid, request.args.get("offer", "")[:256]):
        abort(403)
    return call


@bp.route("/pop/<uniqueid>")
@roles(*OPERATORS)
def pop(uniqueid: str):
    """The pop's body: who is calling, what they chose in the IVR, and their history."""
    db = get_db()
    uniqueid = uniqueid[:64]
    # The IVR's last result comes along with the call (and its caller): one query.
    ivr_result = (select(IvrSession.result).where(IvrSession.call_id == Call.id, IvrSession.result.is_not(None))
                  .order_by(IvrSession.id.desc()).limit(1).scalar_subquery())
    found = db.execute(select(Call, ivr_result).where(Call.uniqueid == uniqueid).options(joinedload(Call.caller))).first()
    call, result = found if found is not None else (None, None)
    offer = request.args.get("offer", "")[:256]
    if not may_see_call(call, uniqueid, offer):
        abort(403)
    number = (call.caller.phone if call.caller else call.caller_number) if call is not None else None
    phone = try_normalise(number, services().settings.phone.area_code) if number else None
    history = caller_history(db, phone.number, caller=call.caller) if phone else None
    ivr = {k: request.args.get(k, "")[:32] for k in ("language", "category", "priority")}
    category = db.scalar(select(ServiceCategory).where(ServiceCategory.code == ivr["category"])) if ivr["category"] else None
    language = _language(call.ivr_language if call is not None and call.ivr_language else ivr["language"])
    # The operator may be offered a caller whose language they do not speak (after the
    # language's wait): the pop says so, so that they can ask a colleague at once.
    return render_template("calls/pop.html", call=call, uniqueid=uniqueid, number=number, history=history,
                           provider_of=provider_of, ivr=ivr, category=category, offer=offer, language=language,
                           fluency=current_user.languages.get(language) if language else None,
                           jobs=_chose_jobs(result, category))


def _chose_jobs(ivr_result: dict | None, category: ServiceCategory | None) -> bool:
    """Whether the caller chose jobs (人才招聘) in the IVR: the pop offers the job-seeker form."""
    if category is not None and category.code == JOBS_CATEGORY:
        return True
    return (ivr_result or {}).get(contract.INTENT) == JOBS_INTENT


def _language(value) -> Language | None:
    try:
        return Language(value) if value else None
    except ValueError:
        return None

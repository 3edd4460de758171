"""Screen pops (Server-Sent Events) and the call log."""
from __future__ import annotations

import json

from flask import Blueprint, Response, abort, render_template, request, stream_with_context
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from agent_console.auth import OPERATORS, SUPERVISORS, roles
from agent_console.database import get_db, services
from agent_console.voicemail import voicemail_file
from db.caller_history import caller_history, provider_of
from db.models import Call, CallOutcome, ServiceCategory, ServiceRequest
from db.phones import try_normalise
from hotline.pop_bus import iterate

bp = Blueprint("calls", __name__)
HEARTBEAT = 15.0  # seconds: keeps proxies from closing an idle stream


@bp.route("/pop/stream")
@roles(*OPERATORS)
def pop_stream():
    extension = current_user.sip_extension
    if not extension:
        return Response("retry: 60000\n\n", mimetype="text/event-stream")
    subscription = services().pop_bus.subscribe(extension)

    def events():
        try:
            yield "retry: 2000\n\n"
            for pop in iterate(subscription, HEARTBEAT):
                if pop is None:
                    yield ": keep-alive\n\n"
                else:
                    yield f"event: pop\ndata: {json.dumps(pop, ensure_ascii=False)}\n\n"
        finally:
            subscription.close()

    return Response(stream_with_context(events()), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@bp.route("/pop/<uniqueid>")
@roles(*OPERATORS)
def pop(uniqueid: str):
    """The pop's body: who is calling, what they chose in the IVR, and their history."""
    db = get_db()
    call = db.scalar(select(Call).where(Call.uniqueid == uniqueid[:64]))
    number = request.args.get("caller", "")[:40]
    if call is not None:
        number = call.caller.phone if call.caller else (call.caller_number or number)
    phone = try_normalise(number, services().settings.phone.area_code)
    history = caller_history(db, phone.number) if phone else None
    ivr = {k: request.args.get(k, "")[:32] for k in ("language", "category", "priority")}
    category = db.scalar(select(ServiceCategory).where(ServiceCategory.code == ivr["category"])) if ivr["category"] else None
    return render_template("calls/pop.html", call=call, uniqueid=uniqueid[:64], number=number, history=history,
                           provider_of=provider_of, ivr=ivr, category=category)


@bp.route("/calls")
@roles(*SUPERVISORS)
def index():
    db = get_db()
    query = select(Call).options(selectinload(Call.caller), selectinload(Call.agent)).order_by(Call.started_at.desc())
    outcome = request.args.get("outcome", "")
    if outcome in {o.value for o in CallOutcome}:
        query = query.where(Call.outcome == CallOutcome(outcome))
    calls = db.scalars(query.limit(200)).all()
    return render_template("calls/index.html", calls=calls, outcome=outcome, outcomes=list(CallOutcome))


@bp.route("/calls/<uniqueid>")
@roles(*SUPERVISORS)
def view(uniqueid: str):
    db = get_db()
    call = db.scalar(select(Call).options(selectinload(Call.ivr_sessions)).where(Call.uniqueid == uniqueid[:64]))
    if call is None:
        abort(404)
    left = db.scalars(select(ServiceRequest).where(ServiceRequest.call_id == call.id,
                                                   ServiceRequest.voicemail_file.is_not(None))).all()
    voicemails = [(message, voicemail_file(message) is not None) for message in left]
    return render_template("calls/view.html", call=call, voicemails=voicemails)

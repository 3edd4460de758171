"""Providers answer dispatches by SMS: Twilio forwards each reply here (a webhook).

Only Twilio's signed requests are taken (sms/gateway.py checks the signature
against the public address). The reply is recorded as the provider's answer to its
open offer for that request; anything else gets a polite explanation by SMS, and
nothing is changed.
"""
from __future__ import annotations

from flask import Blueprint, Response, abort, request
from sqlalchemy import select
from twilio.twiml.messaging_response import MessagingResponse

from agent_console.auth import public
from agent_console.database import get_db, services
from db.dispatching import DispatchError, respond
from db.models import Dispatch, DispatchStatus, Provider, ServiceRequest
from db.phones import try_normalise
from db.sms import parse_provider_reply
from db.service_requests import TransitionError
from sms.gateway import inbound_signature

bp = Blueprint("sms_inbound", __name__)
HOW = "请回复“接单 工单号”或“拒单 工单号”。"


def _twiml(message: str) -> Response:
    reply = MessagingResponse()
    reply.message(message)
    return Response(str(reply), mimetype="application/xml")


@bp.route("/sms/inbound", methods=["POST"])
@public  # Twilio's signature is the authentication
def inbound():
    checker = inbound_signature(services().settings)
    if checker is None:
        abort(404)  # replies by SMS are turned off
    params = request.form.to_dict()
    if not checker.valid(request.full_path.rstrip("?"), params, request.headers.get("X-Twilio-Signature", "")):
        abort(403)
    sender = try_normalise(params.get("From", ""), services().settings.phone.area_code)
    parsed = parse_provider_reply(params.get("Body", ""))
    if sender is None or parsed is None:
        return _twiml(HOW)
    accepted, number = parsed
    db = get_db()
    offer = db.scalar(select(Dispatch).join(ServiceRequest).join(Provider)
                      .where(ServiceRequest.number == number, Provider.phone == sender.number,
                             Dispatch.status == DispatchStatus.OFFERED))
    if offer is None:
        return _twiml(f"工单{number}没有等待您答复的派单。" + HOW)
    try:
        respond(db, offer, accepted, None, note="SMS")
    except (DispatchError, TransitionError):
        db.rollback()
        return _twiml(f"工单{number}已处理，无需再答复。")
    db.commit()
    return _twiml(f"已收到：工单{number}{'接单' if accepted else '拒单'}。谢谢！")

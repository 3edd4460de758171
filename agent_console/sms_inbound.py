"""Providers answer dispatches by SMS: Twilio forwards each reply here (a webhook).

Only Twilio's signed requests are taken (sms/gateway.py checks the signature
against the public address). Every message is kept first (db/sms.py's inbox), once
however often Twilio delivers it; a reply is then recorded as the provider's answer to
its open offer for that request. Anything else gets a polite explanation by SMS and
waits in the console's inbox for an operator to read it.
"""
from __future__ import annotations

from flask import Blueprint, Response, abort, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from twilio.twiml.messaging_response import MessagingResponse

from agent_console.auth import public
from agent_console.database import get_db, services
from db.dispatching import DispatchError, respond
from db.models import Dispatch, DispatchStatus, Provider, ServiceRequest, SmsReply, SmsReplyOutcome
from db.phones import try_normalise
from db.sms import claim_reply, keep_reply, kept_reply, named_request, parse_provider_reply, settle_reply
from db.service_requests import TransitionError
from sms.gateway import inbound_signature

bp = Blueprint("sms_inbound", __name__)
HOW = "请回复“接单 工单号”或“拒单 工单号”。"


def _twiml(message: str | None) -> Response:
    """TwiML for Twilio: the answer SMS to send back, or none."""
    reply = MessagingResponse()
    if message is not None:
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
    db = get_db()
    area_code = services().settings.phone.area_code
    try:
        kept = keep_reply(db, params.get("MessageSid"), params.get("From", ""), params.get("Body", ""), area_code)
        db.commit()  # kept, whatever happens next
    except IntegrityError:  # the same message, delivered twice at once: the other delivery kept it
        db.rollback()
        kept = kept_reply(db, params.get("MessageSid"))
    claimed = claim_reply(db, kept.id)
    if claimed is None:
        db.rollback()
        return _twiml(None)  # acted on and answered when it first came
    answer, outcome, about = _act_on(db, claimed, params)
    claimed = db.get(SmsReply, claimed.id)  # a refused answer rolled the session back
    settle_reply(claimed, outcome, about)
    db.commit()
    return _twiml(answer)


def _act_on(db, kept: SmsReply, params: dict) -> tuple[str, SmsReplyOutcome, ServiceRequest | None]:
    """The answer to send back, what became of the message, and the request it names."""
    sender = try_normalise(params.get("From", ""), services().settings.phone.area_code)
    parsed = parse_provider_reply(params.get("Body", ""))
    number = named_request(params.get("Body", ""))
    about = db.scalar(select(ServiceRequest).where(ServiceRequest.number == number)) if number else None
    if sender is None or parsed is None:
        return HOW, SmsReplyOutcome.NOT_UNDERSTOOD, about
    accepted, number = parsed
    offer = db.scalar(select(Dispatch).join(ServiceRequest).join(Provider)
                      .where(ServiceRequest.number == number, Provider.phone == sender.number,
                             Dispatch.status == DispatchStatus.OFFERED))
    if offer is None:
        return f"工单{number}没有等待您答复的派单。" + HOW, SmsReplyOutcome.NO_OPEN_OFFER, about
    try:
        respond(db, offer, accepted, None, note="SMS")
    except (DispatchError, TransitionError):
        db.rollback()
        return f"工单{number}已处理，无需再答复。", SmsReplyOutcome.ALREADY_ANSWERED, db.get(ServiceRequest, about.id)
    outcome = SmsReplyOutcome.ACCEPTED if accepted else SmsReplyOutcome.DECLINED
    return f"已收到：工单{number}{'接单' if accepted else '拒单'}。谢谢！", outcome, about

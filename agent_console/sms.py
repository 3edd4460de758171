"""The SMS outbox: every message, sent or waiting or failed, with its last error."""
from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from agent_console.auth import OPERATORS, roles
from agent_console.database import get_db, services
from agent_console.forms import NoteForm, submitted
from db.audit import record
from db.base import utcnow
from db.models import SmsMessage, SmsStatus
from db.sms import TO_PROVIDERS, retry_now

bp = Blueprint("sms", __name__)


@bp.route("/sms")
@roles(*OPERATORS)
def outbox():
    query = select(SmsMessage).order_by(SmsMessage.created_at.desc(), SmsMessage.id.desc()).limit(200)
    status = request.args.get("status", "")
    if status in {s.value for s in SmsStatus}:
        query = query.where(SmsMessage.status == SmsStatus(status))
    sms = services().settings.sms
    return render_template("sms/outbox.html", messages=get_db().scalars(query).all(), status=status,
                           statuses=list(SmsStatus), gateway=bool(sms.account_sid and sms.auth_token and sms.from_number),
                           plain=NoteForm(), to_providers=TO_PROVIDERS)


@bp.route("/sms/<int:message_id>/retry", methods=["POST"])
@roles(*OPERATORS)
def retry(message_id: int):
    db = get_db()
    message = db.get(SmsMessage, message_id)
    if message is None:
        abort(404)
    submitted()
    if message.status != SmsStatus.FAILED:
        abort(400)
    retry_now(message, utcnow())
    record(db, current_user.row(), "retry", message)
    db.commit()
    return redirect(url_for("sms.outbox"))

"""SMS: the outbox (every message sent, waiting or failed, with its last error) and the
inbox (every message to the hotline's number; those the webhook could not act on wait
for an operator to read them)."""
from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from agent_console.auth import OPERATORS, roles
from agent_console.database import get_db, get_or_404, services
from agent_console.forms import NoteForm, submitted
from db.audit import record
from db.base import utcnow
from db.models import SmsMessage, SmsReply, SmsStatus
from db.sms import TO_PROVIDERS, mark_read, replies_waiting, retry_now

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
                           plain=NoteForm(), to_providers=TO_PROVIDERS, replies_waiting=replies_waiting(get_db()))


@bp.route("/sms/<int:message_id>/retry", methods=["POST"])
@roles(*OPERATORS)
def retry(message_id: int):
    db = get_db()
    message = get_or_404(SmsMessage, message_id)
    submitted()
    if message.status != SmsStatus.FAILED:
        abort(400)
    retry_now(message, utcnow())
    record(db, current_user.row(), "retry", message)
    db.commit()
    return redirect(url_for("sms.outbox"))


@bp.route("/sms/replies")
@roles(*OPERATORS)
def replies():
    """Waiting messages first, oldest first (a provider's message must not be left
    unread); then the last 200 read or acted on."""
    db = get_db()
    loaded = (selectinload(SmsReply.provider), selectinload(SmsReply.request), selectinload(SmsReply.handled_by))
    waiting = db.scalars(select(SmsReply).options(*loaded).where(SmsReply.handled_at.is_(None))
                         .order_by(SmsReply.received_at, SmsReply.id)).all()
    done = db.scalars(select(SmsReply).options(*loaded).where(SmsReply.handled_at.is_not(None))
                      .order_by(SmsReply.received_at.desc(), SmsReply.id.desc()).limit(200)).all()
    return render_template("sms/replies.html", waiting=waiting, done=done, plain=NoteForm())


@bp.route("/sms/replies/<int:reply_id>/read", methods=["POST"])
@roles(*OPERATORS)
def read(reply_id: int):
    db = get_db()
    reply = get_or_404(SmsReply, reply_id)
    submitted()
    if mark_read(db, reply, current_user.row(), utcnow()):  # a second click, or a colleague's, changes nothing
        record(db, current_user.row(), "read", reply)
        db.commit()
    return redirect(url_for("sms.replies"))

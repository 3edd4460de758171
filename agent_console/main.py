"""The operator's home: what needs doing now."""
from __future__ import annotations

from flask import Blueprint, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import func, select

from agent_console.auth import OPERATORS, SUPERVISORS, public, roles
from agent_console.database import get_db, services
from agent_console.call_log import lost_since
from call_log.lost_callers import waiting_count
from db.base import utcnow
from db.dispatching import overdue_offers
from db.models import CallbackTask, RequestStatus, ServiceRequest, SmsMessage, SmsStatus, TaskStatus
from db.sms import replies_waiting
from supervision.disputes import overdue_count
from workforce.recruitment import yearly_progress

bp = Blueprint("main", __name__)


@bp.route("/")
@roles(*OPERATORS)
def dashboard():
    db = get_db()
    counts = dict(db.execute(select(ServiceRequest.status, func.count()).group_by(ServiceRequest.status)).all())
    waiting = db.scalars(select(ServiceRequest).where(ServiceRequest.status == RequestStatus.NEW)
                         .order_by(ServiceRequest.priority.desc(), ServiceRequest.created_at).limit(20)).all()
    overdue = overdue_offers(db, services().settings.console.dispatch_answer_minutes)
    callbacks = db.scalar(select(func.count()).where(CallbackTask.status.in_((TaskStatus.PENDING, TaskStatus.FAILED))))
    sms_stuck = db.scalar(select(func.count()).where(SmsMessage.status.in_((SmsStatus.QUEUED, SmsStatus.FAILED))))
    # Overdue disputes: the supervisors' to chase (operators only take disputes in).
    disputes_overdue = overdue_count(db, utcnow()) if current_user.has(*SUPERVISORS) else None
    year = utcnow().astimezone(services().tz).year
    hires = yearly_progress(db, year, services().settings.workforce.hires_goal)
    return render_template("dashboard.html", counts=counts, waiting=waiting, overdue=overdue, callbacks=callbacks,
                           sms_stuck=sms_stuck, sms_replies=replies_waiting(db), disputes_overdue=disputes_overdue, lost_callers=waiting_count(db, lost_since()),
                           statuses=list(RequestStatus), hires=hires)


@bp.route("/health")
@public
def health():
    get_db().execute(select(1))
    return {"status": "ok"}


@bp.route("/favicon.ico")
@public
def favicon():
    return redirect(url_for("static", filename="favicon.svg"))

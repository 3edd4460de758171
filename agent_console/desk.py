"""The operator's own desk (sign in to the queues, pause with a reason, sign out) and
the supervisors' view of every operator's state today."""
from __future__ import annotations

import datetime as dt

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from agent_console.auth import OPERATORS, SUPERVISORS, roles
from agent_console.database import get_db, services
from agent_console.formatting import refusal
from agent_console.forms import NoteForm, submitted
from db.base import utcnow
from db.models import OperatorStateChange, PauseReason, User
from telephony.ami import AmiError
from telephony.operator_desk import DeskError, OperatorDesk, day_of, latest_states
from telephony.wallboard import WALLBOARD_TOPIC

bp = Blueprint("desk", __name__)


def _desk() -> OperatorDesk:
    return OperatorDesk(services().ami, services().sessions, services().queues)


@bp.route("/desk")
@roles(*OPERATORS)
def desk():
    state = latest_states(get_db()).get(current_user.id)
    return render_template("desk.html", state=state, reasons=list(PauseReason), plain=NoteForm(),
                           languages=current_user.row().languages)


@bp.route("/desk/<action>", methods=["POST"])
@roles(*OPERATORS)
def act(action: str):
    if action not in ("login", "pause", "unpause", "logout"):
        abort(400)
    submitted()
    user = current_user.row()
    try:
        desk = _desk()
        if action == "pause":
            desk.pause(user, request.form.get("reason", ""))
        else:
            getattr(desk, action)(user)
    except DeskError as exc:
        flash(_("操作未成功：%(error)s", error=refusal(exc)), "error")
    except AmiError as exc:  # Asterisk's words are for the log, not the operator
        current_app.logger.warning("desk %s for %s: %s", action, user.username, exc)
        flash(_("操作未成功：电话系统没有响应，请稍后再试；仍不行请联系管理员。"), "error")
    else:
        # Recorded just now, perhaps after the AMI link's hint for Asterisk's echo of it.
        services().pop_bus.publish(WALLBOARD_TOPIC, {"kind": WALLBOARD_TOPIC})
    return redirect(url_for("desk.desk"))


@bp.route("/operators")
@roles(*SUPERVISORS)
def operators():
    db = get_db()
    tz = services().tz
    today = dt.datetime.combine(utcnow().astimezone(tz).date(), dt.time(), tz)
    people = db.scalars(select(User).where(User.active).order_by(User.sip_extension, User.username)).all()
    changes = db.scalars(select(OperatorStateChange).where(OperatorStateChange.at >= today)
                         .order_by(OperatorStateChange.at, OperatorStateChange.id)).all()
    by_user: dict[int, list[OperatorStateChange]] = {}
    for change in changes:
        by_user.setdefault(change.user_id, []).append(change)
    now = utcnow()
    days = {user_id: day_of(changes, now) for user_id, changes in by_user.items()}
    return render_template("operators.html", people=people, latest=latest_states(db, now), days=days)

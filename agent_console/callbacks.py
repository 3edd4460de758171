"""The callback list: one click rings the operator's phone, then the caller (AMI Originate)."""
from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select, update
from sqlalchemy.orm import selectinload

from agent_console.auth import OPERATORS, phone_for_reader, roles
from agent_console.database import get_db, get_or_404, services
from agent_console.forms import NoteForm, submitted
from db.audit import record
from db.base import utcnow
from db.models import CallbackTask, TaskStatus
from dialplans import contract
from telephony.ami import AmiError

bp = Blueprint("callbacks", __name__)
# A task in these states may be dialled.
DIALLABLE = (TaskStatus.PENDING, TaskStatus.FAILED)
# Seconds the operator's phone rings before the dial is given up.
OPERATOR_RING_MS = 30_000


@bp.route("/callbacks")
@roles(*OPERATORS)
def index():
    show = request.args.get("show", "open")
    statuses = (TaskStatus.PENDING, TaskStatus.IN_PROGRESS, TaskStatus.FAILED) if show == "open" else tuple(TaskStatus)
    tasks = get_db().scalars(select(CallbackTask).options(selectinload(CallbackTask.caller))
                             .where(CallbackTask.status.in_(statuses))
                             .order_by(CallbackTask.due_at, CallbackTask.id).limit(200)).all()
    return render_template("callbacks/index.html", tasks=tasks, show=show, plain=NoteForm(), now=utcnow())



@bp.route("/callbacks/<int:task_id>/dial", methods=["POST"])
@roles(*OPERATORS)
def dial(task_id: int):
    task = get_or_404(CallbackTask, task_id)
    submitted()
    if not current_user.sip_extension:
        flash(_("您的账号没有分机号，无法外呼。"), "error")
        return redirect(url_for("callbacks.index"))
    db = get_db()
    before = task.status
    # Claimed in the database before Asterisk is asked: of two clicks at once only one
    # finds the task still waiting (read before either wrote, both did, and both dialled).
    claimed = before in DIALLABLE and db.execute(
        update(CallbackTask).where(CallbackTask.id == task.id, CallbackTask.status.in_(DIALLABLE))
        .values(status=TaskStatus.IN_PROGRESS).execution_options(synchronize_session=False)).rowcount
    db.commit()
    if not claimed:
        flash(_("该回拨正在处理或已完成。"), "warning")
        return redirect(url_for("callbacks.index"))
    try:
        # The operator's phone rings first; when answered, the dialplan calls the caller.
        action_id = services().ami.originate(
            f"PJSIP/{current_user.sip_extension}", contract.OUTBOUND_CONTEXT, task.phone,
            variables={contract.CALLBACK_ID: str(task.id)}, Timeout=str(OPERATOR_RING_MS),
            CallerID=f'"{_("回拨")}" <{task.phone}>')
    except AmiError as exc:
        db.execute(update(CallbackTask).where(CallbackTask.id == task.id).values(status=before)
                   .execution_options(synchronize_session=False))  # not dialled: waiting as before
        db.commit()
        current_app.logger.warning("callback %s dial for %s: %s", task.id, current_user.username, exc)
        flash(_("外呼失败：电话系统没有响应，请稍后再试；仍不行请联系管理员。"), "error")  # Asterisk's words: in the log
        return redirect(url_for("callbacks.index"))
    task.status, task.attempts = TaskStatus.IN_PROGRESS, task.attempts + 1
    task.originate_action_id, task.assigned_to_id = action_id, current_user.id
    record(db, current_user.row(), "dial", task, {"phone": task.phone})
    db.commit()
    flash(_("正在呼叫您的分机 %(ext)s，接起后将接通 %(phone)s。", ext=current_user.sip_extension,
            phone=phone_for_reader(task.phone)), "success")
    return redirect(url_for("callbacks.index"))


@bp.route("/callbacks/<int:task_id>/done", methods=["POST"])
@roles(*OPERATORS)
def done(task_id: int):
    task = get_or_404(CallbackTask, task_id)
    form = submitted()
    db = get_db()
    task.status, task.done_at, task.originate_action_id = TaskStatus.DONE, utcnow(), None
    task.note = "\n".join(filter(None, [task.note, form.note.data]))
    record(db, current_user.row(), "done", task, {"note": form.note.data})
    db.commit()
    return redirect(url_for("callbacks.index"))

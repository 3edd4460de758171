"""The survey queue: each survey's attempts and result; reschedule, cancel, do-not-call."""
from __future__ import annotations

import datetime as dt

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from agent_console.auth import OPERATORS, roles, safe_next
from agent_console.database import get_db, get_or_404, services
from agent_console.formatting import refusal
from agent_console.forms import NoteForm, submitted, TIME_FORMAT
from agent_console.voicemail import comment_file
from db.audit import record
from db.models import Caller, Survey, SurveyStatus
from supervision.disputes import dispute_of_survey
from surveys.policy import cancel, reschedule

bp = Blueprint("surveys", __name__)


@bp.route("/surveys")
@roles(*OPERATORS)
def index():
    db = get_db()
    status = request.args.get("status", "scheduled")
    query = (select(Survey).options(selectinload(Survey.request), selectinload(Survey.caller), selectinload(Survey.provider))
             .order_by(Survey.due_at.desc() if status in ("completed", "failed", "cancelled") else Survey.due_at).limit(200))
    if status in {s.value for s in SurveyStatus}:
        query = query.where(Survey.status == SurveyStatus(status))
    counts = dict(db.execute(select(Survey.status, func.count()).group_by(Survey.status)).all())
    return render_template("surveys/index.html", rows=db.scalars(query).all(), status=status,
                           statuses=list(SurveyStatus), counts=counts)


@bp.route("/surveys/<int:survey_id>")
@roles(*OPERATORS)
def view(survey_id: int):
    survey = get_or_404(Survey, survey_id)
    return render_template("surveys/view.html", survey=survey, plain=NoteForm(),
                           comment_ready=comment_file(survey) is not None,
                           dispute=dispute_of_survey(get_db(), survey_id),
                           low_rating=services().settings.disputes.low_rating)


@bp.route("/surveys/<int:survey_id>/comment")
@roles(*OPERATORS)
def comment(survey_id: int):
    """The caller's spoken comment, for the survey page's player (Range requests for seeking)."""
    path = comment_file(get_or_404(Survey, survey_id))
    if path is None:
        abort(404)
    response = send_file(path, mimetype="audio/wav", conditional=True, max_age=0)
    response.headers["Cache-Control"] = "private, no-cache"  # a caller's voice: not for shared caches
    return response


def _change(survey_id: int, action: str, apply, details: dict | None = None):
    """One operator action on a survey: applied, audited, or refused with its reason."""
    survey = get_or_404(Survey, survey_id)
    submitted()
    try:
        apply(survey)
    except ValueError as exc:
        flash(refusal(exc), "error")
        return redirect(url_for("surveys.view", survey_id=survey_id))
    record(get_db(), current_user.row(), action, survey, details)
    get_db().commit()
    return redirect(url_for("surveys.view", survey_id=survey_id))


@bp.route("/surveys/<int:survey_id>/reschedule", methods=["POST"])
@roles(*OPERATORS)
def reschedule_survey(survey_id: int):
    due = request.form.get("due", "")

    def apply(survey: Survey) -> None:
        try:
            local = dt.datetime.strptime(due, TIME_FORMAT).replace(tzinfo=services().tz)
            utc = local.astimezone(dt.timezone.utc)  # 0001-01-01T00:00 in Heyuan has none: OverflowError
        except (ValueError, OverflowError):
            raise ValueError(_("请选择新的日期和时间。")) from None
        reschedule(survey, utc)
    return _change(survey_id, "reschedule", apply, {"due": due})


@bp.route("/surveys/<int:survey_id>/cancel", methods=["POST"])
@roles(*OPERATORS)
def cancel_survey(survey_id: int):
    return _change(survey_id, "cancel", cancel)


@bp.route("/callers/<int:caller_id>/do-not-call", methods=["POST"])
@roles(*OPERATORS)
def do_not_call(caller_id: int):
    caller = get_or_404(Caller, caller_id)
    submitted()
    db = get_db()
    caller.do_not_call = request.form.get("value", "1") == "1"
    if caller.do_not_call:
        for survey in db.scalars(select(Survey).where(Survey.caller_id == caller.id,
                                                      Survey.status == SurveyStatus.SCHEDULED)):
            survey.status = SurveyStatus.CANCELLED
    record(db, current_user.row(), "do_not_call", caller, {"value": caller.do_not_call})
    db.commit()
    flash(_("已设为不再回访。") if caller.do_not_call else _("已恢复回访。"), "success")
    back = request.form.get("next") or ""
    return redirect(safe_next(back, url_for("surveys.index")) if back.startswith("/surveys/") else url_for("surveys.index"))

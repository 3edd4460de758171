"""Disputes (纠纷处理): operators take them in; supervisors escalate, mediate and close them.

Thin: the work is supervision/disputes.py's; this turns forms into its calls and its
records into pages. The deadline's calendar is the IVR menu's holidays and make-up
working days, read through the menu loader the console already uses.
"""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from agent_console.auth import OPERATORS, SUPERVISORS, roles
from agent_console.database import get_db, get_or_404, services
from agent_console.formatting import refusal
from agent_console.forms import (
    CloseDisputeForm, DisputeIntakeForm, EscalateForm, ReasonForm, StatementForm, StepForm, select as choices,
)
from db.base import utcnow
from db.errors import Refused
from db.models import Complaint, Dispute, Provider, ServiceRequest, Survey
from db.phones import normalise
from db.service_requests import caller_for_phone
from supervision import disputes
from supervision.grading import local_today

bp = Blueprint("disputes", __name__)

ORIGINS = {"complaint": _l("投诉转入"), "low_rating": _l("回访低分转入"), "operator": _l("话务员登记")}
STATUSES = {"open": _l("待调解"), "mediating": _l("调解中"), "closed": _l("已办结")}
OUTCOMES = {"upheld": _l("支持消费者诉求"), "partly_upheld": _l("部分支持消费者诉求"),
            "rejected": _l("不支持消费者诉求"), "withdrawn": _l("消费者撤回")}
SIDES = {"caller": _l("消费者"), "provider": _l("企业"), "center": _l("热线中心")}
FILTERS = {"open": _l("未办结"), "overdue": _l("已超期"), "closed": _l("已办结"), "all": _l("全部")}


def terms() -> disputes.Terms:
    settings = services().settings
    return disputes.Terms(disputes.WorkingCalendar.from_hours(services().menu.hours),
                          settings.disputes.deadline_working_days)


def low_rating() -> int:
    return services().settings.disputes.low_rating


def words() -> dict:
    """The labels every disputes page shows: never the codes."""
    return {"origins": ORIGINS, "statuses": STATUSES, "outcomes": OUTCOMES, "sides": SIDES}


@bp.route("/disputes")
@roles(*SUPERVISORS)
def index():
    db, now = get_db(), utcnow()
    show = request.args.get("show", "open")
    if show not in FILTERS:
        show = "open"
    return render_template("disputes/index.html", rows=disputes.listed(db, show, now), show=show, filters=FILTERS,
                           overdue=disputes.overdue_count(db, now), today=local_today(now),
                           candidates=disputes.low_rating_candidates(db, now, low_rating()), low_rating=low_rating(),
                           escalate_form=EscalateForm(), **words())


@bp.route("/disputes/new", methods=["GET", "POST"])
@roles(*OPERATORS)
def new():
    """Intake by an operator (or a supervisor): mediation is the supervisors'."""
    db = get_db()
    form = DisputeIntakeForm()
    form.provider.choices = choices([(0, _("未指定（按工单的派单企业）"))]
                                    + [(p.id, p.name) for p in db.scalars(select(Provider).order_by(Provider.name))])
    if not form.is_submitted() and request.args.get("request"):
        # From a request's page: the caller and the provider are the request's.
        form.request_number.data = request.args["request"][:20]
    if not form.validate_on_submit():
        return render_template("disputes/form.html", form=form)
    linked = None
    if form.request_number.data:
        linked = db.scalar(select(ServiceRequest).where(ServiceRequest.number == form.request_number.data))
        if linked is None:
            form.request_number.errors.append(_("没有这个工单号。"))
            return render_template("disputes/form.html", form=form)
    caller = caller_for_phone(db, normalise(form.phone.data)) if form.phone.data else None
    provider = db.get(Provider, form.provider.data) if form.provider.data else None
    try:
        dispute = disputes.open_by_operator(db, terms(), current_user.row(), provider=provider, caller=caller,
                                            request=linked, summary=form.summary.data)
    except Refused as error:
        db.rollback()
        form.provider.errors.append(refusal(error))
        return render_template("disputes/form.html", form=form)
    db.commit()
    flash(_("纠纷已登记（编号%(id)d），办结期限%(deadline)s，由班长调解。", id=dispute.id,
            deadline=dispute.deadline.isoformat()), "success")
    if current_user.has("supervisor", "admin"):
        return redirect(url_for("disputes.view", dispute_id=dispute.id))
    return redirect(url_for("main.dashboard"))


@bp.route("/disputes/<int:dispute_id>")
@roles(*SUPERVISORS)
def view(dispute_id: int):
    return _page(get_or_404(Dispute, dispute_id))


def _page(dispute: Dispute, **bound):
    """The dispute's page; a form sent back with errors (`bound`) keeps what was typed in it."""
    now = utcnow()
    today = local_today(now)
    # formdata=None: on a POST the other forms would read its fields (step and close share "note").
    forms = {"statement_form": StatementForm(formdata=None), "step_form": StepForm(formdata=None, on=today),
             "close_form": CloseDisputeForm(formdata=None), "withdraw_form": ReasonForm(formdata=None, prefix="withdraw")}
    forms.update(bound)
    return render_template("disputes/view.html", dispute=dispute, entries=disputes.timeline(dispute),
                           overdue=disputes.is_overdue(dispute, now), today=today, **forms, **words())


def _back(dispute_id: int):
    return redirect(url_for("disputes.view", dispute_id=dispute_id))


def _act(dispute_id: int, name: str, form, invalid: str, action, done: str):
    """One supervisor action on a dispute: the form checked, the rule applied, or refused.
    Refused, the page comes back with the form as it was typed (a long statement is not lost)."""
    dispute = get_or_404(Dispute, dispute_id)
    if not form.validate_on_submit():
        flash(invalid, "error")
        return _page(dispute, **{name: form})
    db = get_db()
    try:
        action(db, dispute, form)
    except Refused as error:
        db.rollback()
        flash(refusal(error), "error")
        return _page(db.get(Dispute, dispute_id), **{name: form})
    db.commit()
    flash(done, "success")
    return _back(dispute_id)


@bp.route("/disputes/<int:dispute_id>/statements", methods=["POST"])
@roles(*SUPERVISORS)
def statement(dispute_id: int):
    return _act(dispute_id, "statement_form", StatementForm(), _("请选择陈述方，填写陈述人和陈述内容。"),
                lambda db, d, f: disputes.add_statement(db, d, f.side.data, f.author.data, f.text.data,
                                                        current_user.row()),
                _("陈述已记录。"))


@bp.route("/disputes/<int:dispute_id>/steps", methods=["POST"])
@roles(*SUPERVISORS)
def step(dispute_id: int):
    return _act(dispute_id, "step_form", StepForm(), _("请填写有效的调解日期（年-月-日）和调解经过。"),
                lambda db, d, f: disputes.add_step(db, d, f.on.data, f.note.data, current_user.row()),
                _("调解记录已添加。"))


@bp.route("/disputes/<int:dispute_id>/close", methods=["POST"])
@roles(*SUPERVISORS)
def close(dispute_id: int):
    return _act(dispute_id, "close_form", CloseDisputeForm(), _("请选择处理结果；补救措施和调解意见不要超出字数。"),
                lambda db, d, f: disputes.close(db, d, f.outcome.data, f.remedy.data, f.note.data, current_user.row()),
                _("纠纷已办结，结果已记入企业诚信档案。"))


@bp.route("/disputes/<int:dispute_id>/withdraw", methods=["POST"])
@roles(*SUPERVISORS)
def withdraw(dispute_id: int):
    return _act(dispute_id, "withdraw_form", ReasonForm(prefix="withdraw"), _("请填写撤回原因。"),
                lambda db, d, f: disputes.withdraw(db, d, f.reason.data, current_user.row()),
                _("纠纷已按消费者撤回办结。"))


def _escalated(opener, source, back: str):
    form = EscalateForm()
    if not form.validate_on_submit():
        flash(_("纠纷事由太长（最多4000字）。"), "error")
        return redirect(back)
    db = get_db()
    try:
        dispute = opener(db, source, terms(), current_user.row(), form.summary.data or None)
    except Refused as error:
        db.rollback()
        flash(refusal(error), "error")
        return redirect(back)
    db.commit()
    flash(_("已转为纠纷，办结期限%(deadline)s。", deadline=dispute.deadline.isoformat()), "success")
    return redirect(url_for("disputes.view", dispute_id=dispute.id))


@bp.route("/complaints/<int:complaint_id>/dispute", methods=["POST"])
@roles(*SUPERVISORS)
def from_complaint(complaint_id: int):
    complaint = get_or_404(Complaint, complaint_id)
    return _escalated(disputes.open_from_complaint, complaint, url_for("complaints.view", complaint_id=complaint_id))


@bp.route("/surveys/<int:survey_id>/dispute", methods=["POST"])
@roles(*SUPERVISORS)
def from_survey(survey_id: int):
    survey = get_or_404(Survey, survey_id)
    back = request.form.get("from") == "list" and url_for("disputes.index") or url_for("surveys.view", survey_id=survey_id)
    return _escalated(lambda db, s, t, u, summary: disputes.open_from_survey(db, s, t, u, summary, low_rating()),
                      survey, back)

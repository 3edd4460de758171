"""Service supervision (服务监督): grading, credit files, commendations and sanctions.

Thin: the work is supervision/'s; this turns forms into its calls and its records into
pages. Supervisors act; every operator may read a provider's credit file.
"""
from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import func, select

from agent_console.auth import OPERATORS, SUPERVISORS, roles
from agent_console.database import get_db, get_or_404
from agent_console.disputes import OUTCOMES as DISPUTE_OUTCOMES
from agent_console.formatting import refusal
from agent_console.forms import CreditMeasureForm, GradeOverrideForm, NoteForm, ReasonForm, submitted
from db.base import utcnow
from db.errors import Refused
from db.models import CreditMeasureKind, Provider, ProviderStatus, Worker
from supervision import credit_file, disputes, grading, sanctions
from supervision.rule import Rule, load_rule

bp = Blueprint("supervision", __name__)


@bp.record_once
def _load_rule(state) -> None:
    # Read and checked once, at start-up: a wrong rule stops the console with the key named.
    state.app.extensions.setdefault("grading_rule", load_rule())


def rule() -> Rule:
    return current_app.extensions["grading_rule"]


FACTORS = {
    "base": _l("信用基础分"),
    "rating": _l("近%(days)d天回访平均评分"),
    "certified": _l("持有效证书的从业人员占比"),
    "years": _l("入驻平台年限"),
    "response": _l("派单答复时间（中位数，分钟）"),
    "complaint_upheld": _l("属实投诉（次）"),
    "dispute_lost": _l("败诉纠纷（次）"),
    "warning": _l("警告（次）"),
    "suspension": _l("暂停派单（次）"),
    "removal": _l("移出平台（次）"),
    "commendation": _l("守法诚信奖励（次）"),
}
MISSING = {
    "ratings": _l("近%(days)d天回访评价%(have)d次，定级至少需要%(need)d次"),
    "workers": _l("在册从业人员%(have)d人，定级至少需要%(need)d人"),
}
SOURCES = {"regrade": _l("按规则定级"), "override": _l("班长调整"), "renewal": _l("班长续期")}
EVENTS = {
    "registered": _l("入驻平台"), "grade": _l("星级变更"), "rating": _l("回访评价"), "complaint": _l("收到投诉"),
    "complaint_outcome": _l("投诉办结"), "commendation": _l("守法诚信奖励"), "warning": _l("警告"),
    "suspension": _l("暂停派单"), "removal": _l("移出平台"), "reinstated": _l("恢复派单"),
    "certificate": _l("取得证书"), "training": _l("完成培训"), "joined": _l("登记为从业人员"),
    "dispute": _l("纠纷受理"), "dispute_outcome": _l("纠纷办结"),
}


def factor_name(name: str) -> str:
    return str(FACTORS[name]) % {"days": rule().rating_days}


def factor_value(reason: dict) -> str:
    value, factor = reason.get("value"), reason.get("factor")
    if value is None:
        return "" if factor == "base" else _("无")
    if factor == "rating":
        return f"{value:.2f}"
    if factor == "certified":
        return f"{value:.0%}"
    if factor in ("years", "response"):
        return f"{value:g}"
    return str(value)


def reason_text(reason: dict) -> str:
    """One line of why a provider has its grade, in the reader's language."""
    if "missing" in reason:
        return str(MISSING[reason["missing"]]) % {"days": rule().rating_days, "have": reason["have"],
                                                  "need": reason["need"]}
    if reason.get("override") == "kept":
        return _("班长调整的星级已续期，本次定级保留")
    if reason.get("override") == "expired":
        return _("班长调整的%(grade)s星已到期，按规则重新定级", grade=reason.get("grade") or "—")
    value = factor_value(reason)
    what = factor_name(reason["factor"]) + (" " + value if value else "")
    points = "%+d" % reason["points"]
    return _("%(what)s：%(points)s", what=what, points=points)


@bp.app_template_filter("grade_reason")
def _grade_reason(reason: dict) -> str:
    return reason_text(reason)


@bp.route("/supervision")
@roles(*SUPERVISORS)
def overview():
    db = get_db()
    now = utcnow()
    grades = dict(db.execute(select(Provider.grade, func.count()).group_by(Provider.grade)).all())
    return render_template("supervision/overview.html", rule=rule(), grades=grades, factor_name=factor_name,
                           expiring=credit_file.expiring_certificates(db, now), follow_days=credit_file.FOLLOW_UP_DAYS,
                           out=credit_file.out_of_dispatch(db, now), now=now, plain=NoteForm(),
                           disputes_overdue=disputes.overdue_count(db, now), overridden=_overridden(db))


def _overridden(db) -> int:
    """Providers whose adjusted grade the next regrade replaces (not renewed)."""
    return db.scalar(select(func.count()).where(Provider.grade_overridden.is_(True),
                                                 Provider.override_renewed.is_(False)))


@bp.route("/supervision/regrade", methods=["POST"])
@roles(*SUPERVISORS)
def regrade_all():
    submitted()
    db = get_db()
    if _overridden(db) and request.form.get("confirm") != "y":
        flash(_("全部重新定级会结束未续期的班长调整星级：请勾选确认。"), "error")
        return redirect(url_for("supervision.overview"))
    counts = grading.regrade(db, rule(), user=current_user.row())
    db.commit()
    flash(_("已重新定级：%(graded)d家定级，%(ungraded)d家证据不足未定级，%(changed)d家星级有变化。", **counts), "success")
    return redirect(url_for("supervision.overview"))


@bp.route("/supervision/providers/<int:provider_id>")
@roles(*OPERATORS)
def credit(provider_id: int):
    return _credit_page(get_or_404(Provider, provider_id))


def _credit_page(provider: Provider, **posted):
    """The credit file; a form posted with a fault comes back with what was typed in it."""
    db = get_db()
    now = utcnow()
    forms = {"override_form": GradeOverrideForm(formdata=None, grade=provider.grade or 3),
             "renew_form": ReasonForm(formdata=None, prefix="renew"), "measure_form": CreditMeasureForm(formdata=None),
             "reinstate_form": ReasonForm(formdata=None, prefix="reinstate"), **posted}
    return render_template(
        "supervision/credit.html", provider=provider, rule=rule(), now=now,
        latest=grading.latest_regrade(db, provider.id), history=grading.history(db, provider.id),
        events=credit_file.timeline(db, provider), suspended=sanctions.suspended_now(provider, now),
        today=grading.local_today(now),
        sources=SOURCES, events_text=EVENTS, kinds=CreditMeasureKind, dispute_outcomes=DISPUTE_OUTCOMES,
        plain=NoteForm(), removed=provider.status == ProviderStatus.SUSPENDED, **forms,
    )


@bp.route("/supervision/workers/<int:worker_id>")
@roles(*OPERATORS)
def worker(worker_id: int):
    found = get_or_404(Worker, worker_id)
    now = utcnow()
    return render_template("supervision/worker.html", worker=found, events=credit_file.worker_timeline(get_db(), found),
                           events_text=EVENTS, today=grading.local_today(now))


def _done(provider_id: int, message: str | None = None):
    get_db().commit()
    if message:
        flash(message, "success")
    return redirect(url_for("supervision.credit", provider_id=provider_id))


def _refused(provider_id: int, error: Refused):
    get_db().rollback()
    flash(refusal(error), "error")
    return redirect(url_for("supervision.credit", provider_id=provider_id))


@bp.route("/supervision/providers/<int:provider_id>/regrade", methods=["POST"])
@roles(*SUPERVISORS)
def regrade_one(provider_id: int):
    provider = get_or_404(Provider, provider_id)
    submitted()
    grading.regrade(get_db(), rule(), [provider], user=current_user.row())
    return _done(provider_id, _("已按规则重新定级。"))


@bp.route("/supervision/providers/<int:provider_id>/override", methods=["POST"])
@roles(*SUPERVISORS)
def override(provider_id: int):
    provider = get_or_404(Provider, provider_id)
    form = GradeOverrideForm()
    if not form.validate_on_submit():
        flash(_("请选择星级并填写调整理由。"), "error")
        return _credit_page(provider, override_form=form)
    try:
        grading.override(get_db(), provider, form.grade.data, form.reason.data, current_user.row())
    except Refused as error:
        return _refused(provider_id, error)
    return _done(provider_id, _("星级已调整，下次定级时到期（除非续期）。"))


@bp.route("/supervision/providers/<int:provider_id>/renew", methods=["POST"])
@roles(*SUPERVISORS)
def renew(provider_id: int):
    provider = get_or_404(Provider, provider_id)
    form = ReasonForm(prefix="renew")
    if not form.validate_on_submit():
        flash(_("请填写理由。"), "error")
        return _credit_page(provider, renew_form=form)
    try:
        grading.renew_override(get_db(), provider, form.reason.data, current_user.row())
    except Refused as error:
        return _refused(provider_id, error)
    return _done(provider_id, _("调整的星级已续期，下次定级时保留。"))


@bp.route("/supervision/providers/<int:provider_id>/measures", methods=["POST"])
@roles(*SUPERVISORS)
def measure(provider_id: int):
    provider = get_or_404(Provider, provider_id)
    form = CreditMeasureForm()
    if not form.validate_on_submit() or (form.kind.data == "suspension" and not form.days.data):
        flash(_("请填写事由；暂停派单还需填写1到365的天数。"), "error")
        return _credit_page(provider, measure_form=form)
    if form.kind.data == "removal" and not form.confirm_removal.data:
        flash(_("移出平台前请勾选确认。"), "error")
        return _credit_page(provider, measure_form=form)
    db, user = get_db(), current_user.row()
    try:
        if form.kind.data == "suspension":
            sanctions.suspend(db, provider, form.days.data, form.reason.data, user)
        else:
            action = {"commendation": sanctions.commend, "warning": sanctions.warn, "removal": sanctions.remove}
            action[form.kind.data](db, provider, form.reason.data, user)
    except Refused as error:
        return _refused(provider_id, error)
    return _done(provider_id, _("已记入诚信档案。"))


@bp.route("/supervision/providers/<int:provider_id>/reinstate", methods=["POST"])
@roles(*SUPERVISORS)
def reinstate(provider_id: int):
    provider = get_or_404(Provider, provider_id)
    form = ReasonForm(prefix="reinstate")
    if not form.validate_on_submit():
        flash(_("请填写恢复理由。"), "error")
        return _credit_page(provider, reinstate_form=form)
    try:
        sanctions.reinstate(get_db(), provider, form.reason.data, current_user.row())
    except Refused as error:
        return _refused(provider_id, error)
    return _done(provider_id, _("已恢复派单。"))

"""Recruitment and training (招工培训) and the three 70% figures (三个70%).

Thin: the work is workforce/'s; this turns forms into its calls and its records into
pages. Operators and supervisors register job seekers, openings, hires and training
sessions; the 70% figures and their denominators are for supervisors.
"""
from __future__ import annotations

import datetime as dt

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from agent_console.auth import OPERATORS, SUPERVISORS, known_phone_kept, known_phone_shown, roles
from agent_console.calls import call_from_pop_link
from agent_console.database import get_db, get_or_404, services
from agent_console.inputs import row_id
from agent_console.workforce_forms import (
    DENOMINATOR_NAMES, LANGUAGE_NAMES, MEASURE_NAMES, AttendeeForm, CertificateForm, DenominatorForm, HireForm,
    OpeningForm, SeekerForm, SessionForm,
)
from agent_console.forms import NoteForm
from db.base import utcnow
from db.errors import Refused
from db.models import (
    Call, District, Hire, JobOpening, JobSeeker, JobSeekerStatus, Language, OpeningStatus, Provider, SeventyMeasure,
    ServiceCategory, TrainingAttendee, TrainingSession,
)
from db.phones import try_normalise
from workforce import charts, figures, recruitment, training

bp = Blueprint("workforce", __name__)

SEEKER_STATUS = {"lead": _l("待补全（来自语音导航）"), "seeking": _l("求职中"), "hired": _l("已录用"), "withdrawn": _l("已撤回")}
SOURCES = {"ivr": _l("语音导航按6"), "operator": _l("坐席登记")}
CHART_TITLE = _l("三个70%：全市近12个月")
REFUSALS = {
    "seeker_not_looking": _l("此求职者已不在求职中。"),
    "seeker_unnamed": _l("请先补全求职者的姓名、区县和工种，再登记录用。"),
    "opening_closed": _l("此岗位已关闭。"),
    "hire_date": _l("录用日期须在一年内，且不晚于今天。"),
    "provider_removed": _l("该企业已移出平台。"),
    "positions": _l("招聘人数至少为1。"),
    "session_date": _l("培训日期须在今天前后一年内。"),
    "already_attending": _l("此人已在本期培训名单中。"),
    "not_an_attendee": _l("此人不是本期学员。"),
    "seeker_certificate": _l("求职者录用为从业人员后才能发证。"),
    "certificate_expiry": _l("证书有效期须晚于培训日期。"),
    "certificate_issued": _l("此证书已发给该学员。"),
    "denominator_month": _l("月份须在2014年2月（中心成立）到下个月之间。"),
    "denominator_value": _l("分母须为1到10000000的整数。"),
    "denominator_district": _l("三个70%只统计河源市各区县。"),
    "denominator_conflict": _l("此分母正被同时录入，请重新提交。"),
}


def today() -> dt.date:
    return utcnow().astimezone(services().tz).date()


def _refused(error: Refused) -> None:
    get_db().rollback()
    flash(str(REFUSALS.get(error.code, error)), "error")


def _form_errors(form) -> None:
    for field in form:
        for error in field.errors:
            flash(_("%(label)s：%(value)s", label=field.label.text, value=error), "error")


@bp.app_context_processor
def _names():
    return {"seeker_status": SEEKER_STATUS, "seeker_sources": SOURCES, "language_names": LANGUAGE_NAMES}


# --- job seekers, openings and hires ------------------------------------------------------------


@bp.route("/jobs")
@roles(*OPERATORS)
def index():
    db = get_db()
    wanted = request.args.get("status", "looking")
    query = select(JobSeeker).order_by(JobSeeker.created_at.desc()).limit(200)
    if wanted == "looking":
        query = query.where(JobSeeker.status.in_(recruitment.LOOKING))
    elif wanted in SEEKER_STATUS:
        query = query.where(JobSeeker.status == JobSeekerStatus(wanted))
    progress = recruitment.yearly_progress(db, today().year, services().settings.workforce.hires_goal)
    return render_template("workforce/index.html", seekers=db.scalars(query).all(), wanted=wanted, progress=progress)


@bp.route("/jobs/seekers/new", methods=["GET", "POST"])
@roles(*OPERATORS)
def new_seeker():
    db = get_db()
    form = SeekerForm()
    if request.method == "GET":
        _prefill(form)
        known_phone_shown(form.phone, form.phone.data)
    else:
        known_phone_kept(form.phone, _known_phone(form))
    if request.method == "POST" and form.validate_on_submit():
        call = db.scalar(select(Call).where(Call.uniqueid == form.call.data)) if form.call.data else None
        lead_id = row_id(form.lead.data)
        editing = db.get(JobSeeker, lead_id) if lead_id is not None else None
        seeker = recruitment.register_seeker(
            db, current_user.row(), name=form.name.data, phone=form.phone.data,
            seeker=editing if editing is not None and editing.status in recruitment.LOOKING else None,
            district=db.get(District, form.district.data), category=db.get(ServiceCategory, form.category.data),
            language=Language(form.language.data) if form.language.data else None,
            note=(form.note.data or "").strip() or None, call_id=call.id if call else None)
        db.commit()
        flash(_("求职者 %(name)s 已登记。", name=seeker.name), "success")
        return redirect(url_for("workforce.seeker", seeker_id=seeker.id))
    return render_template("workforce/seeker_form.html", form=form)


def _known_phone(form: SeekerForm) -> str | None:
    """The number the form was prefilled with (a lead's, else its call's caller's), which a
    reader who sees numbers masked sends back masked."""
    db = get_db()
    lead_id = row_id(form.lead.data)
    lead = db.get(JobSeeker, lead_id) if lead_id is not None else None
    if lead is not None:
        return lead.phone
    call = db.scalar(select(Call).where(Call.uniqueid == form.call.data[:64])) if form.call.data else None
    if call is not None:
        return call.caller.phone if call.caller else call.caller_number
    return None


def _prefill(form: SeekerForm) -> None:
    """From the call the screen pop links from (its number never travels in the URL), or
    a lead's page; a lead the IVR registered for that phone fills what it knows."""
    db = get_db()
    call = call_from_pop_link(db)
    if call is not None:
        form.call.data = call.uniqueid
        form.phone.data = call.caller.phone if call.caller else call.caller_number
        form.language.data = call.ivr_language.value if call.ivr_language else ""
        if call.caller is not None and call.caller.name:
            form.name.data = call.caller.name
    lead_id = row_id(request.args.get("lead"))  # 2147483648 is no row's id (PostgreSQL refuses it: a 500)
    lead = db.get(JobSeeker, lead_id) if lead_id is not None else None
    if lead is None and form.phone.data:
        phone = try_normalise(form.phone.data, services().settings.phone.area_code)
        lead = recruitment.looking_seeker(db, phone.number) if phone else None
    if lead is not None:
        form.lead.data = str(lead.id)
        form.phone.data = lead.phone
        form.name.data = lead.name or form.name.data
        form.district.data = lead.district_id or 0
        form.category.data = lead.category_id or 0
        form.language.data = lead.language.value if lead.language else form.language.data
        form.note.data = lead.note
    if not form.category.data:
        form.category.data = db.scalar(select(ServiceCategory.id).where(ServiceCategory.code == "household")) or 0


@bp.route("/jobs/seekers/<int:seeker_id>")
@roles(*OPERATORS)
def seeker(seeker_id: int):
    found = get_or_404(JobSeeker, seeker_id)
    db = get_db()
    matches = recruitment.matches_for(db, found) if found.status in recruitment.LOOKING else []
    hire = db.scalar(select(Hire).where(Hire.seeker_id == found.id).limit(1))
    return render_template("workforce/seeker.html", seeker=found, matches=matches, hire=hire,
                           hire_form=HireForm(hired_on=today()), plain=NoteForm(), today=today())


@bp.route("/jobs/seekers/<int:seeker_id>/hire", methods=["POST"])
@roles(*OPERATORS)
def hire(seeker_id: int):
    found = get_or_404(JobSeeker, seeker_id)
    form = HireForm()
    back = redirect(url_for("workforce.seeker", seeker_id=seeker_id))
    if not form.validate_on_submit():
        _form_errors(form)
        return back
    # The opening is a hidden field: anything but an opening's id ("²", 2**100) is refused here.
    opening_id = row_id(form.opening.data)
    opening = get_db().get(JobOpening, opening_id) if opening_id is not None else None
    if opening is None:
        flash(_("请从匹配列表中选择岗位。"), "error")
        return back
    try:
        recruitment.record_hire(get_db(), current_user.row(), found, opening, form.hired_on.data, today())
    except Refused as error:
        _refused(error)
        return redirect(url_for("workforce.seeker", seeker_id=seeker_id))
    get_db().commit()
    flash(_("已登记录用：%(name)s → %(provider)s。", name=found.name, provider=opening.provider.name), "success")
    return redirect(url_for("workforce.seeker", seeker_id=seeker_id))


@bp.route("/jobs/seekers/<int:seeker_id>/withdraw", methods=["POST"])
@roles(*OPERATORS)
def withdraw(seeker_id: int):
    found = get_or_404(JobSeeker, seeker_id)
    if not NoteForm().validate_on_submit():
        abort(400)
    try:
        recruitment.withdraw_seeker(get_db(), found, current_user.row())
    except Refused as error:
        _refused(error)
        return redirect(url_for("workforce.seeker", seeker_id=seeker_id))
    get_db().commit()
    flash(_("已撤回求职登记。"), "success")
    return redirect(url_for("workforce.seeker", seeker_id=seeker_id))


@bp.route("/jobs/openings", methods=["GET", "POST"])
@roles(*OPERATORS)
def openings():
    db = get_db()
    form = OpeningForm()
    if request.method == "POST":
        if form.validate_on_submit():
            provider = db.get(Provider, form.provider.data)
            category = db.get(ServiceCategory, form.category.data)
            if provider is None or category is None:
                abort(400)
            try:
                recruitment.open_opening(db, current_user.row(), provider=provider, category=category,
                                         district=db.get(District, form.district.data) if form.district.data else None,
                                         title=form.title.data, positions=form.positions.data)
            except Refused as error:
                _refused(error)
            else:
                db.commit()
                flash(_("招工岗位已登记。"), "success")
                return redirect(url_for("workforce.openings"))
        else:
            _form_errors(form)
    rows = db.scalars(select(JobOpening).order_by(JobOpening.status, JobOpening.created_at.desc()).limit(200)).all()
    return render_template("workforce/openings.html", form=form, openings=rows,
                           filled=recruitment.filled(db, [o.id for o in rows]), plain=NoteForm(), open=OpeningStatus.OPEN)


@bp.route("/jobs/openings/<int:opening_id>/close", methods=["POST"])
@roles(*OPERATORS)
def close_opening(opening_id: int):
    opening = get_or_404(JobOpening, opening_id)
    if not NoteForm().validate_on_submit():
        abort(400)
    try:
        recruitment.close_opening(get_db(), opening, current_user.row())
    except Refused as error:
        _refused(error)
        return redirect(url_for("workforce.openings"))
    get_db().commit()
    flash(_("岗位已关闭。"), "success")
    return redirect(url_for("workforce.openings"))


# --- training sessions -------------------------------------------------------------------------


@bp.route("/training", methods=["GET", "POST"])
@roles(*OPERATORS)
def sessions():
    db = get_db()
    form = SessionForm()
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                created = training.create_session(db, current_user.row(), course=form.course.data,
                                                  held_on=form.held_on.data, trainer=form.trainer.data,
                                                  place=(form.place.data or "").strip(), hours=form.hours.data,
                                                  today=today())
            except Refused as error:
                _refused(error)
            else:
                db.commit()
                flash(_("培训班已登记，请添加学员。"), "success")
                return redirect(url_for("workforce.training_session", session_id=created.id))
        else:
            _form_errors(form)
    rows = db.scalars(select(TrainingSession).order_by(TrainingSession.held_on.desc()).limit(200)).all()
    return render_template("workforce/sessions.html", form=form, sessions=rows)


@bp.route("/training/<int:session_id>")
@roles(*OPERATORS)
def training_session(session_id: int):
    return _session_page(get_or_404(TrainingSession, session_id))


def _session_page(ts: TrainingSession, attendee_form: AttendeeForm | None = None,
                  certificate_form: CertificateForm | None = None):
    """The session's page; a refused attendee or certificate comes back with what was typed
    (a certificate in its attendee's row)."""
    issued = {}
    for certificate in ts.certificates:
        issued.setdefault(certificate.worker_id, []).append(certificate)
    return render_template("workforce/session.html", ts=ts, issued=issued,
                           attendee_form=attendee_form or AttendeeForm(formdata=None),
                           certificate_form=certificate_form or CertificateForm(formdata=None))


@bp.route("/training/<int:session_id>/attendees", methods=["POST"])
@roles(*OPERATORS)
def add_attendee(session_id: int):
    ts = get_or_404(TrainingSession, session_id)
    form = AttendeeForm()
    if not form.validate_on_submit():
        _form_errors(form)
        return _session_page(ts, attendee_form=form)
    db = get_db()
    person = training.attendee_by_phone(db, form.phone.data)
    if person is None:
        flash(_("没有用此电话登记的从业人员或求职者；求职者请先登记。"), "error")
        return _session_page(ts, attendee_form=form)
    try:
        training.add_attendee(db, current_user.row(), ts, person)
    except Refused as error:
        _refused(error)
    else:
        db.commit()
        flash(_("已添加学员 %(name)s。", name=person.name or person.phone), "success")
    return redirect(url_for("workforce.training_session", session_id=session_id))


@bp.route("/training/<int:session_id>/certificates", methods=["POST"])
@roles(*OPERATORS)
def certify(session_id: int):
    ts = get_or_404(TrainingSession, session_id)
    form = CertificateForm()
    if not form.validate_on_submit():
        _form_errors(form)
        return _session_page(ts, certificate_form=form)
    attendee_id = row_id(form.attendee.data)
    attendee = get_db().get(TrainingAttendee, attendee_id) if attendee_id is not None else None
    if attendee is None:
        flash(str(REFUSALS["not_an_attendee"]), "error")
        return redirect(url_for("workforce.training_session", session_id=session_id))
    try:
        training.issue_certificate(get_db(), current_user.row(), ts, attendee, kind=form.kind.data,
                                   number=form.number.data, expires_on=form.expires_on.data)
    except Refused as error:
        _refused(error)
        return _session_page(get_or_404(TrainingSession, session_id), certificate_form=form)
    else:
        get_db().commit()
        flash(_("证书已发放，记入从业人员档案。"), "success")
    return redirect(url_for("workforce.training_session", session_id=session_id))


# --- the three 70% figures ----------------------------------------------------------------------


def _month_arg() -> dt.date:
    """?month=YYYY-MM, or this month (its figures so far: "at month end" is now)."""
    text = request.args.get("month", "")[:7]
    try:
        month = dt.datetime.strptime(text, "%Y-%m").date()
    except ValueError:
        if text:
            flash(_("月份格式应为 2026-11，已显示本月。"), "warning")
        return figures.month_of(today())
    return min(max(month, figures.FIRST_MONTH), figures.month_of(today()))


@bp.route("/seventy")
@roles(*SUPERVISORS)
def seventy():
    db = get_db()
    month = _month_arg()
    trend = figures.seventy_trend(db, month, services().tz)
    form = DenominatorForm(month=f"{month:%Y-%m}")
    order = {m: i for i, m in enumerate(figures.MEASURES)}
    entered = sorted(figures.denominators(db, month).values(),
                     key=lambda row: (order[row.measure], row.district is not None, row.district.sort_order if row.district else 0))
    return render_template("workforce/seventy.html", month=month, now=trend[-1], trend=trend, form=form,
                           entered=entered, measures=figures.MEASURES, names=MEASURE_NAMES,
                           denominator_names=DENOMINATOR_NAMES, goal=figures.GOAL,
                           previous=figures.previous_month(month), following=figures.next_month(month),
                           latest=figures.month_of(today()), chart_title=CHART_TITLE)


@bp.route("/seventy/trend.svg")
@roles(*SUPERVISORS)
def trend_chart():
    month = _month_arg()
    trend = figures.seventy_trend(get_db(), month, services().tz)
    svg = charts.trend_svg(trend, {m: str(MEASURE_NAMES[m]) for m in figures.MEASURES}, _("目标 70%"),
                           str(CHART_TITLE))
    response = Response(svg, mimetype="image/svg+xml")
    # pygal's SVG styles itself inline; shown as an <img> it runs nothing and loads nothing.
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return response


@bp.route("/seventy/denominators", methods=["POST"])
@roles(*SUPERVISORS)
def denominator():
    db = get_db()
    form = DenominatorForm()
    back = url_for("workforce.seventy", month=(form.month.data or "")[:7])
    if not form.validate_on_submit():
        _form_errors(form)
        return redirect(back)
    try:
        month = dt.datetime.strptime(form.month.data, "%Y-%m").date()
    except ValueError:
        flash(_("月份格式应为 2026-11。"), "error")
        return redirect(url_for("workforce.seventy"))
    district = db.get(District, form.district.data) if form.district.data else None
    try:
        figures.enter_denominator(db, current_user.row(), measure=SeventyMeasure(form.measure.data), district=district,
                                  month=month, value=form.value.data, today=today())
    except Refused as error:
        _refused(error)
        return redirect(back)
    db.commit()
    flash(_("分母已保存（已记入操作日志）。"), "success")
    return redirect(back)

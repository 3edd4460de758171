"""Requests (工单): list and search, create (prefilled from a call), edit, status, dispatch."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from agent_console.auth import OPERATORS, known_phone_kept, known_phone_shown, roles
from agent_console.calls import call_from_pop_link
from agent_console.database import get_db, get_or_404, services
from agent_console.formatting import refusal
from agent_console.inputs import row_id, stored_text
from agent_console.voicemail import voicemail_file
from agent_console.forms import (
    NoteForm, RequestForm, StatusForm, category_choices, district_choices, select as choices, submitted,
)
from db.audit import record
from db.base import utcnow
from db.dispatching import (
    DispatchError, assign, current_dispatch, offer_next, overdue_offers, respond, suggest_providers, tried_providers,
)
from db.models import (
    REQUEST_TRANSITIONS, Call, Caller, Dispatch, IvrSession, Priority, Provider, RequestChannel, RequestStatus,
    ServiceCategory, ServiceRequest,
)
from db.phones import normalise
from db.service_requests import (
    TransitionError, caller_for_phone, change_status, has_accepted_offer, likely_duplicate, open_request,
)
from db.sms import dispatch_messages
from dialplans import contract

bp = Blueprint("requests", __name__)
PAGE = 50
# Statuses an operator sets by hand; dispatched and new follow from dispatch answers.
MANUAL_STATUSES = (RequestStatus.IN_SERVICE, RequestStatus.COMPLETED, RequestStatus.CLOSED, RequestStatus.CANCELLED)


def _request_or_404(number: str) -> ServiceRequest:
    found = get_db().scalar(select(ServiceRequest).where(ServiceRequest.number == number[:20]))
    if found is None:
        abort(404)
    return found


@bp.route("/requests")
@roles(*OPERATORS)
def index():
    db = get_db()
    query = select(ServiceRequest).options(selectinload(ServiceRequest.caller), selectinload(ServiceRequest.category),
                                           selectinload(ServiceRequest.district))
    text = request.args.get("q", "").strip()[:64]
    if text:
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.outerjoin(Caller, Caller.id == ServiceRequest.caller_id).where(or_(
            ServiceRequest.number.like(pattern, escape="\\"), Caller.phone.like(pattern, escape="\\"),
            ServiceRequest.address.like(pattern, escape="\\"), Caller.name.like(pattern, escape="\\")))
    status = request.args.get("status", "")
    if status in {s.value for s in RequestStatus}:
        query = query.where(ServiceRequest.status == RequestStatus(status))
    for name, column in (("category", ServiceRequest.category_id), ("district", ServiceRequest.district_id)):
        value = row_id(request.args.get(name))
        if value is not None:
            query = query.where(column == value)
    page = max(1, min(request.args.get("page", 1, type=int) or 1, 10_000))
    total = db.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    rows = db.scalars(query.order_by(ServiceRequest.created_at.desc(), ServiceRequest.id.desc())
                      .offset((page - 1) * PAGE).limit(PAGE)).all()
    return render_template("requests/index.html", rows=rows, total=total, page=page, pages=max(1, -(-total // PAGE)),
                           q=text, status=status, statuses=list(RequestStatus),
                           categories=category_choices(blank=True), districts=district_choices(blank=True),
                           category=request.args.get("category", ""), district=request.args.get("district", ""))


def _prefill(form: RequestForm) -> Call | None:
    """Fill a new request from the call it comes from (the screen pop's link)."""
    db = get_db()
    call = call_from_pop_link(db)
    if call is not None:
        form.call.data = call.uniqueid
        form.phone.data = call.caller.phone if call.caller else call.caller_number
        if call.caller is not None:
            form.caller_name.data = call.caller.name
            default = next((a for a in call.caller.addresses if a.is_default), None)
            if default is not None:
                form.address.data, form.district.data = default.address, default.district_id
        chose = _ivr_choices(db, call)
        if chose["category"]:
            form.category.data = db.scalar(select(ServiceCategory.id).where(ServiceCategory.code == chose["category"]))
        if chose["priority"] in {p.value for p in Priority}:
            form.priority.data = chose["priority"]
    return call


def _ivr_choices(db, call: Call) -> dict[str, str]:
    """What the caller chose in the IVR: from its call log, or else from the pop's link.

    The pop learns the choices from Asterisk's channel variables as the call is offered;
    the IVR's own call log is written in batches and may land a moment after the operator
    opens the form, which would then come up without the caller's category.
    """
    result = db.scalar(select(IvrSession.result).where(IvrSession.call_id == call.id, IvrSession.result.is_not(None))
                       .order_by(IvrSession.id.desc()).limit(1)) or {}
    return {name: stored_text(result.get(variable)) or stored_text(request.args.get(name, "")[:32]) or ""
            for name, variable in (("category", contract.CATEGORY), ("priority", contract.PRIORITY))}


def _call_number(uniqueid: str | None) -> str | None:
    """The caller's number of the call a new request comes from."""
    call = get_db().scalar(select(Call).where(Call.uniqueid == uniqueid[:64])) if uniqueid else None
    return (call.caller.phone if call.caller else call.caller_number) if call is not None else None


@bp.route("/requests/new", methods=["GET", "POST"])
@roles(*OPERATORS)
def new():
    form = RequestForm()
    duplicate = None
    known = _call_number(form.call.data) if request.method == "POST" else None
    known_phone_kept(form.phone, known)
    if request.method == "GET":
        call = _prefill(form)
        known = form.phone.data if call is not None else None
    elif form.validate_on_submit():
        db = get_db()
        settings = services().settings
        caller = caller_for_phone(db, normalise(form.phone.data), form.caller_name.data or None)
        duplicate = likely_duplicate(db, caller, form.category.data, settings.console.duplicate_hours)
        if duplicate is None or form.confirm_duplicate.data:
            created = _create(db, form, caller)
            db.commit()
            flash(_("工单 %(number)s 已登记。", number=created.number), "success")
            return redirect(url_for("requests.view", number=created.number))
        db.rollback()
        flash(_("此来电人在%(hours)d小时内已有同类未办结工单 %(number)s，可能重复。", hours=settings.console.duplicate_hours,
                number=duplicate.number), "warning")
    known_phone_shown(form.phone, known)
    return render_template("requests/form.html", form=form, duplicate=duplicate, editing=None)


def _create(db, form: RequestForm, caller: Caller) -> ServiceRequest:
    call = db.scalar(select(Call).where(Call.uniqueid == form.call.data)) if form.call.data else None
    start, end = form.window
    return open_request(
        db, caller, db.get(ServiceCategory, form.category.data),
        RequestChannel.PHONE if call is not None else RequestChannel.WEB, services().tz, user=current_user.row(),
        district_id=form.district.data, address=form.address.data.strip(), description=(form.description.data or "").strip(),
        priority=Priority(form.priority.data), window_start=start, window_end=end, call_id=call.id if call else None,
    )


@bp.route("/requests/<number>")
@roles(*OPERATORS)
def view(number: str):
    found = _request_or_404(number)
    db = get_db()
    dispatch = current_dispatch(found)
    suggestions = []
    if found.status == RequestStatus.NEW:
        suggestions = suggest_providers(db, found.category_id, found.district_id, exclude=tried_providers(found))
    answer_minutes = services().settings.console.dispatch_answer_minutes
    overdue = dispatch is not None and dispatch in overdue_offers(db, answer_minutes)
    allowed = [s for s in MANUAL_STATUSES if s in REQUEST_TRANSITIONS[found.status]]
    # Cancelling has a form of its own, behind a confirmation; the select offers the next steps.
    onward = [s for s in allowed if s != RequestStatus.CANCELLED
              and (s != RequestStatus.IN_SERVICE or has_accepted_offer(found))]  # the provider's yes first
    return render_template("requests/view.html", req=found, dispatch=dispatch, suggestions=suggestions, overdue=overdue,
                           status_form=StatusForm(), onward=onward, can_cancel=RequestStatus.CANCELLED in allowed,
                           plain=NoteForm(), answer_minutes=answer_minutes,
                           voicemail_ready=voicemail_file(found) is not None)


@bp.route("/requests/<number>/voicemail")
@roles(*OPERATORS)
def voicemail(number: str):
    """The caller's message, for the request page's player (Range requests for seeking)."""
    path = voicemail_file(_request_or_404(number))
    if path is None:
        abort(404)
    response = send_file(path, mimetype="audio/wav", conditional=True, max_age=0)
    response.headers["Cache-Control"] = "private, no-cache"  # a caller's voice: not for shared caches
    return response


@bp.route("/requests/<number>/edit", methods=["GET", "POST"])
@roles(*OPERATORS)
def edit(number: str):
    found = _request_or_404(number)
    form = RequestForm(obj=None)
    known = found.caller.phone if found.caller else None
    known_phone_kept(form.phone, known)
    if request.method == "GET":
        form.phone.data = found.caller.phone if found.caller else ""
        form.caller_name.data = found.caller.name if found.caller else ""
        form.category.data, form.district.data = found.category_id, found.district_id
        form.address.data, form.description.data, form.priority.data = found.address, found.description, found.priority.value
        tz = services().tz
        form.window_start.data = found.window_start.astimezone(tz).replace(tzinfo=None) if found.window_start else None
        form.window_end.data = found.window_end.astimezone(tz).replace(tzinfo=None) if found.window_end else None
    elif form.validate_on_submit():
        db = get_db()
        before = _snapshot(found)
        found.caller = caller_for_phone(db, normalise(form.phone.data), form.caller_name.data or None)
        found.category_id, found.district_id = form.category.data, form.district.data
        found.address, found.description = form.address.data.strip(), (form.description.data or "").strip()
        found.priority = Priority(form.priority.data)
        found.window_start, found.window_end = form.window
        found.updated_at = utcnow()
        after = _snapshot(found)
        record(db, current_user.row(), "update", found, {k: [before[k], after[k]] for k in after if before[k] != after[k]})
        db.commit()
        flash(_("工单已更新。"), "success")
        return redirect(url_for("requests.view", number=found.number))
    known_phone_shown(form.phone, known)
    return render_template("requests/form.html", form=form, duplicate=None, editing=found)


def _snapshot(found: ServiceRequest) -> dict:
    return {"caller_id": found.caller_id, "category_id": found.category_id, "district_id": found.district_id,
            "address": found.address, "description": found.description, "priority": found.priority.value,
            "window_start": found.window_start.isoformat() if found.window_start else None,
            "window_end": found.window_end.isoformat() if found.window_end else None}


@bp.route("/requests/<number>/status", methods=["POST"])
@roles(*OPERATORS)
def set_status(number: str):
    found = _request_or_404(number)
    form = StatusForm()
    form.to_status.choices = choices((s.value, s.value) for s in MANUAL_STATUSES)
    if not form.validate_on_submit():
        abort(400)
    wanted = RequestStatus(form.to_status.data)
    if wanted == RequestStatus.CANCELLED and not form.confirm.data:
        flash(_("取消工单前请勾选“确认取消此工单”。"), "error")
        return redirect(url_for("requests.view", number=number))
    db = get_db()
    try:
        change_status(db, found, wanted, user=current_user.row(), note=form.note.data or None)
    except TransitionError as exc:
        flash(refusal(exc), "error")
        return redirect(url_for("requests.view", number=number))
    db.commit()
    return redirect(url_for("requests.view", number=number))


@bp.route("/requests/<number>/dispatch", methods=["POST"])
@roles(*OPERATORS)
def dispatch_to(number: str):
    found = _request_or_404(number)
    db = get_db()
    submitted()
    provider_id = row_id(request.form.get("provider_id"))
    provider = db.get(Provider, provider_id) if provider_id is not None else None
    if provider is None:
        abort(400)
    ranked = {s.provider_id: s for s in suggest_providers(db, found.category_id, found.district_id, limit=50,
                                                          exclude=tried_providers(found))}
    try:
        offer = assign(db, found, provider, current_user.row(),
                       reason=ranked[provider.id].reason_text if provider.id in ranked else None)
    except DispatchError as exc:
        db.rollback()
        flash(refusal(exc), "error")
        return redirect(url_for("requests.view", number=number))
    settings = services().settings
    dispatch_messages(db, offer, settings.sms.signature, services().tz)
    db.commit()
    flash(_("已派给 %(name)s，并已短信通知企业和来电人。", name=provider.name), "success")
    return redirect(url_for("requests.view", number=number))



@bp.route("/dispatches/<int:dispatch_id>/answer", methods=["POST"])
@roles(*OPERATORS)
def answer(dispatch_id: int):
    offer = get_or_404(Dispatch, dispatch_id)
    form = submitted()
    accepted = request.form.get("accepted")
    if accepted not in ("0", "1"):
        abort(400)
    db = get_db()
    try:
        respond(db, offer, accepted == "1", current_user.row(), note=form.note.data or None)
    except (DispatchError, TransitionError) as exc:
        db.rollback()
        flash(refusal(exc), "error")
    else:
        db.commit()
    return redirect(url_for("requests.view", number=offer.request.number))


@bp.route("/dispatches/<int:dispatch_id>/next", methods=["POST"])
@roles(*OPERATORS)
def next_provider(dispatch_id: int):
    offer = get_or_404(Dispatch, dispatch_id)
    submitted()
    db = get_db()
    try:
        following = offer_next(db, offer, current_user.row())
    except (DispatchError, TransitionError) as exc:
        db.rollback()
        flash(refusal(exc), "error")
        return redirect(url_for("requests.view", number=offer.request.number))
    if following is not None:
        dispatch_messages(db, following, services().settings.sms.signature, services().tz)
        flash(_("已改派给 %(name)s。", name=following.provider.name), "success")
    else:
        flash(_("没有其他可派的企业，工单已退回待派单。"), "warning")
    db.commit()
    return redirect(url_for("requests.view", number=offer.request.number))

"""Complaints: logged by operators, assigned and resolved by supervisors, linked to providers."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from agent_console.auth import OPERATORS, SUPERVISORS, roles
from agent_console.database import get_db, get_or_404
from agent_console.forms import ComplaintForm, NoteForm, submitted, ResolveForm, select as choices
from db.audit import record
from db.base import utcnow
from db.models import Complaint, ComplaintStatus, Provider, ServiceRequest
from db.phones import normalise
from db.service_requests import caller_for_phone
from supervision.disputes import dispute_of_complaint

bp = Blueprint("complaints", __name__)


@bp.route("/complaints")
@roles(*OPERATORS)
def index():
    rows = get_db().scalars(select(Complaint).options(selectinload(Complaint.provider), selectinload(Complaint.caller))
                            .order_by(Complaint.created_at.desc()).limit(200)).all()
    return render_template("complaints/index.html", rows=rows)


@bp.route("/complaints/new", methods=["GET", "POST"])
@roles(*OPERATORS)
def new():
    db = get_db()
    form = ComplaintForm()
    # A blank label would show the value: WTForms prints "0" for an option labelled "".
    form.provider.choices = choices([(0, _("未指定（按工单的派单企业）"))]
                                    + [(p.id, p.name) for p in db.scalars(select(Provider).order_by(Provider.name))])
    if form.validate_on_submit():
        linked = None
        if form.request_number.data:
            linked = db.scalar(select(ServiceRequest).where(ServiceRequest.number == form.request_number.data.strip()))
            if linked is None:
                form.request_number.errors.append(_("没有这个工单号。"))
                return render_template("complaints/form.html", form=form)
        caller = caller_for_phone(db, normalise(form.phone.data)) if form.phone.data else (linked.caller if linked else None)
        provider_id = form.provider.data or None
        if provider_id is None and linked is not None and linked.dispatches:
            provider_id = linked.dispatches[-1].provider_id
        complaint = Complaint(caller=caller, request=linked, provider_id=provider_id,
                              description=form.description.data.strip(), status=ComplaintStatus.OPEN, created_at=utcnow())
        db.add(complaint)
        db.flush()
        record(db, current_user.row(), "create", complaint, {"provider_id": provider_id})
        db.commit()
        flash(_("投诉已登记。"), "success")
        return redirect(url_for("complaints.view", complaint_id=complaint.id))
    return render_template("complaints/form.html", form=form)



@bp.route("/complaints/<int:complaint_id>")
@roles(*OPERATORS)
def view(complaint_id: int):
    return render_template("complaints/view.html", complaint=get_or_404(Complaint, complaint_id),
                           resolve_form=ResolveForm(), plain=NoteForm(),
                           dispute=dispute_of_complaint(get_db(), complaint_id))


@bp.route("/complaints/<int:complaint_id>/assign", methods=["POST"])
@roles(*SUPERVISORS)
def assign(complaint_id: int):
    complaint = get_or_404(Complaint, complaint_id)
    submitted()
    if complaint.status not in (ComplaintStatus.OPEN, ComplaintStatus.ASSIGNED):
        abort(400)
    db = get_db()
    complaint.assigned_to_id, complaint.status = current_user.id, ComplaintStatus.ASSIGNED
    record(db, current_user.row(), "assign", complaint)
    db.commit()
    return redirect(url_for("complaints.view", complaint_id=complaint_id))


@bp.route("/complaints/<int:complaint_id>/resolve", methods=["POST"])
@roles(*SUPERVISORS)
def resolve(complaint_id: int):
    complaint = get_or_404(Complaint, complaint_id)
    form = ResolveForm()
    if not form.validate_on_submit():
        flash(_("请填写处理结果。"), "error")
        return redirect(url_for("complaints.view", complaint_id=complaint_id))
    db = get_db()
    complaint.status, complaint.resolution, complaint.resolved_at = ComplaintStatus.RESOLVED, form.resolution.data, utcnow()
    complaint.upheld = {"yes": True, "no": False}.get(form.upheld.data)
    record(db, current_user.row(), "resolve", complaint, {"upheld": complaint.upheld})
    db.commit()
    return redirect(url_for("complaints.view", complaint_id=complaint_id))

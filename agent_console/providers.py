"""Providers and their details; supervisors remove and reinstate them (credit files: agent_console/supervision.py)."""
from __future__ import annotations

import datetime as dt

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from agent_console.auth import OPERATORS, SUPERVISORS, roles
from agent_console.database import get_db, get_or_404
from agent_console.inputs import row_id
from agent_console.forms import NoteForm, submitted, SuspendForm, category_choices
from agent_console.formatting import refusal
from db.base import utcnow
from db.errors import Refused
from db.models import ANSWERED_SURVEYS, Complaint, Dispatch, Provider, Survey, SurveyStatus, Worker, provider_categories
from supervision import sanctions

bp = Blueprint("providers", __name__)


@bp.route("/providers")
@roles(*OPERATORS)
def index():
    db = get_db()
    query = select(Provider).options(selectinload(Provider.categories), selectinload(Provider.district)).order_by(Provider.name)
    text = request.args.get("q", "").strip()[:64]
    if text:
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(or_(Provider.name.like(pattern, escape="\\"), Provider.phone.like(pattern, escape="\\")))
    category = request.args.get("category", "")
    if row_id(category) is not None:
        query = query.join(provider_categories).where(provider_categories.c.category_id == row_id(category))
    rows = db.scalars(query.limit(200)).all()
    return render_template("providers/index.html", rows=rows, q=text, category=category, categories=category_choices(blank=True))



@bp.route("/providers/<int:provider_id>")
@roles(*OPERATORS)
def view(provider_id: int):
    return _page(get_or_404(Provider, provider_id), SuspendForm(formdata=None))


def _page(provider: Provider, suspend_form: SuspendForm):
    """The provider's page; a refused removal comes back with its typed reason."""
    db = get_db()
    since = utcnow() - dt.timedelta(days=90)
    complaints = db.scalars(select(Complaint).where(Complaint.provider_id == provider.id)
                            .order_by(Complaint.created_at.desc()).limit(20)).all()
    dispatches = db.scalars(select(Dispatch).where(Dispatch.provider_id == provider.id)
                            .order_by(Dispatch.offered_at.desc()).limit(20)).all()
    recent_complaints = db.scalar(select(func.count()).where(Complaint.provider_id == provider.id, Complaint.created_at >= since))
    workers = db.scalars(select(Worker).options(selectinload(Worker.certificates))
                         .where(Worker.provider_id == provider.id).order_by(Worker.name)).all()
    surveys = db.scalars(select(Survey).where(Survey.provider_id == provider.id, Survey.status == SurveyStatus.COMPLETED,
                                             ANSWERED_SURVEYS)
                         .order_by(Survey.completed_at.desc()).limit(20)).all()
    return render_template("providers/view.html", provider=provider, complaints=complaints, dispatches=dispatches,
                           surveys=surveys,
                           recent_complaints=recent_complaints, workers=workers, today=utcnow().date(), now=utcnow(),
                           suspend_form=suspend_form, plain=NoteForm())


@bp.route("/providers/<int:provider_id>/suspend", methods=["POST"])
@roles(*SUPERVISORS)
def suspend(provider_id: int):
    provider = get_or_404(Provider, provider_id)
    form = SuspendForm()
    if not form.validate_on_submit():
        flash(_("请填写暂停原因。"), "error")
        return _page(provider, form)
    if not form.confirm.data:  # every dispatch to it stops: never one click
        flash(_("移出平台前请勾选确认。"), "error")
        return _page(provider, form)
    db = get_db()
    try:  # out until reinstated: a removal in the credit file
        sanctions.remove(db, provider, form.reason.data, current_user.row())
    except Refused as error:
        flash(refusal(error), "error")
        return redirect(url_for("providers.view", provider_id=provider_id))
    db.commit()
    return redirect(url_for("providers.view", provider_id=provider_id))


@bp.route("/providers/<int:provider_id>/reinstate", methods=["POST"])
@roles(*SUPERVISORS)
def reinstate(provider_id: int):
    provider = get_or_404(Provider, provider_id)
    form = submitted()
    db = get_db()
    try:
        sanctions.reinstate(db, provider, form.note.data, current_user.row())
    except Refused as error:
        flash(refusal(error), "error")
        return redirect(url_for("providers.view", provider_id=provider_id))
    db.commit()
    return redirect(url_for("providers.view", provider_id=provider_id))

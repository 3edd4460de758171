"""API tokens: every account makes and revokes its own; admins see and revoke everyone's.

A token is shown once, on the page that made it (never flashed: the flash travels in the
session cookie); the database keeps only its keyed hash (db/api_tokens.py).
"""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from agent_console.auth import OPERATORS, roles
from agent_console.database import get_db, get_or_404, services
from agent_console.forms import NoteForm, submitted
from db.api_tokens import create_token, revoke_token
from db.models import ApiToken, Role

bp = Blueprint("tokens", __name__)


class TokenForm(FlaskForm):
    name = StringField(_l("用途"), validators=[DataRequired(), Length(max=64)])


def _page(form: TokenForm, new_token: str | None = None):
    query = select(ApiToken).options(selectinload(ApiToken.user)).order_by(ApiToken.created_at.desc())
    if current_user.role != Role.ADMIN:
        query = query.where(ApiToken.user_id == current_user.id)
    tokens = get_db().scalars(query).all()
    return render_template("tokens.html", tokens=tokens, form=form, plain=NoteForm(), new_token=new_token,
                           api_url=url_for("api.list_requests", _external=True))


@bp.route("/tokens", methods=["GET", "POST"])
@roles(*OPERATORS)
def index():
    form = TokenForm()
    if form.validate_on_submit():
        db = get_db()
        user = current_user.row()
        _row, token = create_token(db, services().settings.app.secret_key, user, form.name.data)
        db.commit()
        return _page(TokenForm(formdata=None), new_token=token)
    return _page(form)


@bp.route("/tokens/<int:token_id>/revoke", methods=["POST"])
@roles(*OPERATORS)
def revoke(token_id: int):
    submitted()
    token = get_or_404(ApiToken, token_id)
    if token.user_id != current_user.id and current_user.role != Role.ADMIN:
        abort(403)
    db = get_db()
    revoke_token(db, token, current_user.row())
    db.commit()
    flash(_("令牌「%(name)s」已停用。", name=token.name), "success")
    return redirect(url_for("tokens.index"))

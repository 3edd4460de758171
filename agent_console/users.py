"""Accounts, for admins: create, change role and extension, reset a password, record the
languages an operator speaks, deactivate."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.security import generate_password_hash
from wtforms import PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional, Regexp

from agent_console.auth import ADMINS, roles
from agent_console.database import get_db, get_or_404
from agent_console.formatting import label, refusal
from agent_console.forms import NoteForm, submitted, select as choices
from db.audit import record
from db.languages import set_languages, skills
from db.models import Fluency, Language, Role, User
from db.users import MIN_PASSWORD_LENGTH, UserError, create_user

bp = Blueprint("users", __name__)
EXTENSION = Regexp(r"^\d{3,6}$", message=_l("分机号为3到6位数字。"))


def _role_choices():
    return choices((r.value, label(r)) for r in Role)


class AccountForm(FlaskForm):
    username = StringField(_l("用户名"), validators=[DataRequired(), Length(max=64)])
    display_name = StringField(_l("显示名"), validators=[DataRequired(), Length(max=64)])
    role = SelectField(_l("角色"), validators=[DataRequired()])
    sip_extension = StringField(_l("分机"), validators=[Optional(), EXTENSION])
    password = PasswordField(_l("密码"), validators=[DataRequired(), Length(min=MIN_PASSWORD_LENGTH, max=256)])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.role.choices = _role_choices()


class ChangeForm(FlaskForm):
    role = SelectField(_l("角色"), validators=[DataRequired()])
    sip_extension = StringField(_l("分机"), validators=[Optional(), EXTENSION])
    password = PasswordField(_l("新密码"), validators=[Optional(), Length(min=MIN_PASSWORD_LENGTH, max=256)])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.role.choices = _role_choices()


@bp.route("/users", methods=["GET", "POST"])
@roles(*ADMINS)
def index():
    db = get_db()
    form = AccountForm()
    if form.validate_on_submit():
        try:
            create_user(db, form.username.data, form.password.data, Role(form.role.data), form.display_name.data,
                        form.sip_extension.data or None, created_by=current_user.row())
        except UserError as exc:
            db.rollback()
            flash(refusal(exc), "error")
        else:
            db.commit()
            flash(_("账号 %(name)s 已创建。", name=form.username.data), "success")
            return redirect(url_for("users.index"))
    people = db.scalars(select(User).order_by(User.role, User.username)).all()
    return render_template("users.html", people=people, form=form, change=ChangeForm(), plain=NoteForm(),
                           languages=list(Language), fluencies=list(Fluency), skills=skills)


@bp.route("/users/<int:user_id>", methods=["POST"])
@roles(*ADMINS)
def change(user_id: int):
    user = get_or_404(User, user_id)
    form = ChangeForm()
    if not form.validate_on_submit():
        flash(_("；").join(str(e) for errors in form.errors.values() for e in errors), "error")  # lazy strings
        return redirect(url_for("users.index"))
    if user.id == current_user.id and form.role.data != user.role.value:
        flash(_("不能更改自己的角色。"), "error")  # as with deactivating oneself: no admin locks the console out
        return redirect(url_for("users.index"))
    db = get_db()
    extension = form.sip_extension.data or None
    if extension and db.scalar(select(User.id).where(User.sip_extension == extension, User.id != user.id)):
        flash(_("分机 %(ext)s 已属于其他账号。", ext=extension), "error")
        return redirect(url_for("users.index"))
    changes = {"role": [user.role.value, form.role.data], "sip_extension": [user.sip_extension, extension]}
    user.role, user.sip_extension = Role(form.role.data), extension
    if form.password.data:
        user.password_hash = generate_password_hash(form.password.data)  # ends the user's other sessions
        changes["password"] = "reset"
    record(db, current_user.row(), "update", user, changes)
    db.commit()
    return redirect(url_for("users.index"))


@bp.route("/users/<int:user_id>/languages", methods=["POST"])
@roles(*ADMINS)
def languages(user_id: int):
    """One select per language (lang_cmn...): a fluency, or empty for "does not speak it"."""
    user = get_or_404(User, user_id)
    submitted()
    chosen: dict[Language, Fluency | None] = {}
    for language in Language:
        value = request.form.get(f"lang_{language.value}", "")
        try:
            chosen[language] = Fluency(value) if value else None
        except ValueError:
            flash(_("请为每种语言选择掌握程度。"), "error")
            return redirect(url_for("users.index"))
    db = get_db()
    if set_languages(db, user, chosen, current_user.row()):
        db.commit()
        flash(_("%(name)s 的语言已保存。", name=user.username), "success")
    return redirect(url_for("users.index"))


@bp.route("/users/<int:user_id>/active", methods=["POST"])
@roles(*ADMINS)
def toggle_active(user_id: int):
    user = get_or_404(User, user_id)
    submitted()
    if user.id == current_user.id:
        flash(_("不能停用自己的账号。"), "error")
        return redirect(url_for("users.index"))
    if user.active and request.form.get("confirm") != "y":  # it signs them out at once: never one click
        flash(_("停用账号前请勾选确认。"), "error")
        return redirect(url_for("users.index"))
    db = get_db()
    user.active = not user.active
    record(db, current_user.row(), "activate" if user.active else "deactivate", user)
    db.commit()
    return redirect(url_for("users.index"))

"""Sign-in, roles and throttling.

Every view declares who may use it with @roles(...) or @public; a test walks the URL
map and fails on any view that declares neither.
"""
from __future__ import annotations

import datetime as dt
import functools
from urllib.parse import urlsplit

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import LoginManager, current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from jinja2 import pass_context
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from agent_console import translations
from agent_console.database import get_db, services
from call_log.export import mask_number
from db.audit import record
from db.base import utcnow
from db.languages import skills
from db.models import LoginAttempt, Role, User
from db.users import verify_password

bp = Blueprint("auth", __name__)
login_manager = LoginManager()

OPERATORS = (Role.OPERATOR, Role.SUPERVISOR, Role.ADMIN)  # everyone at a workstation
SUPERVISORS = (Role.SUPERVISOR, Role.ADMIN)
ADMINS = (Role.ADMIN,)
# A longer "next" is no page of ours, and would not fit in a Location header.
MAX_NEXT = 2048
# Who sees callers' whole numbers: the roles that need them to serve callers — operators
# take and return their calls — and admins. Supervisors review and report: they see
# 138****8000 everywhere, pages, exports, the API and the pop stream alike. A role, not a
# per-account flag, so a supervisor's rights never differ from what their role says
# (README: "Callers' numbers"). Every page and route shows a number through
# phone_for_reader(); actions on a caller (call back, SMS) go by id, never by a number
# taken from the page.
UNMASKERS = (Role.OPERATOR, Role.ADMIN)


class ConsoleUser:
    """The signed-in account as Flask-Login sees it (a detached copy, no lazy loads)."""

    def __init__(self, user: User):
        self.id = user.id
        self.username = user.username
        self.display_name = user.display_name
        self.role = user.role
        self.sip_extension = user.sip_extension
        # Read with the account (User.languages loads with it): the pop's language
        # warning needs no query of its own.
        self.languages = skills(user)
        self.is_active = user.active
        self.is_authenticated = True
        self.is_anonymous = False

    def get_id(self) -> str:
        return str(self.id)

    def has(self, *allowed: Role) -> bool:
        return self.role in allowed

    def row(self) -> User:
        """The account's row in this request's session (for audit and foreign keys)."""
        return get_db().get(User, self.id)


def may_unmask(role: Role | None = None) -> bool:
    """Whether `role` (the signed-in reader's, by default) sees callers' whole numbers."""
    if role is None:
        return current_user.is_authenticated and current_user.role in UNMASKERS
    return role in UNMASKERS


def phone_for_reader(number: str | None, role: Role | None = None) -> str:
    """A caller's number as the reader may see it: whole for UNMASKERS, 138****8000 for
    the rest ("" for none). `role`: an API caller's, outside a console session."""
    if not number:
        return ""
    return number if may_unmask(role) else mask_number(number)


def known_phone_kept(field, known: str | None) -> None:
    """A reader shown a caller's number masked (phone_for_reader) who left it so keeps
    that number: a form never needs the whole number in the page."""
    if known and (field.data or "").strip() == phone_for_reader(known) != known:
        field.data = known


def known_phone_shown(field, known: str | None) -> None:
    """A form shows a caller's number as its reader may see it."""
    if known and field.data == known:
        field.data = phone_for_reader(known)


def roles(*allowed: Role):
    def decorate(view):
        @functools.wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            if current_user.role not in allowed:
                abort(403)
            return view(*args, **kwargs)
        wrapped.hotline_roles = frozenset(allowed)
        return wrapped
    return decorate


def public(view):
    view.hotline_roles = None  # declared open to anyone
    return view


def init_app(app) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("请先登录。")
    login_manager.session_protection = "strong"
    app.view_functions["static"].hotline_roles = None  # CSS and JS, no data
    # Evaluated at every render, for its reader (never folded into a compiled template).
    app.add_template_filter(pass_context(lambda _context, number: phone_for_reader(number)), "phone_for_reader")


@login_manager.user_loader
def load_user(user_id: str):
    if not user_id.isdigit():
        return None
    # Its languages in the same query (they load with every account).
    user = get_db().get(User, int(user_id), options=[joinedload(User.languages)])
    # A password change, a deactivation or signing out ends sessions: the stamp must still match.
    if user is None or not user.active or session.get("pw") != session_stamp(user):
        return None
    return ConsoleUser(user)


def session_stamp(user: User) -> str:
    return f"{user.password_hash[-12:]}.{user.session_epoch}"


class LoginForm(FlaskForm):
    username = StringField(_l("用户名"), validators=[DataRequired(), Length(max=64)])
    password = PasswordField(_l("密码"), validators=[DataRequired(), Length(max=256)])


def _locked(db, username: str, address: str, now: dt.datetime) -> bool:
    """Too many failures for this account, or from this address, since the window began."""
    console = services().settings.console
    since = now - dt.timedelta(minutes=console.login_lockout_minutes)
    for column, value in ((LoginAttempt.username, username), (LoginAttempt.address, address)):
        last_success = db.scalar(select(func.max(LoginAttempt.at)).where(column == value, LoginAttempt.succeeded))
        start = max(since, last_success) if last_success and column is LoginAttempt.username else since
        failures = db.scalar(select(func.count()).where(column == value, LoginAttempt.succeeded.is_(False),
                                                        LoginAttempt.at > start))
        if failures >= console.login_max_failures:
            return True
    return False


def check_credentials(db, username: str, password: str, address: str, *, sign_in: bool = True) -> tuple[User | None, str | None]:
    """(user, None) on success; (None, reason) otherwise. Every failure is recorded (they
    feed the lock); a success is recorded and audited only as a sign-in, not as an API read."""
    now = utcnow()
    if _locked(db, username, address, now):
        return None, _("登录失败次数过多，请%(minutes)d分钟后再试。", minutes=services().settings.console.login_lockout_minutes)
    user = db.scalar(select(User).where(User.username == username))
    if not verify_password(user, password):  # as slow for an unknown account as for a known one
        db.add(LoginAttempt(username=username[:64], address=address[:64], succeeded=False, at=now))
        db.commit()
        return None, _("用户名或密码不正确。")
    if sign_in:
        db.add(LoginAttempt(username=username[:64], address=address[:64], succeeded=True, at=now))
        user.last_login_at = now
        record(db, user, "login", user, {"address": address})
        db.commit()
    return user, None


def record_failure(db, username: str, address: str) -> None:
    """A refused credential that was not a password (an API token): it counts towards the lock too."""
    db.add(LoginAttempt(username=username[:64], address=address[:64], succeeded=False, at=utcnow()))
    db.commit()


def client_address() -> str:
    return request.remote_addr or "unknown"


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    if current_user.is_authenticated:
        return redirect(url_for("main.dashboard"))
    form = LoginForm()
    if form.validate_on_submit():
        user, error = check_credentials(get_db(), form.username.data.strip(), form.password.data, client_address())
        if user is not None:
            session.clear()
            session.permanent = True
            session["pw"] = session_stamp(user)
            login_user(ConsoleUser(user))
            return redirect(safe_next(request.args.get("next")))
        flash(error, "error")
    return render_template("login.html", form=form)


def safe_next(target: str | None, default: str | None = None) -> str:
    """Only a path on this site: never an open redirect. Browsers drop tabs and newlines
    from a URL and read a backslash as a slash, so "/<tab>/evil.example" is "//evil.example"
    to them: any control character or backslash sends the user to `default` (home) instead,
    and so does a path too long for a Location header."""
    if (target and len(target) <= MAX_NEXT and target.isprintable() and "\\" not in target and target.startswith("/")
            and not target.startswith("//") and not urlsplit(target).netloc):
        return target
    return default or url_for("main.dashboard")


@bp.route("/logout", methods=["POST"])
@roles(*OPERATORS)
def logout():
    db = get_db()
    db.get(User, current_user.id).session_epoch += 1  # ends this session wherever its cookie went
    db.commit()
    logout_user()
    session.clear()
    return redirect(url_for("auth.login"))


@bp.route("/language/<code>", methods=["POST"])
@public
def language(code: str):
    if code in translations.LOCALES:
        session["lang"] = code
    return redirect(safe_next(request.form.get("next")))

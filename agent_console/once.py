"""Each console form is sent once (db.models.FormSubmission).

console.js gives every form the console posts to a random token (`once`) as the page
loads. The token is written in the transaction that saves what the form did, just
before it commits, so the same form sent again, however soon after (a double click, two
at once, the back button), fails on the token's key and saves nothing; the reader is
told and sent back. A form that saves nothing (a validation error, a refusal) leaves
its token unspent, so it can be corrected and sent again. Posts without a token (the
API, Twilio's webhook, scripts) are not concerned.
"""
from __future__ import annotations

import datetime as dt
import re
from urllib.parse import urlsplit

from flask import Flask, abort, flash, g, redirect, request
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import delete, event
from sqlalchemy.exc import IntegrityError

from agent_console.auth import safe_next
from agent_console.database import get_db
from db.base import utcnow
from db.models import FormSubmission

FIELD = "once"
_TOKEN = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
KEPT = dt.timedelta(days=2)  # a page left open longer than a sign-in lasts is not sent back
EXEMPT = {"auth.login", "auth.logout", "auth.language"}  # harmless to repeat


def init_app(app: Flask) -> None:
    app.before_request(_spend_on_commit)
    app.register_error_handler(IntegrityError, _sent_before)


def _spend_on_commit():
    if request.method != "POST" or request.endpoint in EXEMPT or FIELD not in request.form:
        return None
    token = request.form[FIELD].strip().lower()
    if not _TOKEN.fullmatch(token):
        abort(400)
    session = get_db()
    user_id = current_user.id if current_user.is_authenticated else None

    spent = False  # a view that commits twice spends the token with its first commit

    @event.listens_for(session, "before_commit")
    def spend(spending_session):
        nonlocal spent
        if spent:
            return
        spent = True
        now = utcnow()
        spending_session.execute(delete(FormSubmission).where(FormSubmission.at < now - KEPT))
        spending_session.add(FormSubmission(token=token, at=now, user_id=user_id))
        spending_session.flush()

    g.form_token = token
    return None


def _sent_before(error: IntegrityError):
    """The form's token was spent: this is the same form a second time."""
    if g.get("form_token") is None or "form_submissions" not in str(error.orig):
        raise error
    get_db().rollback()
    flash(_("这份表单刚才已经提交过，没有重复保存。"), "warning")
    return redirect(_back())


def _back() -> str:
    """The page the form was on, if a path on this site (auth.safe_next), or the dashboard."""
    came_from = urlsplit(request.referrer or "")
    return safe_next(came_from.path + (f"?{came_from.query}" if came_from.query else ""))

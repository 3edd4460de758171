"""The agent console: a Flask application for operators, supervisors and admins."""
# flaskr's shape: create_app(test_config) builds the app; one blueprint per area. The
# database layer (db/) knows nothing of Flask; this package knows nothing of AGI.
from __future__ import annotations

import datetime as dt
import re
from typing import Any

from flask import Flask, render_template, request, session
from flask_babel import Babel
from markupsafe import Markup
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from agent_console import translations
from agent_console.services import ConsoleServices

csrf = CSRFProtect()
babel = Babel()
LOCALES = translations.LOCALES


def select_locale() -> str:
    # ?lang= is how the language switch asks; the choice is kept in the session.
    wanted = request.args.get("lang") or session.get("lang")
    return wanted if wanted in LOCALES else "zh"


def create_app(test_config: dict[str, Any] | None = None, *, settings=None, services: ConsoleServices | None = None) -> Flask:
    app = Flask(__name__)
    from agent_console.inputs import BoundedIntegerConverter, refuse_unusable_input
    app.url_map.converters["int"] = BoundedIntegerConverter  # before any route is added
    services = services or ConsoleServices.from_settings(settings)
    settings = services.settings
    app.config.from_mapping(
        SECRET_KEY=settings.app.secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.production,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SECURE=settings.production,
        PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=settings.console.session_hours),
        WTF_CSRF_TIME_LIMIT=settings.console.session_hours * 3600,
        BABEL_DEFAULT_LOCALE="zh",
        BABEL_DEFAULT_TIMEZONE=settings.app.timezone,
        BABEL_TRANSLATION_DIRECTORIES=str(translations.compiled_dir(settings.data_path("translations"))),
        MAX_CONTENT_LENGTH=1024 * 1024,
    )
    if test_config:
        app.config.update(test_config)
    if settings.console.trusted_proxies:
        # The client's address (sign-in throttling, the audit log) and scheme from the
        # proxies' headers, trusting only as many hops as there are proxies.
        hops = settings.console.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)
    app.extensions["hotline"] = services
    app.before_request(refuse_unusable_input)  # first: no NUL or bottomless JSON reaches a view
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale)

    from agent_console import (
        api, auth, call_log, calls, callbacks, complaints, desk, disputes, kpi, main, once, providers, reports, requests, sms,
        sms_inbound, supervision, surveys, tokens, users, wallboard, workforce,
    )
    auth.init_app(app)
    once.init_app(app)  # after sign-in's hooks: the token names who sent the form
    for blueprint in (auth.bp, main.bp, desk.bp, calls.bp, call_log.bp, requests.bp, providers.bp, supervision.bp, callbacks.bp,
                      complaints.bp, disputes.bp, sms.bp, sms_inbound.bp, surveys.bp, tokens.bp, users.bp, workforce.bp,
                      reports.bp, kpi.bp, wallboard.bp, api.bp):
        app.register_blueprint(blueprint)
    csrf.exempt(api.bp)  # the API checks CSRF itself for cookie sessions (api.py)
    csrf.exempt(sms_inbound.bp)  # Twilio's signature instead (sms_inbound.py)

    from agent_console.database import close_db
    from agent_console.formatting import register_filters
    app.teardown_appcontext(close_db)
    register_filters(app)
    from flask_babel import get_locale
    app.jinja_env.globals["get_locale"] = get_locale
    app.jinja_env.finalize = printable
    _register_errors(app)
    app.after_request(_security_headers)
    return app


_SURROGATE = re.compile("[\ud800-\udfff]")


def printable(value):
    """Every value a template prints. A lone surrogate (a bad key stored in JSON before the
    IVR refused them) cannot be encoded as UTF-8 and would turn the page into a 500: it is
    shown as the replacement character instead."""
    if isinstance(value, str) and _SURROGATE.search(value):
        cleaned = _SURROGATE.sub("\ufffd", value)
        return Markup(cleaned) if isinstance(value, Markup) else cleaned
    return value


def _security_headers(response):
    response.headers.setdefault("Content-Security-Policy",
                                "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                                "frame-ancestors 'none'; form-action 'self'")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


def _register_errors(app: Flask) -> None:
    def page(code: int, title: str, message: str):
        def handler(error):
            if request.path.startswith("/api/"):
                return {"error": title, "message": message}, code
            return render_template("error.html", code=code, title=title, message=message), code
        return handler

    from flask_babel import lazy_gettext as _l
    app.register_error_handler(403, page(403, _l("无权访问"), _l("您的角色不能使用此功能。")))
    app.register_error_handler(404, page(404, _l("未找到"), _l("没有这个页面或记录。")))
    app.register_error_handler(405, page(405, _l("方法不允许"), _l("请从页面上的按钮操作。")))
    app.register_error_handler(413, page(413, _l("提交内容过大"), _l("请缩短内容后再提交。")))
    app.register_error_handler(CSRFError, page(400, _l("表单已过期"), _l("请刷新页面后重新提交。")))
    app.register_error_handler(400, page(400, _l("请求无效"), _l("提交的数据不完整或格式不对。")))
    app.register_error_handler(500, page(500, _l("系统出错"), _l("这次操作没有保存，请稍后再试；问题已记录。")))

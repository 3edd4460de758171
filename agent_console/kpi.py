"""The supervisors' KPI reports (统计报表): thin HTTP over kpi/.

One page: a day, week or month, broken down by queue, operator, language or category,
with trend lines, the hourly heat map of arrivals and the IVR funnel drawn on the server
as SVG, each beside a table of its figures. Every name is shown in words (queue titles,
languages, categories, menu node titles), never as the code stored.
"""
from __future__ import annotations

import datetime as dt

from flask import Blueprint, flash, render_template, request
from flask_babel import gettext as _
from flask_babel import pgettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from agent_console.auth import SUPERVISORS, roles
from agent_console.database import get_db, services
from agent_console.formatting import label, named, node_title, queue_title, step_key
from db.base import utcnow
from db.models import Provider, ServiceCategory, User
from kpi import charts
from kpi.formulas import STANDARD_SECONDS, average_of
from kpi.report import BREAKDOWNS, PERIODS, build_report, parse_choice

bp = Blueprint("kpi", __name__)
FIELD_NAMES = {"period": _l("统计周期"), "date": _l("日期"), "by": _l("分组")}
PERIOD_NAMES = {"day": _l("日"), "week": _l("周"), "month": _l("月")}
BREAKDOWN_NAMES = {"queue": _l("按队列"), "operator": _l("按坐席"), "language": _l("按语言"), "category": _l("按服务类别")}


@bp.route("/kpi")
@roles(*SUPERVISORS)
def index():
    db = get_db()
    now = utcnow()
    settings = services().settings
    choice = parse_choice(request.args, now.astimezone(settings.tz).date())
    for name in choice.errors:
        flash(_("“%(field)s”的值无法识别，已忽略。", field=FIELD_NAMES[name]), "warning")
    report = build_report(db, choice.period, choice.breakdown, settings, now)
    names = _member_names(db, choice.breakdown, [member for member, _ in report.members])
    return render_template(
        "kpi/index.html", report=report, choice=choice, periods=PERIODS, period_names=PERIOD_NAMES,
        breakdowns=BREAKDOWNS, breakdown_names=BREAKDOWN_NAMES, names=names, standard_seconds=STANDARD_SECONDS,
        charts=_charts(report), day_label=_day_label, node_title=node_title, key_name=step_key,
        providers=_provider_names(db, report.satisfaction.by_provider), categories=_category_names(db),
        average_of=average_of, today=now.astimezone(settings.tz).date(),
    )


def _day_label(day: dt.date) -> str:
    return day.strftime("%m-%d")


def _member_names(db, breakdown: str, members: list[str]) -> dict[str, str]:
    """Each breakdown member's name in words."""
    if breakdown == "queue":
        return {m: queue_title(m) for m in members}
    if breakdown == "language":
        return {m: label(m) for m in members}
    if breakdown == "category":
        found = _category_names(db)
        return {m: found.get(m, _("其他")) for m in members}
    ids = [int(m) for m in members if m.isdigit()]
    found = dict(db.execute(select(User.id, User.display_name).where(User.id.in_(ids))).all()) if ids else {}
    return {m: found.get(int(m), _("已删除的坐席")) if m.isdigit() else m for m in members}


def _category_names(db) -> dict[str, str]:
    return {row.code: named(row) for row in db.scalars(select(ServiceCategory))}


def _provider_names(db, by_provider: dict) -> dict[int, str]:
    if not by_provider:
        return {}
    return dict(db.execute(select(Provider.id, Provider.name).where(Provider.id.in_(list(by_provider)))).all())


def _charts(report) -> dict[str, str]:
    """The page's charts as data: URLs, labelled in the reader's language."""
    days = [_day_label(day) for day, _ in report.daily]
    target = report.kpi.target_seconds
    trend = charts.trend_lines(days, [
        (_("%(seconds)d秒服务水平", seconds=STANDARD_SECONDS), [f.service_level_15 for _, f in report.daily]),
        (_("%(seconds)d秒服务水平", seconds=target), [f.service_level_target for _, f in report.daily]),
        (_("排队放弃率"), [f.queue_abandonment for _, f in report.daily]),
        (_("语音导航放弃率"), [f.ivr_abandonment for _, f in report.daily]),
    ])
    volume = charts.trend_lines(days, [
        (pgettext("calls counted", "来电"), [f.inbound for _, f in report.daily]),
        (_("接听"), [f.handled for _, f in report.daily]),
    ], percent=False)
    heat = charts.heat_map(days, [tally.arrivals for _, tally in report.days], _("日期 / 时"))
    funnel = charts.funnel([node_title(n.node) for n in report.funnel], [n.reached for n in report.funnel],
                           [n.hung_up for n in report.funnel], (_("到达"), _("在此挂机")))
    return {name: charts.data_uri(svg) for name, svg in
            (("trend", trend), ("volume", volume), ("heat", heat), ("funnel", funnel))}

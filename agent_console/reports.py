"""The industry report (行业统计) for supervisors: thin HTTP over reports/.

One report object is computed per request and rendered as the page, the PDF (WeasyPrint
from the print template), the CSV and the XLSX: every format shows the same figures.
Every export is written to the audit log.
"""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, current_app, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from agent_console.auth import SUPERVISORS, roles
from agent_console.database import get_db, services
from agent_console.disputes import ORIGINS, OUTCOMES
from agent_console.formatting import label
from agent_console.workforce import SOURCES
from agent_console.workforce_forms import MEASURE_NAMES
from db.audit import record_read
from db.base import utcnow
from kpi.formulas import KpiSettings
from reports.build import build_report
from reports.export import csv_bytes, xlsx_bytes
from reports.model import COUNT, DAYS, RATING, SECONDS, SHARE, Report, Row, Section, Term
from reports.period import BadPeriod, Period

bp = Blueprint("reports", __name__)
STYLESHEET = Path(__file__).with_name("static") / "report.css"

TITLES = {
    "key_figures": _l("主要指标（与上期比较）"), "requests_by_category": _l("工单（按服务类别）"),
    "requests_by_district": _l("工单（按区县）"), "matching": _l("供需匹配"), "satisfaction": _l("服务满意度"),
    "complaints_by_status": _l("投诉（按办理状态）"), "complaints_by_category": _l("投诉（按服务类别）"),
    "grading": _l("家政企业分类定级"), "training": _l("从业人员培训与持证（按企业所在区县）"),
    "certificates": _l("从业人员证书（按证书类别）"), "hotline_calls": _l("热线话务（与上期比较）"),
    "disputes": _l("纠纷处理"), "training_sessions": _l("培训班与发证"), "recruitment": _l("招工就业"),
    "hires_by_district": _l("经平台录用（按用人企业所在区县）"),
    **{f"seventy_{measure.value}": _l("三个70%%：%(measure)s", measure=name) for measure, name in MEASURE_NAMES.items()},
}
# Column headings and row labels, by the codes reports/ gives them.
WORDS = {
    "requests": _l("工单数"), "dispatched": _l("已派单"), "completed": _l("已完成"), "completed_share": _l("完成率"),
    "matched": _l("平台匹配成功"), "matching_rate": _l("匹配率"), "surveys_reached": _l("回访成功"),
    "ratings": _l("评分次数"), "average_rating": _l("平均评分"), "csat": _l("满意率（4–5分）"),
    "complaints": _l("投诉数"), "upheld": _l("属实"), "not_upheld": _l("不属实"), "providers": _l("企业数"),
    "providers_share": _l("占比"), "workers": _l("在册从业人员"), "workers_trained": _l("本期参训人数"),
    "training_hours": _l("本期培训学时"), "workers_certified": _l("持有效证书人数"), "certified_share": _l("持证率"),
    "certificates_valid": _l("有效"), "certificates_expiring": _l("即将到期"), "certificates_expired": _l("已过期"),
    "this_period": _l("本期"), "previous_period": _l("上期"), "calls_received": _l("来电数"),
    "calls_answered": _l("人工接听"), "answered_share": _l("接通率"), "calls_queued": _l("进入队列"),
    "service_level_15": _l("%(seconds)d秒服务水平", seconds=15), "queue_abandonment": _l("排队放弃率"),
    "ivr_abandonment": _l("语音导航放弃率"), "average_speed_of_answer": _l("平均应答时间（秒）"),
    "average_handle_time": _l("平均处理时长（秒）"), "total": _l("合计"), "no_request": _l("未关联工单"),
    "no_district": _l("未填区县"), "stars": _l("%(stars)d星"), "ungraded": _l("未定级"),
    # disputes, recruitment, training sessions and the three 70% (the words their own pages use)
    "figure": _l("数量"), "disputes_received": _l("本期受理纠纷"), "disputes_closed": _l("本期办结纠纷"),
    **{f"dispute_from_{origin}": words for origin, words in ORIGINS.items()},
    **{f"dispute_{outcome}": words for outcome, words in OUTCOMES.items()},
    "disputes_open_at_end": _l("期末未办结"), "disputes_overdue_at_end": _l("其中已超期"),
    "disputes_median_days": _l("办结用时中位数（天）"),
    **{f"seekers_{source}": words for source, words in SOURCES.items()},
    "seekers_registered": _l("求职登记人数"), "hires": _l("经平台录用"), "year_hires": _l("本年累计录用（至期末）"),
    "hires_goal": _l("本年录用目标"), "hires_goal_share": _l("目标完成率"), "sessions_held": _l("举办培训班（期）"),
    "attendances": _l("参训人次"), "certificates_issued": _l("发放证书"), "seventy_numerator": _l("分子"),
    "seventy_denominator": _l("分母"), "seventy_share": _l("比例（目标70%）"), "city": _l("全市"),
}
NOTES = {
    "note_dispatched": _l("已派单含此后进入服务中、已完成、已回访和已关闭的工单；均按本期新建的工单统计。"),
    "note_matching": _l("匹配率 = 经平台由企业接单（或已进入服务）的工单 ÷ 本期新建的工单。"),
    "note_csat": _l("按本期完成的回访统计；满意率为评4分或5分的次数占评分次数的比例。"),
    "note_upheld": _l("按本期收到的投诉统计；属实与否在办结时认定，未认定的两者都不计。"),
    "note_grading": _l("各企业在期末（本期未结束则为现在）的星级，取自分类定级记录。"),
    "note_training": _l("在册人数与持证人数按%(day)s计；参训人数和学时按本期完成的培训计。"),
    "note_certificates": _l("按%(day)s计，仅计在册从业人员的证书；即将到期为%(days)d天内到期。"),
    "note_hotline": _l("按本期开始的来电统计，各项的算法与统计报表页相同（见说明文档）。"),
    "note_disputes": _l("受理按本期登记、办结按本期办结的纠纷统计；未办结与超期按%(day)s日终计；用时为登记至办结的自然日。"),
    "note_recruitment": _l("求职登记按本期登记的人数，录用按录用日期统计；本年累计录用计至%(day)s。"),
    "note_no_goal": _l("未设置本年录用目标，不计完成率。"),
    "note_hires_by_district": _l("按本期录用日期统计，区县为用人企业所在区县。"),
    "note_training_sessions": _l("按本期举办的培训班统计：参训人次（同一人参加两期计两次）和培训班发放的证书。"),
    "note_seventy_year": _l("年报列示%(month)s（本年最后一个月，本年未结束则为当月）的数字。"),
    "note_seventy_missing": _l("分母未录入时比例记为“—”，不是0%%；全市分母为录入的全市数，或六个区县都已录入时的合计。"),
    "note_seventy_demand": _l("分子为当月登记、经平台被企业接单、回访评4星及以上的工单。"),
    "note_seventy_businesses": _l("分子为月末在平台上且已认定星级的家政企业。"),
    "note_seventy_workers": _l("分子为月末在平台企业在册、已培训且持有效证书的从业人员。"),
}


class Wording:
    """Words for a report's codes in the reader's language, looked up while the request lasts."""

    def __init__(self):
        self.english = str(get_locale()) == "en"

    def title(self, section: Section) -> str:
        return str(TITLES[section.key])

    def label(self, term: Term) -> str:
        if term.key == "name":
            return term.en if self.english else term.zh
        if term.key.startswith("complaint_"):
            return label(term.key.removeprefix("complaint_"))
        return str(WORDS[term.key]) % dict(term.params) if term.params else str(WORDS[term.key])

    def column(self, key: str) -> str:
        return str(WORDS[key])

    def note(self, term: Term) -> str:
        return str(NOTES[term.key]) % dict(term.params)

    def period(self, period: Period) -> str:
        if period.is_year:
            return _("%(year)d年", year=period.year)
        return _("%(year)d年%(month)d月", year=period.year, month=period.month)

    def report_title(self, report: Report) -> str:
        kind = _("河源市家政服务行业统计年报") if report.period.is_year else _("河源市家政服务行业统计月报")
        return f"{kind} · {self.period(report.period)}"


def shown(value, kind: str) -> str:
    """A figure as every format writes it (the page, the PDF, the CSV)."""
    if value is None:
        return "—"
    if kind == SHARE:
        return f"{value * 100:.1f}%"
    if kind == RATING:
        return f"{value:.2f}"
    if kind in (SECONDS, DAYS):
        return f"{value:.1f}"
    return f"{value:,}" if kind == COUNT else str(value)


def bars(section: Section) -> list[tuple[Row, float]]:
    """The chart's rows and each bar's length (0..1 of the longest)."""
    rows = [row for row in section.rows if not row.total]
    column = section.chart.column
    most = max((row.figures[column] or 0 for row in rows), default=0)
    return [(row, (row.figures[column] or 0) / most if most else 0.0) for row in rows]


def _period(text: str) -> Period | Response:
    try:
        return Period.parse(text)
    except BadPeriod:
        message = _("“%(period)s”不是可以统计的月份或年份。月报写作 2026-11，年报写作 2026。", period=text[:20])
        return Response(render_template("error.html", code=404, title=_("没有这个报告期"), message=message), 404)


def _report(period: Period) -> Report:
    settings = services().settings
    return build_report(get_db(), period, utcnow(), hires_goal=settings.workforce.hires_goal,
                        kpi=KpiSettings.of(settings))


def _context(report: Report) -> dict:
    return {"report": report, "words": Wording(), "shown": shown, "bars": bars}


@bp.route("/reports")
@roles(*SUPERVISORS)
def index():
    wanted = (request.args.get("period") or "").strip()
    if wanted:
        return redirect(url_for("reports.view", period=wanted[:20]))
    this_month = Period.month_of(utcnow())
    months = [this_month]
    while len(months) < 12:
        months.append(months[-1].previous())
    years = [Period(this_month.year - back) for back in range(3)]
    return render_template("reports/index.html", months=months, years=years, words=Wording(),
                           example=str(this_month.previous()))


@bp.route("/reports/<period>")
@roles(*SUPERVISORS)
def view(period: str):
    chosen = _period(period)
    if isinstance(chosen, Response):
        return chosen
    return render_template("reports/report.html", **_context(_report(chosen)))


@bp.route("/reports/<period>.<any(pdf, csv, xlsx):kind>")
@roles(*SUPERVISORS)
def export(period: str, kind: str):
    chosen = _period(period)
    if isinstance(chosen, Response):
        return chosen
    report = _report(chosen)
    words = Wording()
    if kind == "pdf":
        body, mimetype = pdf_bytes(report), "application/pdf"
    elif kind == "csv":
        body, mimetype = csv_bytes(report, words, shown), "text/csv; charset=utf-8"
    else:
        body, mimetype = (xlsx_bytes(report, words),
                          "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    db = get_db()
    record_read(db, current_user.row(), "export", "report", {"format": kind, "period": str(chosen)})
    db.commit()
    name = f"hotline-report-{chosen}.{kind}"
    return Response(body, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{name}"',
                                                      "Cache-Control": "private, no-store"})


def pdf_bytes(report: Report) -> bytes:
    """The print template through WeasyPrint, with the page's own stylesheet (print rules)."""
    import weasyprint  # loads pango: only when a PDF is asked for

    html = render_template("reports/print.html", **_context(report))
    return weasyprint.HTML(string=html, base_url=current_app.root_path).write_pdf(
        stylesheets=[weasyprint.CSS(filename=str(STYLESHEET))])


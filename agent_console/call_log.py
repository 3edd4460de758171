"""The call log (通话记录) and lost callers (未接来电), for supervisors: thin HTTP over call_log/.

Callers' numbers are masked (138****8000) for every role but auth.UNMASKERS, in the
pages, the exports and the API alike (auth.phone_for_reader); every export is written to the audit log with its filter.
"""
from __future__ import annotations

import datetime as dt

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from agent_console.auth import SUPERVISORS, may_unmask, phone_for_reader, roles
from agent_console.database import get_db, services
from agent_console.formatting import HANGUP_CAUSES, LABELS, hangup_cause, queue_title, way_through
from agent_console.forms import NoteForm, submitted
from agent_console.voicemail import voicemail_file
from call_log import lost_callers, search
from call_log.export import csv_chunks, xlsx_chunks
from call_log.recordings import mimetype, recording_path
from call_log.schemas import parse_filter
from kpi.facts import judged_match
from db.audit import record, record_read
from db.base import seconds_between, utcnow
from db.languages import everyones_skills
from db.models import (
    Call, CallOutcome, Language, Priority, Role, ServiceCategory, ServiceRequest, Survey, User,
)

bp = Blueprint("call_log", __name__)
FIELD_NAMES = {
    "number": _l("来电号码"), "date_from": _l("开始日期"), "date_to": _l("结束日期"), "operator": _l("坐席"), "queue": _l("队列"),
    "outcome": _l("结果"), "category": _l("服务类别"), "language": _l("语言"), "priority": _l("优先级"),
    "has_recording": _l("录音"), "has_request": _l("工单"), "sort": _l("排序"), "order": _l("顺序"),
}


def shown_number(number: str | None) -> str:
    """A caller's number as this reader may see it (auth.phone_for_reader), or words for none."""
    return phone_for_reader(number) or _("未显示号码")


def lost_since() -> dt.datetime:
    """Lost callers are listed for console.lost_callers_days after their call."""
    return utcnow() - dt.timedelta(days=services().settings.console.lost_callers_days)


def _parsed():
    settings = services().settings
    return parse_filter(request.args, services().tz, settings.phone.area_code)


def _choices(db):
    return {
        "operators": db.execute(select(User.id, User.display_name).where(User.role != Role.ADMIN)
                                .order_by(User.display_name)).all(),
        "queues": list(services().menu.queue_titles),
        "outcomes": [o for o in CallOutcome if o != CallOutcome.IN_PROGRESS],
        "categories": db.scalars(select(ServiceCategory).where(ServiceCategory.active)
                                 .order_by(ServiceCategory.sort_order)).all(),
        "languages": list(Language), "priorities": list(Priority),
    }


@bp.route("/calls")
@roles(*SUPERVISORS)
def index():
    db = get_db()
    parsed = _parsed()
    for name in parsed.errors:
        flash(_("“%(field)s”的值无法识别，已忽略。", field=FIELD_NAMES[name]), "warning")
    found = search.page(db, parsed.filter, request.args.get("after"), queue_prefix=services().settings.asterisk.queue_prefix)
    matches = _language_matches(db, [row.id for row in found.rows])
    return render_template("calls/index.html", page=found, form=parsed.form, number=shown_number,
                           seconds=seconds_between, unmasked=may_unmask(), matches=matches,
                           matched=sum(matches.values()), judged=len(matches), **_choices(db))


def _language_matches(db, call_ids: list[int]) -> dict[int, bool]:
    """For the page's calls the language match rate judges (kpi.facts.language_match):
    whether the operator speaks the caller's language."""
    if not call_ids:
        return {}
    speakers = everyones_skills(db)
    calls = db.execute(select(Call.id, Call.outcome, Call.answered_at, Call.agent_id, Call.ivr_language)
                       .where(Call.id.in_(call_ids))).all()
    judged = {call.id: judged_match(call.outcome, call.answered_at, call.agent_id, call.ivr_language, speakers)
              for call in calls}
    return {call_id: matched for call_id, matched in judged.items() if matched is not None}


@bp.route("/calls/export.csv", defaults={"kind": "csv"})
@bp.route("/calls/export.xlsx", defaults={"kind": "xlsx"})
@roles(*SUPERVISORS)
def export(kind: str):
    parsed = _parsed()
    unmasked = may_unmask()
    db = get_db()
    record_read(db, current_user.row(), "export", "calls",
                {"format": kind, "filter": parsed.filter.describe(), "unmasked": unmasked})
    db.commit()
    header = [_("开始时间"), _("来电号码"), _("语言"), _("语音导航"), _("队列"), _("排队等待(秒)"), _("坐席"),
              _("通话时长(秒)"), _("结果"), _("挂机原因"), _("录音"), _("工单")]
    cells = _export_cells(current_user.role)
    sessions, prefix = services().sessions, services().settings.asterisk.queue_prefix

    def rows():
        with sessions() as session:
            for row in search.stream(session, parsed.filter, prefix):
                yield cells(row)

    # The caller ID and the operator's name come from outside: inert if they look like formulas.
    chunks = csv_chunks(header, rows(), free_text=(1, 6)) if kind == "csv" else xlsx_chunks(header, rows())
    stamp = utcnow().astimezone(services().tz).strftime("%Y%m%d-%H%M")
    mimetypes = {"csv": "text/csv; charset=utf-8",
                 "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
    return Response(chunks, mimetype=mimetypes[kind], headers={
        "Content-Disposition": f'attachment; filename="calls-{stamp}.{kind}"', "Cache-Control": "private, no-store"})


def _export_cells(reader: Role):
    """A row's cells in the reader's language. Every word is looked up now, while the request
    lasts: the rows are written after the view has returned, outside any request."""
    tz, yes, no = services().tz, _("有"), _("无")
    labels = {key: str(text) for key, text in LABELS.items()}
    causes = {code: str(text) for code, text in HANGUP_CAUSES.items()}
    other_cause = hangup_cause(-1)
    prefix = services().settings.asterisk.queue_prefix
    queues = {name: queue_title(name) for queue in services().menu.queue_titles for name in (queue, prefix + queue)}
    other_queue = queue_title("\x00")
    nodes, english = services().menu.nodes, str(get_locale()) == "en"
    ways: dict = {}

    def way(path):
        if path not in ways:
            ways[path] = way_through(path, nodes, english)
        return ways[path]

    outcomes = {member: labels.get(member.value, member.value) for member in CallOutcome}
    languages = {member: labels.get(member.value, member.value) for member in Language}
    languages[None] = ""

    def cells(row) -> list:
        (_, _, _, started, answered, ended, raw_number, phone, language, path, queue, wait, agent, extension, outcome,
         cause, recording, request_number) = row
        number = phone or raw_number
        return [
            started.astimezone(tz).isoformat(" ", "seconds")[:19],  # 2026-11-27 10:00:00, as strftime but faster
            phone_for_reader(number, reader),  # the reader's role, read while the request lasted
            languages[language], way(path), queues.get(queue, other_queue) if queue else "",
            wait, agent or extension or "",
            seconds_between(answered, ended) if answered else None, outcomes[outcome],
            "" if cause is None else causes.get(cause, other_cause), yes if recording else no, request_number or "",
        ]

    return cells


@bp.route("/calls/<uniqueid>")
@roles(*SUPERVISORS)
def view(uniqueid: str):
    db = get_db()
    call = db.scalar(select(Call).options(selectinload(Call.ivr_sessions), selectinload(Call.caller),
                                          selectinload(Call.agent)).where(Call.uniqueid == uniqueid[:64]))
    if call is None:
        abort(404)
    linked = db.scalars(select(ServiceRequest).options(selectinload(ServiceRequest.category))
                        .where(ServiceRequest.call_id == call.id).order_by(ServiceRequest.id)).all()
    surveys = {s.request_id: s for s in db.scalars(select(Survey).where(Survey.request_id.in_([r.id for r in linked])))}
    voicemails = [(message, voicemail_file(message) is not None) for message in linked if message.voicemail_file]
    recording = recording_path(call.recording_file, services().settings.asterisk.recordings_dir)
    return render_template("calls/view.html", call=call, number=shown_number(call.caller.phone if call.caller else call.caller_number),
                           linked=linked, surveys=surveys, voicemails=voicemails, recording=recording,
                           talk=seconds_between(call.answered_at, call.ended_at),
                           lost=lost_callers.is_lost(db, call.id, lost_since()), plain=NoteForm())


@bp.route("/calls/<uniqueid>/recording")
@roles(*SUPERVISORS)
def recording(uniqueid: str):
    """The call's recording for the page's player, with Range requests so it can seek."""
    call = get_db().scalar(select(Call).where(Call.uniqueid == uniqueid[:64]))
    path = recording_path(call.recording_file if call else None, services().settings.asterisk.recordings_dir)
    if path is None:
        abort(404)
    response = send_file(path, mimetype=mimetype(path), conditional=True, max_age=0)
    response.headers["Cache-Control"] = "private, no-cache"  # a caller's voice: not for shared caches
    return response


@bp.route("/lost-callers")
@roles(*SUPERVISORS)
def lost():
    db = get_db()
    since = lost_since()
    rows = db.execute(lost_callers.lost_calls(since)).all()
    return render_template("calls/lost.html", rows=rows, total=lost_callers.waiting_count(db, since), number=shown_number,
                           days=services().settings.console.lost_callers_days,
                           now=utcnow(), plain=NoteForm(), seconds=seconds_between)


@bp.route("/lost-callers/<int:call_id>/callback", methods=["POST"])
@roles(*SUPERVISORS)
def book(call_id: int):
    form = submitted()
    db = get_db()
    booking = lost_callers.book_callback(db, call_id, utcnow(), lost_since(), note=form.note.data or _("未接来电回拨"))
    if booking is None:
        flash(_("这位来电人已回拨或已再次来电，无需预约。"), "warning")
    elif booking.already:
        flash(_("已为这位来电人预约过回拨。"), "warning")
    else:
        record(db, current_user.row(), "book", booking.task, {"call_id": call_id})
        db.commit()
        flash(_("已预约回拨，话务员可在“回拨”列表中呼出。"), "success")
    return redirect(url_for("call_log.lost"))

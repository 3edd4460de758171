"""The call log's queries (call_log/), on SQLite and PostgreSQL: filters, keyset pages that
neither repeat nor skip a call when many share a sort value, lost callers, export rows."""
from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from sqlalchemy import select, text

from call_log import lost_callers, search
from call_log.export import csv_chunks, mask_number, xlsx_chunks
from call_log.schemas import CallFilter, decode_cursor, encode_cursor, parse_filter
from db.models import (
    Call, CallbackTask, CallDirection, Caller, CallOutcome, IvrSession, Language, PhoneKind, Priority, Role,
    ServiceCategory, ServiceRequest, RequestChannel, TaskStatus, User,
)

TZ = ZoneInfo("Asia/Shanghai")
# 10:00 on 27 November 2026 in Heyuan.
T0 = dt.datetime(2026, 11, 27, 2, 0, tzinfo=dt.timezone.utc)
_serial = itertools.count(1)


def _caller(session, phone: str) -> Caller:
    found = session.scalar(select(Caller).where(Caller.phone == phone))
    if found is None:
        found = Caller(phone=phone, phone_kind=PhoneKind.MOBILE)
        session.add(found)
        session.flush()
    return found


def _call(session, number: str | None = "13800138000", at: dt.datetime = T0, linked: bool = True, **fields) -> Call:
    caller = _caller(session, number) if linked and number and number.isdigit() and len(number) == 11 else None
    call = Call(uniqueid=f"t{next(_serial)}.{id(session) % 1000}", direction=fields.pop("direction", CallDirection.INBOUND),
                caller_number=number, caller_id=caller.id if caller else None, started_at=at,
                outcome=fields.pop("outcome", CallOutcome.ANSWERED), **fields)
    session.add(call)
    session.flush()
    return call


def _ids(session, call_filter: CallFilter) -> list[int]:
    return [row.id for row in session.execute(search.filtered(call_filter, "hotline-")
                                              .order_by(Call.started_at.desc(), Call.id.desc())).all()]


def test_last_four_digits_and_local_days(session):
    late = _call(session, "13800138000", dt.datetime(2026, 11, 26, 15, 59, tzinfo=dt.timezone.utc))  # 23:59 on the 26th
    early = _call(session, "13800138000", dt.datetime(2026, 11, 26, 16, 0, tzinfo=dt.timezone.utc))  # 00:00 on the 27th
    other = _call(session, "13911118000", T0)
    _call(session, "13800131234", T0)
    parsed = parse_filter({"number": "8000", "date_from": "2026-11-27", "date_to": "2026-11-27"}, TZ)
    assert parsed.errors == () and parsed.filter.last4 == "8000"
    assert _ids(session, parsed.filter) == [other.id, early.id]
    assert _ids(session, parse_filter({"number": "8000", "date_to": "2026-11-26"}, TZ).filter) == [late.id]


def test_a_whole_number_finds_the_caller_and_the_number_as_asterisk_gave_it(session):
    known = _call(session, "13800138001")
    raw = _call(session, "07623331234", linked=False)  # no caller row: only the number Asterisk gave
    _call(session, "13800138002")
    assert _ids(session, parse_filter({"number": "138-0013-8001"}, TZ).filter) == [known.id]
    assert _ids(session, parse_filter({"number": "07623331234"}, TZ).filter) == [raw.id]


def test_unreadable_values_are_dropped_and_named():
    parsed = parse_filter({"number": "12", "date_from": "2026-13-01", "operator": "x", "outcome": "lost",
                           "queue": "a b", "has_recording": "yes", "sort": "name", "language": "fr"}, TZ)
    assert set(parsed.errors) == {"number", "date_from", "operator", "outcome", "queue", "has_recording", "sort", "language"}
    assert parsed.filter == CallFilter()
    backwards = parse_filter({"date_from": "2026-11-27", "date_to": "2026-11-20"}, TZ)
    assert backwards.errors == ("date_to",) and backwards.filter.end is None
    # The calendar's ends: 9999-12-31 has no next day, 0001-01-01 no midnight in UTC (each was a 500).
    far = parse_filter({"date_from": "0001-01-01", "date_to": "9999-12-31"}, TZ)
    assert far.errors == ("date_from", "date_to") and far.filter == CallFilter()


def test_every_filter_keeps_only_its_calls(session):
    operator = session.scalar(select(User).where(User.role == Role.OPERATOR)) or User(
        username=f"op{next(_serial)}", display_name="op", role=Role.OPERATOR, password_hash="x")
    session.add(operator)
    session.flush()
    category = session.scalar(select(ServiceCategory).order_by(ServiceCategory.id))
    day = {"date_from": "2026-11-27", "date_to": "2026-11-27", "number": "7777"}
    answered = _call(session, "13800137777", agent_id=operator.id, queue="hotline-general", ivr_language=Language.CANTONESE,
                     recording_file="/r/1.wav")
    in_queue = _call(session, "13800137777", outcome=CallOutcome.ABANDONED_IN_QUEUE, queue="elderly",
                     ivr_language=Language.MANDARIN)
    chose = _call(session, "13800137777", outcome=CallOutcome.ABANDONED_IN_IVR)
    session.add(IvrSession(call_id=chose.id, script="ivr", result={"HOTLINE_CATEGORY": category.code,
                                                                  "HOTLINE_PRIORITY": "urgent"}))
    session.add(ServiceRequest(number=f"HYT-{next(_serial)}", caller_id=answered.caller_id, category_id=category.id,
                               priority=Priority.EMERGENCY, channel=RequestChannel.PHONE, call_id=answered.id))
    session.flush()

    def ids(**args):
        return set(_ids(session, parse_filter({**day, **args}, TZ).filter))

    assert ids(operator=str(operator.id)) == {answered.id}
    assert ids(queue="general") == {answered.id}  # Asterisk's name carries the prefix
    assert ids(queue="elderly") == {in_queue.id}
    assert ids(outcome="abandoned_in_queue") == {in_queue.id}
    assert ids(language="yue") == {answered.id}
    assert ids(category=category.code) == {answered.id, chose.id}  # a request's category, or the IVR's
    assert ids(priority="urgent") == {chose.id}
    assert ids(priority="emergency") == {answered.id}
    assert ids(has_recording="1") == {answered.id} and ids(has_recording="0") == {in_queue.id, chose.id}
    assert ids(has_request="1") == {answered.id} and ids(has_request="0") == {in_queue.id, chose.id}


@pytest.mark.parametrize(("sort", "order"), [("time", "desc"), ("time", "asc"), ("wait", "desc"), ("wait", "asc")])
def test_keyset_pages_neither_repeat_nor_skip_a_call_among_ties(session, sort, order):
    # Seven calls in the same second and waits that repeat: only the id can order them.
    calls = [_call(session, "13800135555", T0 + dt.timedelta(seconds=i // 7), queue_wait_seconds=[None, 0, 5, 5, 30][i % 5])
             for i in range(17)]
    # With a day range too: a time cursor stands in for one of its bounds (search._within_cursor).
    outside = _call(session, "13800135555", T0 + dt.timedelta(days=1))
    call_filter = parse_filter({"number": "5555", "sort": sort, "order": order, "date_from": "2026-11-26",
                                "date_to": "2026-11-27"}, TZ).filter
    seen, cursor = [], None
    for _ in range(10):
        page = search.page(session, call_filter, cursor, size=3)
        assert len(page.rows) <= 3
        seen += [row.id for row in page.rows]
        cursor = page.next_cursor
        if cursor is None:
            break
    key = ((lambda c: (c.started_at, c.id)) if sort == "time"
           else (lambda c: (search.NO_WAIT if c.queue_wait_seconds is None else c.queue_wait_seconds, c.id)))
    expected = [c.id for c in sorted(calls, key=key, reverse=order == "desc")]
    assert seen == expected and outside.id not in seen


def test_a_cursor_that_was_tampered_with_gives_the_first_page(session):
    first = _call(session, "13800134444")
    assert decode_cursor("not-base64!", "time") is None
    assert decode_cursor(encode_cursor("x", 1), "time") is None and decode_cursor(encode_cursor(3, "1"), "wait") is None
    page = search.page(session, parse_filter({"number": "4444"}, TZ).filter, "garbage")
    assert [row.id for row in page.rows] == [first.id]
    # Forged values no database can compare with (each was a 500: an OverflowError binding them).
    for sort, value, row_id in (("time", "0001-01-01T00:00:00+08:00", 1), ("time", "9999-12-31T23:59:59-08:00", 1),
                                ("time", "2026-11-27T10:00:00+00:00", 2**63), ("wait", 2**70, 1), ("wait", 5, -2**64)):
        assert decode_cursor(encode_cursor(value, row_id), sort) is None
        for order in ("asc", "desc"):
            forged = search.page(session, parse_filter({"number": "4444", "sort": sort, "order": order}, TZ).filter,
                                 encode_cursor(value, row_id))
            assert [row.id for row in forged.rows] == [first.id]
    assert decode_cursor(encode_cursor("2026-11-27T10:00:00+08:00", 7), "time") == (T0, 7)


def test_the_last_four_digits_search_reads_its_index(session):
    _call(session, "13800133333")
    query = search.filtered(parse_filter({"number": "3333", "date_from": "2026-11-01"}, TZ).filter).order_by(
        Call.started_at.desc(), Call.id.desc()).limit(50)
    compiled = query.compile(session.bind, compile_kwargs={"literal_binds": True})
    if session.bind.dialect.name == "sqlite":
        plan = " ".join(str(row) for row in session.execute(text(f"EXPLAIN QUERY PLAN {compiled}")))
    else:
        session.execute(text("SET LOCAL enable_seqscan = off"))
        plan = " ".join(row[0] for row in session.execute(text(f"EXPLAIN {compiled}")))
    assert "ix_calls_caller_last4_started" in plan


SINCE = T0 - dt.timedelta(days=500)  # console.lost_callers_days back from "now", for these tests


def test_pages_are_planned_for_their_number_on_postgresql(session):
    """A generic plan (psycopg prepares a statement run five times) guesses a hundred calls
    for any last four digits and sorts them all: a quarter of a second for a number shared
    by 50,000 calls (bench B7). Each page is planned for its values instead."""
    if session.bind.dialect.name != "postgresql":
        pytest.skip("SQLite plans every statement for its values")
    search.page(session, parse_filter({"number": "9999"}, TZ).filter)
    assert session.execute(text("SHOW plan_cache_mode")).scalar() == "force_custom_plan"


def _lost_ids(session, since: dt.datetime = SINCE) -> list[int]:
    return [row.id for row in session.execute(lost_callers.lost_calls(since)).all()]


def test_lost_callers_leave_the_list_once_reached_or_heard_from(session):
    base = T0 - dt.timedelta(days=400)  # before anything else the other tests add
    gone = _call(session, "13700000001", base, outcome=CallOutcome.ABANDONED_IN_QUEUE, queue_wait_seconds=40)
    again = _call(session, "13700000002", base + dt.timedelta(minutes=1), outcome=CallOutcome.ABANDONED_IN_IVR)
    _call(session, "13700000002", base + dt.timedelta(minutes=5))  # called again and was answered
    twice_first = _call(session, "13700000003", base + dt.timedelta(minutes=2), outcome=CallOutcome.ABANDONED_IN_IVR)
    twice_last = _call(session, "13700000003", base + dt.timedelta(minutes=9), outcome=CallOutcome.VOICEMAIL)
    called_back = _call(session, "13700000004", base + dt.timedelta(minutes=3), outcome=CallOutcome.ABANDONED_IN_QUEUE)
    task = CallbackTask(caller_id=called_back.caller_id, phone="13700000004", reason="other", due_at=base,
                        status=TaskStatus.DONE, done_at=base + dt.timedelta(hours=1))
    session.add(task)
    session.flush()
    placed = _call(session, "13700000005", base + dt.timedelta(minutes=4), outcome=CallOutcome.ABANDONED_IN_QUEUE)
    _call(session, "13700000005", base + dt.timedelta(minutes=30), direction=CallDirection.OUTBOUND,
          callback_task_id=task.id, answered_at=base + dt.timedelta(minutes=30))
    unanswered_back = _call(session, "13700000006", base + dt.timedelta(minutes=6), outcome=CallOutcome.ABANDONED_IN_QUEUE)
    _call(session, "13700000006", base + dt.timedelta(minutes=40), direction=CallDirection.OUTBOUND,
          callback_task_id=task.id, outcome=CallOutcome.FAILED)  # rang, nobody answered: still lost
    _call(session, "anonymous", base + dt.timedelta(minutes=7), outcome=CallOutcome.ABANDONED_IN_QUEUE)  # cannot call back
    _call(session, "13700000007", base + dt.timedelta(minutes=8), outcome=CallOutcome.CALLBACK_REQUESTED)  # has its task
    lost = _lost_ids(session)
    mine = [i for i in lost if i in {gone.id, again.id, twice_first.id, twice_last.id, called_back.id, placed.id,
                                     unanswered_back.id}]
    assert mine == [gone.id, unanswered_back.id, twice_last.id]  # oldest first
    assert lost_callers.waiting_count(session, SINCE) == len(lost)
    # Older than the list's days: no longer listed (the call stays in the call log).
    assert gone.id not in _lost_ids(session, since=base + dt.timedelta(seconds=1))


def test_booking_a_callback_once_and_the_list_after_it_is_done(session):
    base = T0 - dt.timedelta(days=300)
    lost = _call(session, "13700000011", base, outcome=CallOutcome.VOICEMAIL, ivr_language=Language.HAKKA)
    answered = _call(session, "13700000012", base)
    assert lost_callers.book_callback(session, answered.id, base, SINCE) is None
    booking = lost_callers.book_callback(session, lost.id, base + dt.timedelta(hours=2), SINCE, note="未接来电回拨")
    assert not booking.already and booking.task.phone == "13700000011" and booking.task.status == TaskStatus.PENDING
    assert booking.task.reason.value == "voicemail" and booking.task.call_id == lost.id
    assert booking.task.language == Language.HAKKA
    again = lost_callers.book_callback(session, lost.id, base + dt.timedelta(hours=3), SINCE)
    assert again.already and again.task.id == booking.task.id
    row = next(r for r in session.execute(lost_callers.lost_calls(SINCE)).all() if r.id == lost.id)
    assert row.callback_booked  # still listed (not yet reached), shown as booked
    booking.task.status, booking.task.done_at = TaskStatus.DONE, base + dt.timedelta(hours=4)
    session.flush()
    assert lost.id not in _lost_ids(session)
    # A caller who hung up in the queue: the task says it is a lost call's, not "other".
    hung_up = _call(session, "13700000013", base, outcome=CallOutcome.ABANDONED_IN_QUEUE)
    assert lost_callers.book_callback(session, hung_up.id, base + dt.timedelta(hours=5), SINCE).task.reason.value == "lost_call"


def test_export_streams_every_filtered_row_in_order_as_csv_and_xlsx(session):
    calls = [_call(session, "13800132222", T0 + dt.timedelta(minutes=i)) for i in range(5)]
    rows = list(search.stream(session, parse_filter({"number": "2222"}, TZ).filter))
    assert [r.id for r in rows] == [c.id for c in reversed(calls)]
    cells = [[r.id, mask_number(r.caller_number)] for r in rows]
    text_out = b"".join(csv_chunks(["id", "号码"], iter(cells))).decode("utf-8-sig")
    assert list(csv.reader(io.StringIO(text_out)))[1:] == [[str(c), "138****2222"] for c, _ in cells]
    book = openpyxl.load_workbook(io.BytesIO(b"".join(xlsx_chunks(["id", "号码"], iter(cells)))), read_only=True)
    assert [list(r) for r in book.active.iter_rows(values_only=True)] == [["id", "号码"]] + cells


def test_an_xlsx_longer_than_a_sheet_goes_on_in_the_next(monkeypatch):
    from call_log import export

    monkeypatch.setattr(export, "SHEET_ROWS", 4)  # Excel's 1,048,576, scaled down
    book = openpyxl.load_workbook(io.BytesIO(b"".join(xlsx_chunks(["n"], ([n] for n in range(7))))), read_only=True)
    assert book.sheetnames == ["calls", "calls 2", "calls 3"]
    assert [[row[0] for row in sheet.iter_rows(values_only=True)] for sheet in book] == [
        ["n", 0, 1, 2], ["n", 3, 4, 5], ["n", 6]]
    empty = openpyxl.load_workbook(io.BytesIO(b"".join(xlsx_chunks(["n"], iter(())))), read_only=True)
    assert [list(row) for row in empty.active.iter_rows(values_only=True)] == [["n"]]


def test_masks_and_cells_a_spreadsheet_would_run():
    assert mask_number("13800138000") == "138****8000"
    assert mask_number("07623331234") == "076****1234"
    assert mask_number("+8613800138000") == "+86*******8000"
    assert mask_number("12345") == "*2345" and mask_number("110") == "***"
    assert mask_number("anonymous") == "anonymous" and mask_number(None) == ""
    rows = [["=1+1", "=1"], ["+8613800138000", "-1"], ["-x", "-x"], ["@SUM(A1)", "@"]]
    written = b"".join(csv_chunks(["a", "b"], rows, free_text=(0,))).decode("utf-8-sig")
    assert written.splitlines()[1:] == ["'=1+1,=1", "+8613800138000,-1", "'-x,-x", "'@SUM(A1),@"]

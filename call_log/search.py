"""The call log's queries: filtered, keyset-paginated, and streamed for export.

Pages are keyset pages (the last row's sort value and id), never OFFSET: page 500 reads
as few rows as page 1. Ties in the sort value are broken by id, so no call is shown twice
or skipped when many share a second or a wait.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any, Iterator

from sqlalchemy import Integer, Select, bindparam, exists, func, or_, select, text, tuple_
from sqlalchemy.orm import Session

from call_log.schemas import CallFilter, decode_cursor, encode_cursor
from dialplans import contract
from db.models import Call, Caller, IvrSession, ServiceCategory, ServiceRequest, User

PAGE_SIZE = 50
EXPORT_BATCH = 2000  # rows fetched at once by an export (a server-side cursor on PostgreSQL)
# A call that never queued sorts as waiting less than one that queued and was answered at once.
NO_WAIT = -1

_first_request = (select(func.min(ServiceRequest.number)).where(ServiceRequest.call_id == Call.id)
                  .correlate(Call).scalar_subquery())

# What the list and the export show of a call: plain columns, no ORM objects to build.
ROW_COLUMNS = (
    Call.id, Call.uniqueid, Call.direction, Call.started_at, Call.answered_at, Call.ended_at,
    Call.caller_number, Caller.phone.label("caller_phone"), Call.ivr_language, Call.ivr_path, Call.queue,
    Call.queue_wait_seconds, User.display_name.label("agent_name"), Call.agent_extension, Call.outcome,
    Call.hangup_cause, Call.recording_file, _first_request.label("request_number"),
)


def wait_key():
    return func.coalesce(Call.queue_wait_seconds, NO_WAIT)


def _sort_columns(sort: str):
    return (Call.started_at if sort == "time" else wait_key()), Call.id


def filtered(call_filter: CallFilter, queue_prefix: str = "") -> Select:
    """Every call the filter keeps, with the list's columns, in no order yet."""
    query = select(*ROW_COLUMNS).outerjoin(Caller, Caller.id == Call.caller_id).outerjoin(User, User.id == Call.agent_id)
    return query.where(*conditions(call_filter, queue_prefix))


def conditions(f: CallFilter, queue_prefix: str = "") -> list:
    where = []
    if f.last4:
        where.append(Call.caller_last4 == f.last4)
    if f.phone:
        known = select(Caller.id).where(Caller.phone == f.phone).scalar_subquery()
        where.append(or_(Call.caller_id == known, Call.caller_number == f.raw_number))
    if f.start:
        where.append(Call.started_at >= f.start)
    if f.end:
        where.append(Call.started_at < f.end)
    if f.operator_id is not None:
        where.append(Call.agent_id == f.operator_id)
    if f.queue:
        where.append(Call.queue.in_({f.queue, f"{queue_prefix}{f.queue}"}))
    if f.outcome:
        where.append(Call.outcome == f.outcome)
    if f.language:
        where.append(Call.ivr_language == f.language)
    if f.category:
        # What the caller chose in the IVR, or the category of a request taken on the call.
        where.append(or_(_ivr_chose(contract.CATEGORY, f.category),
                         exists().where(ServiceRequest.call_id == Call.id, ServiceRequest.category_id == ServiceCategory.id,
                                        ServiceCategory.code == f.category)))
    if f.priority:
        where.append(or_(_ivr_chose(contract.PRIORITY, f.priority.value),
                         exists().where(ServiceRequest.call_id == Call.id, ServiceRequest.priority == f.priority)))
    if f.has_recording is not None:
        where.append(Call.recording_file.is_not(None) if f.has_recording else Call.recording_file.is_(None))
    if f.has_request is not None:
        linked = exists().where(ServiceRequest.call_id == Call.id)
        where.append(linked if f.has_request else ~linked)
    return where


def _ivr_chose(variable: str, value: str):
    return exists().where(IvrSession.call_id == Call.id, IvrSession.result[variable].as_string() == value)


@dataclasses.dataclass(frozen=True)
class Page:
    rows: list[Any]
    next_cursor: str | None  # None on the last page


def page(session: Session, call_filter: CallFilter, cursor: str | None = None, size: int = PAGE_SIZE,
         queue_prefix: str = "") -> Page:
    """One page of the filtered calls, after `cursor` (None: the first page)."""
    sort_value, sort_id = _sort_columns(call_filter.sort)
    descending = call_filter.order == "desc"
    after = decode_cursor(cursor, call_filter.sort)
    query = filtered(_within_cursor(call_filter, after), queue_prefix)
    if after is not None:
        # A row value comparison: one index range on both databases, ties settled by id.
        value = bindparam(None, after[0], type_=sort_value.type)
        bound = tuple_(value, bindparam(None, after[1], type_=Integer()))
        key = tuple_(sort_value, sort_id)
        # The plain bound beside the row value is what SQLite can start its index range at.
        query = query.where(key < bound, sort_value <= value) if descending else query.where(key > bound, sort_value >= value)
    order = (sort_value.desc(), sort_id.desc()) if descending else (sort_value.asc(), sort_id.asc())
    _custom_plans(session)
    rows = session.execute(query.order_by(*order).limit(size + 1)).all()
    more = len(rows) > size
    rows = rows[:size]
    next_cursor = None
    if more:
        last = rows[-1]
        next_cursor = encode_cursor(last.started_at if call_filter.sort == "time" else _wait(last), last.id)
    return Page(rows, next_cursor)


def _within_cursor(call_filter: CallFilter, after: tuple | None) -> CallFilter:
    """The filter without the date bound a time cursor already implies.

    SQLite starts an index range at one upper (or lower) bound of started_at only; given
    both the day range's and the cursor's it may take the day range's and walk every call
    of the pages before. The cursor's is the tighter, so the other one goes.
    """
    if after is None or call_filter.sort != "time":
        return call_filter
    if call_filter.order == "desc" and call_filter.end is not None and after[0] < call_filter.end:
        return dataclasses.replace(call_filter, end=None)
    if call_filter.order == "asc" and call_filter.start is not None and after[0] >= call_filter.start:
        return dataclasses.replace(call_filter, start=None)
    return call_filter


def _custom_plans(session: Session) -> None:
    """On PostgreSQL, plan this transaction's statements for their values.

    psycopg prepares a statement run five times on a connection, and PostgreSQL may then
    keep one generic plan for every value; for "last four digits = $1" it guesses the
    average (a hundred calls) and sorts them all, which for a number shared by 50,000
    calls is a quarter of a second instead of one index range read backwards.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))


def _wait(row) -> int:
    return NO_WAIT if row.queue_wait_seconds is None else row.queue_wait_seconds


def stream(session: Session, call_filter: CallFilter, queue_prefix: str = "") -> Iterator[Any]:
    """Every filtered call in the filter's order, fetched in batches (constant memory)."""
    sort_value, sort_id = _sort_columns(call_filter.sort)
    order = ((sort_value.desc(), sort_id.desc()) if call_filter.order == "desc"
             else (sort_value.asc(), sort_id.asc()))
    query = filtered(call_filter, queue_prefix).order_by(*order)
    # Core, not the ORM: the rows are plain columns, and the ORM's loading would cost more
    # than the writing. stream_results is a server-side cursor on PostgreSQL.
    # (Options on the statement: Connection.execution_options() would change the
    # session's connection for every later statement too.)
    result = session.connection().execute(query.execution_options(stream_results=True, yield_per=EXPORT_BATCH))
    try:
        yield from result
    finally:
        result.close()

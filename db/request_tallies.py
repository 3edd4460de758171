"""The requests' and surveys' daily tallies: what the industry report (reports/) and the
70% demand figure (workforce/figures.py) count, kept per local day so that a year adds up
its days' rows instead of reading a quarter of a million requests.

- Requests by the local day they were created on, category, district, status, whether a
  provider took them through the platform (matched: accepted the offer, or went on to
  serve it) and whether an offer was accepted and the survey rated them well.
- Completed surveys by the local day they were completed on, their request's category
  and the rating.

Unlike a day's calls (kpi/rollup.py), a day's requests never settle: a request made in
March may be served in May and given another category in June. So every write that can
move a tallied figure leaves a row in report_tally_changes (the time of the row it
touched), written by triggers on the three tables (migration 0022) whatever code or tool
makes it. A reader takes a day from its tallies only if it was tallied in the reader's
time zone and has no change since; every other day (today, days never tallied, changed
days) it reads from the raw rows, so the figures are always exactly the raw rows'.
`build` (`hotline kpi rollup`, nightly) tallies the ended days not tallied yet and
rebuilds the changed ones, taking their changes away in the same transaction.
"""
from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Callable, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import case, delete, exists, func, insert, or_, select
from sqlalchemy.orm import Session

from db.local_days import chunked_runs, days, local_day_bounds, runs
from db.models import (
    Dispatch,
    DispatchStatus,
    ReportRequestTally,
    ReportSurveyTally,
    ReportTalliedDay,
    ReportTallyChange,
    RequestStatus,
    ServiceRequest,
    Survey,
    SurveyStatus,
)

RATED_WELL = 4  # survey stars and up that count as a good rating (好评)
# Statuses only a provider's service reaches: matched whatever the offers' records say.
SERVED = (RequestStatus.IN_SERVICE, RequestStatus.COMPLETED, RequestStatus.SURVEYED, RequestStatus.CLOSED)


class RequestKey(NamedTuple):
    category_id: int
    district_id: int | None
    status: RequestStatus
    matched: bool


class SurveyKey(NamedTuple):
    category_id: int
    rating: int | None


def request_counts(session: Session, first: dt.date, last: dt.date, tz: ZoneInfo) -> Counter[RequestKey]:
    """The requests created on the local days first…last, counted by RequestKey."""
    return _counts(session, first, last, tz, ReportRequestTally.requests, RequestKey, _raw_requests)


def demand_counts(session: Session, first: dt.date, last: dt.date, tz: ZoneInfo) -> Counter[int | None]:
    """The requests created on the local days first…last whose offer a provider accepted
    and whose survey rated them well (the 70% demand figure's numerator), by district id."""
    return _counts(session, first, last, tz, ReportRequestTally.requests, lambda district_id: district_id,
                   _raw_demand, where=ReportRequestTally.accepted_rated_well.is_(True), fields=("district_id",))


def survey_counts(session: Session, first: dt.date, last: dt.date, tz: ZoneInfo) -> Counter[SurveyKey]:
    """The surveys completed on the local days first…last, counted by SurveyKey."""
    return _counts(session, first, last, tz, ReportSurveyTally.surveys, SurveyKey, _raw_surveys)


# --- the raw rows ----------------------------------------------------------------------------

_ACCEPTED = exists().where(Dispatch.request_id == ServiceRequest.id, Dispatch.status == DispatchStatus.ACCEPTED)
_RATED_WELL = exists().where(Survey.request_id == ServiceRequest.id, Survey.status == SurveyStatus.COMPLETED,
                             Survey.rating >= RATED_WELL)
# CASE looks into the offers only where the answer depends on them: for matched, only the
# requests no service has reached (a third of the probes, bench B8); for the demand
# figure, only the requests rated well.
_MATCHED = case((ServiceRequest.status.in_(SERVED), 1), (_ACCEPTED, 1), else_=0)
_ACCEPTED_RATED_WELL = case((~_RATED_WELL, 0), (_ACCEPTED, 1), else_=0)
_BY_REQUEST = (ServiceRequest.category_id.label("category_id"), ServiceRequest.district_id.label("district_id"),
               ServiceRequest.status.label("status"), _MATCHED.label("matched"))


def _created(start: dt.datetime, end: dt.datetime):
    return (ServiceRequest.created_at >= start) & (ServiceRequest.created_at < end)


def _grouped(session: Session, columns: tuple, where) -> list:
    """(columns…, count) of the requests `where` holds for, grouped by the columns."""
    each = select(*columns).where(where).subquery()
    return list(session.execute(select(*each.c, func.count()).group_by(*each.c)))


# A raw read takes only what its reader counts: a probe of every request's survey (for the
# demand figure) made the year's requests four times slower to read, so only the rollup
# reads both at once, a day at a time; the tests hold the two ways to the same figures.
def _raw_requests(session: Session, start: dt.datetime, end: dt.datetime) -> Counter[RequestKey]:
    """The requests created in [start, end), counted by RequestKey from their rows."""
    return Counter({RequestKey(category, district, status, bool(matched)): count for category, district, status, matched,
                    count in _grouped(session, _BY_REQUEST, _created(start, end))})


def _raw_demand(session: Session, start: dt.datetime, end: dt.datetime) -> Counter[int | None]:
    """The requests created in [start, end) accepted and rated well, by district, from their rows."""
    return Counter(dict(session.execute(
        select(ServiceRequest.district_id, func.count(ServiceRequest.id))
        .join(Survey, Survey.request_id == ServiceRequest.id)
        .where(_created(start, end), Survey.status == SurveyStatus.COMPLETED, Survey.rating >= RATED_WELL, _ACCEPTED)
        .group_by(ServiceRequest.district_id)).all()))


def _raw_surveys(session: Session, start: dt.datetime, end: dt.datetime) -> Counter[SurveyKey]:
    """The surveys completed in [start, end), counted by SurveyKey from their rows."""
    return Counter({SurveyKey(category, rating): count for category, rating, count in session.execute(
        select(ServiceRequest.category_id, Survey.rating, func.count())
        .join(ServiceRequest, ServiceRequest.id == Survey.request_id)
        .where(Survey.status == SurveyStatus.COMPLETED, Survey.completed_at >= start, Survey.completed_at < end)
        .group_by(ServiceRequest.category_id, Survey.rating))})


# --- reading: the tallies where they hold, the raw rows elsewhere ----------------------------


def _counts(session: Session, first: dt.date, last: dt.date, tz: ZoneInfo, count_column, key: Callable,
            raw: Callable[[Session, dt.datetime, dt.datetime], Counter], *, where=None,
            fields: tuple[str, ...] | None = None) -> Counter:
    """`count_column` summed by the tally's `fields` (default: the `key` type's) over the
    days read from the tallies, as key(*fields), where `where` holds; and `raw` over the
    other days."""
    table = count_column.class_
    columns = [getattr(table, name) for name in fields or key._fields]
    start, end = local_day_bounds(first, tz)[0], local_day_bounds(last, tz)[1]
    # Changes first: a rollup that commits between these reads has then already rebuilt
    # any day whose change it took away.
    changed = {at.astimezone(tz).date() for at in session.scalars(
        select(ReportTallyChange.at).where(ReportTallyChange.at >= start, ReportTallyChange.at < end))}
    tallied = set(session.scalars(select(ReportTalliedDay.day).where(
        ReportTalliedDay.day >= first, ReportTalliedDay.day <= last, ReportTalliedDay.zone == tz.key))) - changed
    counts: Counter = Counter()
    stored = [table.day.between(a, b) for a, b in runs(sorted(tallied))]
    if stored:
        query = select(*columns, func.sum(count_column)).where(or_(*stored)).group_by(*columns)
        for *values, count in session.execute(query if where is None else query.where(where)):
            counts[key(*values)] += count
    for a, b in runs(day for day in days(first, last) if day not in tallied):
        counts.update(raw(session, local_day_bounds(a, tz)[0], local_day_bounds(b, tz)[1]))
    return counts


# --- the rollup ------------------------------------------------------------------------------


def build(session: Session, tz: ZoneInfo, now: dt.datetime, since: dt.date | None = None,
          rebuild: bool = False) -> list[dt.date]:
    """Tally every ended day from `since` (default: the first request's) not tallied in
    `tz` yet, and rebuild every tallied day changed since; with `rebuild`, every ended day
    from `since`. Returns the days built."""
    yesterday = now.astimezone(tz).date() - dt.timedelta(days=1)
    # Taken away in this transaction, before the raw rows are read: a change committed
    # before this statement is in what they read, one committed after it stays for the next.
    changed = {at.astimezone(tz).date() for at in session.execute(
        delete(ReportTallyChange.__table__).returning(ReportTallyChange.__table__.c.at)).scalars()}
    tallied = dict(session.execute(select(ReportTalliedDay.day, ReportTalliedDay.zone)).all())
    since = since or _first_day(session, tz)
    todo = {day for day in days(since, yesterday) if rebuild or tallied.get(day) != tz.key} if since else set()
    todo |= {day for day in changed if day in tallied and day <= yesterday}
    # A changed day tallied though not ended (by a clock set ahead) is untallied: read raw.
    _forget(session, [day for day in changed if day in tallied and day > yesterday])
    for first, last in chunked_runs(sorted(todo)):
        _build_days(session, first, last, tz, now)
    return sorted(todo)


def _first_day(session: Session, tz: ZoneInfo) -> dt.date | None:
    firsts = [session.scalar(select(func.min(ServiceRequest.created_at))),
              session.scalar(select(func.min(Survey.completed_at)).where(Survey.status == SurveyStatus.COMPLETED))]
    known = [moment for moment in firsts if moment is not None]
    return min(known).astimezone(tz).date() if known else None


def _forget(session: Session, stale: list[dt.date]) -> None:
    """The days' tallies gone: they are read from the raw rows."""
    if stale:
        for table in (ReportRequestTally, ReportSurveyTally, ReportTalliedDay):
            session.execute(delete(table).where(table.day.in_(stale)).execution_options(synchronize_session=False))


def _build_days(session: Session, first: dt.date, last: dt.date, tz: ZoneInfo, now: dt.datetime) -> None:
    built = list(days(first, last))
    _forget(session, built)
    request_rows, survey_rows = [], []
    for day in built:
        start, end = local_day_bounds(day, tz)
        request_rows += [{"day": day, "category_id": category, "district_id": district, "status": status,
                          "matched": bool(matched), "accepted_rated_well": bool(rated_well), "requests": count}
                         for category, district, status, matched, rated_well, count in _grouped(
                             session, (*_BY_REQUEST, _ACCEPTED_RATED_WELL.label("accepted_rated_well")),
                             _created(start, end))]
        survey_rows += [{**key._asdict(), "day": day, "surveys": count}
                        for key, count in _raw_surveys(session, start, end).items()]
    for table, rows in ((ReportRequestTally, request_rows), (ReportSurveyTally, survey_rows)):
        if rows:
            session.execute(insert(table), rows)
    session.execute(insert(ReportTalliedDay), [{"day": day, "zone": tz.key, "built_at": now} for day in built])

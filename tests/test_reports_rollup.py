"""The requests' and surveys' daily tallies (db/request_tallies.py) give the industry report
and the 70% demand figure exactly the raw rows' figures, on SQLite and PostgreSQL: after a
rollup, after changes made since one (by the console's code or by plain SQL), and after
the next rollup takes the changes in."""
from __future__ import annotations

import datetime as dt
import random
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, func, select, text, update

from db import request_tallies
from db.local_days import local_day_bounds
from db.models import (
    Caller, Dispatch, DispatchStatus, District, Language, PhoneKind, Provider, ReportRequestTally, ReportTalliedDay,
    ReportTallyChange, RequestChannel, RequestStatus, ServiceCategory, ServiceRequest, Survey, SurveyStatus,
)
from db.service_requests import change_status
from reports.build import build_report
from reports.period import Period
from workforce import figures

TZ = ZoneInfo("Asia/Shanghai")
FIRST_DAY = dt.date(2024, 12, 1)
YEAR, DECEMBER, JUNE = Period(2025), Period(2025, 12), Period(2025, 6)
# The report's clock and the rollup's: ten days into 2026, so 2025 is wholly tallied.
NOW = dt.datetime(2026, 1, 10, 4, 0, tzinfo=dt.timezone.utc)
TODAY = NOW.astimezone(TZ).date()


def local(day: dt.date, minutes: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), TZ) + dt.timedelta(minutes=minutes)


@pytest.fixture
def requests(session) -> list[ServiceRequest]:
    """400 requests from December 2024 to early January 2026, every status, category and
    district (none too), some at a minute from local midnight, offered, accepted,
    declined or never; half surveyed, most surveys completed (some weeks later, in
    another month), with every rating and none."""
    rng = random.Random(20260110)
    categories = list(session.scalars(select(ServiceCategory).order_by(ServiceCategory.id)))[:4]
    districts = [*session.scalars(select(District).order_by(District.id)), None]
    caller = Caller(phone="13800000077", phone_kind=PhoneKind.MOBILE)
    provider = Provider(name="万绿家政", licence_number="RT1", phone="0762", created_at=local(FIRST_DAY))
    session.add_all([caller, provider])
    made = []
    for n in range(400):
        day = FIRST_DAY + dt.timedelta(days=rng.randrange(400))
        created = local(day, rng.choice([1, 1439, rng.randrange(1440)]))
        row = ServiceRequest(number=f"RT{n}", caller=caller, category=rng.choice(categories),
                             district=rng.choice(districts), channel=RequestChannel.PHONE,
                             status=rng.choice(list(RequestStatus)), created_at=created)
        offer = rng.choice([None, DispatchStatus.ACCEPTED, DispatchStatus.ACCEPTED, DispatchStatus.DECLINED,
                            DispatchStatus.OFFERED])
        if offer:
            row.dispatches.append(Dispatch(provider=provider, status=offer, offered_at=created))
        session.add(row)
        made.append(row)
    session.flush()
    for row in made:
        if rng.random() < 0.5:
            status = rng.choice([SurveyStatus.COMPLETED] * 4 + [SurveyStatus.SCHEDULED, SurveyStatus.CANCELLED])
            done = row.created_at + dt.timedelta(hours=rng.randrange(1, 24 * 40))
            session.add(Survey(request_id=row.id, caller_id=caller.id, provider=provider, language=Language.MANDARIN,
                               due_at=done, status=status, rating=rng.choice([None, 1, 2, 3, 4, 5]),
                               completed_at=done if status == SurveyStatus.COMPLETED else None))
    session.flush()
    return made


def _reports(session) -> dict:
    """Every figure the tallies feed: the year's and two months' reports (sections compare
    figure by figure) and each month's demand numerator."""
    found = {period: build_report(session, period, NOW).sections for period in (YEAR, DECEMBER, JUNE)}
    for month in range(1, 13):
        found[month] = figures.demand_counts(session, dt.date(2025, month, 1), TZ)
    return found


def _raw(session) -> dict:
    """The same figures from the raw rows alone (every tallied day forgotten, for the while)."""
    nested = session.begin_nested()
    try:
        session.execute(delete(ReportTalliedDay))
        assert session.scalar(select(func.count()).select_from(ReportTalliedDay)) == 0
        return _reports(session)
    finally:
        nested.rollback()


def _tallied(session) -> int:
    return session.scalar(select(func.count()).select_from(ReportTalliedDay))


def test_the_report_from_the_tallies_is_the_report_from_the_raw_rows(session, requests):
    raw = _reports(session)  # nothing tallied yet: all raw
    built = request_tallies.build(session, TZ, NOW)
    assert built[0] == FIRST_DAY and built[-1] == TODAY - dt.timedelta(days=1) and len(built) == _tallied(session)
    assert session.scalar(select(func.count()).select_from(ReportTallyChange)) == 0  # the rollup took them in
    assert _reports(session) == raw
    # Something to compare: the year has requests matched, surveyed and rated well.
    key = {row.label.key: row.figures for row in raw[YEAR][0].rows}
    assert key["requests"][0] > 250 and 0 < key["matching_rate"][0] < 1 and key["surveys_reached"][0] > 50
    assert sum(sum(month.values()) for month in (raw[m] for m in range(1, 13))) > 10


def test_the_tallies_are_what_a_tallied_day_is_read_from(session, requests):
    """Proof that the report reads the stored tallies (here doctored), not the raw rows."""
    day = requests[0].created_at.astimezone(TZ).date()
    assert request_tallies.build(session, TZ, local(day + dt.timedelta(days=1), 60), since=day) == [day]
    before = sum(request_tallies.request_counts(session, day, day, TZ).values())
    session.execute(update(ReportRequestTally).where(ReportRequestTally.day == day)
                    .values(requests=ReportRequestTally.requests + 1000))
    assert sum(request_tallies.request_counts(session, day, day, TZ).values()) == before + 1000 * session.scalar(
        select(func.count()).select_from(ReportRequestTally).where(ReportRequestTally.day == day))


def test_changes_after_a_rollup_count_at_once_and_the_next_rollup_takes_them_in(session, requests):
    request_tallies.build(session, TZ, NOW)
    old = [row for row in requests if row.created_at.astimezone(TZ).date() < dt.date(2025, 12, 1)]
    # Served today, a request made months ago (its offer accepted now, through the console's code).
    waiting = next(row for row in old if row.status == RequestStatus.NEW)
    session.add(Dispatch(request_id=waiting.id, provider_id=session.scalar(select(Provider.id)),
                         status=DispatchStatus.ACCEPTED, offered_at=NOW, responded_at=NOW))
    for status in (RequestStatus.DISPATCHED, RequestStatus.IN_SERVICE, RequestStatus.COMPLETED):
        change_status(session, waiting, status, now=NOW)
    # A late edit to a past day: another category and district.
    edited = next(row for row in old if row.district_id is not None and row.id != waiting.id)
    edited.category_id = session.scalar(select(ServiceCategory.id).where(ServiceCategory.id != edited.category_id))
    edited.district_id = None
    # A survey completed today, rated well, of a June request whose offer was accepted.
    june = next(row for row in requests if row.created_at.astimezone(TZ).month == 6 and row.created_at.year == 2025
                and any(d.status == DispatchStatus.ACCEPTED for d in row.dispatches)
                and session.scalar(select(Survey.id).where(Survey.request_id == row.id)) is None)
    session.add(Survey(request_id=june.id, caller_id=june.caller_id, language=Language.MANDARIN, due_at=NOW,
                       status=SurveyStatus.COMPLETED, rating=5, completed_at=NOW))
    session.flush()
    # Plain SQL, as a person fixing data by hand would: cancelled.
    fixed = next(row for row in old if row.status == RequestStatus.DISPATCHED)
    session.execute(text("UPDATE service_requests SET status = 'cancelled' WHERE id = :id"), {"id": fixed.id})
    session.expire_all()

    raw = _raw(session)
    assert _reports(session) == raw
    assert raw[6] != _demand_at_first_rollup(requests, session)  # the June survey moved the demand figure
    changed_days = {at.astimezone(TZ).date() for at in session.scalars(select(ReportTallyChange.at))}
    assert {row.created_at.astimezone(TZ).date() for row in (waiting, edited, june, fixed)} <= changed_days

    rebuilt = request_tallies.build(session, TZ, NOW)
    assert set(rebuilt) == {day for day in changed_days if day < TODAY}
    assert session.scalar(select(func.count()).select_from(ReportTallyChange)) == 0
    assert _reports(session) == raw


def _demand_at_first_rollup(requests, session) -> dict:
    """June's demand numerator without the survey completed today."""
    nested = session.begin_nested()
    try:
        session.execute(delete(Survey).where(Survey.completed_at == NOW))
        return figures.demand_counts(session, dt.date(2025, 6, 1), TZ)
    finally:
        nested.rollback()


def test_a_day_tallied_in_another_time_zone_is_read_raw_and_rebuilt(session, requests):
    since = dt.date(2025, 11, 20)  # December's report and the year's last weeks
    request_tallies.build(session, ZoneInfo("UTC"), NOW, since=since)
    raw = _raw(session)
    assert _reports(session) == raw  # UTC days cut Heyuan's days elsewhere: none is read from them
    assert len(request_tallies.build(session, TZ, NOW, since=since)) == _tallied(session) == (TODAY - since).days
    assert _reports(session) == raw


def test_a_rebuild_from_a_day_rebuilds_every_ended_day_from_it(session, requests):
    since = dt.date(2025, 12, 20)
    request_tallies.build(session, TZ, NOW, since=since)
    assert request_tallies.build(session, TZ, NOW, since=since) == []  # nothing changed
    assert request_tallies.build(session, TZ, NOW, since=since, rebuild=True) == [
        since + dt.timedelta(days=n) for n in range((TODAY - since).days)]


def test_an_empty_database_rolls_up_nothing(session):
    assert request_tallies.build(session, TZ, NOW) == []
    assert sum(request_tallies.request_counts(session, dt.date(2025, 1, 1), dt.date(2025, 12, 31), TZ).values()) == 0


# --- the triggers that leave the changes --------------------------------------------------


def _changes(session) -> list[dt.datetime]:
    return sorted(session.scalars(select(ReportTallyChange.at)))


def test_every_write_that_moves_a_figure_leaves_the_time_it_moves(session, requests):
    session.execute(delete(ReportTallyChange))  # the fixture's own
    row = next(r for r in requests if session.scalar(select(Survey).where(Survey.request_id == r.id,
                                                                          Survey.status == SurveyStatus.COMPLETED)))
    survey = session.scalar(select(Survey).where(Survey.request_id == row.id))
    row.district_id = None if row.district_id else session.scalar(select(District.id))
    session.flush()
    assert _changes(session) == [row.created_at]
    session.execute(delete(ReportTallyChange))
    row.category_id = session.scalar(select(ServiceCategory.id).where(ServiceCategory.id != row.category_id))
    session.flush()  # its survey is tallied under the new category too
    assert _changes(session) == sorted([row.created_at, survey.completed_at])
    session.execute(delete(ReportTallyChange))
    survey.rating = 1 if survey.rating != 1 else 2
    session.flush()
    assert _changes(session) == sorted([row.created_at, survey.completed_at])
    session.execute(delete(ReportTallyChange))
    offer = Dispatch(request_id=row.id, provider_id=session.scalar(select(Provider.id)), status=DispatchStatus.OFFERED)
    session.add(offer)
    session.flush()
    assert _changes(session) == []  # an offer not accepted moves nothing
    offer.status = DispatchStatus.ACCEPTED
    session.flush()
    assert _changes(session) == [row.created_at]
    session.execute(delete(ReportTallyChange))
    session.delete(offer)
    session.flush()
    assert _changes(session) == [row.created_at]


def test_writes_that_move_no_figure_leave_nothing(session, requests):
    session.execute(delete(ReportTallyChange))  # the fixture's own
    scheduled = session.scalar(select(Survey).where(Survey.status == SurveyStatus.SCHEDULED))
    scheduled.attempt_count += 1  # a dialer's claim and attempt
    scheduled.claimed_by = "dialer-1"
    row = requests[0]
    row.description = "改了描述"
    row.address = "源城区"
    session.flush()
    assert _changes(session) == []


@pytest.mark.parametrize("day", [dt.date(2025, 3, 1), dt.date(2025, 3, 31)])
def test_a_day_is_local_midnight_to_midnight(session, requests, day):
    assert request_tallies.build(session, TZ, local(day + dt.timedelta(days=1), 60), since=day) == [day]
    start, end = local_day_bounds(day, TZ)
    expected = session.scalar(select(func.count()).select_from(ServiceRequest)
                              .where(ServiceRequest.created_at >= start, ServiceRequest.created_at < end))
    assert sum(request_tallies.request_counts(session, day, day, TZ).values()) == expected

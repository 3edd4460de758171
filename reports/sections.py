"""The report's sections: each a function (session, period, now) → Section.

A section reads only what its title promises, with grouped queries over the period's
rows (never a query per category, district or provider), and holds figures and codes
(reports/model.py). `now` is the report's clock: what "valid today" and "grade now"
mean for a period that has not ended yet.
"""
from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from typing import Callable, Iterable

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from db import request_tallies
from db.models import (
    Certificate,
    Complaint,
    ComplaintStatus,
    Dispute,
    DisputeOrigin,
    DisputeOutcome,
    District,
    GradeChange,
    Provider,
    RequestStatus,
    ServiceCategory,
    ServiceRequest,
    Training,
    Worker,
)
from reports import hotline
from reports.model import COUNT, DAYS, RATING, SHARE, Chart, Column, Row, Section, Term, share
from reports.period import LOCAL, Period
from workforce.figures import MEASURES as SEVENTY_MEASURES
from workforce.figures import seventy_figures
from workforce.recruitment import hires_by_district, hires_in_period, seekers_registered
from workforce.training import training_summary

SectionFunction = Callable[[Session, Period, dt.datetime], Section]

DISPATCHED = (RequestStatus.DISPATCHED, RequestStatus.IN_SERVICE, RequestStatus.COMPLETED, RequestStatus.SURVEYED,
              RequestStatus.CLOSED)
COMPLETED = (RequestStatus.COMPLETED, RequestStatus.SURVEYED, RequestStatus.CLOSED)
GRADES = (5, 4, 3, 2, 1)
# A certificate expiring within this many days of the report's day is "expiring".
EXPIRING_DAYS = 90
TOTAL = Term("total")


def _in(column, period: Period):
    return (column >= period.start) & (column < period.end)


def _last_day(period: Period) -> dt.date:
    return period.next_first_day - dt.timedelta(days=1)


def _categories(session: Session, used: Iterable[int | None]) -> list[tuple[int | None, Term]]:
    """Every active category in the platform's order, and any other the rows use."""
    used = set(used)
    rows = session.execute(select(ServiceCategory.id, ServiceCategory.name_zh, ServiceCategory.name_en,
                                  ServiceCategory.active).order_by(ServiceCategory.sort_order, ServiceCategory.id))
    found = [(cid, Term.named(zh, en)) for cid, zh, en, active in rows if active or cid in used]
    if None in used:
        found.append((None, Term("no_request")))
    return found


def _districts(session: Session, used: Iterable[int | None]) -> list[tuple[int | None, Term]]:
    used = set(used)
    rows = session.execute(select(District.id, District.name_zh, District.name_en).order_by(District.sort_order, District.id))
    found = [(did, Term.named(zh, en)) for did, zh, en in rows]
    if None in used:
        found.append((None, Term("no_district")))
    return found


def _with_total(rows: list[Row], columns: tuple[Column, ...], totals: tuple | None = None) -> tuple[Row, ...]:
    """The rows and a total row: counts summed, or the figures given for the other kinds."""
    if totals is None:
        totals = tuple(sum(row.figures[i] or 0 for row in rows) for i in range(len(columns)))
    return (*rows, Row(TOTAL, totals, total=True))


# --- requests, matching and surveys: each period's rows read once per report ---------------

CACHE = "reports.facts"  # session.info key: build_report() keeps one report's facts there
# session.info key: the settings build_report() was given (the year's hires goal), for the
# sections that need one; without them a section shows no goal rather than a made-up one.
SETTINGS = "reports.settings"


def _once(session: Session, name: str, period: Period, compute: Callable[[], list]) -> list:
    """compute() once per report: the sections that share a period's rows share one reading."""
    cache = session.info.get(CACHE)
    if cache is None:
        return compute()
    if (name, period) not in cache:
        cache[name, period] = compute()
    return cache[name, period]


def request_facts(session: Session, period: Period) -> list[tuple]:
    """(category id, district id, status, matched, count) for the period's new requests:
    matched = a provider took it through the platform (accepted the offer, or served it).
    Counted per day by db/request_tallies.py, so a year reads its days' tallies."""
    def read() -> list:
        counts = request_tallies.request_counts(session, period.first_day, _last_day(period), LOCAL)
        return [(*key, count) for key, count in counts.items()]
    return _once(session, "requests", period, read)


def _requests_by(session: Session, period: Period, place: int) -> dict[int | None, Counter]:
    """{category or district id: Counter(requests, dispatched, completed)}; place 0 or 1 of the facts."""
    found: dict[int | None, Counter] = defaultdict(Counter)
    for fact in request_facts(session, period):
        status, count = fact[2], fact[4]
        counter = found[fact[place]]
        counter["requests"] += count
        counter["dispatched"] += count if status in DISPATCHED else 0
        counter["completed"] += count if status in COMPLETED else 0
    return found


REQUEST_COLUMNS = (Column("requests"), Column("dispatched"), Column("completed"), Column("completed_share", SHARE))


def _request_rows(labels: list[tuple[int | None, Term]], counts: dict[int | None, Counter]) -> tuple[Row, ...]:
    rows = [Row(term, (c["requests"], c["dispatched"], c["completed"], share(c["completed"], c["requests"])))
            for key, term in labels for c in [counts.get(key, Counter())]]
    total = Counter()
    for c in counts.values():
        total.update(c)
    return _with_total(rows, REQUEST_COLUMNS, (total["requests"], total["dispatched"], total["completed"],
                                               share(total["completed"], total["requests"])))


def requests_by_category(session: Session, period: Period, now: dt.datetime) -> Section:
    counts = _requests_by(session, period, 0)
    return Section("requests_by_category", REQUEST_COLUMNS,
                   _request_rows(_categories(session, counts), counts), chart=Chart(0),
                   notes=(Term("note_dispatched"),))


def requests_by_district(session: Session, period: Period, now: dt.datetime) -> Section:
    counts = _requests_by(session, period, 1)
    return Section("requests_by_district", REQUEST_COLUMNS,
                   _request_rows(_districts(session, counts), counts), chart=Chart(0))


def matching_counts(session: Session, period: Period) -> dict[int, list[int]]:
    """{category id: [requests, matched]}."""
    found: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for category, _, _, matched, count in request_facts(session, period):
        found[category][0] += count
        found[category][1] += count if matched else 0
    return found


def matching(session: Session, period: Period, now: dt.datetime) -> Section:
    counts = matching_counts(session, period)
    columns = (Column("requests"), Column("matched"), Column("matching_rate", SHARE))
    rows = [Row(term, (requests, matched, share(matched, requests)))
            for key, term in _categories(session, counts) for requests, matched in [counts.get(key, (0, 0))]]
    requests, matched = sum(r for r, _ in counts.values()), sum(m for _, m in counts.values())
    return Section("matching", columns, _with_total(rows, columns, (requests, matched, share(matched, requests))),
                   notes=(Term("note_matching"),))


# --- satisfaction -------------------------------------------------------------------------


class Ratings:
    """Surveys reached (completed), how many rated, their sum and how many rated 4–5."""

    def __init__(self):
        self.reached = self.rated = self.stars = self.satisfied = 0

    def add(self, rating: int | None, count: int) -> None:
        self.reached += count
        if rating is not None:
            self.rated += count
            self.stars += rating * count
            self.satisfied += count if rating >= 4 else 0

    @property
    def average(self) -> float | None:
        return round(self.stars / self.rated, 2) if self.rated else None

    @property
    def csat(self) -> float | None:
        return share(self.satisfied, self.rated)


def survey_figures(session: Session, period: Period) -> dict[int | None, Ratings]:
    """{category id: Ratings} for the surveys completed in the period (by their request's
    category), counted per day by db/request_tallies.py."""
    def read() -> list:
        return list(request_tallies.survey_counts(session, period.first_day, _last_day(period), LOCAL).items())
    found: dict[int | None, Ratings] = defaultdict(Ratings)
    for (category, rating), count in _once(session, "surveys", period, read):
        found[category].add(rating, count)
    return found


def _all_ratings(figures: dict[int | None, Ratings]) -> Ratings:
    total = Ratings()
    for ratings in figures.values():
        total.reached += ratings.reached
        total.rated += ratings.rated
        total.stars += ratings.stars
        total.satisfied += ratings.satisfied
    return total


def satisfaction(session: Session, period: Period, now: dt.datetime) -> Section:
    figures = survey_figures(session, period)
    columns = (Column("surveys_reached"), Column("ratings"), Column("average_rating", RATING),
               Column("csat", SHARE))
    rows = [Row(term, (r.reached, r.rated, r.average, r.csat))
            for key, term in _categories(session, figures) for r in [figures.get(key, Ratings())]]
    total = _all_ratings(figures)
    return Section("satisfaction", columns, _with_total(rows, columns, (total.reached, total.rated, total.average,
                                                                         total.csat)),
                   notes=(Term("note_csat"),))


# --- complaints -----------------------------------------------------------------------------


def complaints_by_status(session: Session, period: Period, now: dt.datetime) -> Section:
    found = {(status, upheld): count for status, upheld, count in session.execute(
        select(Complaint.status, Complaint.upheld, func.count()).where(_in(Complaint.created_at, period))
        .group_by(Complaint.status, Complaint.upheld))}
    columns = (Column("complaints"), Column("upheld"), Column("not_upheld"))
    rows = [Row(Term(f"complaint_{status.value}"),
                (sum(c for (s, _), c in found.items() if s == status), found.get((status, True), 0),
                 found.get((status, False), 0)))
            for status in ComplaintStatus]
    return Section("complaints_by_status", columns, _with_total(rows, columns), notes=(Term("note_upheld"),))


def complaints_by_category(session: Session, period: Period, now: dt.datetime) -> Section:
    found: dict[int | None, Counter] = defaultdict(Counter)
    for category, upheld, count in session.execute(
            select(ServiceRequest.category_id, Complaint.upheld, func.count())
            .outerjoin(ServiceRequest, ServiceRequest.id == Complaint.request_id)
            .where(_in(Complaint.created_at, period)).group_by(ServiceRequest.category_id, Complaint.upheld)):
        found[category]["complaints"] += count
        found[category]["upheld"] += count if upheld else 0
    columns = (Column("complaints"), Column("upheld"))
    rows = [Row(term, (found[key]["complaints"], found[key]["upheld"])) for key, term in _categories(session, found)]
    return Section("complaints_by_category", columns, _with_total(rows, columns), chart=Chart(0))


# --- providers' grades ----------------------------------------------------------------------


def grades_at(session: Session, moment: dt.datetime) -> dict[int, int | None]:
    """Each provider registered by `moment` and its grade then: the last grading before it
    (supervision/'s history), or its grade now if it was never graded on the platform
    (graded before the platform kept a history)."""
    latest = (select(GradeChange.provider_id, GradeChange.grade,
                     func.row_number().over(partition_by=GradeChange.provider_id,
                                            order_by=(GradeChange.at.desc(), GradeChange.id.desc())).label("nth"))
              .where(GradeChange.at < moment).subquery())
    then = dict(session.execute(select(latest.c.provider_id, latest.c.grade).where(latest.c.nth == 1)).all())
    ever = set(session.scalars(select(GradeChange.provider_id).distinct()))
    grades = {}
    for provider_id, grade in session.execute(select(Provider.id, Provider.grade).where(Provider.created_at < moment)):
        grades[provider_id] = then[provider_id] if provider_id in then else (None if provider_id in ever else grade)
    return grades


def grading(session: Session, period: Period, now: dt.datetime) -> Section:
    grades = Counter(grades_at(session, min(period.end, now)).values())
    providers = sum(grades.values())
    columns = (Column("providers"), Column("providers_share", SHARE))
    rows = [Row(Term("stars", (("stars", grade),)), (grades[grade], share(grades[grade], providers))) for grade in GRADES]
    rows.append(Row(Term("ungraded"), (grades[None], share(grades[None], providers))))
    return Section("grading", columns, _with_total(rows, columns, (providers, share(providers, providers) if providers else None)),
                   chart=Chart(0), notes=(Term("note_grading"),))


# --- training and certificates --------------------------------------------------------------


def report_day(period: Period, now: dt.datetime) -> dt.date:
    """The day a period's standing figures are read on: its last day, or today if sooner."""
    return min(period.next_first_day - dt.timedelta(days=1), now.astimezone(LOCAL).date())


def training(session: Session, period: Period, now: dt.datetime) -> Section:
    """Workers, their training in the period and valid certificates, by their provider's district."""
    day = report_day(period, now)
    valid = (Certificate.issued_on <= day) & (Certificate.expires_on.is_(None) | (Certificate.expires_on >= day))
    workers = dict(session.execute(
        select(Provider.district_id, func.count()).join(Worker.provider).where(Worker.active)
        .group_by(Provider.district_id)).all())
    trained = {district: (people, hours or 0) for district, people, hours in session.execute(
        select(Provider.district_id, func.count(func.distinct(Training.worker_id)), func.sum(Training.hours))
        .join(Training.worker).join(Worker.provider)
        .where(Training.completed_on >= period.first_day, Training.completed_on < period.next_first_day)
        .group_by(Provider.district_id))}
    certified = dict(session.execute(
        select(Provider.district_id, func.count(func.distinct(Worker.id))).join(Worker.provider)
        .join(Certificate, Certificate.worker_id == Worker.id).where(Worker.active, valid)
        .group_by(Provider.district_id)).all())
    columns = (Column("workers"), Column("workers_trained"), Column("training_hours"), Column("workers_certified"),
               Column("certified_share", SHARE))
    used = set(workers) | set(trained) | set(certified)
    rows = [Row(term, (workers.get(key, 0), trained.get(key, (0, 0))[0], trained.get(key, (0, 0))[1],
                       certified.get(key, 0), share(certified.get(key, 0), workers.get(key, 0))))
            for key, term in _districts(session, used)]
    total_workers, total_certified = sum(workers.values()), sum(certified.values())
    totals = (total_workers, sum(p for p, _ in trained.values()), sum(h for _, h in trained.values()), total_certified,
              share(total_certified, total_workers))
    return Section("training", columns, _with_total(rows, columns, totals),
                   notes=(Term("note_training", (("day", day.isoformat()),)),))


def certificates(session: Session, period: Period, now: dt.datetime) -> Section:
    """Active workers' certificates by kind: valid, expiring soon and expired on the report's day."""
    day = report_day(period, now)
    soon = day + dt.timedelta(days=EXPIRING_DAYS)
    is_valid = (Certificate.issued_on <= day) & (Certificate.expires_on.is_(None) | (Certificate.expires_on >= day))
    expiring = is_valid & (Certificate.expires_on.is_not(None)) & (Certificate.expires_on <= soon)
    expired = Certificate.expires_on < day
    columns = (Column("certificates_valid"), Column("certificates_expiring"), Column("certificates_expired"))
    rows = [Row(Term.named(kind), (valid or 0, ending or 0, lapsed or 0)) for kind, valid, ending, lapsed in session.execute(
        select(Certificate.kind, func.sum(case((is_valid, 1), else_=0)), func.sum(case((expiring, 1), else_=0)),
               func.sum(case((expired, 1), else_=0)))
        .join(Worker, Worker.id == Certificate.worker_id).where(Worker.active)
        .group_by(Certificate.kind).order_by(func.count().desc(), Certificate.kind))]
    return Section("certificates", columns, _with_total(rows, columns),
                   notes=(Term("note_certificates", (("day", day.isoformat()), ("days", EXPIRING_DAYS))),))


# --- the hotline's own figures --------------------------------------------------------------


def _calls(session: Session, period: Period, now: dt.datetime) -> dict:
    """The period's call figures, computed once a report (the key figures show two of them)."""
    cache = session.info.setdefault(CACHE, {})
    if ("calls", period) not in cache:
        cache[("calls", period)] = hotline.figures(session, period, now, session.info.get(SETTINGS, {}).get("kpi"))
    return cache[("calls", period)]


def hotline_calls(session: Session, period: Period, now: dt.datetime) -> Section:
    """The hotline's call figures, this period beside the previous one (reports/hotline.py)."""
    this, before = _calls(session, period, now), _calls(session, period.previous(), now)
    columns = (Column("this_period"), Column("previous_period"))
    rows = tuple(Row(Term(measure.key), (this[measure.key], before[measure.key]), kind=measure.kind)
                 for measure in hotline.MEASURES)
    return Section("hotline_calls", columns, rows, notes=(Term("note_hotline"),))


# --- key figures against the previous period ------------------------------------------------


def _totals(session: Session, period: Period) -> tuple[int, int, Ratings]:
    """(requests, matched, ratings) of a period, from the facts the other sections read."""
    counts = matching_counts(session, period).values()
    return sum(r for r, _ in counts), sum(m for _, m in counts), _all_ratings(survey_figures(session, period))


def _key_figures(session: Session, period: Period, now: dt.datetime) -> dict:
    requests, matched, ratings = _totals(session, period)
    complaints = session.scalar(select(func.count()).select_from(Complaint).where(_in(Complaint.created_at, period)))
    calls = _calls(session, period, now)
    return {"requests": requests, "matching_rate": share(matched, requests), "surveys_reached": ratings.reached,
            "average_rating": ratings.average, "csat": ratings.csat, "complaints": complaints,
            "calls_received": calls["calls_received"], "answered_share": calls["answered_share"]}


KEY_FIGURES = (("requests", COUNT), ("matching_rate", SHARE), ("surveys_reached", COUNT), ("average_rating", RATING),
               ("csat", SHARE), ("complaints", COUNT), ("calls_received", COUNT), ("answered_share", SHARE))


def key_figures(session: Session, period: Period, now: dt.datetime) -> Section:
    request_facts(session, period), survey_figures(session, period)  # read once, shared with the sections after
    this, before = _key_figures(session, period, now), _key_figures(session, period.previous(), now)
    columns = (Column("this_period"), Column("previous_period"))
    rows = tuple(Row(Term(key), (this[key], before[key]), kind=kind) for key, kind in KEY_FIGURES)
    return Section("key_figures", columns, rows)


# --- disputes -------------------------------------------------------------------------------


def _standing_moment(period: Period, now: dt.datetime) -> dt.datetime:
    """When a period's standing figures (still open, overdue) are read: its end, or now if sooner."""
    return min(period.end, now)


def _median(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def disputes(session: Session, period: Period, now: dt.datetime) -> Section:
    """Disputes taken in in the period by origin, closed in it by outcome, and those still
    open (and overdue) at its end; the median days from intake to closing."""
    received = dict(session.execute(select(Dispute.origin, func.count()).where(_in(Dispute.opened_at, period))
                                    .group_by(Dispute.origin)).all())
    closed_rows = session.execute(select(Dispute.outcome, Dispute.opened_at, Dispute.closed_at)
                                  .where(Dispute.closed_at.is_not(None), _in(Dispute.closed_at, period))).all()
    closed = Counter(outcome for outcome, _, _ in closed_rows)
    # Few rows (a period's closed disputes): the median is taken here, alike on both databases.
    days = [(shut - opened).total_seconds() / 86400 for _, opened, shut in closed_rows]
    moment = _standing_moment(period, now)
    last_day = (moment - dt.timedelta(microseconds=1)).astimezone(LOCAL).date()
    # Overdue as supervision/disputes.is_overdue has it: open once its deadline day has ended.
    ended = moment.astimezone(LOCAL).date()
    still_open = (Dispute.opened_at < moment) & (Dispute.closed_at.is_(None) | (Dispute.closed_at >= moment))
    open_now, overdue = session.execute(select(func.count(), func.sum(case((Dispute.deadline < ended, 1), else_=0)))
                                        .where(still_open)).one()
    rows = [Row(Term(f"dispute_from_{origin.value}"), (received.get(origin, 0),)) for origin in DisputeOrigin]
    rows.append(Row(Term("disputes_received"), (sum(received.values()),), total=True))
    rows += [Row(Term(f"dispute_{outcome.value}"), (closed.get(outcome, 0),)) for outcome in DisputeOutcome]
    rows.append(Row(Term("disputes_closed"), (len(closed_rows),), total=True))
    rows += [Row(Term("disputes_open_at_end"), (open_now,)), Row(Term("disputes_overdue_at_end"), (overdue or 0,)),
             Row(Term("disputes_median_days"), (_median(days),), kind=DAYS)]
    return Section("disputes", (Column("figure"),), tuple(rows),
                   notes=(Term("note_disputes", (("day", last_day.isoformat()),)),))


# --- recruitment and training sessions ------------------------------------------------------


def recruitment(session: Session, period: Period, now: dt.datetime) -> Section:
    """Job seekers registered in the period (IVR leads, by operators), hires in it, and the
    year's hires to the period's end against the year's goal (the settings')."""
    first, last = period.first_day, _last_day(period)
    seekers = seekers_registered(session, first, last, LOCAL)
    hires = hires_in_period(session, first, last)
    year_hires = hires if period.is_year else hires_in_period(session, dt.date(period.year, 1, 1), last)
    goal = session.info.get(SETTINGS, {}).get("hires_goal")
    rows = (Row(Term("seekers_ivr"), (seekers["ivr"],)), Row(Term("seekers_operator"), (seekers["operator"],)),
            Row(Term("seekers_registered"), (seekers["total"],), total=True),
            Row(Term("hires"), (hires,)), Row(Term("year_hires"), (year_hires,)),
            Row(Term("hires_goal"), (goal,)), Row(Term("hires_goal_share"), (share(year_hires, goal),), kind=SHARE))
    notes = [Term("note_recruitment", (("day", last.isoformat()),))]
    if goal is None:
        notes.append(Term("note_no_goal"))
    return Section("recruitment", (Column("figure"),), rows, notes=tuple(notes))


def hires_by_place(session: Session, period: Period, now: dt.datetime) -> Section:
    counts = hires_by_district(session, period.first_day, _last_day(period))
    columns = (Column("hires"),)
    rows = [Row(term, (counts.get(key, 0),)) for key, term in _districts(session, counts)]
    return Section("hires_by_district", columns, _with_total(rows, columns), chart=Chart(0),
                   notes=(Term("note_hires_by_district"),))


def training_sessions(session: Session, period: Period, now: dt.datetime) -> Section:
    summary = training_summary(session, period.first_day, _last_day(period))
    rows = (Row(Term("sessions_held"), (summary.sessions,)), Row(Term("attendances"), (summary.attendees,)),
            Row(Term("certificates_issued"), (summary.certificates,)))
    return Section("training_sessions", (Column("figure"),), rows, notes=(Term("note_training_sessions"),))


# --- the three 70% figures ------------------------------------------------------------------


def seventy_month(period: Period, now: dt.datetime) -> dt.date:
    """The month whose figures a report shows: its own, or a year's last (so far)."""
    if not period.is_year:
        return period.first_day
    return report_day(period, now).replace(day=1)


def _seventy(session: Session, period: Period, now: dt.datetime):
    month = seventy_month(period, now)
    return _once(session, "seventy", period, lambda: [seventy_figures(session, month, LOCAL)])[0]


def _seventy_section(measure) -> SectionFunction:
    def section(session: Session, period: Period, now: dt.datetime) -> Section:
        figures = _seventy(session, period, now)
        columns = (Column("seventy_numerator"), Column("seventy_denominator"), Column("seventy_share", SHARE))
        rows = [Row(Term.named(d.name_zh, d.name_en), (f.numerator, f.denominator, f.ratio))
                for d in figures.districts for f in [figures.by_district[measure][d.id]]]
        city = figures.city[measure]
        rows.append(Row(Term("city"), (city.numerator, city.denominator, city.ratio), total=True))
        month = figures.month.strftime("%Y-%m")
        notes = [Term(f"note_seventy_{measure.value}"), Term("note_seventy_missing")]
        if period.is_year:
            notes.insert(0, Term("note_seventy_year", (("month", month),)))
        return Section(f"seventy_{measure.value}", columns, tuple(rows), notes=tuple(notes))
    section.__name__ = f"seventy_{measure.value}"
    return section


SEVENTY_SECTIONS = tuple(_seventy_section(measure) for measure in SEVENTY_MEASURES)


# The report, in order. The lead adds the KPI sections here: any function
# (session, period, now) → Section.
SECTIONS: tuple[SectionFunction, ...] = (
    key_figures, requests_by_category, requests_by_district, matching, satisfaction, complaints_by_status,
    complaints_by_category, disputes, grading, training, training_sessions, certificates, recruitment,
    hires_by_place, *SEVENTY_SECTIONS, hotline_calls,
)

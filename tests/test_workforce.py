"""Recruitment, training and the three 70% figures, on a hand-built database (SQLite and
PostgreSQL): every count below is worked out in the comments beside its rows."""
from __future__ import annotations

import datetime as dt
import itertools
import threading
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from db import migrate
from db.errors import Refused
from db.models import (
    AuditEntry, Caller, Certificate, CreditMeasure, CreditMeasureKind, Dispatch, DispatchStatus, District,
    GradeChange, GradeSource, JobSeekerStatus, Language, OpeningStatus, PhoneKind, Provider, ProviderStatus, RequestChannel,
    RequestStatus, SeventyDenominator, SeventyMeasure, ServiceCategory, ServiceRequest, Survey, SurveyStatus, Training,
    Worker,
)
from db.reference import ensure_reference_data
from db.session import make_session_factory, transaction
from workforce import figures, recruitment, training
from workforce.figures import Figure

TZ = ZoneInfo("Asia/Shanghai")
NOVEMBER = dt.date(2026, 11, 1)
TODAY = dt.date(2026, 11, 30)
_numbers = itertools.count(1)


def local(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=TZ)


@pytest.fixture
def ref(session):
    districts = {d.code: d for d in session.scalars(select(District))}
    categories = {c.code: c for c in session.scalars(select(ServiceCategory))}
    return districts, categories


def provider(session, district, *, grade=None, created=local(2026, 1, 1), **kw) -> Provider:
    found = Provider(name=f"企业{next(_numbers)}", licence_number=f"L{next(_numbers)}", phone="07623000000",
                     district=district, grade=grade, created_at=created, **kw)
    session.add(found)
    session.flush()
    return found


def request_rated(session, caller, category, district, created, *, accepted=True, rating=5):
    request = ServiceRequest(number=f"HY-T{next(_numbers)}", caller=caller, category=category, district=district,
                             channel=RequestChannel.PHONE, status=RequestStatus.SURVEYED, created_at=created)
    pro = session.scalars(select(Provider)).first()
    request.dispatches.append(Dispatch(provider=pro, status=DispatchStatus.ACCEPTED if accepted else DispatchStatus.DECLINED))
    session.add(Survey(request=request, caller=caller, provider=pro, language=Language.MANDARIN, due_at=created,
                       status=SurveyStatus.COMPLETED, rating=rating, completed_at=created))


def worker(session, at, *, trained_on=dt.date(2026, 3, 1), expires=dt.date(2027, 1, 1), certified=True, active=True):
    found = Worker(provider=at, name="工人", phone=f"1390000{next(_numbers):04d}", active=active,
                   created_at=local(2026, 2, 1))
    if trained_on is not None:
        found.trainings.append(Training(course="家政服务职业道德", completed_on=trained_on))
    if certified:
        found.certificates.append(Certificate(kind="健康证", number="X", issued_on=dt.date(2026, 2, 1), expires_on=expires))
    session.add(found)
    return found


@pytest.fixture
def city(session, ref):
    """November 2026 in 源城区 (yuancheng) and 东源县 (dongyuan)."""
    districts, categories = ref
    yc, dy, outside = districts["yuancheng"], districts["dongyuan"], districts["other"]
    # Businesses at month end (2026-12-01 00:00 local):
    p1 = provider(session, yc, grade=4)  # graded, no grading history: counts by its grade
    p2 = provider(session, yc)  # ungraded: no
    p3 = provider(session, yc, grade=3)  # graded only on 5 December: not at month end
    session.add(GradeChange(provider_id=p3.id, at=local(2026, 12, 5), source=GradeSource.REGRADE, grade=3))
    p4 = provider(session, dy, grade=5)  # graded, but removed from 20 November to 3 December: no
    session.add(GradeChange(provider_id=p4.id, at=local(2026, 6, 1), source=GradeSource.REGRADE, grade=5))
    session.add(CreditMeasure(provider_id=p4.id, kind=CreditMeasureKind.REMOVAL, reason="核查",
                              starts_at=local(2026, 11, 20), lifted_at=local(2026, 12, 3)))
    p5 = provider(session, dy, grade=2, created=local(2026, 2, 1))  # graded in May: counts
    session.add(GradeChange(provider_id=p5.id, at=local(2026, 5, 1), source=GradeSource.REGRADE, grade=2))
    provider(session, yc, grade=5, created=local(2026, 12, 2))  # registered after the month: no
    # → businesses: 源城区 1 (p1), 东源县 1 (p5).

    # Workers on the month's last day, 30 November:
    worker(session, p1)  # trained, certificate valid until 2027: counts
    worker(session, p1, expires=dt.date(2026, 11, 29))  # certificate expired the day before: no
    worker(session, p1, expires=dt.date(2026, 11, 30))  # valid on the last day: counts
    worker(session, p1, trained_on=None)  # never trained: no
    worker(session, p1, active=False)  # no longer active: no
    worker(session, p1, trained_on=dt.date(2026, 12, 10))  # trained only in December: no
    worker(session, p4)  # its provider is removed at month end: no
    worker(session, p5, expires=None)  # a certificate without expiry: counts
    worker(session, p2)  # an ungraded provider is still on the platform: counts
    # → workers: 源城区 3, 东源县 1.

    caller = Caller(phone="13800001111", phone_kind=PhoneKind.MOBILE)
    session.add(caller)
    household = categories["household"]
    # Demand (requests created in November, local time), 源城区:
    request_rated(session, caller, household, yc, local(2026, 11, 5, 9))  # 5★, accepted: counts
    request_rated(session, caller, household, yc, local(2026, 11, 6, 9), rating=4)  # 4★: counts
    request_rated(session, caller, household, yc, local(2026, 11, 7, 9), rating=3)  # 3★: no
    request_rated(session, caller, household, yc, local(2026, 11, 8, 9), accepted=False)  # never matched: no
    request_rated(session, caller, household, yc, local(2026, 10, 31, 23, 30))  # October (local): no
    request_rated(session, caller, household, yc, local(2026, 12, 1, 0, 30))  # December (local; 30 Nov UTC): no
    request_rated(session, caller, household, yc, local(2026, 11, 1, 0, 10))  # November (local; 31 Oct UTC): counts
    request_rated(session, caller, household, dy, local(2026, 11, 9, 9))  # 东源县: counts
    request_rated(session, caller, household, outside, local(2026, 11, 9, 9))  # outside Heyuan: not the city's
    request_rated(session, caller, household, None, local(2026, 11, 9, 9))  # no district: the city's only
    # → demand: 源城区 3, 东源县 1, city 3 + 1 + 1 = 5.
    session.flush()
    return districts


def enter(session, measure, district, value, month=NOVEMBER):
    return figures.enter_denominator(session, None, measure=measure, district=district, month=month, value=value,
                                     today=TODAY)


def test_the_three_figures_of_a_month(session, city):
    yc, dy = city["yuancheng"], city["dongyuan"]
    enter(session, SeventyMeasure.DEMAND, yc, 10)  # 3 / 10
    enter(session, SeventyMeasure.DEMAND, None, 50)  # the city's estimate: 5 / 50
    for code, value in {"yuancheng": 2, "dongyuan": 4, "heping": 1, "longchuan": 1, "zijin": 1, "lianping": 1}.items():
        enter(session, SeventyMeasure.BUSINESSES, city[code], value)  # city: 2 / (2+4+1+1+1+1 = 10)
    enter(session, SeventyMeasure.WORKERS, yc, 4)  # 3 / 4; no other district, no city: city missing
    month = figures.seventy_figures(session, NOVEMBER, TZ)
    demand, businesses, workers = (month.by_district[m] for m in figures.MEASURES)
    assert demand[yc.id] == Figure(3, 10) and demand[yc.id].ratio == pytest.approx(0.3)
    assert demand[dy.id] == Figure(1, None) and demand[dy.id].ratio is None  # no denominator: no ratio
    assert month.city[SeventyMeasure.DEMAND] == Figure(5, 50)
    assert businesses[yc.id] == Figure(1, 2) and businesses[dy.id] == Figure(1, 4)
    assert month.city[SeventyMeasure.BUSINESSES] == Figure(2, 10) and month.city[SeventyMeasure.BUSINESSES].met is False
    assert workers[yc.id] == Figure(3, 4) and workers[yc.id].met is True  # 75% ≥ 70%
    assert workers[dy.id] == Figure(1, None)
    assert month.city[SeventyMeasure.WORKERS] == Figure(4, None) and month.city[SeventyMeasure.WORKERS].met is None
    assert [d.code for d in month.districts] == ["yuancheng", "dongyuan", "heping", "longchuan", "zijin", "lianping"]


def test_the_trend_is_twelve_months_oldest_first(session, city):
    trend = figures.seventy_trend(session, NOVEMBER, TZ)
    assert [t.month for t in trend][:2] == [dt.date(2025, 12, 1), dt.date(2026, 1, 1)] and trend[-1].month == NOVEMBER
    october = trend[-2]
    # October: the request of 23:30 on 31 October; providers p1, p4 (not yet removed), p5 graded.
    assert october.by_district[SeventyMeasure.DEMAND][city["yuancheng"].id].numerator == 1
    assert october.by_district[SeventyMeasure.BUSINESSES][city["dongyuan"].id].numerator == 2
    # January: p5 (February) not yet registered, and no grading history before May.
    assert trend[1].city[SeventyMeasure.BUSINESSES].numerator == 1


def test_an_expired_certificate_stops_counting(session, city):
    certificate = session.scalar(select(Certificate).where(Certificate.expires_on == dt.date(2026, 11, 30)))
    assert figures.worker_counts(session, NOVEMBER, TZ)[city["yuancheng"].id] == 3
    certificate.expires_on = dt.date(2026, 11, 29)
    session.flush()
    assert figures.worker_counts(session, NOVEMBER, TZ)[city["yuancheng"].id] == 2


def test_a_denominator_is_corrected_not_doubled_and_audited(session, ref):
    districts, _ = ref
    first = enter(session, SeventyMeasure.WORKERS, districts["heping"], 30)
    again = enter(session, SeventyMeasure.WORKERS, districts["heping"], 35)
    city_row = enter(session, SeventyMeasure.WORKERS, None, 300)
    assert again.id == first.id and again.value == 35 and city_row.id != first.id
    assert enter(session, SeventyMeasure.WORKERS, None, 310).id == city_row.id  # NULL district: still one row
    entries = session.scalars(select(AuditEntry).where(AuditEntry.entity_type == "seventy_denominators")
                              .order_by(AuditEntry.id)).all()
    assert [(e.action, e.details["from"], e.details["to"]) for e in entries] == [
        ("create", None, 30), ("update", 30, 35), ("create", None, 300), ("update", 300, 310)]


@pytest.mark.parametrize("district", ["heping", None])
def test_the_database_keeps_one_denominator_per_figure_month_and_district(session, ref, district):
    """NULL, the whole city, is one district to the key: a second city row is refused too."""
    where = ref[0][district] if district else None
    enter(session, SeventyMeasure.DEMAND, where, 40)
    with pytest.raises(IntegrityError), session.begin_nested():
        session.add(SeventyDenominator(measure=SeventyMeasure.DEMAND, district=where, month=NOVEMBER, value=41))
    enter(session, SeventyMeasure.DEMAND, where, 42, dt.date(2026, 10, 1))  # another month: its own row
    assert len(session.scalars(select(SeventyDenominator).where(SeventyDenominator.measure == SeventyMeasure.DEMAND)).all()) == 2


@pytest.mark.parametrize("district", ["heping", None])
def test_a_double_submit_stores_one_row(session, ref, monkeypatch, district):
    """The later of two submits at once read no row (the earlier's was not committed yet):
    its insert is refused by the key, and it corrects the earlier's row instead."""
    where = ref[0][district] if district else None
    earlier = enter(session, SeventyMeasure.WORKERS, where, 30)
    looked_up, lookups = figures._denominator, []

    def missed_once(*args):
        lookups.append(args)
        return None if len(lookups) == 1 else looked_up(*args)

    monkeypatch.setattr(figures, "_denominator", missed_once)
    later = enter(session, SeventyMeasure.WORKERS, where, 35)
    rows = session.scalars(select(SeventyDenominator).where(SeventyDenominator.measure == SeventyMeasure.WORKERS)).all()
    assert rows == [earlier] and later is earlier and earlier.value == 35
    audited = session.scalars(select(AuditEntry).where(AuditEntry.entity_type == "seventy_denominators")
                              .order_by(AuditEntry.id)).all()
    assert [(e.action, e.details["from"], e.details["to"]) for e in audited] == [("create", None, 30), ("update", 30, 35)]


def test_a_submit_that_keeps_colliding_is_refused_with_a_reason(session, ref, monkeypatch):
    enter(session, SeventyMeasure.WORKERS, None, 30)
    monkeypatch.setattr(figures, "_denominator", lambda *args: None)  # never sees the row its insert runs into
    with pytest.raises(Refused) as refused:
        enter(session, SeventyMeasure.WORKERS, None, 35)
    assert refused.value.code == "denominator_conflict"


@pytest.mark.parametrize("empty_engine", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_two_submits_at_once_store_one_row_on_postgresql(empty_engine):
    """Two sessions, as two console workers: the second's insert waits on the first's
    uncommitted row, is refused when it commits, and corrects it."""
    migrate.upgrade(empty_engine)
    factory = make_session_factory(empty_engine)
    with transaction(factory) as session:
        ensure_reference_data(session)
    first = factory()
    enter(first, SeventyMeasure.DEMAND, None, 50)  # not committed yet
    second_done = {}

    def second_submit():
        with transaction(factory) as second:
            second_done["id"] = enter(second, SeventyMeasure.DEMAND, None, 55).id

    submit = threading.Thread(target=second_submit)
    submit.start()
    submit.join(0.5)
    assert submit.is_alive()  # waiting on the first's row
    first.commit()
    submit.join(30)
    first.close()
    with factory() as session:
        rows = session.scalars(select(SeventyDenominator)).all()
    assert [(row.id, row.value) for row in rows] == [(second_done["id"], 55)]


@pytest.mark.parametrize("value, month, code, refusal", [
    (0, NOVEMBER, "heping", "denominator_value"),
    (10_000_001, NOVEMBER, "heping", "denominator_value"),
    (True, NOVEMBER, "heping", "denominator_value"),
    (5, dt.date(2014, 1, 1), "heping", "denominator_month"),
    (5, dt.date(2027, 1, 1), "heping", "denominator_month"),
    (5, NOVEMBER, "other", "denominator_district"),
])
def test_a_bad_denominator_is_refused(session, ref, value, month, code, refusal):
    districts, _ = ref
    with pytest.raises(Refused) as refused:
        enter(session, SeventyMeasure.DEMAND, districts[code], value, month)
    assert refused.value.code == refusal


# --- recruitment -----------------------------------------------------------------------------


def test_an_ivr_lead_is_completed_by_the_operator_not_written_twice(session, ref):
    districts, categories = ref
    lead = recruitment.register_ivr_lead(session, "13512340000", "hak", None, local(2026, 11, 2, 10))
    again = recruitment.register_ivr_lead(session, "13512340000", "cmn", None, local(2026, 11, 3, 10))
    session.flush()
    assert again is lead and lead.language is Language.HAKKA and lead.status is JobSeekerStatus.LEAD
    seeker = recruitment.register_seeker(session, None, name="黄秀娟", phone="13512340000", district=districts["dongyuan"],
                                         category=categories["elderly_care"])
    assert seeker.id == lead.id and seeker.status is JobSeekerStatus.SEEKING and seeker.language is Language.HAKKA


def test_matching_ranks_trade_then_district_and_a_hire_makes_a_worker(session, ref):
    districts, categories = ref
    yc, dy = districts["yuancheng"], districts["dongyuan"]
    care, household = categories["elderly_care"], categories["household"]
    p = provider(session, yc, grade=3)
    both = recruitment.open_opening(session, None, provider=p, category=care, district=dy, title="护理员", positions=1)
    anywhere = recruitment.open_opening(session, None, provider=p, category=care, district=None, title="护理员2", positions=3)
    trade_only = recruitment.open_opening(session, None, provider=p, category=care, district=yc, title="护理员3", positions=1)
    place_only = recruitment.open_opening(session, None, provider=p, category=household, district=dy, title="保姆", positions=1)
    recruitment.open_opening(session, None, provider=p, category=household, district=yc, title="不符", positions=1)
    seeker = recruitment.register_seeker(session, None, name="刘桂兰", phone="13512340001", district=dy, category=care)
    ts = training.create_session(session, None, course="养老护理员岗前培训", held_on=dt.date(2026, 11, 10), trainer="何老师",
                                 place=None, hours=16, today=TODAY)
    training.add_attendee(session, None, ts, seeker)
    # 3 points (trade 2 + district 1) for both and anywhere (more positions left first), then trade only, then place only.
    assert [m.opening for m in recruitment.matches_for(session, seeker)] == [anywhere, both, trade_only, place_only]
    hire = recruitment.record_hire(session, None, seeker, both, dt.date(2026, 11, 20), TODAY)
    worker_row = session.get(Worker, hire.worker_id)
    assert (worker_row.provider_id, worker_row.name, worker_row.phone) == (p.id, "刘桂兰", "13512340001")
    assert [(t.course, t.session_id) for t in worker_row.trainings] == [("养老护理员岗前培训", ts.id)]
    assert seeker.status is JobSeekerStatus.HIRED and both.status is OpeningStatus.CLOSED  # its one position filled
    assert anywhere.status is OpeningStatus.OPEN
    assert recruitment.hires_in_period(session, NOVEMBER, TODAY) == 1
    assert recruitment.hires_by_district(session, NOVEMBER, TODAY) == {yc.id: 1}
    assert recruitment.yearly_progress(session, 2026, 1200).hires == 1
    assert recruitment.hires_in_period(session, dt.date(2026, 11, 21), TODAY) == 0


@pytest.mark.parametrize("problem", ["unnamed", "closed", "future", "hired", "removed"])
def test_a_hire_that_cannot_be_is_refused(session, ref, problem):
    districts, categories = ref
    p = provider(session, districts["yuancheng"])
    opening = recruitment.open_opening(session, None, provider=p, category=categories["repair"], district=None,
                                       title="学徒", positions=2)
    seeker = recruitment.register_seeker(session, None, name="钟伟强", phone="13512340002", district=None,
                                         category=categories["repair"])
    day = TODAY
    if problem == "unnamed":
        seeker = recruitment.register_ivr_lead(session, "13512340003", None, None, local(2026, 11, 1))
    elif problem == "closed":
        recruitment.close_opening(session, opening, None)
    elif problem == "future":
        day = TODAY + dt.timedelta(days=1)
    elif problem == "removed":
        p.status = ProviderStatus.SUSPENDED  # removed from the platform after the opening
    else:
        recruitment.record_hire(session, None, seeker, opening, TODAY, TODAY)
    with pytest.raises(Refused):
        recruitment.record_hire(session, None, seeker, opening, day, TODAY)


def test_training_sessions_attendees_and_certificates(session, ref):
    districts, _ = ref
    p = provider(session, districts["zijin"], grade=3)
    trained = worker(session, p, trained_on=None, certified=False)
    seeker = recruitment.register_seeker(session, None, name="叶丽萍", phone="13512340004", district=None, category=None)
    ts = training.create_session(session, None, course="母婴护理", held_on=dt.date(2026, 11, 12), trainer="陈老师",
                                 place="紫金县", hours=24, today=TODAY)
    session.flush()
    assert training.attendee_by_phone(session, trained.phone) is trained
    at_worker = training.add_attendee(session, None, ts, trained)
    at_seeker = training.add_attendee(session, None, ts, training.attendee_by_phone(session, seeker.phone))
    with pytest.raises(Refused):
        training.add_attendee(session, None, ts, trained)  # once a session
    assert [(t.course, t.completed_on) for t in trained.trainings] == [("母婴护理", dt.date(2026, 11, 12))]
    certificate = training.issue_certificate(session, None, ts, at_worker, kind="育婴员", number="HY001",
                                             expires_on=dt.date(2029, 11, 12))
    assert (certificate.worker_id, certificate.issued_on, certificate.session_id) == (trained.id, ts.held_on, ts.id)
    with pytest.raises(Refused, match="already issued"):  # 发证 clicked twice: one certificate, not two in the reports
        training.issue_certificate(session, None, ts, at_worker, kind="育婴员", number="HY001",
                                   expires_on=dt.date(2029, 11, 12))
    for attendee, expires in ((at_seeker, None), (at_worker, dt.date(2026, 11, 12))):
        with pytest.raises(Refused):
            training.issue_certificate(session, None, ts, attendee, kind="育婴员", number="HY002", expires_on=expires)
    with pytest.raises(Refused):
        training.create_session(session, None, course="x", held_on=dt.date(2024, 1, 1), trainer="y", place=None,
                                hours=None, today=TODAY)
    assert training.training_summary(session, NOVEMBER, TODAY) == training.TrainingSummary(1, 2, 1)
    assert training.training_summary(session, dt.date(2026, 12, 1), dt.date(2026, 12, 31)) == training.TrainingSummary(0, 0, 0)
    # Now trained and certified, at an ungraded-but-on-the-platform provider: counted by figure 3.
    assert figures.worker_counts(session, NOVEMBER, TZ)[districts["zijin"].id] == 1


def test_seekers_registered_counts_local_days_by_source(session):
    recruitment.register_ivr_lead(session, "13512340005", "cmn", None, local(2026, 11, 1, 0, 5))  # 31 Oct UTC
    recruitment.register_ivr_lead(session, "13512340006", "cmn", None, local(2026, 10, 31, 23, 55))
    seeker = recruitment.register_seeker(session, None, name="温春燕", phone="13512340007", district=None, category=None)
    seeker.created_at = local(2026, 11, 30, 23, 59)
    session.flush()
    assert recruitment.seekers_registered(session, NOVEMBER, TODAY, TZ) == {"ivr": 1, "operator": 1, "total": 2}

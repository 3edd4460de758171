"""Grading providers from their records, overrides, and sanctions in dispatch (SQLite and PostgreSQL)."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from db.dispatching import DispatchError, assign, suggest_providers
from db.errors import Refused
from db.models import (
    AuditEntry, Caller, Certificate, Complaint, CreditMeasure, CreditMeasureKind, Dispatch, DispatchStatus,
    GradeChange, GradeSource, Language, PhoneKind, Provider, ProviderStatus, RequestChannel, RequestStatus, Role,
    ServiceCategory, ServiceRequest, Survey, SurveyStatus, User, Worker,
)
from supervision import grading, sanctions
from supervision.rule import load_rule

NOW = dt.datetime(2026, 11, 27, 2, 0, tzinfo=dt.timezone.utc)
RULE = load_rule()
_serial = iter(range(1, 10**6))


def _supervisor(session) -> User:
    user = User(username=f"sup{next(_serial)}", display_name="班长", role=Role.SUPERVISOR, password_hash="x")
    session.add(user)
    session.flush()
    return user


def _provider(session, *, years: float = 4, ratings=(5, 5, 4, 5, 4, 5), workers: int = 2, certified: int = 2,
              answer_minutes: float | None = 5, category: ServiceCategory | None = None) -> Provider:
    """A provider with a record: ratings in the last 90 days, workers (of whom `certified`
    hold a valid certificate; the others an expired one), and one answered offer."""
    n = next(_serial)
    category = category or session.scalars(select(ServiceCategory)).first()
    provider = Provider(name=f"家政{n}", licence_number=f"L{n}", phone="13900000000", capacity=5,
                        created_at=NOW - dt.timedelta(days=round(years * 365.25)), categories=[category])
    session.add(provider)
    caller = Caller(phone=f"139{n:08d}", phone_kind=PhoneKind.MOBILE)
    session.add(caller)
    session.flush()
    for index in range(workers):
        worker = Worker(provider_id=provider.id, name=f"阿姨{index}")
        expires = NOW.date() + dt.timedelta(days=200) if index < certified else NOW.date() - dt.timedelta(days=1)
        worker.certificates.append(Certificate(kind="育婴员", number=f"C{n}-{index}",
                                               issued_on=NOW.date() - dt.timedelta(days=700), expires_on=expires))
        session.add(worker)
    for index, rating in enumerate(ratings):
        request = _request(session, f"R{n}-{index}", category, caller, RequestStatus.SURVEYED)
        session.add(Survey(request_id=request.id, caller_id=caller.id, provider_id=provider.id,
                           language=Language.MANDARIN, due_at=NOW, status=SurveyStatus.COMPLETED, rating=rating,
                           completed_at=NOW - dt.timedelta(days=index + 1)))
    if answer_minutes is not None:
        request = _request(session, f"D{n}", category, caller, RequestStatus.COMPLETED)
        offered = NOW - dt.timedelta(days=3)
        session.add(Dispatch(request_id=request.id, provider_id=provider.id, status=DispatchStatus.ACCEPTED,
                             offered_at=offered, responded_at=offered + dt.timedelta(minutes=answer_minutes)))
    session.flush()
    return provider


def _request(session, number, category, caller, status) -> ServiceRequest:
    request = ServiceRequest(number=number, category_id=category.id, caller_id=caller.id,
                             channel=RequestChannel.PHONE, status=status)
    session.add(request)
    session.flush()
    return request


def _history(session, provider) -> list[GradeChange]:
    return list(reversed(grading.history(session, provider.id)))


def test_a_grade_change_explains_itself_with_its_inputs(session):
    # 6 ratings averaging 4.67 (32), 2 workers of whom 1 holds an unexpired certificate
    # (0.5 → 10; the other's expired yesterday), 4 years (7), answered in 5 minutes (10).
    provider = _provider(session, workers=2, certified=1)
    grading.regrade(session, RULE, [provider], now=NOW)
    first = _history(session, provider)[-1]
    assert first.inputs["certified_workers"] == 1 and first.inputs["workers"] == 2
    assert first.inputs["ratings"] == 6 and first.inputs["rating_avg"] == pytest.approx(4.67)
    points = {r["factor"]: r["points"] for r in first.reasons}
    assert points == {"base": 20, "rating": 32, "certified": 10, "years": 7, "response": 10}
    assert (first.score, first.rule_grade, provider.grade) == (79, 4, 4)

    # An upheld complaint (8 off) brings it to 71, still four stars; a second one to 63: three.
    for _ in range(2):
        session.add(Complaint(provider_id=provider.id, description="服务差", upheld=True,
                              created_at=NOW - dt.timedelta(days=10)))
    session.add(Complaint(provider_id=provider.id, description="不属实", upheld=False,
                          created_at=NOW - dt.timedelta(days=10)))
    session.flush()
    counts = grading.regrade(session, RULE, [provider], now=NOW + dt.timedelta(days=1))
    assert counts["changed"] == 1 and provider.grade == 3
    second = _history(session, provider)[-1]
    assert (second.previous_grade, second.grade, second.score) == (4, 3, 63)
    assert {"factor": "complaint_upheld", "value": 2, "points": -16} in second.reasons
    assert grading.latest_regrade(session, provider.id).id == second.id


def test_an_expired_certificate_stops_counting(session):
    provider = _provider(session, workers=2, certified=2)
    grading.regrade(session, RULE, [provider], now=NOW)
    assert _history(session, provider)[-1].inputs["certified_workers"] == 2
    # The certificates run 200 days: a regrade after that finds none valid.
    later = NOW + dt.timedelta(days=201)
    assert grading.gather_inputs(session, RULE, [provider], later)[provider.id].certified_workers == 0


def test_too_little_evidence_leaves_a_provider_ungraded_and_says_why(session):
    provider = _provider(session, ratings=(5, 5))
    provider.grade = 3  # a grade from before: the rule does not keep it
    counts = grading.regrade(session, RULE, [provider], now=NOW)
    assert counts["ungraded"] == 1 and provider.grade is None
    assert _history(session, provider)[-1].reasons == [{"missing": "ratings", "have": 2, "need": RULE.min_ratings}]


def test_an_override_is_audited_and_expires_at_the_next_regrade_unless_renewed(session):
    supervisor = _supervisor(session)
    provider = _provider(session, workers=2, certified=1)
    grading.regrade(session, RULE, [provider], now=NOW)
    assert provider.grade == 4
    with pytest.raises(Refused):
        grading.override(session, provider, 5, "  ", supervisor, now=NOW)
    grading.override(session, provider, 5, "市商务局表彰", supervisor, now=NOW + dt.timedelta(hours=1))
    assert (provider.grade, provider.grade_overridden) == (5, True)
    audit = session.scalars(select(AuditEntry).where(AuditEntry.entity_type == "providers",
                                                     AuditEntry.entity_id == provider.id)).all()
    assert [(a.action, a.details["reason"]) for a in audit] == [("grade_override", "市商务局表彰")]

    grading.regrade(session, RULE, [provider], now=NOW + dt.timedelta(days=30))
    assert (provider.grade, provider.grade_overridden) == (4, False)
    assert {"override": "expired", "grade": 5} in _history(session, provider)[-1].reasons

    # Renewed: it stands through one regrade, and expires at the one after.
    grading.override(session, provider, 5, "复核后维持", supervisor, now=NOW + dt.timedelta(days=31))
    grading.renew_override(session, provider, "整改期内维持", supervisor, now=NOW + dt.timedelta(days=32))
    grading.regrade(session, RULE, [provider], now=NOW + dt.timedelta(days=50))
    kept = _history(session, provider)[-1]
    assert (provider.grade, kept.rule_grade) == (5, 4) and {"override": "kept"} in kept.reasons
    grading.regrade(session, RULE, [provider], now=NOW + dt.timedelta(days=70))  # ratings still within 90 days
    assert (provider.grade, provider.grade_overridden) == (4, False)
    assert [c.source for c in _history(session, provider)] == [
        GradeSource.REGRADE, GradeSource.OVERRIDE, GradeSource.REGRADE, GradeSource.OVERRIDE, GradeSource.RENEWAL,
        GradeSource.REGRADE, GradeSource.REGRADE]


def test_renewing_without_an_override_is_refused(session):
    provider = _provider(session)
    with pytest.raises(Refused) as refused:
        grading.renew_override(session, provider, "维持", _supervisor(session), now=NOW)
    assert refused.value.code == "not_overridden"


def test_dispatch_ranking_uses_the_current_grade(session):
    category = session.scalars(select(ServiceCategory)).all()[5]
    better = _provider(session, category=category, workers=2, certified=2)  # 89: five stars
    worse = _provider(session, category=category, workers=2, certified=0)  # 69: three stars
    for provider in (better, worse):  # the callers' ratings alike, so the grade decides
        provider.rating_avg, provider.rating_count = 4.5, 6
    worse.grade = 5  # a stale grade from before: the regrade replaces it
    session.flush()
    before = [s.provider_id for s in suggest_providers(session, category.id, None, now=NOW)]
    assert before.index(worse.id) < before.index(better.id) or worse.id < better.id
    grading.regrade(session, RULE, [better, worse], now=NOW)
    session.expire_all()  # base_score is the database's to compute
    assert (session.get(Provider, better.id).grade, session.get(Provider, worse.id).grade) == (5, 3)
    ranked = [s.provider_id for s in suggest_providers(session, category.id, None, now=NOW)]
    assert ranked.index(better.id) < ranked.index(worse.id)


def test_a_suspension_leaves_dispatch_and_returns_by_itself_at_its_end(session):
    category = session.scalars(select(ServiceCategory)).all()[6]
    provider = _provider(session, category=category)
    supervisor = _supervisor(session)
    start = NOW + dt.timedelta(days=1)

    def suggested(at: dt.datetime) -> bool:
        return provider.id in {s.provider_id for s in suggest_providers(session, category.id, None, limit=50, now=at)}

    assert suggested(start)
    with pytest.raises(Refused):
        sanctions.suspend(session, provider, 0, "迟到", supervisor, now=start)
    sanctions.suspend(session, provider, 3, "多次迟到", supervisor, now=start)
    session.expire_all()
    end = start + dt.timedelta(days=3)
    assert not suggested(start + dt.timedelta(minutes=1))
    assert not suggested(end - dt.timedelta(seconds=1))
    request = _request(session, f"S{next(_serial)}", category,
                       session.scalars(select(Caller)).first(), RequestStatus.NEW)
    with pytest.raises(DispatchError):
        assign(session, request, session.get(Provider, provider.id), supervisor, now=start + dt.timedelta(days=1))
    assert suggested(end)  # back by itself: nothing ran in between
    assert suggested(end + dt.timedelta(days=1))
    assign(session, request, session.get(Provider, provider.id), supervisor, now=end)
    (measure,) = session.scalars(select(CreditMeasure).where(CreditMeasure.provider_id == provider.id)).all()
    assert (measure.kind, measure.ends_at, measure.reason) == (CreditMeasureKind.SUSPENSION, end, "多次迟到")
    # It counts in the next grading (15 points off).
    assert grading.gather_inputs(session, RULE, [provider], end)[provider.id].suspensions == 1


def test_a_removal_lasts_until_a_supervisor_reinstates_with_a_reason(session):
    category = session.scalars(select(ServiceCategory)).all()[7]
    provider = _provider(session, category=category)
    supervisor = _supervisor(session)
    sanctions.remove(session, provider, "无证上岗", supervisor, now=NOW)
    far = NOW + dt.timedelta(days=3650)
    assert provider.id not in {s.provider_id for s in suggest_providers(session, category.id, None, limit=50, now=far)}
    with pytest.raises(Refused):
        sanctions.reinstate(session, provider, "", supervisor, now=far)
    sanctions.reinstate(session, provider, "已补办证件", supervisor, now=far)
    assert provider.status == ProviderStatus.ACTIVE
    assert provider.id in {s.provider_id for s in suggest_providers(session, category.id, None, limit=50, now=far)}
    (removal,) = sanctions.measures(session, provider.id)
    assert (removal.lifted_at, removal.lift_reason) == (far, "已补办证件")
    actions = session.scalars(select(AuditEntry.action).where(AuditEntry.entity_type == "providers",
                                                              AuditEntry.entity_id == provider.id)).all()
    assert actions == ["removal", "reinstate"]


def test_warnings_and_commendations_enter_the_credit_file_and_the_grade(session):
    provider = _provider(session, workers=2, certified=1)
    supervisor = _supervisor(session)
    sanctions.warn(session, provider, "着装不规范", supervisor, now=NOW - dt.timedelta(days=5))
    sanctions.commend(session, provider, "拾金不昧", supervisor, now=NOW - dt.timedelta(days=4))
    inputs = grading.gather_inputs(session, RULE, [provider], NOW)[provider.id]
    assert (inputs.warnings, inputs.commendations) == (1, 1)
    assert [m.kind for m in sanctions.measures(session, provider.id)] == [
        CreditMeasureKind.COMMENDATION, CreditMeasureKind.WARNING]



def test_a_measure_sent_twice_is_recorded_once(session):
    """A double click on 记入 sent the warning twice: two warnings, counted twice in the grade."""
    provider = _provider(session, workers=2, certified=1)
    supervisor = _supervisor(session)
    sanctions.warn(session, provider, "着装不规范", supervisor, now=NOW)
    with pytest.raises(sanctions.SanctionRefused, match="just recorded"):
        sanctions.warn(session, provider, "着装不规范", supervisor, now=NOW + dt.timedelta(seconds=1))
    # Two at once: the other read the clock a moment earlier but took the lock second.
    with pytest.raises(sanctions.SanctionRefused, match="just recorded"):
        sanctions.warn(session, provider, "着装不规范", supervisor, now=NOW - dt.timedelta(milliseconds=5))
    # Another reason, another kind, or the same warning later on: each is a measure of its own.
    sanctions.warn(session, provider, "迟到", supervisor, now=NOW + dt.timedelta(seconds=2))
    sanctions.commend(session, provider, "着装不规范", supervisor, now=NOW + dt.timedelta(seconds=3))
    sanctions.warn(session, provider, "着装不规范", supervisor, now=NOW + dt.timedelta(minutes=3))
    inputs = grading.gather_inputs(session, RULE, [provider], NOW + dt.timedelta(minutes=4))[provider.id]
    assert (inputs.warnings, inputs.commendations) == (3, 1)


@pytest.mark.parametrize("empty_engine", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
                         indirect=True)
def test_providers_suspended_before_0011_become_removals_in_their_credit_file(empty_engine):
    from sqlalchemy import text
    from sqlalchemy.orm import Session

    from db import migrate

    migrate.upgrade(empty_engine, "0010")
    with empty_engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO providers (id, name, licence_number, phone, rating_count, capacity, status, suspended_reason, "
            "created_at) VALUES (1, '甲', 'L1', '1', 0, 5, 'suspended', '投诉核查中', '2025-01-01 00:00:00'), "
            "(2, '乙', 'L2', '1', 0, 5, 'active', NULL, '2025-01-01 00:00:00')"))
    migrate.upgrade(empty_engine, "0011")
    with Session(empty_engine) as session:
        (removal,) = session.scalars(select(CreditMeasure)).all()
        assert (removal.provider_id, removal.kind, removal.lifted_at) == (1, CreditMeasureKind.REMOVAL, None)
        assert removal.reason.startswith("投诉核查中")
        assert session.get(Provider, 1).status == ProviderStatus.SUSPENDED
        assert session.get(Provider, 2).suspended_until is None and not session.get(Provider, 2).grade_overridden

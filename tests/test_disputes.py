"""Disputes (纠纷处理) without Flask: the working-day deadline, intake from its three sources,
mediation, outcomes, and what they do to the credit file and grading (SQLite and PostgreSQL)."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from db.errors import Refused
from db.models import (
    AuditEntry, Caller, Complaint, ComplaintStatus, Dispatch, DispatchStatus, DisputeOrigin, DisputeOutcome,
    DisputeSide, DisputeStatus, Language, PhoneKind, RequestChannel, RequestStatus, ServiceCategory, ServiceRequest,
    Survey, SurveyStatus,
)
from ivr.menu import load_menu
from supervision import credit_file, disputes, grading
from tests.test_supervision import NOW, RULE, _provider, _supervisor

UTC = dt.timezone.utc
# The shipped menu's holidays and make-up working days, read by the menu's own loader.
CALENDAR = disputes.WorkingCalendar.from_hours(load_menu().hours)
_serial = iter(range(1, 10**6))


def _at(day: dt.date, hour: int = 10) -> dt.datetime:
    """`hour` o'clock in Heyuan on `day`, as UTC."""
    return dt.datetime(day.year, day.month, day.day, hour, tzinfo=UTC) - dt.timedelta(hours=8)


def _terms(now: dt.datetime = NOW, days: int = 15) -> disputes.Terms:
    return disputes.Terms(CALENDAR, days, now)


# --- the working-day calendar -----------------------------------------------------------------


def test_the_shipped_menu_holidays_are_read_through_its_loader():
    assert dt.date(2026, 10, 1) in CALENDAR.holidays and not CALENDAR.is_working_day(dt.date(2026, 10, 1))


@pytest.mark.parametrize("start, days, deadline", [
    (dt.date(2026, 11, 27), 1, dt.date(2026, 11, 30)),  # Friday: the weekend is skipped
    (dt.date(2026, 11, 27), 5, dt.date(2026, 12, 4)),
    (dt.date(2026, 11, 27), 6, dt.date(2026, 12, 7)),  # the next weekend too
    (dt.date(2026, 11, 28), 1, dt.date(2026, 11, 30)),  # opened on a Saturday
    (dt.date(2026, 11, 30), 4, dt.date(2026, 12, 4)),  # Monday + 4 stays in the week
    (dt.date(2026, 9, 30), 1, dt.date(2026, 10, 5)),  # National Day (Thu, Fri) then the weekend
    (dt.date(2026, 9, 25), 15, dt.date(2026, 10, 20)),  # 15 working days across the holiday block
    (dt.date(2026, 2, 13), 1, dt.date(2026, 2, 19)),  # Friday before Spring Festival (16–18 Feb)
])
def test_a_deadline_skips_weekends_and_the_menus_holidays(start, days, deadline):
    assert CALENDAR.add_working_days(start, days) == deadline


def test_a_make_up_working_day_counts():
    # 调休: Sunday 27 September worked in exchange for the National Day holiday.
    calendar = disputes.WorkingCalendar(CALENDAR.holidays, frozenset({dt.date(2026, 9, 27)}))
    assert calendar.add_working_days(dt.date(2026, 9, 25), 1) == dt.date(2026, 9, 27)
    assert CALENDAR.add_working_days(dt.date(2026, 9, 25), 1) == dt.date(2026, 9, 28)
    # A day both listed as holiday and make-up day is a holiday: the holiday list wins.
    both = disputes.WorkingCalendar(frozenset({dt.date(2026, 9, 27)}), frozenset({dt.date(2026, 9, 27)}))
    assert not both.is_working_day(dt.date(2026, 9, 27))


def test_the_deadline_counts_from_heyuans_day_not_utcs():
    # 01:00 Friday in Heyuan is still Thursday in UTC: one working day later is Monday.
    opened = dt.datetime(2026, 11, 26, 17, 0, tzinfo=UTC)
    assert disputes.deadline_for(opened, CALENDAR, 1) == dt.date(2026, 11, 30)


def test_a_deadline_of_no_working_days_is_refused():
    with pytest.raises(ValueError):
        CALENDAR.add_working_days(dt.date(2026, 11, 27), 0)


# --- intake -------------------------------------------------------------------------------------


def _caller(session) -> Caller:
    caller = Caller(phone=f"137{next(_serial):08d}", phone_kind=PhoneKind.MOBILE, name="王女士")
    session.add(caller)
    session.flush()
    return caller


def _complaint(session, provider, caller=None) -> Complaint:
    complaint = Complaint(caller_id=caller.id if caller else None, provider_id=provider.id if provider else None,
                          description="保洁阿姨打碎花瓶，企业拒绝赔偿", status=ComplaintStatus.OPEN, created_at=NOW)
    session.add(complaint)
    session.flush()
    return complaint


def _rated_survey(session, provider, caller, rating: int) -> Survey:
    category = session.scalars(select(ServiceCategory)).first()
    request = ServiceRequest(number=f"DS{next(_serial)}", category_id=category.id, caller_id=caller.id,
                             channel=RequestChannel.PHONE, status=RequestStatus.SURVEYED)
    session.add(request)
    session.flush()
    survey = Survey(request_id=request.id, caller_id=caller.id, provider_id=provider.id, language=Language.MANDARIN,
                    due_at=NOW, status=SurveyStatus.COMPLETED, rating=rating, completed_at=NOW - dt.timedelta(days=1))
    session.add(survey)
    session.flush()
    return survey


def test_a_complaint_escalates_into_one_dispute_that_keeps_the_link(session):
    provider, caller, user = _provider(session), _caller(session), _supervisor(session)
    complaint = _complaint(session, provider, caller)
    dispute = disputes.open_from_complaint(session, complaint, _terms(), user)
    assert (dispute.origin, dispute.complaint_id, dispute.provider_id, dispute.caller_id) == (
        DisputeOrigin.COMPLAINT, complaint.id, provider.id, caller.id)
    assert dispute.summary == complaint.description and dispute.status == DisputeStatus.OPEN
    assert dispute.deadline == dt.date(2026, 12, 18)  # Friday 27 Nov + 15 working days
    assert disputes.dispute_of_complaint(session, complaint.id).id == dispute.id
    with pytest.raises(Refused) as refused:
        disputes.open_from_complaint(session, complaint, _terms(), user)
    assert refused.value.code == "already_disputed"
    audit = session.scalars(select(AuditEntry).where(AuditEntry.entity_type == "disputes",
                                                     AuditEntry.entity_id == dispute.id)).one()
    assert (audit.action, audit.user_id, audit.details["origin"]) == ("open", user.id, "complaint")


def test_a_complaint_naming_no_provider_cannot_become_a_dispute(session):
    complaint = _complaint(session, None)
    with pytest.raises(Refused) as refused:
        disputes.open_from_complaint(session, complaint, _terms(), _supervisor(session))
    assert refused.value.code == "dispute_needs_provider"


def test_only_a_low_rating_becomes_a_dispute_and_the_threshold_is_the_settings(session):
    provider, caller, user = _provider(session), _caller(session), _supervisor(session)
    three, two = _rated_survey(session, provider, caller, 3), _rated_survey(session, provider, caller, 2)
    with pytest.raises(Refused) as refused:
        disputes.open_from_survey(session, three, _terms(), user)
    assert (refused.value.code, refused.value.params) == ("not_low_rating", {"most": 2})
    assert [s.id for s in disputes.low_rating_candidates(session, NOW) if s.provider_id == provider.id] == [two.id]
    dispute = disputes.open_from_survey(session, two, _terms(), user)
    assert (dispute.origin, dispute.survey_id, dispute.request_id, dispute.summary) == (
        DisputeOrigin.LOW_RATING, two.id, two.request_id, "回访评分2星")
    assert two.id not in [s.id for s in disputes.low_rating_candidates(session, NOW)]
    with pytest.raises(Refused):
        disputes.open_from_survey(session, two, _terms(), user)
    # A centre that takes up three stars too says so in the settings.
    assert disputes.open_from_survey(session, three, _terms(), user, low_rating=3).survey_id == three.id


def test_an_operator_takes_a_dispute_in_against_the_provider_the_request_went_to(session):
    provider, caller = _provider(session), _caller(session)
    category = provider.categories[0]
    request = ServiceRequest(number=f"OP{next(_serial)}", category_id=category.id, caller_id=caller.id,
                             channel=RequestChannel.PHONE, status=RequestStatus.COMPLETED)
    session.add(request)
    session.flush()
    session.add(Dispatch(request_id=request.id, provider_id=provider.id, status=DispatchStatus.ACCEPTED))
    session.flush()
    session.refresh(request)
    dispute = disputes.open_by_operator(session, _terms(), None, provider=None, request=request,
                                        summary="  维修后空调仍漏水，企业要求另付上门费 ")
    assert (dispute.origin, dispute.provider_id, dispute.caller_id, dispute.request_id) == (
        DisputeOrigin.OPERATOR, provider.id, caller.id, request.id)
    assert dispute.summary == "维修后空调仍漏水，企业要求另付上门费"
    with pytest.raises(Refused) as refused:
        disputes.open_by_operator(session, _terms(), None, provider=provider, summary="   ")
    assert refused.value.code == "dispute_summary_required"
    with pytest.raises(Refused) as refused:
        disputes.open_by_operator(session, _terms(), None, provider=None, summary="无企业")
    assert refused.value.code == "dispute_needs_provider"


# --- mediation and outcome ------------------------------------------------------------------------


def _dispute(session, provider=None, opened: dt.datetime = NOW):
    provider = provider or _provider(session)
    return disputes.open_by_operator(session, _terms(opened), None, provider=provider, summary="服务未完成却收全款")


def test_statements_and_steps_make_a_timeline_in_the_order_things_happened(session):
    user = _supervisor(session)
    dispute = _dispute(session)  # opened Friday 27 Nov, 10:00 in Heyuan
    disputes.add_statement(session, dispute, DisputeSide.CALLER, "王女士", "只做了两个小时", user,
                           now=NOW + dt.timedelta(days=3))
    # A phone mediation on Saturday, written up on Monday after the statement.
    disputes.add_step(session, dispute, dt.date(2026, 11, 28), "电话联系双方，企业同意核实", user,
                      now=NOW + dt.timedelta(days=3, hours=1))
    disputes.add_statement(session, dispute, DisputeSide.PROVIDER, "李经理", "阿姨按约定时长完成", user,
                           now=NOW + dt.timedelta(days=3, hours=2))
    assert dispute.status == DisputeStatus.MEDIATING
    kinds = [(entry.kind, entry.day) for entry in disputes.timeline(dispute)]
    assert kinds == [("opened", dt.date(2026, 11, 27)), ("step", dt.date(2026, 11, 28)),
                     ("statement", dt.date(2026, 11, 30)), ("statement", dt.date(2026, 11, 30))]
    assert [s.side for s in dispute.statements] == [DisputeSide.CALLER, DisputeSide.PROVIDER]


@pytest.mark.parametrize("day", [dt.date(2026, 11, 26), dt.date(2026, 12, 1)])
def test_a_step_is_dated_between_the_intake_and_today(session, day):
    dispute = _dispute(session)
    with pytest.raises(Refused) as refused:
        disputes.add_step(session, dispute, day, "调解", None, now=NOW + dt.timedelta(days=3))  # today: 30 Nov
    assert refused.value.code == "bad_step_day"
    assert refused.value.params == {"first": "2026-11-27", "last": "2026-11-30"}
    assert dispute.steps == [] and dispute.status == DisputeStatus.OPEN


def test_blank_statements_and_steps_are_refused(session):
    dispute = _dispute(session)
    for call, code in ((lambda: disputes.add_statement(session, dispute, DisputeSide.CALLER, " ", "话", None),
                        "author_required"),
                       (lambda: disputes.add_statement(session, dispute, DisputeSide.CALLER, "王女士", "", None),
                        "statement_required"),
                       (lambda: disputes.add_step(session, dispute, NOW.date(), "  ", None, now=NOW), "step_note_required")):
        with pytest.raises(Refused) as refused:
            call()
        assert refused.value.code == code


def test_closing_needs_a_remedy_when_upheld_and_then_nothing_more_is_recorded(session):
    user = _supervisor(session)
    dispute = _dispute(session)
    with pytest.raises(Refused) as refused:
        disputes.close(session, dispute, DisputeOutcome.PARTLY_UPHELD, "  ", None, user)
    assert refused.value.code == "remedy_required"
    with pytest.raises(Refused) as refused:
        disputes.close(session, dispute, "withdrawn", None, None, user)
    assert refused.value.code == "bad_outcome"
    with pytest.raises(Refused) as refused:
        disputes.close(session, dispute, "lost", None, None, user)
    assert refused.value.code == "bad_outcome"
    disputes.close(session, dispute, DisputeOutcome.PARTLY_UPHELD, "退还服务费一半（120元）", "双方各有责任", user,
                   now=NOW + dt.timedelta(days=2))
    assert (dispute.status, dispute.outcome, dispute.remedy, dispute.closing_note, dispute.closed_by_id) == (
        DisputeStatus.CLOSED, DisputeOutcome.PARTLY_UPHELD, "退还服务费一半（120元）", "双方各有责任", user.id)
    for late in (lambda: disputes.add_statement(session, dispute, DisputeSide.CENTER, "班长", "补充", user),
                 lambda: disputes.withdraw(session, dispute, "撤回", user),
                 lambda: disputes.close(session, dispute, DisputeOutcome.REJECTED, None, None, user)):
        with pytest.raises(Refused) as refused:
            late()
        assert refused.value.code == "dispute_closed"


def test_a_rejected_dispute_needs_no_remedy_and_a_withdrawal_needs_a_reason(session):
    rejected, withdrawn = _dispute(session), _dispute(session)
    disputes.close(session, rejected, DisputeOutcome.REJECTED, "", "企业已按合同履约", None)
    assert (rejected.outcome, rejected.remedy) == (DisputeOutcome.REJECTED, None)
    with pytest.raises(Refused) as refused:
        disputes.withdraw(session, withdrawn, " ", None)
    assert refused.value.code == "reason_required"
    disputes.withdraw(session, withdrawn, "双方已自行和解", None)
    assert (withdrawn.status, withdrawn.outcome, withdrawn.closing_note) == (
        DisputeStatus.CLOSED, DisputeOutcome.WITHDRAWN, "双方已自行和解")


def test_overdue_means_open_after_the_deadline_day(session):
    provider = _provider(session)
    late = _dispute(session, provider, opened=_at(dt.date(2026, 10, 26)))  # deadline 16 Nov
    due_today = _dispute(session, provider, opened=_at(dt.date(2026, 11, 6)))  # deadline 27 Nov
    closed_late = _dispute(session, provider, opened=_at(dt.date(2026, 10, 26)))
    disputes.withdraw(session, closed_late, "和解", None)
    assert (late.deadline, due_today.deadline) == (dt.date(2026, 11, 16), dt.date(2026, 11, 27))
    assert disputes.is_overdue(late, NOW) and not disputes.is_overdue(due_today, NOW)
    assert not disputes.is_overdue(closed_late, NOW)
    overdue_ids = {d.id for d in disputes.listed(session, "overdue", NOW)}
    assert late.id in overdue_ids and not overdue_ids & {due_today.id, closed_late.id}
    # 23:59 on the deadline day is still in time; 00:00 the next day in Heyuan is not.
    assert not disputes.is_overdue(due_today, _at(dt.date(2026, 11, 27), 23))
    assert disputes.is_overdue(due_today, _at(dt.date(2026, 11, 28), 0))
    before = disputes.overdue_count(session, NOW)
    assert disputes.overdue_count(session, _at(dt.date(2026, 11, 28), 0)) == before + 1
    assert {d.id for d in disputes.listed(session, "closed", NOW)} >= {closed_late.id}
    assert closed_late.id not in {d.id for d in disputes.listed(session, "open", NOW)}


# --- the credit file and grading ------------------------------------------------------------------


def test_a_lost_dispute_is_in_the_credit_file_and_a_regrade_deducts_it(session):
    provider, user = _provider(session), _supervisor(session)
    grading.regrade(session, RULE, [provider], now=NOW)
    before = grading.latest_regrade(session, provider.id)
    assert before.inputs["disputes_lost"] == 0
    lost, rejected, withdrawn = (_dispute(session, provider, opened=NOW - dt.timedelta(days=20)) for _ in range(3))
    disputes.close(session, lost, DisputeOutcome.UPHELD, "免费返工并赔偿花瓶300元", None, user,
                   now=NOW - dt.timedelta(days=2))
    disputes.close(session, rejected, DisputeOutcome.REJECTED, None, None, user, now=NOW - dt.timedelta(days=2))
    disputes.withdraw(session, withdrawn, "和解", user, now=NOW - dt.timedelta(days=2))
    grading.regrade(session, RULE, [provider], now=NOW)
    after = grading.latest_regrade(session, provider.id)
    assert after.inputs["disputes_lost"] == 1
    assert {"factor": "dispute_lost", "value": 1, "points": -RULE.deductions["dispute_lost"]} in after.reasons
    assert after.score == before.score - RULE.deductions["dispute_lost"]
    # Outside the rule's record window it no longer counts.
    later = NOW - dt.timedelta(days=2) + dt.timedelta(days=RULE.record_days + 1)
    assert grading.gather_inputs(session, RULE, [provider], later)[provider.id].disputes_lost == 0
    events = [(e.kind, e.details.get("id")) for e in credit_file.timeline(session, provider)]
    assert ("dispute_outcome", lost.id) in events and ("dispute", lost.id) in events
    outcome = next(e for e in credit_file.timeline(session, provider) if e.kind == "dispute_outcome" and e.details["id"] == lost.id)
    assert outcome.details == {"id": lost.id, "outcome": "upheld", "remedy": "免费返工并赔偿花瓶300元"}

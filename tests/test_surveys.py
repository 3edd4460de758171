"""Survey scheduling and claiming on a simulated clock: quiet hours, retries, caps, opt-outs."""
from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import zoneinfo

import pytest
from sqlalchemy import func, select

from config import load_settings
from db.dispatching import assign, respond
from db.models import (
    AttemptOutcome, CallbackReason, CallbackTask, Caller, Language, PhoneKind, Provider, RequestChannel, RequestStatus,
    ServiceCategory, Survey, SurveyStatus,
)
from db.service_requests import change_status, open_request
from ivr.menu import configured_menu
from surveys.policy import (
    SurveyPolicy, cancel_opted_out, claim, record_no_input, record_rating, recover_stale, reschedule,
    schedule_completed, settle_originate, start_attempt,
)

TZ = zoneinfo.ZoneInfo("Asia/Shanghai")
# Friday 27 November 2026, 10:00 in Heyuan.
FRIDAY_10 = dt.datetime(2026, 11, 27, 10, 0, tzinfo=TZ).astimezone(dt.timezone.utc)
_numbers = itertools.count(1)


@pytest.fixture
def policy():
    return SurveyPolicy.from_settings(load_settings(environ={}), configured_menu(""))


def _completed_request(session, phone: str, *, at: dt.datetime, language=Language.CANTONESE, provider=None):
    caller = session.scalar(select(Caller).where(Caller.phone == phone))
    if caller is None:
        caller = Caller(phone=phone, phone_kind=PhoneKind.MOBILE, language=language)
        session.add(caller)
    category = session.scalar(select(ServiceCategory).where(ServiceCategory.code == "household"))
    if provider is None:
        provider = Provider(name=f"企业{next(_numbers)}", licence_number=f"SV{next(_numbers)}", phone="13900000001",
                            categories=[category])
        session.add(provider)
    session.flush()
    request = open_request(session, caller, category, RequestChannel.PHONE, TZ, now=at - dt.timedelta(hours=5))
    offer = assign(session, request, provider, None, now=at - dt.timedelta(hours=4))
    respond(session, offer, True, None, now=at - dt.timedelta(hours=4))
    change_status(session, request, RequestStatus.IN_SERVICE, now=at - dt.timedelta(hours=3))
    change_status(session, request, RequestStatus.COMPLETED, now=at)
    return request


def test_a_completed_request_is_surveyed_after_the_delay_in_the_callers_language(session, policy):
    request = _completed_request(session, "13912340001", at=FRIDAY_10)
    assert schedule_completed(session, policy, FRIDAY_10 + policy.delay - dt.timedelta(minutes=1)) == 0
    assert schedule_completed(session, policy, FRIDAY_10 + policy.delay) == 1
    assert schedule_completed(session, policy, FRIDAY_10 + policy.delay) == 0  # once
    survey = session.scalar(select(Survey).where(Survey.request_id == request.id))
    assert survey.language == Language.CANTONESE and survey.provider_id == request.dispatches[-1].provider_id


def test_opted_out_callers_are_never_surveyed_or_called(session, policy):
    _completed_request(session, "13912340002", at=FRIDAY_10)
    quiet = session.scalar(select(Caller).where(Caller.phone == "13912340002"))
    quiet.do_not_call = True
    assert schedule_completed(session, policy, FRIDAY_10 + policy.delay) == 0
    quiet.do_not_call = False
    assert schedule_completed(session, policy, FRIDAY_10 + policy.delay) == 1
    quiet.do_not_call = True  # opted out after the survey was scheduled
    session.flush()
    assert claim(session, policy, "d1", 10, FRIDAY_10 + policy.delay) == []
    assert cancel_opted_out(session) == 1


def test_quiet_hours_days_off_and_holidays_are_never_called_through_a_simulated_week(session, policy):
    for n in range(12):
        _completed_request(session, f"1391235{n:04d}", at=FRIDAY_10 - dt.timedelta(days=1))
    schedule_completed(session, policy, FRIDAY_10)
    clock, claimed_at = FRIDAY_10, []
    while clock < FRIDAY_10 + dt.timedelta(days=8):
        for taken in claim(session, policy, "d1", 3, clock):
            claimed_at.append(clock)
            attempt = start_attempt(session, taken.survey_id, f"a{len(claimed_at)}", clock)
            settle_originate(session, attempt.action_id, "1", policy, clock)  # no answer: retried later
        clock += dt.timedelta(minutes=7)
    assert claimed_at, "nobody was ever called"
    for when in claimed_at:
        local = when.astimezone(TZ)
        assert dt.time(9) <= local.time() < dt.time(21), local
        assert local.isoweekday() in (1, 2, 3, 4, 5, 6), local
    assert any(w.astimezone(TZ).isoweekday() == 6 for w in claimed_at)  # Saturday is a calling day
    surveys = session.scalars(select(Survey)).all()
    assert all(s.status == SurveyStatus.FAILED and s.attempt_count == policy.max_attempts for s in surveys)


@pytest.mark.parametrize("reason, outcome", [("5", AttemptOutcome.BUSY), ("1", AttemptOutcome.NO_ANSWER),
                                             ("8", AttemptOutcome.CONGESTION), ("0", AttemptOutcome.FAILED)])
def test_retries_wait_by_outcome_then_give_up(session, policy, reason, outcome):
    _completed_request(session, "13912340003", at=FRIDAY_10)
    schedule_completed(session, policy, FRIDAY_10 + policy.delay)
    clock = FRIDAY_10 + policy.delay
    for number in range(1, policy.max_attempts + 1):
        (taken,) = claim(session, policy, "d1", 1, clock)
        attempt = start_attempt(session, taken.survey_id, f"{reason}-{number}", clock)
        settle_originate(session, attempt.action_id, reason, policy, clock)
        survey = session.get(Survey, taken.survey_id)
        assert attempt.outcome == outcome and attempt.originate_reason == int(reason)
        if number < policy.max_attempts:
            assert survey.status == SurveyStatus.SCHEDULED and survey.due_at == clock + policy.retry[outcome]
            assert claim(session, policy, "d1", 1, clock + policy.retry[outcome] - dt.timedelta(minutes=1)) == []
            # One call a day to a caller: the retry comes the next calling day at the earliest.
            clock = max(survey.due_at, (clock.astimezone(TZ) + dt.timedelta(days=1)).replace(hour=9, minute=30))
            while not policy.may_call(clock):
                clock += dt.timedelta(days=1)
    assert survey.status == SurveyStatus.FAILED


def test_answered_without_a_key_counts_as_no_answer(session, policy):
    _completed_request(session, "13912340004", at=FRIDAY_10)
    schedule_completed(session, policy, FRIDAY_10 + policy.delay)
    clock = FRIDAY_10 + policy.delay
    (taken,) = claim(session, policy, "d1", 1, clock)
    attempt = start_attempt(session, taken.survey_id, "ni-1", clock)
    settle_originate(session, "ni-1", "4", policy, clock)
    survey = session.get(Survey, taken.survey_id)
    assert survey.status == SurveyStatus.DIALLING and attempt.outcome is None  # the IVR has it now
    record_no_input(session, survey, policy, clock)
    assert attempt.outcome == AttemptOutcome.NO_INPUT
    assert survey.status == SurveyStatus.SCHEDULED and survey.due_at == clock + policy.retry[AttemptOutcome.NO_INPUT]


def test_a_caller_is_called_at_most_daily_cap_times_a_day(session, policy):
    for _ in range(3):
        _completed_request(session, "13912340005", at=FRIDAY_10)
    schedule_completed(session, policy, FRIDAY_10 + policy.delay)
    clock = FRIDAY_10 + policy.delay
    (taken,) = claim(session, policy, "d1", 10, clock)
    start_attempt(session, taken.survey_id, "cap-1", clock)
    settle_originate(session, "cap-1", "5", policy, clock)
    assert claim(session, policy, "d1", 10, clock + dt.timedelta(hours=3)) == []  # cap of one a day
    next_morning = dt.datetime(2026, 11, 28, 9, 30, tzinfo=TZ)
    assert len(claim(session, policy, "d1", 10, next_morning)) == 1  # one a day, again


def test_survey_calls_in_progress_never_exceed_the_channel_cap(session, policy):
    policy = dataclasses.replace(policy, calls_per_second=1000)
    for n in range(policy.max_channels + 4):
        _completed_request(session, f"1391236{n:04d}", at=FRIDAY_10)
    schedule_completed(session, policy, FRIDAY_10 + policy.delay)
    clock = FRIDAY_10 + policy.delay
    first = claim(session, policy, "d1", 100, clock)
    assert len(first) == policy.max_channels
    assert claim(session, policy, "d2", 100, clock) == []
    start_attempt(session, first[0].survey_id, "ch-1", clock)
    settle_originate(session, "ch-1", "5", policy, clock)
    assert len(claim(session, policy, "d2", 100, clock)) == 1


def test_a_vanished_dialers_claims_are_settled_without_calling_anyone_twice(session, policy):
    for n in range(2):
        _completed_request(session, f"1391237{n:04d}", at=FRIDAY_10)
    schedule_completed(session, policy, FRIDAY_10 + policy.delay)
    clock = FRIDAY_10 + policy.delay
    never_dialled, maybe_dialled = claim(session, policy, "dead", 2, clock)
    start_attempt(session, maybe_dialled.survey_id, "dead-1", clock)
    later = clock + policy.claim_timeout + dt.timedelta(minutes=1)
    assert recover_stale(session, policy, later) == 2
    back = session.get(Survey, never_dialled.survey_id)
    assert back.status == SurveyStatus.SCHEDULED and back.attempt_count == 0 and back.due_at <= later
    retried = session.get(Survey, maybe_dialled.survey_id)
    assert retried.status == SurveyStatus.SCHEDULED and retried.due_at == later + policy.retry[AttemptOutcome.FAILED]
    assert [c.survey_id for c in claim(session, policy, "alive", 5, later)] == [never_dialled.survey_id]


def test_a_rating_goes_to_the_providers_credit_file_and_a_low_one_is_followed_up(session, policy):
    policy = dataclasses.replace(policy, calls_per_second=1000)
    provider = None
    ratings = [5, 4, 1]
    surveys = []
    for n, rating in enumerate(ratings):
        request = _completed_request(session, f"1391238{n:04d}", at=FRIDAY_10, provider=provider)
        provider = request.dispatches[-1].provider
    schedule_completed(session, policy, FRIDAY_10 + policy.delay)
    clock = FRIDAY_10 + policy.delay
    for taken, rating in zip(claim(session, policy, "d1", 5, clock), ratings):
        survey = session.get(Survey, taken.survey_id)
        start_attempt(session, survey.id, f"r-{survey.id}", clock)
        record_rating(session, survey, rating, None, clock)
        surveys.append(survey)
    session.refresh(provider)
    assert provider.rating_count == 3 and provider.rating_avg == pytest.approx(3.33, abs=0.01)
    assert all(s.request.status == RequestStatus.SURVEYED for s in surveys)
    follow_ups = session.scalars(select(CallbackTask).where(CallbackTask.reason == CallbackReason.SURVEY_FOLLOW_UP)).all()
    assert [t.survey_id for t in follow_ups] == [surveys[2].id]
    with pytest.raises(ValueError):
        record_rating(session, surveys[0], 6, None, clock)


def test_calls_per_second_are_capped_across_dialers(session, policy):
    policy = dataclasses.replace(policy, calls_per_second=2, max_channels=100)
    for n in range(6):
        _completed_request(session, f"1391239{n:04d}", at=FRIDAY_10)
    schedule_completed(session, policy, FRIDAY_10 + policy.delay)
    clock = FRIDAY_10 + policy.delay
    first = claim(session, policy, "d1", 100, clock)
    assert len(first) == 2
    for taken in first:
        start_attempt(session, taken.survey_id, f"cps-{taken.survey_id}", clock)
    assert claim(session, policy, "d2", 100, clock + dt.timedelta(milliseconds=500)) == []
    assert len(claim(session, policy, "d2", 100, clock + dt.timedelta(milliseconds=1100))) == 2


def test_a_claim_takes_the_earliest_due_first_one_per_caller_each_with_its_callers_number(session, policy):
    """Due order is not id order here; a caller with two due surveys is called for the earlier one."""
    policy = dataclasses.replace(policy, calls_per_second=1000)
    phones = ["13912341001", "13912341002", "13912341003", "13912341001"]
    languages = [Language.CANTONESE, Language.MANDARIN, Language.HAKKA, Language.CANTONESE]
    requests = [_completed_request(session, phone, at=FRIDAY_10, language=language)
                for phone, language in zip(phones, languages)]
    schedule_completed(session, policy, FRIDAY_10 + policy.delay)
    clock = FRIDAY_10 + policy.delay
    surveys = [session.scalar(select(Survey).where(Survey.request_id == r.id)) for r in requests]
    for survey, minutes_early in zip(surveys, [10, 20, 30, 40]):
        reschedule(survey, clock - dt.timedelta(minutes=minutes_early))
    session.flush()
    taken = claim(session, policy, "d1", 10, clock)
    # Earliest first: the fourth (first caller again), the third, the second; not the first.
    assert [c.survey_id for c in taken] == [surveys[3].id, surveys[2].id, surveys[1].id]
    assert [c.phone for c in taken] == [phones[3], phones[2], phones[1]]
    assert [c.language for c in taken] == [languages[3].value, languages[2].value, languages[1].value]
    # What the session already held shows the claim, not the state before it.
    assert [s.status for s in surveys] == [SurveyStatus.SCHEDULED] + [SurveyStatus.DIALLING] * 3
    assert surveys[3].claimed_by == "d1" and surveys[3].attempt_count == 1


def test_a_survey_calls_its_requests_caller_and_no_one_else(session):
    """One composite key holds a survey's request and caller: a survey for somebody who is
    not the request's caller, or for no request at all, is refused by the database."""
    from sqlalchemy.exc import IntegrityError

    request = _completed_request(session, "13912342001", at=FRIDAY_10)
    stranger = Caller(phone="13912342002", phone_kind=PhoneKind.MOBILE)
    session.add(stranger)
    session.flush()
    for request_id, caller_id in ((request.id, stranger.id), (request.id + 1000, stranger.id)):
        with pytest.raises(IntegrityError), session.begin_nested():
            session.add(Survey(request_id=request_id, caller_id=caller_id, language=Language.MANDARIN, due_at=FRIDAY_10))
            session.flush()
    session.add(Survey(request_id=request.id, caller_id=request.caller_id, language=Language.MANDARIN, due_at=FRIDAY_10))
    session.flush()  # the request's own caller: accepted


def test_a_request_whose_caller_is_corrected_takes_its_survey_along(session, policy):
    request = _completed_request(session, "13912342003", at=FRIDAY_10)
    assert schedule_completed(session, policy, FRIDAY_10 + policy.delay) == 1
    survey = session.scalar(select(Survey).where(Survey.request_id == request.id))
    right = Caller(phone="13912342004", phone_kind=PhoneKind.MOBILE)
    request.caller = right
    session.flush()
    session.refresh(survey)
    assert survey.caller_id == right.id and survey.caller.phone == "13912342004"


@pytest.mark.parametrize("empty_engine", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_two_dialers_enqueueing_at_once_queue_each_survey_once(empty_engine, policy):
    """The second enqueue waits for the first and then finds the survey queued (without
    taking turns it would fail on the unique request once the first committed)."""
    import threading

    from sqlalchemy import text

    from db import migrate
    from db.reference import ensure_reference_data
    from db.session import make_session_factory, transaction
    from tests.conftest import wait_until

    migrate.upgrade(empty_engine)
    sessions = make_session_factory(empty_engine)
    with transaction(sessions) as setup:
        ensure_reference_data(setup)
        _completed_request(setup, "13912342005", at=FRIDAY_10)
    now = FRIDAY_10 + policy.delay
    outcome: dict = {}

    def second_dialer():
        try:
            with transaction(sessions) as session:
                outcome["pid"] = session.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar()
                outcome["queued"] = schedule_completed(session, policy, now)
        except Exception as exc:  # reported by the assertion below
            outcome["error"] = exc

    with sessions() as first, first.begin():
        assert schedule_completed(first, policy, now) == 1
        thread = threading.Thread(target=second_dialer)
        thread.start()
        with empty_engine.connect() as watcher:
            def second_waits() -> bool:
                if "pid" not in outcome:
                    return False
                event = watcher.execute(text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid"),
                                        {"pid": outcome["pid"]}).scalar()
                watcher.rollback()  # the activity view is read once a transaction
                return event == "Lock"
            assert wait_until(second_waits), "the second enqueue never waited for the first"
    thread.join(30)
    assert outcome.get("queued") == 0, outcome
    with sessions() as check:
        assert check.scalar(select(func.count()).select_from(Survey)) == 1

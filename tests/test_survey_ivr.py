"""The `survey` script over real FastAGI, in the caller's language."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from db.models import (
    AttemptOutcome, CallbackReason, CallbackTask, Language, Provider, RequestStatus, ServiceRequest, Survey,
    SurveyAttempt, SurveyStatus,
)
from db.session import make_session_factory
from ivr.engine import provider_prompt


@pytest.fixture
def survey_call(ivr_db, dial, clock):
    """A survey being dialled for the demo's dispatched request, and a way to answer it."""
    sessions = make_session_factory(ivr_db)
    with sessions() as session, session.begin():
        request = session.scalar(select(ServiceRequest).where(ServiceRequest.status == RequestStatus.DISPATCHED).limit(1))
        request.status = RequestStatus.COMPLETED
        provider_id = request.dispatches[-1].provider_id
        survey = Survey(request_id=request.id, caller_id=request.caller_id, provider_id=provider_id,
                        language=Language.CANTONESE, due_at=clock.now, status=SurveyStatus.DIALLING,
                        attempt_count=1, claimed_by="test", claimed_at=clock.now)
        session.add(survey)
        session.flush()
        session.add(SurveyAttempt(survey_id=survey.id, action_id="t-1", started_at=clock.now, originate_reason=4))
        ids = {"survey": survey.id, "request": request.id, "provider": provider_id, "number": request.number}

    def answer(keys: str):
        transcript = dial(keys, caller="13800138000", script="survey",
                          variables={"HOTLINE_SURVEY_ID": str(ids["survey"]), "HOTLINE_LANG": "yue"})
        with sessions() as session:
            return transcript, session.get(Survey, ids["survey"])

    return answer, ids, sessions


def test_a_rating_is_heard_in_cantonese_and_goes_into_the_credit_file(survey_call):
    answer, ids, sessions = survey_call
    transcript, survey = answer("4 2")
    heard = [path.split("/sounds/")[-1] for path in transcript.heard]
    assert heard[0] == "zh_yue/survey_greeting" and heard[-1] == "zh_yue/survey_thanks"
    assert survey.status == SurveyStatus.COMPLETED and survey.rating == 4 and survey.comment_recording is None
    with sessions() as session:
        provider = session.get(Provider, ids["provider"])
        assert provider.rating_count >= 1 and provider.rating_avg is not None
        assert session.get(ServiceRequest, ids["request"]).status == RequestStatus.SURVEYED
        attempt = session.scalar(select(SurveyAttempt).where(SurveyAttempt.action_id == "t-1"))
        assert attempt.outcome == AttemptOutcome.ANSWERED


def test_the_request_number_and_provider_are_read_out(survey_call, ivr_services):
    answer, ids, _ = survey_call
    transcript, _ = answer("5 2")
    played = transcript.heard
    digits = [d for d in ids["number"] if d.isdigit()]
    assert [p.rsplit("/", 1)[-1] for p in played if "/digits/" in p][:len(digits)] == digits
    assert any(p.endswith(provider_prompt(ids["provider"])) for p in played)


def test_an_invalid_key_is_asked_again_and_a_low_rating_with_a_comment_is_followed_up(survey_call):
    answer, ids, sessions = survey_call
    transcript, survey = answer("9 1 1 #@5000")
    assert survey.rating == 1 and survey.comment_recording and survey.comment_recording.endswith(".wav")
    with sessions() as session:
        task = session.scalar(select(CallbackTask).where(CallbackTask.survey_id == ids["survey"]))
        assert task.reason == CallbackReason.SURVEY_FOLLOW_UP and task.phone == "13800138000"


def test_silence_counts_as_no_answer_and_is_retried_later(survey_call):
    answer, ids, sessions = survey_call
    transcript, survey = answer("- - -")
    assert survey.status == SurveyStatus.SCHEDULED and survey.rating is None
    with sessions() as session:
        attempt = session.scalar(select(SurveyAttempt).where(SurveyAttempt.action_id == "t-1"))
        assert attempt.outcome == AttemptOutcome.NO_INPUT


def test_a_rating_given_before_hanging_up_stands(survey_call):
    answer, _, _ = survey_call
    transcript, survey = answer("3 h")
    assert survey.status == SurveyStatus.COMPLETED and survey.rating == 3


def test_an_unknown_survey_ends_quietly(dial):
    transcript = dial("", script="survey", variables={"HOTLINE_SURVEY_ID": "999999"})
    assert transcript.agi_status == "SUCCESS" and transcript.heard == []

"""The survey queue in the console: attempts and results, reschedule, cancel, do-not-call."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from db.base import utcnow
from db.models import Caller, Language, ServiceRequest, Survey, SurveyAttempt, SurveyStatus, AttemptOutcome


@pytest.fixture
def survey_id(console_services):
    with console_services.sessions() as session, session.begin():
        request = session.scalar(select(ServiceRequest).where(ServiceRequest.caller_id.is_not(None)).limit(1))
        survey = Survey(request_id=request.id, caller_id=request.caller_id, language=Language.MANDARIN,
                        due_at=utcnow(), status=SurveyStatus.SCHEDULED, attempt_count=1,
                        provider_id=request.dispatches[-1].provider_id if request.dispatches else None)
        session.add(survey)
        session.flush()
        session.add(SurveyAttempt(survey_id=survey.id, action_id="c-1", outcome=AttemptOutcome.BUSY, originate_reason=5,
                                  started_at=utcnow() - dt.timedelta(hours=1)))
        return survey.id


def test_the_queue_shows_each_survey_with_its_attempts(client, auth, survey_id):
    auth.login()
    assert "待回访" in client.get("/surveys").get_data(as_text=True)
    page = client.get(f"/surveys/{survey_id}").get_data(as_text=True)
    # Asterisk's originate reason in words, never its number (5: busy).
    assert "占线" in page and "忙线" in page and "<td>5</td>" not in page


def test_reschedule_and_cancel(client, auth, console_services, survey_id):
    auth.login()
    auth.post(f"/surveys/{survey_id}/reschedule", {"due": "2026-12-01T10:30"}, page=f"/surveys/{survey_id}")
    with console_services.sessions() as session:
        due = session.get(Survey, survey_id).due_at
    assert due == dt.datetime(2026, 12, 1, 2, 30, tzinfo=dt.timezone.utc)  # 10:30 in Heyuan
    bad = auth.post(f"/surveys/{survey_id}/reschedule", {"due": "tomorrow"}, page=f"/surveys/{survey_id}")
    assert "请选择新的日期和时间" in client.get(bad.headers["Location"]).get_data(as_text=True)
    too_early = auth.post(f"/surveys/{survey_id}/reschedule", {"due": "0001-01-01T00:00"}, page=f"/surveys/{survey_id}")
    assert too_early.status_code == 302  # was a 500: that moment in Heyuan is before UTC's first day
    assert "请选择新的日期和时间" in client.get(too_early.headers["Location"]).get_data(as_text=True)
    auth.post(f"/surveys/{survey_id}/cancel", page=f"/surveys/{survey_id}")
    with console_services.sessions() as session:
        assert session.get(Survey, survey_id).status == SurveyStatus.CANCELLED


def test_a_caller_who_asks_not_to_be_called_is_not(client, auth, console_services, survey_id):
    auth.login()
    with console_services.sessions() as session:
        caller_id = session.get(Survey, survey_id).caller_id
    auth.post(f"/callers/{caller_id}/do-not-call", {"value": "1", "next": f"/surveys/{survey_id}"}, page=f"/surveys/{survey_id}")
    with console_services.sessions() as session:
        assert session.get(Caller, caller_id).do_not_call is True
        assert session.get(Survey, survey_id).status == SurveyStatus.CANCELLED
    assert "不再回访" in client.get(f"/surveys/{survey_id}").get_data(as_text=True)


def test_do_not_call_goes_back_only_to_a_survey_page_it_can_name(client, auth, console_services, survey_id):
    """The form's "next" is the survey page; a forged one with a newline (a 500 from the
    Location header) or far too long is answered with the survey list instead."""
    auth.login()
    with console_services.sessions() as session:
        caller_id = session.get(Survey, survey_id).caller_id
    for forged in (f"/surveys/{survey_id}\nSet-Cookie: a=b", f"/surveys/{survey_id}\r\nX: y", "/surveys/\t/evil.example",
                   "/surveys/" + "a" * 100_000, "//evil.example/surveys/"):
        response = auth.post(f"/callers/{caller_id}/do-not-call", {"value": "0", "next": forged}, page=f"/surveys/{survey_id}")
        assert response.status_code == 302 and response.headers["Location"] == "/surveys", (forged[:30], response.status_code)
    fine = auth.post(f"/callers/{caller_id}/do-not-call", {"value": "0", "next": f"/surveys/{survey_id}"}, page=f"/surveys/{survey_id}")
    assert fine.headers["Location"] == f"/surveys/{survey_id}"

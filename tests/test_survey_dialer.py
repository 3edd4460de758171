"""The survey dialer end to end on the emulator, and two dialers racing on PostgreSQL."""
from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select, text

from config import load_settings
from db.base import utcnow
from db.dispatching import respond
from db.models import (
    AttemptOutcome, Dispatch, DispatchStatus, Provider, RequestStatus, ServiceRequest, Survey, SurveyAttempt,
    SurveyStatus,
)
from db.service_requests import change_status
from db.session import make_session_factory
from emulator.ami_server import REASON_BUSY
from hotline.demo_stack import EmulatedAsterisk
from telephony.ami import AmiLink
from ivr.menu import configured_menu
from surveys.dialer import SurveyDialer
from surveys.policy import SurveyPolicy
from tests.conftest import POSTGRES_URL, free_port, wait_until


def _complete_the_demo_request(sessions, at):
    """The demo caller 13800138000's dispatched request: accepted, served, completed."""
    with sessions() as session, session.begin():
        request = session.scalar(select(ServiceRequest).join(Dispatch).where(ServiceRequest.status == RequestStatus.DISPATCHED))
        offer = request.dispatches[-1]
        if offer.status == DispatchStatus.OFFERED:
            respond(session, offer, True, None, now=at)
        change_status(session, request, RequestStatus.IN_SERVICE, now=at)
        change_status(session, request, RequestStatus.COMPLETED, now=at)
        return request.id, offer.provider_id, request.caller.phone


@pytest.fixture
def survey_rig(ivr_db, ivr_server, clock):
    settings = load_settings(environ={}, overrides={"survey.delay_minutes": 0})
    sessions = make_session_factory(ivr_db)
    asterisk = EmulatedAsterisk(ivr_server.address, settings, port=0).start()
    link = AmiLink("127.0.0.1", asterisk.port, "hotline", "development-ami-secret", event_mask="call")
    policy = SurveyPolicy.from_settings(settings, configured_menu(""))
    dialer = SurveyDialer(sessions, link, policy, name="t", clock=clock, pass_seconds=0.1)
    link.start()
    assert link.wait_connected(3)
    yield sessions, asterisk, dialer
    link.stop()
    asterisk.stop()


def _run_until(dialer, condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dialer.one_pass()
        dialer._drain_events(0.1)
        if condition():
            return True
    return False


def test_completed_request_is_called_and_the_rating_lands_in_the_credit_file(survey_rig, clock):
    sessions, asterisk, dialer = survey_rig
    request_id, provider_id, phone = _complete_the_demo_request(sessions, clock.now - dt.timedelta(hours=1))
    asterisk.survey_answers[phone] = "2 2"  # two stars, no comment

    def survey():
        with sessions() as session:
            return session.scalar(select(Survey).where(Survey.request_id == request_id))
    assert _run_until(dialer, lambda: survey() is not None and survey().status == SurveyStatus.COMPLETED)
    originate = next(a for a in asterisk.ami.actions if a.get("Action") == "Originate")
    assert originate["Channel"] == f"PJSIP/{phone}@hotline-trunk" and originate["Context"] == "hotline-survey"
    assert originate["Async"] == "true" and f"HOTLINE_SURVEY_ID={survey().id}" in originate["Variable"]
    with sessions() as session:
        provider = session.get(Provider, provider_id)
        attempt = session.scalar(select(SurveyAttempt).where(SurveyAttempt.survey_id == survey().id))
        assert survey().rating == 2 and provider.rating_count >= 1
        assert attempt.outcome == AttemptOutcome.ANSWERED and attempt.originate_reason == 4
        assert attempt.action_id == originate["ActionID"]
        assert session.get(ServiceRequest, request_id).status == RequestStatus.SURVEYED


def test_a_busy_line_is_retried_after_the_busy_delay(survey_rig, clock):
    sessions, asterisk, dialer = survey_rig
    asterisk.ami.originate_outcome = lambda channel: REASON_BUSY
    request_id, _, _ = _complete_the_demo_request(sessions, clock.now - dt.timedelta(hours=1))

    def survey():
        with sessions() as session:
            return session.scalar(select(Survey).where(Survey.request_id == request_id))
    assert _run_until(dialer, lambda: survey() is not None and survey().attempt_count == 1
                      and survey().status == SurveyStatus.SCHEDULED)
    assert survey().due_at == clock.now + dialer.policy.retry[AttemptOutcome.BUSY]
    dialer.one_pass()
    assert sum(1 for a in asterisk.ami.actions if a.get("Action") == "Originate") == 1  # not before the delay


def test_without_asterisk_nothing_is_claimed(ivr_db, clock):
    settings = load_settings(environ={}, overrides={"survey.delay_minutes": 0})
    sessions = make_session_factory(ivr_db)
    request_id, _, _ = _complete_the_demo_request(sessions, clock.now - dt.timedelta(hours=1))
    link = AmiLink("127.0.0.1", free_port(), "hotline", "x")
    dialer = SurveyDialer(sessions, link, SurveyPolicy.from_settings(settings, configured_menu("")), clock=clock)
    assert dialer.one_pass() == 0
    with sessions() as session:
        assert session.scalar(select(Survey.status).where(Survey.request_id == request_id)) == SurveyStatus.SCHEDULED


# --- two dialers on PostgreSQL, one killed ----------------------------------------------


@pytest.fixture
def postgres_schema():
    from sqlalchemy.exc import OperationalError

    from db.session import make_engine

    admin = make_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
    try:
        with admin.connect():
            pass
    except OperationalError as exc:
        pytest.skip(f"PostgreSQL at 127.0.0.1:5432 (database test) is unreachable: {exc.orig}")
    schema = f"hotline_dialers_{uuid.uuid4().hex[:8]}"
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    engine = make_engine(url)
    yield engine, url
    engine.dispose()
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def _menu_without_holidays(tmp_path: Path) -> Path:
    shipped = Path(__file__).parent.parent / "config" / "ivr_menu.toml"
    text_ = re.sub(r"(?m)^holidays\s*=\s*\[[^\]]*\]", "holidays = []", shipped.read_text(encoding="utf-8"))
    path = tmp_path / "menu.toml"
    path.write_text(text_, encoding="utf-8")
    return path


def _out_of_the_quiet_minute() -> None:
    """The dialers run as processes on the wall clock, with quiet hours 23:59–00:00 (a calling
    window cannot span midnight): a test started just before midnight in Shanghai waits for it."""
    local = dt.datetime.now(dt.timezone(dt.timedelta(hours=8)))
    if local.time() >= dt.time(23, 57):
        midnight = dt.datetime.combine(local.date() + dt.timedelta(days=1), dt.time(0, 0, 2), local.tzinfo)
        time.sleep((midnight - local).total_seconds())


@pytest.mark.postgres
@pytest.mark.slow
def test_two_dialers_one_killed_mid_claim_every_survey_dialled_exactly_once(postgres_schema, tmp_path):
    from db import migrate
    from db.models import Caller, Language, PhoneKind, RequestChannel
    from db.reference import ensure_reference_data
    from db.session import transaction
    from emulator.ami_server import REASON_NO_ANSWER, AmiServer

    engine, url = postgres_schema
    _out_of_the_quiet_minute()
    migrate.upgrade(engine)
    sessions = make_session_factory(engine)
    surveys = 30
    with transaction(sessions) as session:
        ensure_reference_data(session)
        for n in range(surveys):
            caller = Caller(phone=f"1360000{n:04d}", phone_kind=PhoneKind.MOBILE, language=Language.MANDARIN)
            session.add(caller)
            session.flush()
            request = ServiceRequest(number=f"K{n}", caller_id=caller.id, category_id=1, channel=RequestChannel.PHONE,
                                     status=RequestStatus.COMPLETED)
            session.add(request)
            session.flush()
            session.add(Survey(request_id=request.id, caller_id=caller.id, language=Language.MANDARIN,
                               due_at=utcnow() - dt.timedelta(minutes=1)))
    ami = AmiServer(originate_outcome=lambda channel: REASON_NO_ANSWER).start()
    env = {**os.environ, "HOTLINE_DATABASE_URL": url, "HOTLINE_ASTERISK_AMI_PORT": str(ami.port),
           "HOTLINE_APP_DATA_DIR": str(tmp_path), "HOTLINE_IVR_MENU_FILE": str(_menu_without_holidays(tmp_path)),
           "HOTLINE_SURVEY_QUIET_FROM": "23:59", "HOTLINE_SURVEY_QUIET_UNTIL": "00:00",
           "HOTLINE_SURVEY_WEEKDAYS": "1,2,3,4,5,6,7", "HOTLINE_SURVEY_CALLS_PER_SECOND": "6",
           "HOTLINE_SURVEY_MAX_CHANNELS": "50", "HOTLINE_SURVEY_CLAIM_TIMEOUT_SECONDS": "5"}
    env.pop("HOTLINE_CONFIG", None)
    start = lambda name: subprocess.Popen([sys.executable, "-m", "hotline", "dialer", "--name", name], env=env,  # noqa: E731
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    doomed, survivor = start("doomed"), start("survivor")
    try:
        def originated() -> collections.Counter:
            counts = collections.Counter()
            for action in list(ami.actions):
                if action.get("Action") == "Originate":
                    counts[re.search(r"HOTLINE_SURVEY_ID=(\d+)", action["Variable"]).group(1)] += 1
            return counts
        # Kill one dialer while both are working through their claims.
        assert wait_until(lambda: sum(1 for a in list(ami.actions) if a.get("ActionID", "").startswith("doomed-")) >= 2,
                          timeout=30), "the first dialer never dialled"
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(10)
        assert wait_until(lambda: len(originated()) == surveys, timeout=60, step=0.2), \
            f"only {len(originated())} of {surveys} surveys were dialled"

        def dialling_over() -> bool:
            """No survey can be dialled again within the test: every one is rescheduled
            (after no answer, or after a stale claim that may have been dialled) for an
            hour or more later. A survey waiting to be dialled is due now."""
            with sessions() as session:
                rows = session.execute(select(Survey.status, Survey.due_at)).all()
            return all(status == SurveyStatus.SCHEDULED and due_at > utcnow() + dt.timedelta(minutes=30)
                       for status, due_at in rows)
        assert wait_until(dialling_over, timeout=30, step=0.2)  # anything dialled twice has been by now
        counts = originated()
        assert set(counts.values()) == {1}, {k: v for k, v in counts.items() if v != 1}
        with sessions() as session:
            states = collections.Counter(session.scalars(select(Survey.status)).all())
            assert states == {SurveyStatus.SCHEDULED: surveys}  # every one rescheduled after no answer
    finally:
        for process in (doomed, survivor):
            if process.poll() is None:
                process.terminate()
                process.wait(20)
        ami.stop()

"""The SMS outbox and the Twilio adapter: nothing dropped, failures retried with backoff, visible."""
from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import select
from twilio.http import HttpClient
from twilio.http.response import Response

from db.base import utcnow
from db.models import SmsMessage, SmsStatus
from db.sms import queue_sms
from sms.gateway import SmsSendError, TwilioSms, gateway_from_settings, send_due


class FakeTwilio(HttpClient):
    """Twilio's REST API offline: answers each message create from a script of statuses."""

    def __init__(self, statuses):
        super().__init__(None, False)
        self.statuses = list(statuses)
        self.sent = []

    def request(self, method, uri, params=None, data=None, headers=None, auth=None, timeout=None, allow_redirects=False):
        status = self.statuses.pop(0) if self.statuses else 201
        if status == "hang":
            raise TimeoutError("read timed out")
        self.sent.append(dict(data or {}))
        if status == 201:
            body = {"sid": f"SM{len(self.sent):032d}", "status": "queued", "to": data["To"], "body": data["Body"]}
        else:
            body = {"code": 21211, "message": "Invalid 'To' Phone Number", "status": status}
        return Response(status, json.dumps(body))


def test_no_credentials_means_the_outbox_keeps_everything(settings):
    assert gateway_from_settings(settings) is None


def test_twilio_errors_become_one_readable_error():
    sms = TwilioSms("AC" + "0" * 32, "token", "+8610690000", http_client=FakeTwilio([400, "hang", 201]))
    with pytest.raises(SmsSendError, match="rejected.*21211"):
        sms.send("13912345678", "hi")
    with pytest.raises(SmsSendError, match="timed out"):
        sms.send("13912345678", "hi")
    assert sms.send("07623661234", "hi").startswith("SM")
    assert sms._client.http_client.sent[-1]["To"] == "+867623661234"


def test_failures_are_retried_with_backoff_then_marked_failed(console_services):
    sessions, settings = console_services.sessions, console_services.settings
    now = utcnow()
    with sessions() as session, session.begin():
        ok = queue_sms(session, "13912345678", "工单已派", "dispatch_caller", now=now).id
        doomed = queue_sms(session, "13912345679", "工单已派", "dispatch_caller", now=now).id
    gateway = TwilioSms("AC" + "0" * 32, "token", "+8610690000", http_client=FakeTwilio([201] + [500] * 10))
    assert send_due(sessions, gateway, settings, now) == (1, 1)
    with sessions() as session:
        sent, waiting = session.get(SmsMessage, ok), session.get(SmsMessage, doomed)
        assert sent.status == SmsStatus.SENT and sent.provider_sid
        assert waiting.status == SmsStatus.QUEUED and waiting.last_error
        first_retry = waiting.next_attempt_at - now
    assert first_retry == dt.timedelta(seconds=settings.sms.retry_seconds)
    assert send_due(sessions, gateway, settings, now) == (0, 0)  # not due yet
    clock = now
    for _ in range(settings.sms.max_attempts - 1):
        clock += dt.timedelta(days=1)
        send_due(sessions, gateway, settings, clock)
    with sessions() as session:
        failed = session.get(SmsMessage, doomed)
        assert failed.status == SmsStatus.FAILED and failed.attempts == settings.sms.max_attempts
        assert session.scalar(select(SmsMessage.status).where(SmsMessage.id == ok)) == SmsStatus.SENT  # sent once


def test_an_operator_sees_failed_messages_and_can_retry(client, auth, console_services):
    with console_services.sessions() as session, session.begin():
        message = queue_sms(session, "13912345678", "测试", "dispatch_caller")
        message.status, message.attempts, message.last_error = SmsStatus.FAILED, 5, "rejected (400, code 21211)"
        message_id = message.id
    auth.login()
    page = client.get("/sms").get_data(as_text=True)
    assert "rejected (400, code 21211)" in page and "重发" in page
    auth.post(f"/sms/{message_id}/retry", page="/sms")
    with console_services.sessions() as session:
        assert session.get(SmsMessage, message_id).status == SmsStatus.QUEUED


def test_a_number_that_cannot_take_an_sms_is_refused_before_it_is_stored(session):
    with pytest.raises(ValueError):
        queue_sms(session, "anonymous", "x", "test")


def test_the_default_twilio_transport_never_waits_forever():
    """Twilio's own HTTP client has no timeout unless given one: ours always sets it."""
    from sms.gateway import SEND_TIMEOUT

    sms = TwilioSms("AC" + "0" * 32, "token", "+8610690000")
    assert sms._client.http_client.timeout == SEND_TIMEOUT

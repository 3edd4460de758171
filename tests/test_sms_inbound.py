"""Providers answer dispatches by SMS through Twilio's signed webhook."""
from __future__ import annotations

import pytest
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from agent_console import create_app
from agent_console.services import ConsoleServices
from config import load_settings
from db.dispatching import assign
from db.models import Dispatch, DispatchStatus, Provider, RequestStatus, ServiceRequest
from db.session import make_session_factory
from db.sms import parse_provider_reply
from telephony.pop_bus import InProcessBus

PUBLIC = "https://hotline.example.gov.cn"
TOKEN = "test-auth-token-0123456789"
BEHIND_PROXY = "http://10.0.0.5:8000"  # what Flask sees behind the TLS proxy


@pytest.fixture
def webhook(ivr_db, tmp_path):
    settings = load_settings(environ={}, overrides={"database.url": str(ivr_db.url), "app.data_dir": str(tmp_path),
                                                    "sms.auth_token": TOKEN, "console.public_url": PUBLIC})
    sessions = make_session_factory(ivr_db)
    app = create_app({"TESTING": True}, services=ConsoleServices(settings, sessions, InProcessBus()))
    with sessions() as session, session.begin():
        request = session.scalar(select(ServiceRequest).where(ServiceRequest.status == RequestStatus.NEW,
                                                              ServiceRequest.caller_id.is_not(None)).limit(1))
        provider = session.scalar(select(Provider).where(Provider.categories.contains(request.category)).limit(1))
        offer = assign(session, request, provider, None)
        ids = {"number": request.number, "phone": provider.phone, "dispatch": offer.id}
    return app.test_client(), sessions, ids


def _post(client, params, signature=None):
    signature = signature or RequestValidator(TOKEN).compute_signature(PUBLIC + "/sms/inbound", params)
    return client.post("/sms/inbound", data=params, headers={"X-Twilio-Signature": signature}, base_url=BEHIND_PROXY)


def test_a_provider_accepts_by_sms(webhook):
    client, sessions, ids = webhook
    params = {"From": "+86" + ids["phone"], "Body": f"接单 {ids['number']}", "MessageSid": "SM1"}
    response = _post(client, params)
    assert response.status_code == 200 and "已收到" in response.get_data(as_text=True)
    assert response.mimetype == "application/xml"
    with sessions() as session:
        offer = session.get(Dispatch, ids["dispatch"])
        assert offer.status == DispatchStatus.ACCEPTED and offer.note == "SMS"
    replay = _post(client, params)
    assert "没有等待您答复的派单" in replay.get_data(as_text=True)


def test_twilios_validator_alone_would_refuse_every_message_behind_a_proxy(webhook):
    """The contained defect: RequestValidator is scheme-sensitive; Flask sees http:// here."""
    client, _, ids = webhook
    params = {"From": "+86" + ids["phone"], "Body": f"2 {ids['number']}"}
    signature = RequestValidator(TOKEN).compute_signature(PUBLIC + "/sms/inbound", params)
    assert RequestValidator(TOKEN).validate(BEHIND_PROXY + "/sms/inbound", params, signature) is False
    assert "拒单" in _post(client, params, signature).get_data(as_text=True)


def test_forged_or_unsigned_messages_change_nothing(webhook):
    client, sessions, ids = webhook
    params = {"From": "+86" + ids["phone"], "Body": f"接单 {ids['number']}"}
    assert _post(client, params, signature="forged").status_code == 403
    assert client.post("/sms/inbound", data=params, base_url=BEHIND_PROXY).status_code == 403
    with sessions() as session:
        assert session.get(Dispatch, ids["dispatch"]).status == DispatchStatus.OFFERED


def test_a_reply_that_says_nothing_clear_is_answered_with_how_to_reply(webhook):
    client, sessions, ids = webhook
    for body in ("好的", f"接单 拒单 {ids['number']}", "<script>alert(1)</script>", ""):
        response = _post(client, {"From": "+86" + ids["phone"], "Body": body})
        assert response.status_code == 200 and "请回复" in response.get_data(as_text=True)
        assert "<script>" not in response.get_data(as_text=True)
    stranger = _post(client, {"From": "+8613700000000", "Body": f"接单 {ids['number']}"})
    assert "没有等待您答复的派单" in stranger.get_data(as_text=True)
    with sessions() as session:
        assert session.get(Dispatch, ids["dispatch"]).status == DispatchStatus.OFFERED


def test_without_a_public_url_the_webhook_is_off(client):
    assert client.post("/sms/inbound", data={"Body": "x"}).status_code == 404


@pytest.mark.parametrize("body, expected", [
    ("接单 HY20261127-0042", (True, "HY20261127-0042")), ("hy20261127-0042 接单", (True, "HY20261127-0042")),
    ("1 HY20261127-0042", (True, "HY20261127-0042")), ("拒单，HY20261127-0042", (False, "HY20261127-0042")),
    ("2 HY20261127-0042", (False, "HY20261127-0042")), ("HY20261127-0042", None), ("接单", None),
    ("接单 拒单 HY20261127-0042", None), ("接单 HY2026-42", None),
])
def test_reading_a_providers_reply(body, expected):
    assert parse_provider_reply(body) == expected

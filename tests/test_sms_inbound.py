"""Providers answer dispatches by SMS through Twilio's signed webhook."""
from __future__ import annotations

import pytest
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from agent_console import create_app
from agent_console.services import ConsoleServices
from config import load_settings
from db.dispatching import assign
from db.models import AuditEntry, Dispatch, DispatchStatus, Provider, RequestStatus, ServiceRequest, SmsReply, SmsReplyOutcome
from db.session import make_session_factory
from db.sms import parse_provider_reply, replies_waiting
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
    # Twilio delivers a message again when our answer was slow: the same message, kept and
    # acted on once, and no second SMS back.
    replay = _post(client, params)
    assert replay.status_code == 200 and "<Message>" not in replay.get_data(as_text=True)
    again = _post(client, {**params, "MessageSid": "SM2"})  # the provider sends it again
    assert "没有等待您答复的派单" in again.get_data(as_text=True)
    with sessions() as session:
        kept = session.scalars(select(SmsReply).where(SmsReply.message_sid.is_not(None)).order_by(SmsReply.id)).all()
        assert [(m.message_sid, m.outcome, m.handled_at is None) for m in kept] == [
            ("SM1", SmsReplyOutcome.ACCEPTED, False), ("SM2", SmsReplyOutcome.NO_OPEN_OFFER, True)]
        assert {m.request.number for m in kept} == {ids["number"]} and {m.provider.phone for m in kept} == {ids["phone"]}


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


def test_every_message_is_kept_and_one_not_acted_on_waits_for_an_operator(webhook, ivr_db, tmp_path):
    """A provider's "明天下午才能去" used to be answered with how to reply, then lost."""
    client, sessions, ids = webhook
    with sessions() as session:
        before = replies_waiting(session)  # the demo's own waiting message
    words = f"{ids['number']} 今天在外地，明天下午才能去，可以吗？"
    assert "请回复" in _post(client, {"From": "+86" + ids["phone"], "Body": words, "MessageSid": "SM10"}).get_data(as_text=True)
    _post(client, {"From": "+8613700000000", "Body": "请问家政怎么收费" * 300, "MessageSid": "SM11"})  # a stranger, at length
    _post(client, {"From": "", "Body": "", "MessageSid": "SM12"})  # nothing at all, still a message
    with sessions() as session:
        kept = {m.message_sid: m for m in session.scalars(select(SmsReply))}
        assert kept["SM10"].body == words and kept["SM10"].provider.phone == ids["phone"]
        assert kept["SM10"].outcome == SmsReplyOutcome.NOT_UNDERSTOOD and kept["SM10"].handled_at is None
        assert kept["SM11"].provider is None and len(kept["SM11"].body) == 1600 and kept["SM11"].from_number == "13700000000"
        assert kept["SM12"].from_number == "" and kept["SM12"].handled_at is None
        assert session.get(Dispatch, ids["dispatch"]).status == DispatchStatus.OFFERED

    # The operator sees them, oldest first, and reads one; a supervisor sees the stranger's number masked.
    from agent_console.services import ConsoleServices
    from tests.conftest import AuthActions
    from telephony.pop_bus import InProcessBus

    settings = load_settings(environ={}, overrides={"database.url": str(ivr_db.url), "app.data_dir": str(tmp_path)})
    console = create_app({"TESTING": True, "WTF_CSRF_ENABLED": False},
                         services=ConsoleServices(settings, sessions, InProcessBus())).test_client()
    AuthActions(console).login("operator")
    assert f"<b>{before + 3}</b> 短信回复待处理" in console.get("/").get_data(as_text=True)
    page = console.get("/sms/replies").get_data(as_text=True)
    waiting = page.split('id="replies-waiting"')[1].split("</table>")[0]
    assert waiting.index("改到周六上午") < waiting.index("明天下午才能去") < waiting.index("请问家政怎么收费")
    assert "未能识别" in waiting
    assert "13700000000" in waiting  # operators call back: they see whole numbers
    supervisor = console.application.test_client()
    AuthActions(supervisor).login("supervisor")
    masked = supervisor.get("/sms/replies").get_data(as_text=True)
    assert "137****0000" in masked and "13700000000" not in masked
    assert f'href="/requests/{ids["number"]}"' in waiting  # the request the provider's message names
    with sessions() as session:
        first = session.scalar(select(SmsReply).where(SmsReply.message_sid == "SM10"))
    assert console.post(f"/sms/replies/{first.id}/read").status_code == 302
    assert console.post(f"/sms/replies/{first.id}/read").status_code == 302  # a second click changes nothing
    assert console.post("/sms/replies/999999/read").status_code == 404
    with sessions() as session:
        first = session.get(SmsReply, first.id)
        assert first.handled_by.username == "operator" and first.handled_at is not None
        audits = session.scalars(select(AuditEntry).where(AuditEntry.entity_type == "sms_inbox")).all()
        assert [(a.action, a.entity_id) for a in audits] == [("read", first.id)]
    assert f"<b>{before + 2}</b> 短信回复待处理" in console.get("/").get_data(as_text=True)
    assert "明天下午才能去" in console.get("/sms/replies").get_data(as_text=True).split('id="replies-done"')[1]


def test_an_answer_refused_by_the_offer_is_kept_for_an_operator(webhook, monkeypatch):
    """The offer changed between reading it and answering it (another operator withdrew
    it): the refusal rolls the answer back, not the message."""
    import agent_console.sms_inbound as webhook_module
    from db.dispatching import DispatchError

    def refuse(*_args, **_kwargs):
        raise DispatchError("offer_answered", "withdrawn meanwhile")

    monkeypatch.setattr(webhook_module, "respond", refuse)
    client, sessions, ids = webhook
    answer = _post(client, {"From": "+86" + ids["phone"], "Body": f"接单 {ids['number']}", "MessageSid": "SM20"})
    assert "已处理，无需再答复" in answer.get_data(as_text=True)
    with sessions() as session:
        kept = session.scalar(select(SmsReply).where(SmsReply.message_sid == "SM20"))
        assert kept.outcome == SmsReplyOutcome.ALREADY_ANSWERED and kept.handled_at is None
        assert kept.request.number == ids["number"]


def test_a_message_our_webhook_failed_on_is_acted_on_when_twilio_delivers_it_again(webhook, monkeypatch):
    """Kept, then the webhook failed before answering (a 500): Twilio delivers it again, and
    this time the provider's 接单 is recorded and answered, once."""
    import agent_console.sms_inbound as webhook_module

    client, sessions, ids = webhook
    real = webhook_module.respond

    def broken(*_args, **_kwargs):
        raise RuntimeError("the database went away")

    params = {"From": "+86" + ids["phone"], "Body": f"接单 {ids['number']}", "MessageSid": "SM30"}
    monkeypatch.setattr(webhook_module, "respond", broken)
    with pytest.raises(RuntimeError):
        _post(client, params)
    with sessions() as session:
        kept = session.scalar(select(SmsReply).where(SmsReply.message_sid == "SM30"))
        assert kept.outcome == SmsReplyOutcome.RECEIVED and kept.handled_at is None  # kept, waiting
    monkeypatch.setattr(webhook_module, "respond", real)
    assert "已收到" in _post(client, params).get_data(as_text=True)
    assert "<Message>" not in _post(client, params).get_data(as_text=True)  # a third delivery: answered already
    with sessions() as session:
        assert session.get(Dispatch, ids["dispatch"]).status == DispatchStatus.ACCEPTED
        assert [m.outcome for m in session.scalars(select(SmsReply).where(SmsReply.message_sid == "SM30"))] == [
            SmsReplyOutcome.ACCEPTED]


def test_an_operators_answer_read_before_the_providers_sms_does_not_overwrite_it(webhook):
    """The operator's page read the offer as waiting; the provider's 接单 came by SMS meanwhile;
    the operator's 企业拒单 then finds the offer answered instead of turning it into a refusal."""
    from db.dispatching import DispatchError, respond

    client, sessions, ids = webhook
    with sessions() as operators:
        stale = operators.get(Dispatch, ids["dispatch"])
        assert stale.status == DispatchStatus.OFFERED
        assert "已收到" in _post(client, {"From": "+86" + ids["phone"], "Body": f"接单 {ids['number']}",
                                          "MessageSid": "SM40"}).get_data(as_text=True)
        with pytest.raises(DispatchError, match="already answered"):
            respond(operators, stale, False, None, note="企业拒单")
        operators.rollback()
    with sessions() as session:
        offer = session.get(Dispatch, ids["dispatch"])
        assert offer.status == DispatchStatus.ACCEPTED and offer.request.status == RequestStatus.DISPATCHED

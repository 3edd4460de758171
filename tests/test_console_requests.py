"""Operators' work in the console: log a request, dispatch it, see the SMS in the outbox."""
from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import select

from db.models import (
    AuditEntry, Dispatch, DispatchStatus, Provider, ProviderStatus, RequestStatus, ServiceCategory, ServiceRequest,
    SmsMessage,
)


def _number(response) -> str:
    return re.search(r"HY\d{8}-\d{4}", response.headers["Location"]).group(0)


def _best_suggestion(client, number: str) -> int:
    """The provider the request page ranks first."""
    page = client.get(f"/requests/{number}").get_data(as_text=True)
    return int(re.search(r'name="provider_id" value="(\d+)"', page).group(1))


def _categories(session_factory):
    with session_factory() as session:
        return {c.code: c.id for c in session.scalars(select(ServiceCategory))}


def _new_request(auth, console_services, **overrides):
    categories = _categories(console_services.sessions)
    data = {"phone": "139-1234-5678", "caller_name": "王阿姨", "category": categories["household"], "district": 1,
            "address": "源城区新风路1号", "description": "每周两次保洁", "priority": "normal", **overrides}
    return auth.post("/requests/new", data, page="/requests/new")


def test_sign_in_is_required_and_the_console_speaks_chinese(client, auth):
    assert client.get("/").status_code == 302
    assert "/login" in client.get("/requests").headers["Location"]
    response = auth.login()
    assert response.status_code == 302
    page = client.get("/").get_data(as_text=True)
    assert "工作台" in page and 'lang="zh-Hans"' in page


def test_an_operator_logs_a_request_and_the_phone_is_normalised(client, auth, console_services):
    auth.login()
    response = _new_request(auth, console_services)
    assert response.status_code == 302, response.get_data(as_text=True)
    number = _number(response)
    page = client.get(f"/requests/{number}").get_data(as_text=True)
    assert "13912345678" in page and "王阿姨" in page
    with console_services.sessions() as session:
        created = session.scalar(select(ServiceRequest).where(ServiceRequest.number == number))
        assert created.status == RequestStatus.NEW and created.caller.phone == "13912345678"
        assert session.scalar(select(AuditEntry).where(AuditEntry.entity_type == "service_requests",
                                                       AuditEntry.entity_id == created.id, AuditEntry.action == "create"))


def test_bad_fields_are_refused_with_a_message_and_nothing_is_saved(client, auth, console_services):
    auth.login()
    with console_services.sessions() as session:
        before = len(session.scalars(select(ServiceRequest)).all())
    response = _new_request(auth, console_services, phone="12345", address="", window_start="2026-11-28T10:00",
                            window_end="2026-11-28T09:00")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "请输入手机号" in page and "结束时间须晚于开始时间" in page
    with console_services.sessions() as session:
        assert len(session.scalars(select(ServiceRequest)).all()) == before


def test_a_likely_duplicate_is_flagged_and_needs_confirming(client, auth, console_services):
    auth.login()
    first = _number(_new_request(auth, console_services))
    again = _new_request(auth, console_services)
    assert again.status_code == 200 and first in again.get_data(as_text=True) and "可能重复" in again.get_data(as_text=True)
    confirmed = _new_request(auth, console_services, confirm_duplicate="y")
    assert confirmed.status_code == 302 and _number(confirmed) != first


def test_dispatch_ranks_with_reasons_notifies_by_sms_and_records_answers(client, auth, console_services):
    auth.login()
    number = _number(_new_request(auth, console_services))
    page = client.get(f"/requests/{number}").get_data(as_text=True)
    assert "服务该区县" in page or "不在服务区县" in page
    provider_id = int(re.search(r'name="provider_id" value="(\d+)"', page).group(1))
    response = auth.post(f"/requests/{number}/dispatch", {"provider_id": provider_id}, page=f"/requests/{number}")
    assert response.status_code == 302
    with console_services.sessions() as session:
        found = session.scalar(select(ServiceRequest).where(ServiceRequest.number == number))
        assert found.status == RequestStatus.DISPATCHED
        sms = session.scalars(select(SmsMessage).where(SmsMessage.request_id == found.id)).all()
        assert {m.purpose for m in sms} == {"dispatch_provider", "dispatch_caller"}
        assert all(number in m.body for m in sms)
        offer = session.scalar(select(Dispatch).where(Dispatch.request_id == found.id))
    outbox = client.get("/sms").get_data(as_text=True)
    assert number in outbox and "未配置短信通道" in outbox
    # The provider declines: the request is back to new and that provider is not suggested again.
    auth.post(f"/dispatches/{offer.id}/answer", {"accepted": "0", "note": "人手不足"}, page=f"/requests/{number}")
    page = client.get(f"/requests/{number}").get_data(as_text=True)
    assert f'name="provider_id" value="{provider_id}"' not in page
    with console_services.sessions() as session:
        assert session.get(Dispatch, offer.id).status == DispatchStatus.DECLINED
        assert session.scalar(select(ServiceRequest.status).where(ServiceRequest.number == number)) == RequestStatus.NEW


def test_an_unanswered_offer_reminds_the_operator_and_goes_to_the_next_provider(client, auth, console_services):
    auth.login()
    number = _number(_new_request(auth, console_services))
    first = _best_suggestion(client, number)
    auth.post(f"/requests/{number}/dispatch", {"provider_id": first}, page=f"/requests/{number}")
    with console_services.sessions() as session, session.begin():
        offer = session.scalar(select(Dispatch).join(ServiceRequest).where(ServiceRequest.number == number))
        offer.offered_at -= dt.timedelta(minutes=console_services.settings.console.dispatch_answer_minutes + 1)
        offer_id = offer.id
    assert number in client.get("/").get_data(as_text=True)  # the reminder on the dashboard
    assert "未答复" in client.get(f"/requests/{number}").get_data(as_text=True)
    auth.post(f"/dispatches/{offer_id}/next", page=f"/requests/{number}")
    with console_services.sessions() as session:
        offers = session.scalars(select(Dispatch).join(ServiceRequest).where(ServiceRequest.number == number)
                                 .order_by(Dispatch.id)).all()
        assert [o.status for o in offers] == [DispatchStatus.TIMED_OUT, DispatchStatus.OFFERED]
        assert offers[1].provider_id != first


def test_a_suspended_provider_is_never_suggested(client, auth, console_services):
    auth.login("supervisor")
    number = _number(_new_request(auth, console_services))
    best = _best_suggestion(client, number)
    auth.post(f"/providers/{best}/suspend", {"reason": "资质过期", "confirm": "y"}, page=f"/providers/{best}")
    with console_services.sessions() as session:
        assert session.get(Provider, best).status == ProviderStatus.SUSPENDED
    page = client.get(f"/requests/{number}").get_data(as_text=True)
    assert f'name="provider_id" value="{best}"' not in page


def test_status_changes_follow_the_lifecycle_and_show_in_the_timeline(client, auth, console_services):
    auth.login()
    number = _number(_new_request(auth, console_services))
    auth.post(f"/requests/{number}/status", {"to_status": "completed"}, page=f"/requests/{number}")
    with console_services.sessions() as session:
        assert session.scalar(select(ServiceRequest.status).where(ServiceRequest.number == number)) == RequestStatus.NEW
    auth.post(f"/requests/{number}/status", {"to_status": "cancelled", "note": "来电人取消", "confirm": "y"},
              page=f"/requests/{number}")
    page = client.get(f"/requests/{number}").get_data(as_text=True)
    assert "已取消" in page and "来电人取消" in page


def test_english_on_request(client, auth):
    auth.login()
    auth.post("/language/en", {"next": "/"})
    page = client.get("/").get_data(as_text=True)
    assert 'lang="en"' in page


def test_refusals_are_said_in_the_readers_language(client, auth, console_services):
    auth.login("supervisor")
    number = _number(_new_request(auth, console_services))
    best = _best_suggestion(client, number)
    auth.post(f"/providers/{best}/suspend", {"reason": "资质过期", "confirm": "y"}, page=f"/providers/{best}")
    refused = auth.post(f"/requests/{number}/dispatch", {"provider_id": best}, page=f"/requests/{number}")
    assert "已暂停派单" in client.get(refused.headers["Location"]).get_data(as_text=True)
    wrong = auth.post(f"/requests/{number}/status", {"to_status": "completed"}, page=f"/requests/{number}")
    assert "不能从“待派单”改为“已完成”" in client.get(wrong.headers["Location"]).get_data(as_text=True)
    auth.post("/language/en", {"next": "/"})
    again = auth.post(f"/requests/{number}/dispatch", {"provider_id": best}, page=f"/requests/{number}")
    assert "is suspended" in client.get(again.headers["Location"]).get_data(as_text=True)


def test_a_supervisor_sees_the_callers_walk_through_the_ivr(client, auth, console_services):
    """What the IVR stored (its steps on the session row) is what the call page shows."""
    from zoneinfo import ZoneInfo

    from db.models import IvrStep, PhoneKind
    from db.phones import Phone
    from db.session import transaction
    from ivr.call_log import IvrCallRecord, save_calls

    at = dt.datetime(2026, 11, 27, 2, 0, 5, tzinfo=dt.timezone.utc)
    record = IvrCallRecord(
        uniqueid="walk-1", linkedid="walk-1", did="4008300762", caller_number="13911112222",
        phone=Phone("13911112222", PhoneKind.MOBILE), script="ivr", started_at=at, language="yue",
        language_chosen=True, ended_at=at + dt.timedelta(seconds=40), end_node="medical",
        path=["welcome", "main", "family_services", "medical"],
        steps=[IvrStep("welcome", "welcome", "2", at), IvrStep("family_services", "family_menu", "3", at)],
    )
    with transaction(console_services.sessions) as session:
        save_calls(session, [record], ZoneInfo("Asia/Shanghai"))
    auth.login("supervisor")
    page = client.get("/calls/walk-1").get_data(as_text=True)
    assert "10:00:05 选择语言 按 2" in page  # 02:00:05 UTC, shown in Asia/Shanghai; node titles, not names
    assert "家庭服务菜单 按 3" in page


def _address_shown(page: str) -> str:
    return re.sub(r"\s+", " ", re.search(r"<dt>地址</dt><dd>(.*?)</dd>", page, re.S).group(1)).strip()


def test_the_district_is_said_once_in_the_page_and_the_providers_sms(client, auth, console_services):
    """Callers say the district as part of the address; the page and the SMS name it once."""
    auth.login()
    said = _number(_new_request(auth, console_services, address="源城区 新江路 12 号"))
    bare = _number(_new_request(auth, console_services, address="新江路 14 号", phone="13800138000"))
    assert _address_shown(client.get(f"/requests/{said}").get_data(as_text=True)) == "源城区 新江路 12 号"
    assert _address_shown(client.get(f"/requests/{bare}").get_data(as_text=True)) == "源城区 新江路 14 号"
    for number in (said, bare):
        provider_id = _best_suggestion(client, number)
        auth.post(f"/requests/{number}/dispatch", {"provider_id": provider_id}, page=f"/requests/{number}")
    with console_services.sessions() as session:
        texts = {r.number: m.body for m, r in session.execute(
            select(SmsMessage, ServiceRequest).join(ServiceRequest, ServiceRequest.id == SmsMessage.request_id)
            .where(SmsMessage.purpose == "dispatch_provider", ServiceRequest.number.in_([said, bare])))}
    assert "地址源城区 新江路 12 号，" in texts[said]
    assert "地址源城区 新江路 14 号，" in texts[bare]


def _status_choices(page: str) -> list[tuple[str, bool]]:
    """The status select's options: (value, chosen as the page comes), the first if none is marked."""
    form = re.search(r'<select name="to_status".*?</select>', page, re.S)
    if form is None:
        return []
    options = [(value, bool(selected)) for selected, value in
               re.findall(r'<option(?=[^>]*?( selected)?[^>]*>)[^>]*value="([^"]*)"', form.group(0))]
    if options and not any(chosen for _, chosen in options):
        options[0] = (options[0][0], True)
    return options


def test_one_click_never_cancels_a_request(client, auth, console_services):
    """A new request's page preselects nothing destructive, and a cancellation must be confirmed."""
    auth.login()
    number = _number(_new_request(auth, console_services))
    page = client.get(f"/requests/{number}").get_data(as_text=True)
    assert ("cancelled", True) not in _status_choices(page)
    assert re.search(r'<input type="checkbox" name="confirm"[^>]*required', page)
    refused = auth.post(f"/requests/{number}/status", {"to_status": "cancelled"}, page=f"/requests/{number}")
    assert "请勾选" in client.get(refused.headers["Location"]).get_data(as_text=True)
    with console_services.sessions() as session:
        assert session.scalar(select(ServiceRequest.status).where(ServiceRequest.number == number)) == RequestStatus.NEW
    # Dispatched, the offer still waiting for the provider's answer: not yet in service.
    auth.post(f"/requests/{number}/dispatch", {"provider_id": _best_suggestion(client, number)}, page=f"/requests/{number}")
    choices = _status_choices(client.get(f"/requests/{number}").get_data(as_text=True))
    assert "in_service" not in [value for value, _ in choices]
    early = auth.post(f"/requests/{number}/status", {"to_status": "in_service"}, page=f"/requests/{number}")
    assert "还没有接单" in client.get(early.headers["Location"]).get_data(as_text=True)
    with console_services.sessions() as session:
        found = session.scalar(select(ServiceRequest).where(ServiceRequest.number == number))
        assert found.status == RequestStatus.DISPATCHED
        offer = found.dispatches[-1].id
    # Once the provider accepted, the next step (in service) is offered, with nothing chosen for the operator.
    auth.post(f"/dispatches/{offer}/answer", {"accepted": "1"}, page=f"/requests/{number}")
    choices = _status_choices(client.get(f"/requests/{number}").get_data(as_text=True))
    assert [value for value, _ in choices] == ["", "in_service"]
    assert [value for value, chosen in choices if chosen] == [""]
    auth.post(f"/requests/{number}/status", {"to_status": "cancelled", "confirm": "y"}, page=f"/requests/{number}")
    with console_services.sessions() as session:
        assert session.scalar(select(ServiceRequest.status).where(ServiceRequest.number == number)) == RequestStatus.CANCELLED


def test_a_request_without_a_district_says_so_and_asks_for_it(client, auth, console_services):
    """Every provider then ranks as out of area: the page says why, and asks for the district."""
    from zoneinfo import ZoneInfo

    from db.models import PhoneKind, RequestChannel
    from db.phones import Phone
    from db.service_requests import caller_for_phone, open_request
    from db.session import transaction

    with transaction(console_services.sessions) as session:
        caller = caller_for_phone(session, Phone("13912345678", PhoneKind.MOBILE))
        category = session.scalar(select(ServiceCategory).where(ServiceCategory.code == "household"))
        number = open_request(session, caller, category, RequestChannel.VOICEMAIL, ZoneInfo("Asia/Shanghai"),
                              address="新江路 12 号").number
    auth.login()
    page = client.get(f"/requests/{number}").get_data(as_text=True)
    assert 'id="suggestions"' in page
    warning = re.search(r'<p class="warning" id="no-district">(.*?)</p>', page, re.S)
    assert warning and "未填区县" in warning.group(1) and f"/requests/{number}/edit" in warning.group(1)
    assert "不在服务区县" not in page  # unknown, not out of area


def test_why_a_provider_is_suggested_is_said_in_the_readers_language(client, auth, console_services):
    """The reasons came from the database layer in Chinese only, so an English page mixed them in."""
    auth.login()
    number = _number(_new_request(auth, console_services))

    def reasons() -> list[str]:
        page = client.get(f"/requests/{number}").get_data(as_text=True)
        table = re.search(r'<table id="suggestions">(.*?)</table>', page, re.S).group(1)
        return re.findall(r'<td class="small">([^<]*)</td>', table)

    chinese = reasons()
    assert chinese and all("星级" in r or "未定级" in r for r in chinese)
    auth.post("/language/en", {"next": "/"})
    english = reasons()
    assert len(english) == len(chinese)
    assert all(re.search(r"in hand \+\d+$", r) for r in english), english
    assert not [r for r in english if re.search(r"[\u4e00-\u9fff]", r)], english
    # Scripts keep the reasons as they were: the API's are in Chinese, in the same order.
    api = client.get(f"/api/v1/requests/{number}/suggestions").get_json()["suggestions"]
    assert ["；".join(s["reasons"]) for s in api] == chinese


def test_no_district_is_chosen_for_the_operator(client, auth, console_services):
    """The district list starts blank: it preselected the first district (源城区), which the
    edit form then showed, and kept, for a request whose district was never asked."""
    auth.login()
    selected = re.compile(r'<select[^>]*name="district"[^>]*>\s*<option[^>]*value="0"[^>]*>([^<]*)</option>')
    assert selected.search(client.get("/requests/new").get_data(as_text=True)).group(1) == "请选择区县"
    refused = _new_request(auth, console_services, district=0)
    assert refused.status_code == 200 and "request-form" in refused.get_data(as_text=True)
    with console_services.sessions() as session:
        request = session.scalar(select(ServiceRequest).where(ServiceRequest.district_id.is_(None)).limit(1))
        if request is None:  # a voicemail's request has no district
            request = session.scalar(select(ServiceRequest).limit(1))
            request.district_id = None
            session.commit()
        number = request.number
    form = client.get(f"/requests/{number}/edit").get_data(as_text=True)
    district = re.search(r'<select[^>]*name="district"[^>]*>(.*?)</select>', form, re.S).group(1)
    assert "selected" not in district and district.lstrip().startswith('<option value="0">请选择区县</option>')


def test_no_category_is_chosen_for_the_operator(client, auth, console_services):
    """Without a call the category list starts blank: it preselected the first category (家庭服务),
    which was kept for a request whose caller was never asked what they needed."""
    auth.login()
    page = client.get("/requests/new").get_data(as_text=True)
    category = re.search(r'<select[^>]*name="category"[^>]*>(.*?)</select>', page, re.S).group(1)
    assert "selected" not in category and category.lstrip().startswith('<option value="0">请选择服务类别</option>')
    refused = _new_request(auth, console_services, category=0)
    assert refused.status_code == 200 and "request-form" in refused.get_data(as_text=True)


def test_a_likely_duplicate_is_described_in_english_punctuation_too(client, auth, console_services):
    """The English form read "Likely duplicate:HY…（In service，2026-12-01 04:58）"."""
    auth.login()
    first = _number(_new_request(auth, console_services))
    auth.post("/language/en", {"next": "/"})
    page = _new_request(auth, console_services).get_data(as_text=True)
    line = re.sub(r"<[^>]+>", "", page[page.index("Likely duplicate"):page.index("This is not a duplicate")])
    assert re.match(rf"Likely duplicate: {first} \(\w", line), line
    assert not re.search(r"[（）：，]", line), line


def test_a_request_without_a_service_time_says_it_is_to_be_arranged(client, auth, console_services):
    """The 服务时间 line was left blank, as if the page had failed to show it."""
    auth.login()
    number = _number(_new_request(auth, console_services))
    page = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", client.get(f"/requests/{number}").get_data(as_text=True)))
    assert "服务时间 待约" in page

"""People never see internal codes: menu nodes, queues and hangup causes are said in words,
and a call is named by its caller and time, not its uniqueid."""
from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from db.models import Call, IvrStep, PhoneKind
from db.phones import Phone
from db.session import transaction
from ivr.call_log import IvrCallRecord, save_calls

AT = dt.datetime(2026, 11, 27, 2, 0, 5, tzinfo=dt.timezone.utc)  # 10:00:05 in Asia/Shanghai
INTERNAL = ("welcome_back", "open_check", "family_services", "medical", "main_menu", "family_menu", ">")


@pytest.fixture
def walked_call(console_services):
    record = IvrCallRecord(
        uniqueid="1764208805.42", linkedid="1764208805.42", did="4008300762", caller_number="13911112222",
        phone=Phone("13911112222", PhoneKind.MOBILE), script="ivr", started_at=AT, language="yue",
        language_chosen=False, ended_at=AT + dt.timedelta(seconds=40), end_node="medical",
        path=["welcome_back", "open_check", "main", "family_services", "medical"],
        steps=[IvrStep("welcome_back", "welcome_back", None, AT), IvrStep("main", "main_menu", "1", AT),
               IvrStep("family_services", "family_menu", "3", AT + dt.timedelta(seconds=4))],
    )
    with transaction(console_services.sessions) as session:
        save_calls(session, [record], ZoneInfo("Asia/Shanghai"))
        call = session.scalar(select(Call).where(Call.uniqueid == record.uniqueid))
        call.queue, call.hangup_cause = "priority", 16
    return record.uniqueid


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_the_pop_shows_the_callers_way_through_the_menu_by_title(client, auth, walked_call):
    auth.login("supervisor")
    pop = _text(client.get(f"/pop/{walked_call}").get_data(as_text=True))
    assert "主菜单 › 家庭服务菜单 › 医疗服务" in pop
    assert not [code for code in INTERNAL if code in pop]


def test_the_call_page_names_the_call_queue_nodes_and_hangup_cause_in_words(client, auth, walked_call):
    auth.login("supervisor")
    html = client.get(f"/calls/{walked_call}").get_data(as_text=True)
    title = re.search(r"<title>(.*?)</title>", html).group(1)
    heading = _text(re.search(r"<h1>(.*?)</h1>", html, re.S).group(1))
    # A supervisor may not unmask callers' numbers (tests/test_call_log_console.py has the admin's view).
    assert "139****2222" in title and "139****2222" in heading and "2026-11-27 10:00" in heading
    assert "13911112222" not in html
    assert walked_call not in title + heading
    page = _text(html)
    assert "紧急求助队列" in page and "priority" not in page
    assert "正常挂断" in page and "挂断原因 16" not in page
    assert "10:00:05 欢迎回来" in page and "10:00:05 主菜单 按 1" in page and "10:00:09 家庭服务菜单 按 3" in page
    assert "语音导航" in page and "ivr —" not in page
    assert not [code for code in INTERNAL if code in page]


def test_in_english_the_same_words_are_english(client, auth, walked_call):
    auth.login("supervisor")
    auth.post("/language/en", {"next": "/"})
    page = _text(client.get(f"/calls/{walked_call}").get_data(as_text=True))
    assert "Emergency queue" in page and "Normal call clearing" in page and "Family services menu" in page
    pop = _text(client.get(f"/pop/{walked_call}").get_data(as_text=True))
    assert "Main menu › Family services menu › Medical services and escort" in pop


@pytest.mark.parametrize(("cause", "words"), [(16, "正常挂断"), (17, "用户忙"), (19, "无人接听"), (21, "呼叫被拒绝"),
                                              (34, "无可用线路"), (111, "其他原因"), (None, "")])
def test_hangup_causes_in_words_with_a_generic_fallback(app, cause, words):
    from agent_console.formatting import hangup_cause

    with app.test_request_context():
        assert hangup_cause(cause) == words


@pytest.fixture
def status_check_call(console_services):
    """A call as the IVR records it: each step's key is what ivr.engine.describe made of it."""
    from ivr.engine import Digits, Key, Played, Recorded, RequestInfo, StatusResult, Timeout, describe

    walk = [("welcome_back", Played()), ("main", Key("3")), ("status", StatusResult(())), ("status_entry", Digits("2026112800")),
            ("status", StatusResult((RequestInfo("HY20261128-0001", "dispatched", 1),))), ("status_after", Timeout()),
            ("voicemail", Recorded(None))]
    record = IvrCallRecord(
        uniqueid="1764208805.43", linkedid="1764208805.43", did="4008300762", caller_number="13911112222",
        phone=Phone("13911112222", PhoneKind.MOBILE), script="ivr", started_at=AT, language="cmn",
        language_chosen=False, ended_at=AT + dt.timedelta(seconds=60), end_node="voicemail",
        path=[node for node, _ in walk],
        steps=[IvrStep(node, None, describe(event), AT + dt.timedelta(seconds=i)) for i, (node, event) in enumerate(walk)],
    )
    with transaction(console_services.sessions) as session:
        save_calls(session, [record], ZoneInfo("Asia/Shanghai"))
    return record.uniqueid


def test_what_each_step_did_is_said_in_words(client, auth, status_check_call):
    """Not "按 played" or "按 found:1": a message heard adds nothing, a status check says what it found."""
    auth.login("supervisor")
    page = _text(client.get(f"/calls/{status_check_call}").get_data(as_text=True))
    for said in ("10:00:05 欢迎回来 10:00:06 主菜单 按 3", "10:00:07 查询工单进度 没有查到工单", "10:00:08 输入工单号 输入 2026112800",
                 "10:00:09 查询工单进度 查到 1 张工单", "10:00:10 查询后菜单 未按键", "10:00:11 留言 未录到声音"):
        assert said in page, said
    assert not [code for code in ("played", "found:", "silence", "timeout") if code in page]
    auth.post("/language/en", {"next": "/"})
    page = _text(client.get(f"/calls/{status_check_call}").get_data(as_text=True))
    for said in ("Request status No request found", "Request number entry keyed in 2026112800",
                 "Request status Found 1 request(s)", "Voicemail Nothing recorded"):
        assert said in page, said


FULL_WIDTH = re.compile(r"[（）：、，；]")


def test_punctuation_between_values_follows_the_readers_language(client, auth, console_services):
    """Templates wrote Chinese brackets, colons and list commas between values, so the English
    console read "Mandarin（fluent）、Hakka（native）" and "State now：Available"."""
    from db.models import CallbackReason, CallbackTask

    with transaction(console_services.sessions) as session:
        session.add(CallbackTask(phone="13911112222", reason=CallbackReason.QUEUE_CALLBACK, queue="general",
                                 queue_position=2, due_at=AT))
    auth.login("supervisor")
    auth.post("/language/en", {"next": "/"})
    operators = _text(client.get("/operators").get_data(as_text=True))
    assert "Mandarin (fluent), Hakka (native)" in operators
    desk = _text(client.get("/desk").get_data(as_text=True))
    assert "State now: " in desk and "Languages spoken: Mandarin (fluent), Hakka (native)" in desk
    callbacks = _text(client.get("/callbacks").get_data(as_text=True))
    assert "Queue callback (General queue" in callbacks
    rule = _text(client.get("/supervision").get_data(as_text=True))
    assert "≥4.8 → 40; ≥4.5" in rule and "1-star" in rule and "1 stars" not in rule
    for page in (operators, desk, rule, _text(client.get("/requests").get_data(as_text=True))):
        assert not FULL_WIDTH.findall(page.split("Sign out")[-1].replace("中文", ""))
    auth.post("/language/zh", {"next": "/"})
    assert "普通话（流利）、客家话（母语）" in _text(client.get("/operators").get_data(as_text=True))
    assert "≥4.8 → 40；≥4.5" in _text(client.get("/supervision").get_data(as_text=True))

"""Operators sign in to the queues, pause with a reason and sign out from the console;
supervisors see every operator's state. Each change is made in Asterisk first."""
from __future__ import annotations

import pytest

from emulator.ami_server import AmiServer
from telephony.ami import AmiLink


@pytest.fixture
def asterisk(console_services):
    server = AmiServer().start()
    link = AmiLink("127.0.0.1", server.port, "hotline", "development-ami-secret", event_mask="off").start()
    assert link.wait_connected(3)
    console_services._ami = link
    yield server
    link.stop()
    server.stop()


def test_an_operators_day_at_the_desk(client, auth, asterisk):
    auth.login("operator")
    assert "未签入" in client.get("/desk").get_data(as_text=True)
    auth.post("/desk/login", page="/desk")
    # Every queue: each language's of the general queue, and the emergency queue.
    assert set(asterisk.queue_members) == {"hotline-general-cmn", "hotline-general-yue", "hotline-general-hak",
                                           "hotline-priority"}
    assert asterisk.queue_members["hotline-general-cmn"]["PJSIP/1001"]["Paused"] == "0"
    assert "空闲" in client.get("/desk").get_data(as_text=True)
    auth.post("/desk/pause", {"reason": "meal"}, page="/desk")
    member = asterisk.queue_members["hotline-general-cmn"]["PJSIP/1001"]
    assert (member["Paused"], member["PausedReason"], member["Penalty"], member["MemberName"]) == ("1", "meal", "1", "小陈")
    assert "用餐" in client.get("/desk").get_data(as_text=True)
    auth.post("/desk/pause", {"reason": "nap"}, page="/desk")  # not a reason: refused, state unchanged
    assert asterisk.queue_members["hotline-general-cmn"]["PJSIP/1001"]["PausedReason"] == "meal"
    refused = client.get("/desk").get_data(as_text=True)
    assert "请选择暂停原因" in refused and "a pause needs" not in refused  # in the reader's words
    auth.post("/desk/unpause", page="/desk")
    auth.post("/desk/logout", page="/desk")
    assert all("PJSIP/1001" not in members for members in asterisk.queue_members.values())
    auth.logout()
    auth.login("supervisor")
    page = client.get("/operators").get_data(as_text=True)
    assert "小陈" in page and "已签出" in page and "用餐" in page


def test_a_pause_taken_during_wrap_up_shows_on_the_desk_after_it(client, auth, asterisk, console_services):
    import datetime as dt
    import re
    import time

    from db.base import utcnow
    from telephony.ami import AmiEvent
    from telephony.call_events import CallTracker

    auth.login("operator")
    auth.post("/desk/login", page="/desk")
    # A call ends; the queue gives extension 1001 a second of wrap-up.
    tracker = CallTracker(console_services.sessions, wrapup_seconds=1)
    ended = utcnow()
    ids = dict(Uniqueid="1.1", Linkedid="1.1", Interface="PJSIP/1001")
    tracker.apply(AmiEvent("AgentConnect", dict(ids, Timestamp=f"{(ended - dt.timedelta(seconds=60)).timestamp()}")))
    tracker.apply(AmiEvent("AgentComplete", dict(ids, Timestamp=f"{ended.timestamp()}")))
    tracker.flush()
    assert "话后整理" in client.get("/desk").get_data(as_text=True)
    auth.post("/desk/pause", {"reason": "meal"}, page="/desk")
    time.sleep(1)  # the wrap-up is over; the pause is not
    desk = client.get("/desk").get_data(as_text=True)
    assert re.search(r'id="desk-state">暂停（用餐）<', desk) and "恢复接听" in desk
    assert asterisk.queue_members["hotline-general-cmn"]["PJSIP/1001"]["Paused"] == "1"
    auth.logout()
    auth.login("supervisor")
    page = client.get("/operators").get_data(as_text=True)
    row = next(row for row in page.split("<tr>") if "1001" in row)
    assert "<td>暂停（用餐）</td>" in row  # the state now
    assert re.search(r"话后整理 → \d\d:\d\d:\d\d 暂停（用餐）</td></tr>$", row.rstrip())  # the day: no 空闲 after it


def test_without_asterisk_the_desk_says_so_and_records_nothing(client, auth, console_services):
    from telephony.ami import AmiLink

    console_services._ami = AmiLink("127.0.0.1", 1, "hotline", "x")  # never connected
    auth.login("operator")
    response = auth.post("/desk/login", page="/desk")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "操作未成功" in page and "未签入" in page
    assert "电话系统没有响应" in page and "AMI" not in page and "Asterisk" not in page  # its words go to the log


def test_one_click_callback_rings_the_operator_then_the_caller(client, auth, asterisk, console_services):
    from sqlalchemy import select

    from db.base import utcnow
    from db.models import CallbackReason, CallbackTask, Language, TaskStatus
    from telephony.callback_placer import settle

    with console_services.sessions() as session, session.begin():
        task = CallbackTask(phone="13912345678", language=Language.HAKKA, reason=CallbackReason.AFTER_HOURS, due_at=utcnow())
        session.add(task)
        session.flush()
        task_id = task.id
    auth.login("operator")
    assert "13912345678" in client.get("/callbacks").get_data(as_text=True)
    auth.post(f"/callbacks/{task_id}/dial", page="/callbacks")
    originate = next(a for a in asterisk.actions if a.get("Action") == "Originate")
    assert originate["Channel"] == "PJSIP/1001"  # the operator's phone first
    assert originate["Context"] == "hotline-outbound" and originate["Exten"] == "13912345678"  # then the caller
    assert originate["Async"] == "true"
    with console_services.sessions() as session:
        dialled = session.get(CallbackTask, task_id)
        assert dialled.status == TaskStatus.IN_PROGRESS and dialled.originate_action_id == originate["ActionID"]
    # A second click while it rings does not dial again.
    auth.post(f"/callbacks/{task_id}/dial", page="/callbacks")
    assert sum(1 for a in asterisk.actions if a.get("Action") == "Originate") == 1
    # The AMI link settles it from the OriginateResponse (telephony/callback_placer.py).
    with console_services.sessions() as session, session.begin():
        settle(session.scalar(select(CallbackTask).where(CallbackTask.id == task_id)), True, 3, utcnow())
    assert "已完成" in client.get("/callbacks?show=all").get_data(as_text=True)


def test_complaints_are_logged_taken_resolved_and_weigh_on_the_provider(client, auth, console_services):
    import re

    from db.models import Complaint, ComplaintStatus

    auth.login("operator")
    created = auth.post("/complaints/new", {"phone": "13800138000", "provider": "3", "description": "阿姨迟到两小时"},
                        page="/complaints/new")
    complaint_id = int(re.search(r"/complaints/(\d+)", created.headers["Location"]).group(1))
    assert auth.post(f"/complaints/{complaint_id}/resolve", {"resolution": "x"}, page="/complaints").status_code == 403
    auth.logout()
    auth.login("supervisor")
    auth.post(f"/complaints/{complaint_id}/assign", page=f"/complaints/{complaint_id}")
    auth.post(f"/complaints/{complaint_id}/resolve", {"resolution": "已致电企业，扣减信用分"}, page=f"/complaints/{complaint_id}")
    with console_services.sessions() as session:
        complaint = session.get(Complaint, complaint_id)
        assert complaint.status == ComplaintStatus.RESOLVED and complaint.provider_id == 3
        assert complaint.caller.phone == "13800138000" and complaint.resolved_at is not None
    page = client.get("/providers/3").get_data(as_text=True)
    assert f"/complaints/{complaint_id}" in page


def test_two_clicks_at_once_on_a_callback_ring_the_operator_once(app, asterisk, console_services, monkeypatch):
    """A double click sends two POSTs at once: both read the task as pending before either
    recorded the dial, and each sent an Originate (the operator's phone rang twice, then
    the caller twice). Now the task is claimed in the database first; the second click is told."""
    import threading

    from db.base import utcnow
    from db.models import CallbackReason, CallbackTask, Language, TaskStatus
    from tests.conftest import post_twice_at_once

    with console_services.sessions() as session, session.begin():
        task = CallbackTask(phone="13912345679", language=Language.HAKKA, reason=CallbackReason.AFTER_HOURS, due_at=utcnow())
        session.add(task)
        session.flush()
        task_id = task.id
    both_read = threading.Barrier(2, timeout=5)
    import agent_console.callbacks as callbacks
    loaded = callbacks.get_or_404

    def get_then_wait(*args):
        found = loaded(*args)
        both_read.wait()  # each request has read the task as pending
        return found
    monkeypatch.setattr(callbacks, "get_or_404", get_then_wait)
    answers = post_twice_at_once(app, "operator", "/callbacks", f"/callbacks/{task_id}/dial")
    assert answers == [302, 302]
    assert sum(1 for a in asterisk.actions if a.get("Action") == "Originate") == 1
    with console_services.sessions() as session:
        dialled = session.get(CallbackTask, task_id)
        assert dialled.status == TaskStatus.IN_PROGRESS and dialled.attempts == 1


def test_a_callback_asterisk_refused_stays_waiting(client, auth, asterisk, console_services, monkeypatch):
    from db.base import utcnow
    from db.models import CallbackReason, CallbackTask, Language, TaskStatus
    from telephony.ami import AmiError

    with console_services.sessions() as session, session.begin():
        task = CallbackTask(phone="13912345670", language=Language.HAKKA, reason=CallbackReason.AFTER_HOURS,
                            due_at=utcnow(), status=TaskStatus.FAILED)
        session.add(task)
        session.flush()
        task_id = task.id

    def refused(*args, **kwargs):
        raise AmiError("Originate refused")
    auth.login("operator")
    monkeypatch.setattr(console_services.ami, "originate", refused)
    response = auth.post(f"/callbacks/{task_id}/dial", page="/callbacks")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "外呼失败" in page and "Originate refused" not in page  # Asterisk's words go to the log
    with console_services.sessions() as session:
        assert session.get(CallbackTask, task_id).status == TaskStatus.FAILED  # as it was: dial it again
    monkeypatch.undo()
    auth.post(f"/callbacks/{task_id}/dial", page="/callbacks")
    with console_services.sessions() as session:
        assert session.get(CallbackTask, task_id).status == TaskStatus.IN_PROGRESS

"""Operators sign in to the queues, pause with a reason and sign out from the console;
supervisors see every operator's state. Each change is made in Asterisk first."""
from __future__ import annotations

import pytest

from emulator.ami_server import AmiServer
from ivr.ami import AmiLink


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
    assert asterisk.queue_members["hotline-general"]["PJSIP/1001"]["Paused"] == "0"
    assert "空闲" in client.get("/desk").get_data(as_text=True)
    auth.post("/desk/pause", {"reason": "meal"}, page="/desk")
    assert asterisk.queue_members["hotline-general"]["PJSIP/1001"] == {"Paused": "1", "PausedReason": "meal"}
    assert "用餐" in client.get("/desk").get_data(as_text=True)
    auth.post("/desk/pause", {"reason": "nap"}, page="/desk")  # not a reason: refused, state unchanged
    assert asterisk.queue_members["hotline-general"]["PJSIP/1001"]["PausedReason"] == "meal"
    auth.post("/desk/unpause", page="/desk")
    auth.post("/desk/logout", page="/desk")
    assert "PJSIP/1001" not in asterisk.queue_members["hotline-general"]
    auth.logout()
    auth.login("supervisor")
    page = client.get("/operators").get_data(as_text=True)
    assert "话务员 小陈" in page and "已签出" in page and "用餐" in page


def test_without_asterisk_the_desk_says_so_and_records_nothing(client, auth, console_services):
    from ivr.ami import AmiLink

    console_services._ami = AmiLink("127.0.0.1", 1, "hotline", "x")  # never connected
    auth.login("operator")
    response = auth.post("/desk/login", page="/desk")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "操作未成功" in page and "未签入" in page

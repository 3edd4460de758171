"""Logging a complaint: whatever an operator types gets an answer, never a server error."""
from __future__ import annotations

import re

from sqlalchemy import select

from db.models import Complaint


def test_a_blank_phone_is_no_phone_and_a_bad_one_is_explained(auth, console_services):
    auth.login("operator")
    for blank in (" ", "\t", "\r\n"):
        response = auth.post("/complaints/new", {"phone": blank, "description": "服务态度差"}, page="/complaints/new")
        assert response.status_code == 302, (blank, response.status_code)
    with console_services.sessions() as session:
        logged = session.scalars(select(Complaint).where(Complaint.description == "服务态度差")).all()
        assert len(logged) == 3 and all(c.caller is None for c in logged)
    bad = auth.post("/complaints/new", {"phone": "12 34", "description": "x"}, page="/complaints/new")
    assert bad.status_code == 200 and "请输入手机号" in bad.get_data(as_text=True)
    spaced = auth.post("/complaints/new", {"phone": " 13800138000 ", "description": "迟到"}, page="/complaints/new")
    complaint_id = int(re.search(r"/complaints/(\d+)", spaced.headers["Location"]).group(1))
    with console_services.sessions() as session:
        assert session.get(Complaint, complaint_id).caller.phone == "13800138000"


def test_the_provider_list_starts_with_a_choice_that_says_none_was_chosen(client, auth):
    """Not the bare "0" WTForms prints for an option whose label is blank."""
    auth.login("operator")
    first = re.search(r'<select[^>]*name="provider"[^>]*>\s*<option[^>]*value="0"[^>]*>([^<]*)</option>',
                      client.get("/complaints/new").get_data(as_text=True))
    assert first and first.group(1) == "未指定（按工单的派单企业）"
    auth.post("/language/en", {"next": "/"})
    first = re.search(r'<select[^>]*name="provider"[^>]*>\s*<option[^>]*value="0"[^>]*>([^<]*)</option>',
                      client.get("/complaints/new").get_data(as_text=True))
    assert first and first.group(1) == "Not specified (the request&#39;s provider, if any)"

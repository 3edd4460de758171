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


def test_the_resolve_form_is_titled_and_cannot_take_more_than_it_keeps(client, auth, console_services):
    """It was an untitled row of a label, a small box and a select; a resolution over 4,000
    characters was refused after a redirect, with everything typed gone."""
    with console_services.sessions() as session:
        complaint_id = session.scalar(select(Complaint.id).order_by(Complaint.id).limit(1))
    auth.login("supervisor")
    page = client.get(f"/complaints/{complaint_id}").get_data(as_text=True)
    form = page[page.index('id="resolve-form"'):]
    form = form[:form.index("</form>")]
    assert "<h2" in form and "办结投诉" in form
    assert re.search(r'<textarea[^>]*maxlength="4000"[^>]*name="resolution"|<textarea[^>]*name="resolution"[^>]*maxlength="4000"',
                     form)

"""Disputes in the console: operators take them in, supervisors escalate, mediate and close
them; overdue ones on the dashboard; the outcome in the credit file; bad input never a 500."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from db.models import (
    AuditEntry, Complaint, Dispute, DisputeOrigin, DisputeOutcome, DisputeStatus, Provider, Survey, SurveyStatus,
)


def _demo_complaint(console_services) -> Complaint:
    """The demo's complaint not yet escalated."""
    with console_services.sessions() as session:
        taken = select(Dispute.complaint_id).where(Dispute.complaint_id.is_not(None))
        return session.scalars(select(Complaint).where(Complaint.id.not_in(taken), Complaint.provider_id.is_not(None))
                               .order_by(Complaint.id)).first()


def _flash(client, response) -> str:
    """The message a response shows: on the page it redirects to, or on itself (a refused form)."""
    if response.status_code == 302:
        page = client.get(response.headers["Location"]).get_data(as_text=True)
    else:
        page = response.get_data(as_text=True)
    found = re.search(r'class="flash[^"]*"[^>]*>(.*?)<', page, re.S)
    return found.group(1).strip() if found else ""


def test_the_demo_shows_disputes_in_each_state_and_one_overdue(client, auth, console_services):
    with console_services.sessions() as session:
        rows = session.scalars(select(Dispute)).all()
    assert {d.status for d in rows} == {DisputeStatus.MEDIATING, DisputeStatus.CLOSED}
    assert {d.origin for d in rows} == set(DisputeOrigin)
    assert {d.outcome for d in rows} >= {DisputeOutcome.UPHELD, DisputeOutcome.WITHDRAWN}
    auth.login("supervisor")
    dashboard = client.get("/").get_data(as_text=True)
    count = re.search(r'id="overdue-disputes"[^>]*><b>(\d+)</b>', dashboard)
    assert count and int(count.group(1)) == 1
    overdue = client.get("/disputes?show=overdue").get_data(as_text=True)
    assert "已超期" in overdue and "家电维修后两天再次故障" not in overdue  # the list names the provider, not the summary
    assert len(re.findall(r'href="/disputes/\d+"', overdue)) == 1
    assert client.get("/disputes?show=closed").get_data(as_text=True).count("消费者撤回") == 1


def test_operators_take_a_dispute_in_but_cannot_see_or_mediate_one(client, auth, console_services):
    auth.login("operator")
    dashboard = client.get("/").get_data(as_text=True)
    assert 'id="overdue-disputes"' not in dashboard and "/disputes/new" in dashboard
    with console_services.sessions() as session:
        provider = session.scalars(select(Provider).order_by(Provider.id)).first()
        dispute = session.scalars(select(Dispute).where(Dispute.status != DisputeStatus.CLOSED)).first()
        survey = session.scalars(select(Survey).where(Survey.rating <= 2)).first()
    complaint = _demo_complaint(console_services)
    assert client.get("/disputes").status_code == 403
    assert client.get(f"/disputes/{dispute.id}").status_code == 403
    for path, data in ((f"/disputes/{dispute.id}/statements", {"side": "caller", "author": "王", "text": "话"}),
                       (f"/disputes/{dispute.id}/steps", {"on": "2026-11-27", "note": "调解"}),
                       (f"/disputes/{dispute.id}/close", {"outcome": "rejected"}),
                       (f"/disputes/{dispute.id}/withdraw", {"withdraw-reason": "和解"}),
                       (f"/complaints/{complaint.id}/dispute", {}),
                       (f"/surveys/{survey.id}/dispute", {})):
        assert auth.post(path, data).status_code == 403, path
    assert 'id="escalate-form"' not in client.get(f"/complaints/{complaint.id}").get_data(as_text=True)

    form = client.get("/disputes/new").get_data(as_text=True)
    assert "登记纠纷" in form
    response = auth.post("/disputes/new", {"phone": "13800001111", "provider": provider.id,
                                           "summary": "家政员损坏洗衣机，企业推说与己无关"}, page="/disputes/new")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert "纠纷已登记" in _flash(client, response)
    with console_services.sessions() as session:
        taken = session.scalars(select(Dispute).order_by(Dispute.id.desc())).first()
        assert (taken.origin, taken.provider_id, taken.caller.phone, taken.summary) == (
            DisputeOrigin.OPERATOR, provider.id, "13800001111", "家政员损坏洗衣机，企业推说与己无关")


@pytest.mark.parametrize("data, error", [
    ({"provider": 0, "summary": "没有企业"}, "纠纷须涉及一家企业"),
    ({"provider": 0, "request_number": "HY00000000-0000", "summary": "工单号不对"}, "没有这个工单号"),
    ({"provider": 0, "phone": "12", "summary": "电话不对"}, "请输入手机号"),
    ({"provider": 999999, "summary": "企业不存在"}, "不是有效的选择"),
])
def test_a_bad_intake_is_shown_on_the_form_and_nothing_is_saved(client, auth, console_services, data, error):
    auth.login("operator")
    with console_services.sessions() as session:
        before = len(session.scalars(select(Dispute.id)).all())
    response = auth.post("/disputes/new", data, page="/disputes/new")
    assert response.status_code == 200
    assert error in response.get_data(as_text=True)
    with console_services.sessions() as session:
        assert len(session.scalars(select(Dispute.id)).all()) == before


def test_a_supervisor_escalates_a_complaint_mediates_and_closes_it_into_the_credit_file(client, auth, console_services):
    complaint = _demo_complaint(console_services)
    auth.login("supervisor")
    page = f"/complaints/{complaint.id}"
    assert 'id="escalate-form"' in client.get(page).get_data(as_text=True)
    response = auth.post(f"/complaints/{complaint.id}/dispute", page=page)
    dispute_page = response.headers["Location"]
    dispute_id = int(dispute_page.rsplit("/", 1)[1])
    shown = client.get(dispute_page).get_data(as_text=True)
    assert "投诉转入" in shown and complaint.description in shown and "待调解" in shown
    complaint_shown = client.get(page).get_data(as_text=True)
    assert f"已转为纠纷 #{dispute_id}" in complaint_shown and 'id="escalate-form"' not in complaint_shown
    again = auth.post(f"/complaints/{complaint.id}/dispute", page=page)
    assert "不能重复转入" in _flash(client, again)

    auth.post(f"{dispute_page}/statements", {"side": "caller", "author": "林先生", "text": "地板划痕明显，要求赔偿"},
              page=dispute_page)
    auth.post(f"{dispute_page}/statements", {"side": "provider", "author": "企业负责人", "text": "划痕为旧痕"},
              page=dispute_page)
    with console_services.sessions() as session:
        today = session.get(Dispute, dispute_id).opened_at.astimezone(console_services.tz).date()
    auth.post(f"{dispute_page}/steps", {"on": today.isoformat(), "note": "上门查看，确认为新划痕"}, page=dispute_page)
    refused = auth.post(f"{dispute_page}/close", {"outcome": "upheld", "remedy": ""}, page=dispute_page)
    assert "请填写补救措施" in _flash(client, refused)
    auth.post(f"{dispute_page}/close", {"outcome": "upheld", "remedy": "企业赔偿地板修复费500元", "note": "属实"},
              page=dispute_page)
    shown = client.get(dispute_page).get_data(as_text=True)
    assert "已办结" in shown and "支持消费者诉求" in shown and "企业赔偿地板修复费500元" in shown
    assert "林先生：地板划痕明显，要求赔偿" in shown and "企业陈述" in shown and "上门查看，确认为新划痕" in shown
    assert 'id="statement-form"' not in shown  # closed: nothing more to record
    credit = client.get(f"/supervision/providers/{complaint.provider_id}").get_data(as_text=True)
    assert "纠纷办结" in credit and f'href="/disputes/{dispute_id}"' in credit and "企业赔偿地板修复费500元" in credit
    # The next regrade counts it as a dispute lost.
    auth.post(f"/supervision/providers/{complaint.provider_id}/regrade", page=f"/supervision/providers/{complaint.provider_id}")
    with console_services.sessions() as session:
        from supervision.grading import latest_regrade

        assert latest_regrade(session, complaint.provider_id).inputs["disputes_lost"] >= 1
        actions = session.scalars(select(AuditEntry.action).where(AuditEntry.entity_type == "disputes",
                                                                  AuditEntry.entity_id == dispute_id)
                                  .order_by(AuditEntry.id)).all()
    assert actions == ["open", "statement", "statement", "step", "close"]


@pytest.mark.parametrize("on, error", [
    ("2026-13-01", "请填写有效的调解日期"),
    ("", "请填写有效的调解日期"),
    ("2000-01-01", "调解日期须在受理日"),
    ("2999-01-01", "调解日期须在受理日"),
])
def test_a_bad_step_date_is_refused_with_words(client, auth, console_services, on, error):
    with console_services.sessions() as session:
        dispute = session.scalars(select(Dispute).where(Dispute.status != DisputeStatus.CLOSED)).first()
        steps = len(dispute.steps)
    auth.login("supervisor")
    page = f"/disputes/{dispute.id}"
    response = auth.post(f"{page}/steps", {"on": on, "note": "调解"}, page=page)
    assert response.status_code == 200 and error in _flash(client, response)  # the form again, as typed
    with console_services.sessions() as session:
        assert len(session.get(Dispute, dispute.id).steps) == steps


def test_unknown_disputes_complaints_and_surveys_are_404(client, auth):
    auth.login("supervisor")
    assert client.get("/disputes/999999").status_code == 404
    for path in ("/disputes/999999/statements", "/disputes/999999/steps", "/disputes/999999/close",
                 "/disputes/999999/withdraw", "/complaints/999999/dispute", "/surveys/999999/dispute"):
        assert auth.post(path, {"on": "2026-11-27", "note": "x"}).status_code == 404, path
    assert client.get("/disputes?show=nonsense").status_code == 200


def test_a_low_rating_is_a_candidate_and_becomes_a_dispute_from_the_list(client, auth, console_services):
    with console_services.sessions() as session:
        taken = select(Dispute.survey_id).where(Dispute.survey_id.is_not(None))
        survey = session.scalars(select(Survey).where(Survey.rating <= 2, Survey.status == SurveyStatus.COMPLETED,
                                                      Survey.id.not_in(taken)).order_by(Survey.id)).first()
        fair = session.scalars(select(Survey).where(Survey.rating == 4)).first()
    auth.login("supervisor")
    listing = client.get("/disputes").get_data(as_text=True)
    assert f'action="/surveys/{survey.id}/dispute"' in listing
    assert 'id="escalate-form"' in client.get(f"/surveys/{survey.id}").get_data(as_text=True)
    assert 'id="escalate-form"' not in client.get(f"/surveys/{fair.id}").get_data(as_text=True)
    refused = auth.post(f"/surveys/{fair.id}/dispute", page=f"/surveys/{fair.id}")
    assert "只有评分不高于2星的回访可以转为纠纷" in _flash(client, refused)
    response = auth.post(f"/surveys/{survey.id}/dispute", {"from": "list", "summary": "维修后仍漏水"}, page="/disputes")
    assert "已转为纠纷" in _flash(client, response)
    with console_services.sessions() as session:
        dispute = session.scalar(select(Dispute).where(Dispute.survey_id == survey.id))
        assert (dispute.origin, dispute.summary) == (DisputeOrigin.LOW_RATING, "维修后仍漏水")
    assert f'action="/surveys/{survey.id}/dispute"' not in client.get("/disputes").get_data(as_text=True)
    assert f"已转为纠纷 #{dispute.id}" in client.get(f"/surveys/{survey.id}").get_data(as_text=True)


def test_a_withdrawal_needs_its_reason(client, auth, console_services):
    with console_services.sessions() as session:
        dispute = session.scalars(select(Dispute).where(Dispute.status != DisputeStatus.CLOSED)).first()
    auth.login("supervisor")
    page = f"/disputes/{dispute.id}"
    assert "请填写撤回原因" in _flash(client, auth.post(f"{page}/withdraw", {"withdraw-reason": ""}, page=page))
    auth.post(f"{page}/withdraw", {"withdraw-reason": "双方已和解"}, page=page)
    shown = client.get(page).get_data(as_text=True)
    assert "消费者撤回" in shown and "双方已和解" in shown


def test_the_disputes_pages_read_in_english(client, auth, console_services):
    with console_services.sessions() as session:
        dispute = session.scalars(select(Dispute).where(Dispute.status == DisputeStatus.CLOSED)).first()
    auth.login("supervisor")
    auth.post("/language/en", {"next": "/"})
    listing = client.get("/disputes?show=closed").get_data(as_text=True)
    assert "Disputes" in listing and "纠纷处理" not in listing
    page = client.get(f"/disputes/{dispute.id}").get_data(as_text=True)
    words = re.sub(r"<[^>]+>", " ", page)
    assert "Outcome" in words and "处理结果" not in words
    for code in ("upheld", "withdrawn", "low_rating", "partly_upheld", "mediating"):  # codes never shown
        assert code not in words.split(), code


def test_a_request_page_leads_to_an_intake_against_its_provider(client, auth, console_services):
    from db.models import Dispatch, ServiceRequest

    with console_services.sessions() as session:
        request = session.scalars(select(ServiceRequest).join(Dispatch).order_by(ServiceRequest.id)).first()
        number, provider_id = request.number, request.dispatches[-1].provider_id
    auth.login("operator")
    page = client.get(f"/requests/{number}").get_data(as_text=True)
    assert f'href="/disputes/new?request={number}"' in page
    form = client.get(f"/disputes/new?request={number}").get_data(as_text=True)
    assert f'value="{number}"' in form
    auth.post("/disputes/new", {"request_number": number, "provider": 0, "summary": "服务态度差，少做一项"},
              page="/disputes/new")
    with console_services.sessions() as session:
        taken = session.scalars(select(Dispute).order_by(Dispute.id.desc())).first()
        assert (taken.provider_id, taken.request.number, taken.origin) == (provider_id, number, DisputeOrigin.OPERATOR)


# --- what a probe found ------------------------------------------------------------------------


@pytest.mark.parametrize("path, data, kept, error", [
    ("statements", {"side": "provider", "author": "企业负责人", "text": "说明" * 2001}, "说明" * 2001, "4000"),
    ("steps", {"on": "2026-02-30", "note": "第二次上门调解，双方同意分担费用"}, "第二次上门调解，双方同意分担费用", "日期"),
    ("close", {"outcome": "rejected", "note": "意" * 4001}, "意" * 4001, "4000"),
    ("close", {"outcome": "upheld", "remedy": "", "note": "经核实，企业承认未按约上门"}, "经核实，企业承认未按约上门",
     "请填写补救措施"),
])
def test_a_refused_dispute_action_keeps_what_the_supervisor_typed(client, auth, console_services, path, data, kept,
                                                                  error):
    """A statement a character too long, or a closing without its remedy, came back as a
    redirect: the page's forms were empty again and the words typed were lost."""
    with console_services.sessions() as session:
        dispute = session.scalars(select(Dispute).where(Dispute.status != DisputeStatus.CLOSED)).first()
        before = (len(dispute.statements), len(dispute.steps), dispute.status)
    auth.login("supervisor")
    page = f"/disputes/{dispute.id}"
    response = auth.post(f"{page}/{path}", data, page=page)
    assert response.status_code == 200
    shown = response.get_data(as_text=True)
    assert kept in shown and error in shown
    assert 'class="flash error"' in shown
    with console_services.sessions() as session:
        again = session.get(Dispute, dispute.id)
        assert (len(again.statements), len(again.steps), again.status) == before


def test_a_double_clicked_escalation_makes_one_dispute_and_no_error_page(app, client, auth, console_services,
                                                                          monkeypatch):
    """Both clicks pass the "already a dispute?" check before either commits: the second
    one's insert then hit the unique key, a 500. Simulated by a check that sees nothing."""
    app.config["PROPAGATE_EXCEPTIONS"] = False
    complaint = _demo_complaint(console_services)
    auth.login("supervisor")
    page = f"/complaints/{complaint.id}"
    assert auth.post(f"{page}/dispute", page=page).status_code == 302
    monkeypatch.setattr("supervision.disputes.dispute_of_complaint", lambda session, complaint_id: None)
    again = auth.post(f"{page}/dispute", page=page)
    assert again.status_code == 302 and "不能重复转入" in _flash(client, again)
    with console_services.sessions() as session:
        assert len(session.scalars(select(Dispute.id).where(Dispute.complaint_id == complaint.id)).all()) == 1


def test_a_dispute_closed_meanwhile_keeps_its_outcome(console_services):
    """Two supervisors (or a double click) with the same open dispute on screen: the first
    closing stands; a second closing, or a statement written after it, is refused."""
    from supervision import disputes

    with console_services.sessions() as session:
        dispute_id = session.scalars(select(Dispute.id).where(Dispute.status != DisputeStatus.CLOSED)).first()
    with console_services.sessions() as first, console_services.sessions() as second, \
            console_services.sessions() as third:
        mine, theirs, late = first.get(Dispute, dispute_id), second.get(Dispute, dispute_id), third.get(Dispute, dispute_id)
        disputes.close(first, mine, DisputeOutcome.UPHELD, "退还服务费300元", None, None)
        first.commit()
        with pytest.raises(disputes.DisputeRefused):
            disputes.close(second, theirs, DisputeOutcome.REJECTED, None, "证据不足", None)
        second.rollback()
        with pytest.raises(disputes.DisputeRefused):
            disputes.add_statement(third, late, "caller", "陈女士", "补充说明", None)
        third.rollback()
    with console_services.sessions() as session:
        closed = session.get(Dispute, dispute_id)
        assert (closed.status, closed.outcome, closed.remedy) == (DisputeStatus.CLOSED, DisputeOutcome.UPHELD, "退还服务费300元")
        assert [s.text for s in closed.statements if s.text == "补充说明"] == []


def test_a_dispute_page_leads_back_to_the_list_and_names_one_complaint(client, auth, console_services):
    with console_services.sessions() as session:
        dispute = session.scalars(select(Dispute).where(Dispute.complaint_id.is_not(None))).first()
    auth.login("supervisor")
    page = client.get(f"/disputes/{dispute.id}").get_data(as_text=True)
    assert 'id="back-to-disputes"' in page and 'href="/disputes"' in page
    auth.post("/language/en", {"next": "/"})
    words = re.sub(r"<[^>]+>", "", client.get(f"/disputes/{dispute.id}").get_data(as_text=True))
    assert f"Complaint #{dispute.complaint_id}" in words and "Complaints #" not in words

"""Supervisors in the console: regrade, read why, override, sanction; the credit file and follow-ups."""
from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import select

from db.base import utcnow
from db.models import (
    AuditEntry, Caller, Certificate, Complaint, CreditMeasure, CreditMeasureKind, GradeChange, Language, Provider,
    ProviderStatus, RequestChannel, RequestStatus, ServiceRequest, Survey, SurveyStatus, Worker,
)


def _rated_provider(console_services, ratings=(5, 5, 5, 4, 5, 5)) -> int:
    """A demo provider given recent survey ratings, so the rule can grade it."""
    with console_services.sessions() as session:
        surveyed = select(Survey.provider_id).where(Survey.provider_id.is_not(None))
        provider = session.scalars(select(Provider).where(Provider.status == ProviderStatus.ACTIVE,
                                                          Provider.id.not_in(surveyed)).order_by(Provider.id)).first()
        caller = session.scalars(select(Caller)).first()
        now = utcnow()
        for index, rating in enumerate(ratings):
            request = ServiceRequest(number=f"HYT{provider.id}-{index}", category_id=provider.categories[0].id,
                                     caller_id=caller.id, channel=RequestChannel.PHONE, status=RequestStatus.SURVEYED)
            session.add(request)
            session.flush()
            session.add(Survey(request_id=request.id, caller_id=caller.id, provider_id=provider.id,
                               language=Language.MANDARIN, due_at=now, status=SurveyStatus.COMPLETED, rating=rating,
                               completed_at=now - dt.timedelta(days=index + 1)))
        session.commit()
        return provider.id


def test_a_supervisor_regrades_and_the_provider_page_says_why(client, auth, console_services):
    provider_id = _rated_provider(console_services)
    auth.login("supervisor")
    overview = client.get("/supervision").get_data(as_text=True)
    assert "分类定级规则" in overview and "≥4.8 → 40" in overview
    response = auth.post("/supervision/regrade", page="/supervision")
    assert "已重新定级" in client.get(response.headers["Location"]).get_data(as_text=True)
    page = client.get(f"/supervision/providers/{provider_id}").get_data(as_text=True)
    assert "近90天回访平均评分 4.83：+40" in page and "信用基础分：+20" in page
    # A provider with too few ratings stays ungraded, and its page says what is missing.
    with console_services.sessions() as session:
        short = [c for c in session.scalars(select(GradeChange)) if c.reasons and "missing" in c.reasons[0]]
        unrated = session.get(Provider, short[0].provider_id)
        assert unrated.grade is None
        have = short[0].reasons[0]["have"]
    page = client.get(f"/supervision/providers/{unrated.id}").get_data(as_text=True)
    assert f"近90天回访评价{have}次，定级至少需要5次" in page


def test_an_override_is_shown_as_such_and_audited(client, auth, console_services):
    provider_id = _rated_provider(console_services)
    auth.login("supervisor")
    page = f"/supervision/providers/{provider_id}"
    auth.post(f"{page}/regrade", page=page)
    refused = auth.post(f"{page}/override", {"grade": 2, "reason": ""}, page=page)
    assert "请选择星级并填写调整理由" in refused.get_data(as_text=True)
    auth.post(f"{page}/override", {"grade": 2, "reason": "服务合同纠纷待查"}, page=page)
    shown = client.get(page).get_data(as_text=True)
    assert "班长调整" in shown and "服务合同纠纷待查" in shown and "下次定级时到期" in shown
    auth.post(f"{page}/renew", {"renew-reason": "核查延期"}, page=page)
    with console_services.sessions() as session:
        provider = session.get(Provider, provider_id)
        assert (provider.grade, provider.grade_overridden, provider.override_renewed) == (2, True, True)
        actions = session.scalars(select(AuditEntry.action).where(AuditEntry.entity_type == "providers",
                                                                  AuditEntry.entity_id == provider_id)).all()
        assert actions == ["grade_override", "grade_override_renew"]
    assert "已续期" in client.get(page).get_data(as_text=True)


def test_operators_read_the_credit_file_but_cannot_act(client, auth, console_services):
    provider_id = _rated_provider(console_services)
    auth.login("operator")
    page = f"/supervision/providers/{provider_id}"
    assert client.get(page).status_code == 200
    assert client.get("/supervision").status_code == 403
    assert auth.post(f"{page}/regrade", page=page).status_code == 403
    assert auth.post(f"{page}/measures", {"kind": "warning", "reason": "x"}, page=page).status_code == 403


def test_a_suspension_from_the_credit_file_takes_the_provider_out_of_suggestions(client, auth, console_services):
    from test_console_requests import _best_suggestion, _new_request, _number

    auth.login("supervisor")
    number = _number(_new_request(auth, console_services))
    best = _best_suggestion(client, number)
    page = f"/supervision/providers/{best}"
    refused = auth.post(f"{page}/measures", {"kind": "suspension", "reason": "爽约两次"}, page=page)
    assert "暂停派单还需填写" in refused.get_data(as_text=True)
    auth.post(f"{page}/measures", {"kind": "suspension", "days": 7, "reason": "爽约两次"}, page=page)
    assert f'name="provider_id" value="{best}"' not in client.get(f"/requests/{number}").get_data(as_text=True)
    shown = client.get(page).get_data(as_text=True)
    assert "暂停至" in shown and "爽约两次" in shown
    assert "爽约两次" not in client.get("/supervision").get_data(as_text=True)  # the list names the provider
    with console_services.sessions() as session:
        provider = session.get(Provider, best)
        assert provider.name in client.get("/supervision").get_data(as_text=True)
        assert provider.suspended_until - utcnow() > dt.timedelta(days=6, hours=23)


def test_removal_and_reinstatement_need_reasons(client, auth, console_services):
    provider_id = _rated_provider(console_services)
    auth.login("supervisor")
    page = f"/supervision/providers/{provider_id}"
    auth.post(f"{page}/measures", {"kind": "removal", "reason": "无证上岗", "confirm_removal": "y"}, page=page)
    assert "移出平台，待恢复" in client.get(page).get_data(as_text=True)
    auth.post(f"{page}/reinstate", {"reinstate-reason": ""}, page=page)
    with console_services.sessions() as session:
        assert session.get(Provider, provider_id).status == ProviderStatus.SUSPENDED
    auth.post(f"{page}/reinstate", {"reinstate-reason": "已取得证书"}, page=page)
    with console_services.sessions() as session:
        assert session.get(Provider, provider_id).status == ProviderStatus.ACTIVE
        (removal,) = session.scalars(select(CreditMeasure).where(CreditMeasure.provider_id == provider_id)).all()
        assert (removal.kind, removal.lift_reason) == (CreditMeasureKind.REMOVAL, "已取得证书")
    timeline = client.get(page).get_data(as_text=True)
    assert "恢复派单" in timeline and "无证上岗" in timeline


def test_an_upheld_complaint_is_recorded_and_weighs_in_the_credit_file(client, auth, console_services):
    provider_id = _rated_provider(console_services)
    with console_services.sessions() as session:
        complaint = Complaint(provider_id=provider_id, description="迟到两小时", created_at=utcnow())
        session.add(complaint)
        session.commit()
        complaint_id = complaint.id
    auth.login("supervisor")
    auth.post(f"/complaints/{complaint_id}/resolve", {"resolution": "核实属实，已约谈", "upheld": "yes"},
              page=f"/complaints/{complaint_id}")
    assert "投诉属实" in client.get(f"/complaints/{complaint_id}").get_data(as_text=True)
    page = f"/supervision/providers/{provider_id}"
    auth.post(f"{page}/regrade", page=page)
    shown = client.get(page).get_data(as_text=True)
    assert "属实投诉（次） 1：-8" in shown and "投诉办结" in shown


def test_certificates_expiring_within_30_days_are_listed_for_follow_up(client, auth, console_services):
    today = utcnow().astimezone(console_services.tz).date()  # the console's day: Heyuan's
    with console_services.sessions() as session:
        worker = session.scalars(select(Worker).order_by(Worker.id)).first()
        for number, days in (("SOON-29", 29), ("SOON-30", 30), ("LATER-31", 31), ("GONE-1", -1)):
            session.add(Certificate(worker_id=worker.id, kind=f"证{number}", number=number,
                                    issued_on=today - dt.timedelta(days=400), expires_on=today + dt.timedelta(days=days)))
        session.commit()
    auth.login("supervisor")
    listed = client.get("/supervision").get_data(as_text=True)
    section = listed[listed.index('id="expiring-certificates"'):listed.index('id="out-of-dispatch"')]
    assert "证SOON-29" in section and "证SOON-30" in section
    assert "证LATER-31" not in section and "证GONE-1" not in section


def test_the_supervision_pages_read_in_english(client, auth, console_services):
    provider_id = _rated_provider(console_services)
    auth.login("supervisor")
    auth.post("/language/en", {"next": "/supervision"})
    overview = client.get("/supervision").get_data(as_text=True)
    assert "Grading rule" in overview and "分类定级规则" not in overview
    page = f"/supervision/providers/{provider_id}"
    auth.post(f"{page}/regrade", page=page)
    shown = client.get(page).get_data(as_text=True)
    assert "Average survey rating, last 90 days 4.83: +40" in shown and "Grade history" in shown
    assert not any(text in shown for text in ("信用基础分", "星级记录", "档案记录", "按规则定级", "入驻平台", "调整星级"))


def test_a_workers_file_shows_certificates_with_expiry_and_trainings(client, auth, console_services):
    today = utcnow().astimezone(console_services.tz).date()  # the console's day: Heyuan's
    with console_services.sessions() as session:
        worker = session.scalars(select(Worker).order_by(Worker.id)).first()
        session.add(Certificate(worker_id=worker.id, kind="养老护理员", number="OLD-1",
                                issued_on=today - dt.timedelta(days=800), expires_on=today - dt.timedelta(days=3)))
        session.commit()
        worker_id, provider_id = worker.id, worker.provider_id
    auth.login("operator")
    assert f"/supervision/workers/{worker_id}" in client.get(f"/providers/{provider_id}").get_data(as_text=True)
    page = client.get(f"/supervision/workers/{worker_id}").get_data(as_text=True)
    table = page[page.index('id="worker-certificates"'):page.index('id="worker-timeline"')]
    assert "OLD-1" in table and "已过期" in table
    assert "登记为从业人员" in page and "取得证书" in page


def test_the_grading_rule_does_not_say_disputes_are_not_recorded(client, auth):
    """The rule's table ended with "败诉纠纷: 纠纷处理尚未上线，目前按0次计" under the row that
    deducts 10 points a lost dispute: disputes are taken in and count (tests/test_disputes.py)."""
    auth.login("supervisor")
    page = re.sub(r"<[^>]+>", " ", client.get("/supervision").get_data(as_text=True))
    assert "尚未上线" not in page
    assert "hotline regrade" not in page  # a command supervisors never type: the cron job's
    assert page.count("败诉纠纷（次）") == 1 and "每次扣10分" in page


def test_removal_from_the_platform_is_never_one_click(client, auth, console_services):
    """Removal stops every dispatch to a provider: without its confirmation box ticked it is
    refused, with the reason typed still in the form."""
    provider_id = _rated_provider(console_services)
    auth.login("supervisor")
    page = f"/supervision/providers/{provider_id}"
    answer = auth.post(f"{page}/measures", {"kind": "removal", "reason": "无证上岗，多次被投诉"}, page=page)
    html = answer.get_data(as_text=True)
    assert "移出平台前请勾选确认" in html
    assert 'value="无证上岗，多次被投诉"' in html and '<option selected value="removal">' in html
    with console_services.sessions() as session:
        assert session.get(Provider, provider_id).status == ProviderStatus.ACTIVE
        assert not session.scalars(select(CreditMeasure).where(CreditMeasure.provider_id == provider_id)).all()


def test_a_refused_measure_or_override_keeps_what_was_typed(client, auth, console_services):
    """A suspension without its days, or an override without its reason, came back as an empty
    form (a redirect): the supervisor's typed reason was lost."""
    provider_id = _rated_provider(console_services)
    auth.login("supervisor")
    page = f"/supervision/providers/{provider_id}"
    html = auth.post(f"{page}/measures", {"kind": "suspension", "reason": "服务人员未持证上岗"},
                     page=page).get_data(as_text=True)
    assert "暂停派单还需填写1到365的天数" in html
    assert 'value="服务人员未持证上岗"' in html and '<option selected value="suspension">' in html
    html = auth.post(f"{page}/override", {"grade": "2", "reason": ""}, page=page).get_data(as_text=True)
    assert "请选择星级并填写调整理由" in html and '<option selected value="2">' in html


def test_regrading_everyone_asks_first_when_it_would_end_adjusted_grades(client, auth, console_services):
    """全部重新定级 was one click, and it replaces every supervisor's adjusted grade not renewed."""
    provider_id = _rated_provider(console_services)
    auth.login("supervisor")
    page = f"/supervision/providers/{provider_id}"
    auth.post(f"{page}/override", {"grade": "1", "reason": "集中投诉，待核查"}, page=page)
    overview = client.get("/supervision").get_data(as_text=True)
    assert "1家企业的班长调整星级（未续期）将按规则重定" in overview
    refused = auth.post("/supervision/regrade", page="/supervision")
    assert "请勾选确认" in client.get(refused.headers["Location"]).get_data(as_text=True)
    with console_services.sessions() as session:
        assert session.get(Provider, provider_id).grade == 1
    auth.post("/supervision/regrade", {"confirm": "y"}, page="/supervision")
    with console_services.sessions() as session:
        assert session.get(Provider, provider_id).grade_overridden is False

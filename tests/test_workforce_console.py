"""The recruitment, training and 70% pages of the console, and the IVR's key 6, on the demo database."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import func, select

from db.models import (
    AuditEntry, Call, Certificate, Dispute, DisputeStatus, District, Hire, JobOpening, JobSeeker, JobSeekerSource,
    JobSeekerStatus, Language, OpeningStatus, SeventyDenominator, ServiceCategory, TrainingSession, Worker,
)
from db.base import utcnow
from db.session import make_session_factory


def today(console_services) -> dt.date:
    """The demo's data is dated from when it was loaded: so are these tests' dates."""
    return utcnow().astimezone(console_services.tz).date()


def this_month(console_services) -> str:
    return f"{today(console_services):%Y-%m}"


def demo_month(console_services) -> str:
    """The newest month the demo entered denominators for: the month it was loaded in, even
    when a test runs after midnight on a month's last day."""
    return f"{one(console_services, select(func.max(SeventyDenominator.month))):%Y-%m}"


def hires_this_year(console_services) -> int:
    year = today(console_services).year
    return one(console_services, select(func.count()).select_from(Hire).where(
        Hire.hired_on >= dt.date(year, 1, 1), Hire.hired_on <= dt.date(year, 12, 31)))


def one(console_services, query):
    with console_services.sessions() as session:
        return session.scalar(query)


# --- the IVR's key 6 ------------------------------------------------------------------------


def test_pressing_6_registers_the_caller_as_a_job_seeker_lead(dial, ivr_db, ivr_sessions):
    transcript = dial("3 6", caller="13588886666")  # Hakka, then 人才招聘
    assert transcript.variables["HOTLINE_INTENT"] == "jobs"
    assert ivr_sessions()  # the call-log writer has written the call
    with make_session_factory(ivr_db)() as session:
        lead = session.scalar(select(JobSeeker).where(JobSeeker.phone == "13588886666"))
        assert (lead.source, lead.status, lead.language, lead.name) == (
            JobSeekerSource.IVR, JobSeekerStatus.LEAD, Language.HAKKA, None)
        assert session.get(Call, lead.call_id).caller_number == "13588886666"


def test_other_choices_and_withheld_numbers_register_no_lead(dial, ivr_db, ivr_sessions):
    dial("1 1 1", caller="13588886667")  # Mandarin, family services, housekeeping
    dial("1 6", caller="anonymous")  # jobs, but no number to call back
    assert len(ivr_sessions()) == 2
    with make_session_factory(ivr_db)() as session:
        leads = session.scalars(select(JobSeeker.phone).where(JobSeeker.source == JobSeekerSource.IVR)).all()
    assert "13588886667" not in leads and len(leads) == 2  # the demo's two leads only


# --- job seekers, matching, hires ---------------------------------------------------------------


def test_an_operator_registers_a_seeker_and_records_a_hire(client, auth, console_services):
    auth.login("operator")
    page = client.get("/jobs").get_data(as_text=True)
    assert "黄秀娟" not in page and "温春燕" in page  # hired ones are not among those looking
    assert re.search(rf'id="hires-progress".*?<b>{hires_this_year(console_services)}</b> / 1200', page, re.S)
    response = auth.post("/jobs/seekers/new", {"name": "邱美玲", "phone": "135 7627 2001", "district": _id(
        console_services, "districts", "yuancheng"), "category": _id(console_services, "service_categories", "household"),
        "language": "hak", "note": "做过两年保洁"}, page="/jobs/seekers/new")
    assert response.status_code == 302
    seeker = one(console_services, select(JobSeeker).where(JobSeeker.phone == "13576272001"))
    assert (seeker.name, seeker.status, seeker.source) == ("邱美玲", JobSeekerStatus.SEEKING, JobSeekerSource.OPERATOR)
    page = client.get(f"/jobs/seekers/{seeker.id}").get_data(as_text=True)
    assert "住家保姆" in page  # the demo's household opening in 源城区
    opening = one(console_services, select(JobOpening).where(JobOpening.title == "住家保姆"))
    hired_on = today(console_services) - dt.timedelta(days=2)
    response = auth.post(f"/jobs/seekers/{seeker.id}/hire", {"opening": opening.id, "hired_on": hired_on.isoformat()},
                         page=f"/jobs/seekers/{seeker.id}")
    assert response.status_code == 302
    hire = one(console_services, select(Hire).where(Hire.seeker_id == seeker.id))
    assert hire.hired_on == hired_on
    assert one(console_services, select(Worker.name).where(Worker.id == hire.worker_id)) == "邱美玲"
    page = client.get(f"/jobs/seekers/{seeker.id}").get_data(as_text=True)
    assert "已录用" in page and 'id="matches"' not in page


def _id(console_services, table, code):
    from sqlalchemy import text
    with console_services.sessions() as session:
        return session.execute(text(f"SELECT id FROM {table} WHERE code = :code"), {"code": code}).scalar()


@pytest.mark.parametrize("data, message", [
    ({"name": "", "phone": "13576272002"}, "姓名"),
    ({"name": "张三", "phone": "12345"}, "请输入手机号"),
    ({"name": "张三", "phone": "13576272002", "district": "0"}, "请选择区县"),
    ({"name": "张三", "phone": "13576272002", "district": "abc"}, "区县"),
    ({"name": "张三" * 40, "phone": "13576272002"}, "姓名"),
])
def test_a_bad_seeker_form_says_what_is_wrong(client, auth, console_services, data, message):
    auth.login("operator")
    form = {"district": _id(console_services, "districts", "heping"),
            "category": _id(console_services, "service_categories", "household"), **data}
    response = auth.post("/jobs/seekers/new", form, page="/jobs/seekers/new")
    assert response.status_code == 200 and message in response.get_data(as_text=True)
    assert one(console_services, select(func.count()).select_from(JobSeeker).where(JobSeeker.name == "张三")) == 0


@pytest.mark.parametrize("data", [{"opening": "abc", "hired_on": "2026-11-28"}, {"opening": "1", "hired_on": "2026-13-01"},
                                  {"opening": "1", "hired_on": "9999-01-01"}, {"opening": "999999", "hired_on": "2026-11-28"}])
def test_a_bad_hire_is_refused_with_a_reason(client, auth, console_services, data):
    auth.login("operator")
    seeker_id = one(console_services, select(JobSeeker.id).where(JobSeeker.name == "温春燕"))
    response = auth.post(f"/jobs/seekers/{seeker_id}/hire", data, page="/jobs")
    assert response.status_code in (302, 404)
    assert one(console_services, select(func.count()).select_from(Hire)) == 3  # the demo's


def test_a_lead_cannot_be_hired_before_it_is_completed(client, auth, console_services):
    auth.login("operator")
    lead = one(console_services, select(JobSeeker.id).where(JobSeeker.status == JobSeekerStatus.LEAD))
    opening = one(console_services, select(JobOpening.id).where(JobOpening.status == OpeningStatus.OPEN))
    auth.post(f"/jobs/seekers/{lead}/hire", {"opening": opening, "hired_on": today(console_services).isoformat()},
              page="/jobs")
    page = client.get(f"/jobs/seekers/{lead}").get_data(as_text=True)
    assert "请先补全求职者的姓名" in page
    assert one(console_services, select(func.count()).select_from(Hire)) == 3


def test_openings_are_registered_and_closed(client, auth, console_services):
    auth.login("operator")
    provider = re.search(r'<option value="(\d+)">河源', client.get("/jobs/openings").get_data(as_text=True)).group(1)
    bad = auth.post("/jobs/openings", {"provider": provider, "title": "钟点工", "positions": "0",
                                       "category": _id(console_services, "service_categories", "household")},
                    page="/jobs/openings")
    assert bad.status_code == 200 and one(console_services, select(JobOpening).where(JobOpening.title == "钟点工")) is None
    auth.post("/jobs/openings", {"provider": provider, "title": "钟点工", "positions": "2", "district": "0",
                                 "category": _id(console_services, "service_categories", "household")}, page="/jobs/openings")
    opening = one(console_services, select(JobOpening).where(JobOpening.title == "钟点工"))
    assert (opening.positions, opening.district_id, opening.status) == (2, None, OpeningStatus.OPEN)
    auth.post(f"/jobs/openings/{opening.id}/close", page="/jobs/openings")
    assert one(console_services, select(JobOpening.status).where(JobOpening.id == opening.id)) is OpeningStatus.CLOSED


# --- training ---------------------------------------------------------------------------------


def test_a_training_session_with_attendees_and_a_certificate(client, auth, console_services):
    auth.login("operator")
    bad = auth.post("/training", {"course": "急救常识", "held_on": "not a date", "trainer": "罗医生"}, page="/training")
    assert bad.status_code == 200 and "培训日期" in bad.get_data(as_text=True)
    held_on = today(console_services) - dt.timedelta(days=10)
    auth.post("/training", {"course": "急救常识", "held_on": held_on.isoformat(), "trainer": "罗医生", "place": "东源县",
                            "hours": "8"}, page="/training")
    ts = one(console_services, select(TrainingSession).where(TrainingSession.course == "急救常识"))
    worker_phone = one(console_services, select(Worker.phone).where(Worker.active).order_by(Worker.id).limit(1))
    auth.post(f"/training/{ts.id}/attendees", {"phone": worker_phone}, page="/training")
    auth.post(f"/training/{ts.id}/attendees", {"phone": "13576271006"}, page="/training")  # 温春燕, a seeker
    # A refusal comes back with what was typed (it redirected to empty fields).
    missing = auth.post(f"/training/{ts.id}/attendees", {"phone": "13500000000"}, page="/training")
    page = missing.get_data(as_text=True)
    assert missing.status_code == 200 and 'value="13500000000"' in page
    assert "有效期至" in page[page.index("<thead>"):page.index("</thead>")]  # the date field's only visible label
    assert "没有用此电话登记的从业人员或求职者" in page and "温春燕" in page and "录用为从业人员后发证" in page
    attendee = re.search(r'name="attendee" value="(\d+)"', page).group(1)
    too_early = (held_on - dt.timedelta(days=1)).isoformat()
    refused = auth.post(f"/training/{ts.id}/certificates", {"attendee": attendee, "kind": "急救员",
                                                            "number": "JJ2026001", "expires_on": too_early},
                        page="/training").get_data(as_text=True)
    assert "证书有效期须晚于培训日期" in refused
    row = refused[refused.index(f'name="attendee" value="{attendee}"'):]
    row = row[:row.index("</form>")]
    assert 'value="急救员"' in row and 'value="JJ2026001"' in row and f'value="{too_early}"' in row
    assert refused.count('value="急救员"') == 1  # only in its own row
    auth.post(f"/training/{ts.id}/certificates", {"attendee": attendee, "kind": "急救员", "number": "JJ2026001",
                                                  "expires_on": (held_on + dt.timedelta(days=1095)).isoformat()},
              page="/training")
    certificate = one(console_services, select(Certificate).where(Certificate.number == "JJ2026001"))
    assert certificate.session_id == ts.id and certificate.issued_on == held_on
    assert "JJ2026001" in client.get(f"/training/{ts.id}").get_data(as_text=True)


def test_two_sends_at_once_issue_one_certificate(app, auth, console_services, monkeypatch):
    """Without the page's form token (no JavaScript, a script) two 发证 at once both found no
    certificate issued before either wrote: two certificates, both counted in the reports."""
    import threading

    from sqlalchemy.orm import Session

    from tests.conftest import post_twice_at_once

    auth.login("operator")
    held_on = today(console_services) - dt.timedelta(days=3)
    auth.post("/training", {"course": "家电清洗", "held_on": held_on.isoformat(), "trainer": "黄师傅"}, page="/training")
    ts = one(console_services, select(TrainingSession).where(TrainingSession.course == "家电清洗"))
    worker_phone = one(console_services, select(Worker.phone).where(Worker.active).order_by(Worker.id).limit(1))
    auth.post(f"/training/{ts.id}/attendees", {"phone": worker_phone}, page="/training")
    attendee = re.search(r'name="attendee" value="(\d+)"', auth._client.get(f"/training/{ts.id}").get_data(as_text=True)).group(1)
    both_checked = threading.Barrier(2, timeout=2)
    looked = Session.scalar

    def looked_then_wait(self, statement, *args, **kwargs):
        found = looked(self, statement, *args, **kwargs)
        if "FROM certificates" in str(statement):
            try:
                both_checked.wait()  # each send has looked for the certificate: neither has written it
            except threading.BrokenBarrierError:
                pass  # the other send waits for this one to finish: as it should
        return found
    monkeypatch.setattr(Session, "scalar", looked_then_wait)
    answers = post_twice_at_once(app, "operator", "/training", f"/training/{ts.id}/certificates",
                                 {"attendee": attendee, "kind": "家电清洗员", "number": "QX2026001"})
    monkeypatch.setattr(Session, "scalar", looked)
    assert len(answers) == 2 and set(answers) <= {200, 302}  # the second: refused in words, or sent back
    with console_services.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Certificate).where(Certificate.number == "QX2026001")) == 1


# --- the three 70% figures --------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/seventy", "/seventy?month=2026-10", "/seventy/trend.svg"])
def test_operators_may_not_see_the_figures(client, auth, path):
    auth.login("operator")
    assert client.get(path).status_code == 403


def test_operators_may_not_enter_a_denominator(client, auth, console_services):
    auth.login("operator")
    before = one(console_services, select(func.count()).select_from(SeventyDenominator))
    response = auth.post("/seventy/denominators", {"measure": "demand", "district": "0", "month": "2026-11", "value": "9"})
    assert response.status_code == 403
    assert one(console_services, select(func.count()).select_from(SeventyDenominator)) == before


def test_the_figures_page_a_missing_denominator_and_the_chart(client, auth, console_services):
    auth.login("supervisor")
    month = this_month(console_services)
    page = client.get(f"/seventy?month={month}").get_data(as_text=True)
    assert "三个70%" in page and "缺分母，无法计算" in page  # 连平县's November demand is not in
    assert re.search(r'<tr class="total"><th>全市</th>', page)
    assert page.count("<tr><td>20") == 12  # the trend's table: twelve months
    assert f'<img src="/seventy/trend.svg?month={month}"' in page
    chart = client.get(f"/seventy/trend.svg?month={month}")
    assert chart.mimetype == "image/svg+xml" and b"<script" not in chart.data and month in chart.get_data(as_text=True)
    assert client.get("/seventy?month=junk").status_code == 200


@pytest.mark.parametrize("data, message", [
    ({"value": "0"}, "分母数值"), ({"value": "abc"}, "分母数值"), ({"value": "10000001"}, "分母数值"),
    ({"month": "2026-13"}, "月份格式"), ({"month": "2013-01"}, "2014年2月"), ({"measure": "profit"}, "指标"),
])
def test_a_bad_denominator_is_refused_with_a_reason(client, auth, console_services, data, message):
    auth.login("supervisor")
    before = one(console_services, select(func.count()).select_from(SeventyDenominator))
    form = {"measure": "workers", "district": "0", "month": this_month(console_services), "value": "200", **data}
    response = auth.post("/seventy/denominators", form, page="/seventy")
    assert response.status_code == 302
    assert message in client.get(response.headers["Location"]).get_data(as_text=True)
    assert one(console_services, select(func.count()).select_from(SeventyDenominator)) == before


def test_a_supervisor_enters_a_denominator_and_it_is_audited(client, auth, console_services):
    auth.login("supervisor")
    month = demo_month(console_services)
    response = auth.post("/seventy/denominators", {"measure": "demand", "district": _id(console_services, "districts", "lianping"),
                                                   "month": month, "value": "12"}, page="/seventy")
    assert response.status_code == 302
    page = client.get(f"/seventy?month={month}").get_data(as_text=True)
    assert "缺分母，无法计算" not in page
    entry = one(console_services, select(AuditEntry).where(AuditEntry.entity_type == "seventy_denominators"))
    assert entry.details == {"measure": "demand", "district": "lianping", "month": f"{month}-01",
                             "from": None, "to": 12}


def test_a_denominator_colliding_with_another_submit_is_refused_with_a_reason(client, auth, console_services,
                                                                             monkeypatch):
    from workforce import figures

    auth.login("supervisor")
    month = demo_month(console_services)
    city = select(SeventyDenominator.value).where(SeventyDenominator.district_id.is_(None),
                                                  SeventyDenominator.month == dt.date.fromisoformat(f"{month}-01"))
    before = one(console_services, city)  # the demo's estimate of the city's demand
    # Its insert runs into a row it never sees (an earlier submit's, uncommitted at each look).
    monkeypatch.setattr(figures, "_denominator", lambda *args: None)
    response = auth.post("/seventy/denominators", {"measure": "demand", "district": "0", "month": month, "value": "78"},
                         page="/seventy")
    assert response.status_code == 302
    assert "此分母正被同时录入，请重新提交。" in client.get(response.headers["Location"]).get_data(as_text=True)
    assert one(console_services, city) == before


# --- the screen pop ---------------------------------------------------------------------------


def test_the_pop_of_a_jobs_call_offers_the_job_seeker_form_prefilled(dial, ivr_sessions, client, auth, console_services):
    dial("1 6", caller="13588887777")
    uniqueid = ivr_sessions()[-1].call.uniqueid
    auth.login("supervisor")  # supervisors see every call's pop
    pop = client.get(f"/pop/{uniqueid}?category=recruitment").get_data(as_text=True)
    assert 'id="pop-job-seeker"' in pop
    link = re.search(r'id="pop-job-seeker" href="([^"]+)"', pop).group(1).replace("&amp;", "&")
    form = client.get(link).get_data(as_text=True)
    # A supervisor sees callers' numbers masked, in forms too (auth.UNMASKERS) ...
    assert 'value="135****7777"' in form and "13588887777" not in form
    assert re.search(r'<option selected value="cmn">', form)
    plain = client.get(f"/pop/{uniqueid}?category=household")
    assert plain.status_code == 200
    # ... and saving the form as shown keeps the caller's whole number.
    hidden = dict(re.findall(r'<input[^>]*name="(call|lead)"[^>]*value="([^"]*)"', form))
    with console_services.sessions() as session:
        district = session.scalar(select(District.id).where(District.name_zh == "龙川县"))
        category = session.scalar(select(ServiceCategory.id).where(ServiceCategory.code == "household"))
    saved = auth.post(link, {"name": "黄阿姨", "phone": "135****7777", "district": district, "category": category,
                             "language": "cmn", **hidden})
    assert saved.status_code == 302
    with console_services.sessions() as session:
        assert session.scalar(select(JobSeeker.phone).where(JobSeeker.name == "黄阿姨")) == "13588887777"


def test_the_dashboard_counts_this_years_hires_against_the_goal(client, auth, console_services):
    auth.login("operator")
    page = client.get("/").get_data(as_text=True)
    assert re.search(rf'id="hires-count"><b>{hires_this_year(console_services)}</b> / 1200 ', page)


def test_the_figures_page_in_english(client, auth):
    auth.login("supervisor")
    auth.post("/language/en", {"next": "/"})
    page = client.get("/seventy").get_data(as_text=True)
    assert "The three 70% goals" in page and "Businesses on the platform and graded" in page and "三个70" not in page


# --- what a probe found ------------------------------------------------------------------------


def _flashes(client, response) -> list[str]:
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    return re.findall(r'class="flash[^"]*"[^>]*>(.*?)</p>', page, re.S)


@pytest.mark.parametrize("value", ["²", "1" * 30, "abc", "", "0", "-1", "999999"])
def test_a_hire_or_certificate_naming_no_row_is_refused_in_words(app, client, auth, console_services, value):
    """The opening and the attendee are hidden fields: "²" passed str.isdigit() and then
    int() raised, a 30-digit id overflowed SQLite; both were 500s."""
    app.config["PROPAGATE_EXCEPTIONS"] = False
    auth.login("operator")
    seeker_id = one(console_services, select(JobSeeker.id).where(JobSeeker.name == "温春燕"))
    session_id = one(console_services, select(TrainingSession.id).order_by(TrainingSession.id).limit(1))
    hires, certificates = (one(console_services, select(func.count()).select_from(table)) for table in (Hire, Certificate))
    hire = auth.post(f"/jobs/seekers/{seeker_id}/hire", {"opening": value, "hired_on": today(console_services).isoformat()},
                     page="/jobs")
    assert hire.status_code == 302 and "请从匹配列表中选择岗位。" in _flashes(client, hire)
    certify = auth.post(f"/training/{session_id}/certificates", {"attendee": value, "kind": "育婴员", "number": "YY1"},
                        page="/training")
    assert certify.status_code == 302 and "此人不是本期学员。" in _flashes(client, certify)
    assert one(console_services, select(func.count()).select_from(Hire)) == hires
    assert one(console_services, select(func.count()).select_from(Certificate)) == certificates


def _two_sessions_read_then_hire(console_services, seekers: list[int], opening_id: int):
    """Two requests (a double click, or two operators) that each read the seeker and the
    opening before either commits its hire: what the second one makes of it."""
    from db.errors import Refused
    from workforce.recruitment import record_hire

    day = today(console_services)
    with console_services.sessions() as first, console_services.sessions() as second:
        loaded = [(s, s.get(JobSeeker, seeker), s.get(JobOpening, opening_id)) for s, seeker in zip((first, second), seekers)]
        for session, seeker, opening in loaded:
            assert seeker.status in (JobSeekerStatus.SEEKING,) and opening.status is OpeningStatus.OPEN
        session, seeker, opening = loaded[0]
        record_hire(session, None, seeker, opening, day, day)
        session.commit()
        session, seeker, opening = loaded[1]
        try:
            record_hire(session, None, seeker, opening, day, day)
        except Refused as refused:
            session.rollback()
            return refused.code
        session.commit()
        return None


def test_a_double_clicked_hire_records_one_hire_and_one_worker(console_services):
    seeker = one(console_services, select(JobSeeker.id).where(JobSeeker.name == "温春燕"))
    opening = one(console_services, select(JobOpening.id).where(JobOpening.title == "住家保姆"))
    workers = one(console_services, select(func.count()).select_from(Worker))
    assert _two_sessions_read_then_hire(console_services, [seeker, seeker], opening) == "seeker_not_looking"
    assert one(console_services, select(func.count()).select_from(Hire).where(Hire.seeker_id == seeker)) == 1
    assert one(console_services, select(func.count()).select_from(Worker)) == workers + 1


def test_two_hires_into_an_openings_last_place_at_once_fill_it_once(console_services):
    from db.models import JobSeekerSource

    opening = one(console_services, select(JobOpening.id).where(JobOpening.title == "家电维修学徒"))  # 0 / 1
    with console_services.sessions() as session:
        pair = [JobSeeker(name=name, phone=phone, source=JobSeekerSource.OPERATOR, status=JobSeekerStatus.SEEKING)
                for name, phone in (("刘志强", "13576279001"), ("黄国明", "13576279002"))]
        session.add_all(pair)
        session.commit()
        ids = [s.id for s in pair]
    assert _two_sessions_read_then_hire(console_services, ids, opening) == "opening_closed"
    assert one(console_services, select(func.count()).select_from(Hire).where(Hire.opening_id == opening)) == 1
    assert one(console_services, select(JobSeeker.status).where(JobSeeker.id == ids[1])) is JobSeekerStatus.SEEKING


def test_a_double_clicked_attendee_is_added_once_and_no_error_page(app, client, auth, console_services):
    """The other click's attendee is committed after this request's "already attending?"
    check and before its insert, which then hit the unique key: a 500."""
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    from db.models import TrainingAttendee

    app.config["PROPAGATE_EXCEPTIONS"] = False
    auth.login("operator")
    ts = one(console_services, select(TrainingSession.id).order_by(TrainingSession.id).limit(1))
    seeker = one(console_services, select(JobSeeker.id).where(JobSeeker.phone == "13576271006"))  # 温春燕
    rivals = []

    def other_click_commits_first(session, flush_context, instances):
        if not rivals and any(isinstance(row, TrainingAttendee) for row in session.new):
            rivals.append(True)
            with console_services.sessions() as other:
                other.add(TrainingAttendee(session_id=ts, seeker_id=seeker))
                other.commit()

    event.listen(Session, "before_flush", other_click_commits_first)
    try:
        page = f"/training/{ts}"
        response = auth.post(f"{page}/attendees", {"phone": "13576271006"}, page=page)
    finally:
        event.remove(Session, "before_flush", other_click_commits_first)
    assert rivals and response.status_code == 302
    assert "此人已在本期培训名单中。" in _flashes(client, response)
    assert one(console_services, select(func.count()).select_from(TrainingAttendee).where(
        TrainingAttendee.session_id == ts, TrainingAttendee.seeker_id == seeker)) == 1


@pytest.mark.parametrize("day", ["2026-02-30", "99999-01-01"])
def test_a_date_that_does_not_exist_is_called_so_not_missing(client, auth, console_services, day):
    auth.login("supervisor")
    session_form = auth.post("/training", {"course": "收纳整理", "held_on": day, "trainer": "罗老师"}, page="/training")
    assert "不是有效的日期值" in session_form.get_data(as_text=True)
    assert "请填写培训日期" not in session_form.get_data(as_text=True)
    seeker_id = one(console_services, select(JobSeeker.id).where(JobSeeker.name == "温春燕"))
    opening = one(console_services, select(JobOpening.id).where(JobOpening.title == "住家保姆"))
    hire = auth.post(f"/jobs/seekers/{seeker_id}/hire", {"opening": opening, "hired_on": day}, page="/jobs")
    assert any("不是有效的日期值" in message for message in _flashes(client, hire))
    with console_services.sessions() as session:
        dispute_id = session.scalars(select(Dispute.id).where(Dispute.status != DisputeStatus.CLOSED)).first()
    step = auth.post(f"/disputes/{dispute_id}/steps", {"on": day, "note": "电话回访双方"}, page="/disputes")
    assert "不是有效的日期值" in step.get_data(as_text=True)


def test_the_workforce_pages_in_english_speak_of_one_person_and_use_plain_colons(client, auth, console_services):
    auth.login("operator")
    auth.post("/language/en", {"next": "/"})
    ts = one(console_services, select(TrainingSession.id).order_by(TrainingSession.id).limit(1))
    auth.post(f"/training/{ts}/attendees", {"phone": "13576271006"}, page=f"/training/{ts}")  # a seeker
    page = client.get(f"/training/{ts}").get_data(as_text=True)
    words = re.sub(r"<[^>]+>", " ", page)
    assert "Training session " in words and "Training sessions </span>" not in page
    assert "<td>Job seeker</td>" in page and "<td>Worker · " in page
    assert "Date: " in words and "Date：" not in words and "Trainer：" not in words
    refused = auth.post(f"/training/{ts}/certificates", {"attendee": "1", "kind": "x" * 65, "number": "1"},
                        page=f"/training/{ts}")
    shown = re.findall(r'class="flash[^"]*"[^>]*>(.*?)</p>', refused.get_data(as_text=True), re.S)  # with what was typed
    assert any(m.startswith("Certificate: ") for m in shown)
    auth.logout()
    auth.login("supervisor")
    auth.post("/language/en", {"next": "/"})
    definitions = re.search(r'id="seventy-definitions">(.*?)</ol>', client.get("/seventy").get_data(as_text=True), re.S)
    assert definitions.group(1).count(": ") == 3 and "：" not in definitions.group(1)


def test_a_lead_shows_its_matches_but_no_hire_button_until_completed(client, auth, console_services):
    auth.login("operator")
    lead = one(console_services, select(JobSeeker.id).where(JobSeeker.status == JobSeekerStatus.LEAD))
    page = client.get(f"/jobs/seekers/{lead}").get_data(as_text=True)
    matches = page.split('id="matches"', 1)[1]
    assert "<tr>" in matches.split("</thead>", 1)[1]  # the matches are listed
    assert 'class="hire"' not in matches and f'href="/jobs/seekers/new?lead={lead}"' in matches


def test_the_trend_charts_legend_entries_do_not_overlap(client, auth):
    auth.login("supervisor")
    auth.post("/language/en", {"next": "/"})
    svg = client.get("/seventy/trend.svg").get_data(as_text=True)
    legend = re.findall(r'<g class="legends">(.*?)</g>\s*</g>\s*<g class="title">', svg, re.S) or [svg]
    rows = re.findall(r'<rect x="([\d.]+)" y="([\d.]+)"[^>]*class="color-\d+ reactive"', legend[0])
    assert len(rows) == 4 and len({y for x, y in rows}) == 4  # one entry a row


def test_correcting_a_leads_phone_completes_that_lead_instead_of_registering_another(client, auth, console_services):
    """The IVR heard 13576271007; the caller gives a different mobile. Completing the lead
    with it wrote a second seeker and left the lead "to complete" for ever."""
    auth.login("operator")
    lead = one(console_services, select(JobSeeker.id).where(JobSeeker.phone == "13576271007"))
    form = client.get(f"/jobs/seekers/new?lead={lead}").get_data(as_text=True)
    assert re.search(rf'name="lead" type="hidden" value="{lead}"', form)
    seekers = one(console_services, select(func.count()).select_from(JobSeeker))
    response = auth.post("/jobs/seekers/new", {"lead": lead, "name": "罗海燕", "phone": "13576279100",
                                               "district": _id(console_services, "districts", "longchuan"),
                                               "category": _id(console_services, "service_categories", "household")},
                         page="/jobs/seekers/new")
    assert response.headers["Location"] == f"/jobs/seekers/{lead}"
    assert one(console_services, select(func.count()).select_from(JobSeeker)) == seekers
    completed = one(console_services, select(JobSeeker).where(JobSeeker.id == lead))
    assert (completed.name, completed.phone, completed.status) == ("罗海燕", "13576279100", JobSeekerStatus.SEEKING)


def test_closing_a_closed_opening_says_so_and_logs_nothing_more(client, auth, console_services):
    auth.login("operator")
    opening = one(console_services, select(JobOpening.id).where(JobOpening.title == "家电维修学徒"))
    auth.post(f"/jobs/openings/{opening}/close", page="/jobs/openings")
    again = auth.post(f"/jobs/openings/{opening}/close", page="/jobs/openings")
    assert _flashes(client, again) == ["此岗位已关闭。"]
    assert one(console_services, select(func.count()).select_from(AuditEntry).where(
        AuditEntry.entity_type == "job_openings", AuditEntry.entity_id == opening, AuditEntry.action == "status")) == 1

"""The industry report (行业统计): periods, every section's figures from known rows, and the
console's page, PDF, CSV and XLSX showing the same figures."""
from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from sqlalchemy import select

from db.models import (
    AuditEntry, Call, CallDirection, CallOutcome, Caller, Certificate, Complaint, ComplaintStatus, Dispatch,
    DispatchStatus, Dispute, DisputeOrigin, DisputeOutcome, DisputeStatus, District, GradeChange, GradeSource, Hire,
    JobSeeker, JobSeekerSource, JobSeekerStatus, Language, PhoneKind, Provider, RequestChannel, RequestStatus,
    SeventyDenominator, SeventyMeasure, ServiceCategory, ServiceRequest, Survey, SurveyStatus, Training,
    TrainingAttendee, TrainingSession, Worker,
)
from reports.build import build_report
from reports.period import BadPeriod, Period
from reports.sections import seventy_month

LOCAL = dt.timezone(dt.timedelta(hours=8))  # Asia/Shanghai keeps no summer time
MARCH = Period(2025, 3)
NOW = dt.datetime(2025, 6, 1, 2, 0, tzinfo=dt.timezone.utc)


def local(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=LOCAL)


# --- periods ----------------------------------------------------------------------------------


def test_a_period_is_a_local_month_or_year():
    march = Period.parse("2025-03")
    assert (march.start, march.end) == (local(2025, 3, 1), local(2025, 4, 1))
    assert str(march.previous()) == "2025-02" and str(Period(2025, 1).previous()) == "2024-12"
    year = Period.parse("2025")
    assert year.is_year and (year.start, year.end) == (local(2025, 1, 1), local(2026, 1, 1))
    assert str(year.previous()) == "2024" and str(Period(2025, 12).following()) == "2026-01"
    assert Period.month_of(dt.datetime(2025, 2, 28, 16, 30, tzinfo=dt.timezone.utc)) == march


@pytest.mark.parametrize("text", ["2025-13", "2025-00", "2025-3", "25-03", "1999", "2025-03-01", "", "march", "２０２５"])
def test_a_bad_period_is_refused_with_a_reason(text):
    with pytest.raises(BadPeriod):
        Period.parse(text)


# --- the sections, from rows whose figures are known -------------------------------------------


def _fill(session) -> dict:
    """A month (March 2025) of requests, surveys, complaints, calls, providers and workers,
    with rows just outside it on both sides."""
    category = {c.code: c for c in session.scalars(select(ServiceCategory))}
    district = {d.code: d for d in session.scalars(select(District))}
    caller = Caller(phone="13800000001", phone_kind=PhoneKind.MOBILE)
    session.add(caller)
    old = local(2024, 1, 1)
    p1 = Provider(name="万绿家政", licence_number="R1", phone="1", district=district["yuancheng"], grade=3, created_at=old)
    p2 = Provider(name="东江维修", licence_number="R2", phone="2", district=district["dongyuan"], grade=5, created_at=old)
    late = Provider(name="新来家政", licence_number="R3", phone="3", grade=2, created_at=local(2025, 5, 1))
    dropped = Provider(name="客都家政", licence_number="R4", phone="4", grade=None, created_at=old)
    session.add_all([p1, p2, late, dropped])
    session.flush()
    session.add_all([
        GradeChange(provider_id=p1.id, at=local(2025, 2, 1), source=GradeSource.REGRADE, grade=4),
        GradeChange(provider_id=p1.id, at=local(2025, 4, 5), source=GradeSource.REGRADE, previous_grade=4, grade=3),
        GradeChange(provider_id=dropped.id, at=local(2025, 3, 10), source=GradeSource.REGRADE, grade=None),
    ])

    def request(number, code, created, status, area=None, dispatch=None):
        row = ServiceRequest(number=number, caller=caller, category=category[code], district=district.get(area),
                             channel=RequestChannel.PHONE, status=status, created_at=created)
        if dispatch:
            row.dispatches.append(Dispatch(provider=p1, status=dispatch, offered_at=created))
        session.add(row)
        return row

    r1 = request("T1", "household", local(2025, 3, 1, 0, 30), RequestStatus.SURVEYED, "yuancheng", DispatchStatus.ACCEPTED)
    request("T2", "household", local(2025, 3, 9), RequestStatus.CANCELLED, "dongyuan")
    request("T3", "repair", local(2025, 3, 20), RequestStatus.DISPATCHED, "yuancheng", DispatchStatus.ACCEPTED)
    request("T4", "repair", local(2025, 3, 31, 23, 59), RequestStatus.NEW, None, DispatchStatus.DECLINED)
    february = request("T5", "household", local(2025, 2, 28, 23, 30), RequestStatus.SURVEYED, "yuancheng",
                       DispatchStatus.ACCEPTED)
    request("T6", "household", local(2025, 4, 1), RequestStatus.NEW, "yuancheng")
    session.flush()

    def survey(req, rating, completed):
        session.add(Survey(request_id=req.id, caller_id=caller.id, provider_id=p1.id, language=Language.MANDARIN,
                           due_at=completed, status=SurveyStatus.COMPLETED, rating=rating, completed_at=completed))

    survey(r1, 5, local(2025, 3, 5))
    survey(february, 3, local(2025, 3, 2))  # a February request surveyed in March counts in March
    session.add_all([
        Complaint(request_id=r1.id, provider_id=p1.id, description="迟到", status=ComplaintStatus.RESOLVED,
                  upheld=True, created_at=local(2025, 3, 6)),
        Complaint(description="电话难打通", status=ComplaintStatus.OPEN, created_at=local(2025, 3, 7)),
        Complaint(description="二月的投诉", status=ComplaintStatus.CLOSED, upheld=False, created_at=local(2025, 2, 7)),
    ])
    w1 = Worker(provider=p1, name="陈秀英")
    w1.trainings += [Training(course="母婴护理", completed_on=dt.date(2025, 3, 5), hours=8),
                     Training(course="急救常识", completed_on=dt.date(2025, 1, 5), hours=16)]
    w1.certificates.append(Certificate(kind="健康证", number="1", issued_on=dt.date(2024, 5, 1),
                                       expires_on=dt.date(2025, 5, 1)))
    w2 = Worker(provider=p1, name="李桂芳")
    w2.certificates.append(Certificate(kind="健康证", number="2", issued_on=dt.date(2024, 3, 1),
                                       expires_on=dt.date(2025, 3, 1)))
    gone = Worker(provider=p2, name="张丽华", active=False)
    gone.certificates.append(Certificate(kind="健康证", number="3", issued_on=dt.date(2024, 3, 1)))
    session.add_all([w1, w2, gone])

    def call(uniqueid, started, outcome, wait=None, direction=CallDirection.INBOUND, lasted=180):
        """A call `lasted` seconds long; `wait`: it spent 20 s in the IVR, then so long in a queue."""
        queued = started + dt.timedelta(seconds=20) if wait is not None else None
        answered = queued + dt.timedelta(seconds=wait) if outcome is CallOutcome.ANSWERED else None
        session.add(Call(uniqueid=uniqueid, direction=direction, started_at=started, answered_at=answered,
                         queue_entered_at=queued, ended_at=started + dt.timedelta(seconds=lasted),
                         outcome=outcome, queue_wait_seconds=wait))

    call("c1", local(2025, 3, 3, 10), CallOutcome.ANSWERED, 10)  # answered after 10 s in the queue, talked 150 s
    call("c2", local(2025, 3, 3, 11), CallOutcome.ABANDONED_IN_QUEUE, 30, lasted=50)  # hung up after 30 s queued
    call("c3", local(2025, 3, 4, 9), CallOutcome.ABANDONED_IN_IVR, lasted=40)  # hung up in the menu after 40 s
    call("c4", local(2025, 3, 4, 9), CallOutcome.ANSWERED, 0, CallDirection.OUTBOUND)  # not the hotline's: outbound
    call("c5", local(2025, 2, 4, 9), CallOutcome.ANSWERED, 4)
    session.flush()
    return {"p1": p1}


def test_every_section_counts_the_periods_rows(session):
    _fill(session)
    report = build_report(session, MARCH, NOW)

    requests = report.section("requests_by_category")
    assert [requests.figure("家庭服务", key) for key in ("requests", "dispatched", "completed")] == [2, 1, 1]
    assert [requests.figure("维修服务", key) for key in ("requests", "dispatched", "completed")] == [2, 1, 0]
    assert requests.figure("total", "requests") == 4 and requests.figure("total", "completed_share") == 0.25
    districts = report.section("requests_by_district")
    assert districts.figure("源城区", "requests") == 2 and districts.figure("东源县", "requests") == 1
    assert districts.figure("no_district", "requests") == 1

    matching = report.section("matching")
    assert matching.figure("total", "matched") == 2 and matching.figure("total", "matching_rate") == 0.5
    assert matching.figure("维修服务", "matching_rate") == 0.5  # a declined offer is no match

    satisfaction = report.section("satisfaction")
    assert satisfaction.figure("家庭服务", "surveys_reached") == 2
    assert satisfaction.figure("total", "average_rating") == 4.0 and satisfaction.figure("total", "csat") == 0.5
    assert satisfaction.figure("维修服务", "average_rating") is None  # nothing rated: no figure, not 0

    complaints = report.section("complaints_by_status")
    assert complaints.figure("total", "complaints") == 2 and complaints.figure("total", "upheld") == 1
    assert complaints.figure("complaint_open", "complaints") == 1
    assert complaints.figure("complaint_closed", "complaints") == 0  # February's
    by_category = report.section("complaints_by_category")
    assert by_category.figure("家庭服务", "upheld") == 1 and by_category.figure("no_request", "complaints") == 1

    grading = report.section("grading")
    # At March's end: 万绿 four stars (graded down to three in April), 东江 five (its grade
    # before the history began), 客都 ungraded by the rule; 新来 registered only in May.
    stars = {dict(row.label.params)["stars"]: row.figures[0] for row in grading.rows if row.label.key == "stars"}
    assert stars == {5: 1, 4: 1, 3: 0, 2: 0, 1: 0}
    assert grading.figure("ungraded", "providers") == 1 and grading.figure("total", "providers") == 3

    training = report.section("training")
    assert [training.figure("源城区", key) for key in ("workers", "workers_trained", "training_hours",
                                                      "workers_certified")] == [2, 1, 8, 1]
    assert training.figure("total", "certified_share") == 0.5
    certificates = report.section("certificates")
    assert [certificates.figure("健康证", key) for key in (
        "certificates_valid", "certificates_expiring", "certificates_expired")] == [1, 1, 1]

    calls = report.section("hotline_calls")
    # March: c1, c2, c3 inbound (c4 is outbound); c1 and c2 queued; c1 answered (handled)
    # within 15 s: service level 1 / 2; c2 left the queue after 30 s (≥ 5 s): queue
    # abandonment 1 / 2; c3 hung up in the menu after 40 s: IVR abandonment 1 / 3; c1
    # waited 10 s (speed of answer) and talked 180 − 20 − 10 = 150 s with no wrap-up
    # recorded (handle time). February: c5 alone.
    assert [calls.figure(key, "this_period") for key in (
        "calls_received", "calls_queued", "calls_answered", "answered_share", "service_level_15",
        "queue_abandonment", "average_speed_of_answer", "average_handle_time")] == [3, 2, 1, 1 / 3, 0.5, 0.5, 10.0, 150.0]
    assert calls.figure("ivr_abandonment", "this_period") == pytest.approx(1 / 3)
    assert calls.figure("calls_received", "previous_period") == 1

    key = report.section("key_figures")
    assert key.figure("requests", "this_period") == 4 and key.figure("requests", "previous_period") == 1
    assert key.figure("matching_rate", "previous_period") == 1.0 and key.figure("complaints", "previous_period") == 1


def test_a_year_adds_up_its_months(session):
    _fill(session)
    year = build_report(session, Period(2025), NOW)
    assert year.section("requests_by_category").figure("total", "requests") == 6
    assert year.section("hotline_calls").figure("calls_received", "this_period") == 4


def test_an_empty_period_has_no_false_rates(session):
    report = build_report(session, Period(2030, 1), dt.datetime(2030, 2, 1, tzinfo=dt.timezone.utc))
    assert report.section("matching").figure("total", "matching_rate") is None
    assert report.section("key_figures").figure("csat", "this_period") is None


# --- disputes, recruitment, training sessions, the three 70% ------------------------------------


def _fill_workforce(session) -> None:
    """March 2025's disputes, job seekers, hires, training sessions and 70% denominators,
    beside _fill()'s rows, with rows just outside March on both sides."""
    rows = _fill(session)
    p1 = rows["p1"]
    p2 = session.scalar(select(Provider).where(Provider.name == "东江维修"))
    district = {d.code: d for d in session.scalars(select(District))}

    def dispute(origin, opened, deadline, outcome=None, closed=None):
        session.add(Dispute(provider_id=p1.id, origin=origin, summary="服务纠纷", opened_at=opened, deadline=deadline,
                            status=DisputeStatus.CLOSED if closed else DisputeStatus.MEDIATING, outcome=outcome,
                            closed_at=closed))

    dispute(DisputeOrigin.COMPLAINT, local(2025, 3, 2), dt.date(2025, 3, 21), DisputeOutcome.UPHELD, local(2025, 3, 6))
    dispute(DisputeOrigin.LOW_RATING, local(2025, 3, 10), dt.date(2025, 3, 31), DisputeOutcome.WITHDRAWN,
            local(2025, 3, 12, 12))
    dispute(DisputeOrigin.OPERATOR, local(2025, 3, 1, 0, 5), dt.date(2025, 3, 25))  # open, overdue at March's end
    dispute(DisputeOrigin.OPERATOR, local(2025, 2, 20), dt.date(2025, 4, 10))  # February's, open, not overdue
    dispute(DisputeOrigin.OPERATOR, local(2025, 2, 1), dt.date(2025, 2, 25), DisputeOutcome.REJECTED,
            local(2025, 3, 1))  # taken in in February, closed in March after 28 days
    dispute(DisputeOrigin.COMPLAINT, local(2025, 3, 31, 23), dt.date(2025, 4, 21), DisputeOutcome.PARTLY_UPHELD,
            local(2025, 4, 2))  # open at March's end, closed in April

    def seeker(source, created):
        row = JobSeeker(name="求职者", phone=f"1390000{len(session.new):04d}", source=source,
                        status=JobSeekerStatus.SEEKING, created_at=created)
        session.add(row)
        return row

    s1 = seeker(JobSeekerSource.IVR, local(2025, 3, 2))
    seeker(JobSeekerSource.OPERATOR, local(2025, 3, 5))
    seeker(JobSeekerSource.OPERATOR, local(2025, 3, 31, 23, 30))
    seeker(JobSeekerSource.IVR, local(2025, 4, 1, 0, 10))
    session.flush()
    for provider, day in ((p1, dt.date(2025, 1, 10)), (p1, dt.date(2025, 3, 3)), (p2, dt.date(2025, 3, 31)),
                          (p2, dt.date(2025, 4, 1))):
        session.add(Hire(seeker_id=s1.id, provider_id=provider.id, hired_on=day))

    w1 = session.scalar(select(Worker).where(Worker.name == "陈秀英"))
    w1.created_at = local(2024, 1, 1)  # registered long before March (the 70% counts those registered by then)
    march = TrainingSession(course="育婴员培训", held_on=dt.date(2025, 3, 10), trainer="王老师")
    march.attendees += [TrainingAttendee(worker=w1), TrainingAttendee(seeker=s1)]
    february = TrainingSession(course="家电维修", held_on=dt.date(2025, 2, 28), trainer="李老师")
    february.attendees.append(TrainingAttendee(seeker=s1))
    session.add_all([march, february])
    session.flush()
    w1.certificates.append(Certificate(kind="育婴员", number="Y1", issued_on=dt.date(2025, 3, 10), session_id=march.id))
    first = dt.date(2025, 3, 1)
    session.add_all([
        SeventyDenominator(measure=SeventyMeasure.DEMAND, district_id=district["yuancheng"].id, month=first, value=10),
        SeventyDenominator(measure=SeventyMeasure.BUSINESSES, district_id=None, month=first, value=4),
        SeventyDenominator(measure=SeventyMeasure.DEMAND, district_id=district["yuancheng"].id,
                           month=dt.date(2025, 2, 1), value=1),  # February's: not March's
    ])
    session.flush()


def test_disputes_by_origin_and_outcome_still_open_and_overdue(session):
    _fill_workforce(session)
    disputes = build_report(session, MARCH, NOW).section("disputes")
    assert [disputes.figure(f"dispute_from_{origin}", "figure") for origin in ("complaint", "low_rating", "operator")] \
        == [2, 1, 1]  # the complaint taken in at 23:00 on March 31st (local) is March's
    assert disputes.figure("disputes_received", "figure") == 4
    assert [disputes.figure(f"dispute_{outcome}", "figure") for outcome in (
        "upheld", "partly_upheld", "rejected", "withdrawn")] == [1, 0, 1, 1]
    assert disputes.figure("disputes_closed", "figure") == 3
    # Open at March's end: the operator's two and the one closed in April; overdue: the one due March 25th.
    assert disputes.figure("disputes_open_at_end", "figure") == 3
    assert disputes.figure("disputes_overdue_at_end", "figure") == 1
    assert disputes.figure("disputes_median_days", "figure") == 4.0  # of 4, 2.5 and 28 days


def test_disputes_read_today_for_a_month_not_over(session):
    _fill_workforce(session)
    # On March 20th: the dispute due March 25th is open but not overdue yet.
    disputes = build_report(session, MARCH, local(2025, 3, 20, 12)).section("disputes")
    assert disputes.figure("disputes_overdue_at_end", "figure") == 0
    assert disputes.figure("disputes_open_at_end", "figure") == 2


def test_recruitment_hires_and_the_years_goal(session):
    _fill_workforce(session)
    report = build_report(session, MARCH, NOW, hires_goal=10)
    recruitment = report.section("recruitment")
    assert [recruitment.figure(key, "figure") for key in ("seekers_ivr", "seekers_operator", "seekers_registered")] \
        == [1, 2, 3]
    assert recruitment.figure("hires", "figure") == 2 and recruitment.figure("year_hires", "figure") == 3
    assert recruitment.figure("hires_goal", "figure") == 10 and recruitment.figure("hires_goal_share", "figure") == 0.3
    by_district = report.section("hires_by_district")
    assert by_district.figure("源城区", "hires") == 1 and by_district.figure("东源县", "hires") == 1
    assert by_district.figure("total", "hires") == 2
    year = build_report(session, Period(2025), NOW, hires_goal=10).section("recruitment")
    assert year.figure("hires", "figure") == year.figure("year_hires", "figure") == 4


def test_recruitment_without_a_goal_shows_no_share(session):
    _fill_workforce(session)
    recruitment = build_report(session, MARCH, NOW).section("recruitment")
    assert recruitment.figure("hires_goal", "figure") is None
    assert recruitment.figure("hires_goal_share", "figure") is None
    assert "note_no_goal" in [note.key for note in recruitment.notes]


def test_training_sessions_their_attendances_and_certificates(session):
    _fill_workforce(session)
    sessions = build_report(session, MARCH, NOW).section("training_sessions")
    assert [sessions.figure(key, "figure") for key in ("sessions_held", "attendances", "certificates_issued")] \
        == [1, 2, 1]


def test_the_three_seventy_figures_per_district_and_city(session):
    _fill_workforce(session)
    report = build_report(session, MARCH, NOW)
    demand = report.section("seventy_demand")
    # T1: created in March, taken by 万绿 through the platform, rated 5 stars.
    assert [demand.figure("源城区", key) for key in ("seventy_numerator", "seventy_denominator", "seventy_share")] \
        == [1, 10, 0.1]
    # No denominator entered: no share, never 0%.
    assert demand.figure("东源县", "seventy_denominator") is None and demand.figure("东源县", "seventy_share") is None
    assert demand.figure("city", "seventy_share") is None  # five districts not entered
    businesses = report.section("seventy_businesses")
    assert [businesses.figure("city", key) for key in ("seventy_numerator", "seventy_denominator", "seventy_share")] \
        == [2, 4, 0.5]
    workers = report.section("seventy_workers")
    assert workers.figure("源城区", "seventy_numerator") == 1 and workers.figure("city", "seventy_numerator") == 1
    assert not any(note.key == "note_seventy_year" for note in demand.notes)


def test_an_annual_report_shows_the_years_last_month_of_seventy_figures(session):
    _fill_workforce(session)
    assert seventy_month(Period(2024), NOW) == dt.date(2024, 12, 1)
    assert seventy_month(Period(2025), NOW) == dt.date(2025, 6, 1)  # the year not over: this month
    assert seventy_month(MARCH, NOW) == dt.date(2025, 3, 1)
    demand = build_report(session, Period(2025), local(2025, 3, 31, 12)).section("seventy_demand")
    assert demand.figure("源城区", "seventy_share") == 0.1  # March's figures, as of March's last day
    assert ("month", "2025-03") in demand.notes[0].params


# --- the console ---------------------------------------------------------------------------------


def _march_in_console(console_services):
    with console_services.sessions() as session:
        # The demo's own rows are dated from today; March 2025 holds only these.
        for code, number in (("household", "T1"), ("repair", "T2"), ("household", "T3")):
            category = session.scalar(select(ServiceCategory).where(ServiceCategory.code == code))
            session.add(ServiceRequest(number=f"HYT{number}", category_id=category.id, channel=RequestChannel.PHONE,
                                       status=RequestStatus.COMPLETED, created_at=local(2025, 3, 10)))
        provider = session.scalar(select(Provider).order_by(Provider.id).limit(1))
        yuancheng = session.scalar(select(District).where(District.code == "yuancheng"))
        session.add(Dispute(provider_id=provider.id, origin=DisputeOrigin.COMPLAINT, summary="保洁损坏家具",
                            opened_at=local(2025, 3, 5), deadline=dt.date(2025, 3, 26), status=DisputeStatus.CLOSED,
                            outcome=DisputeOutcome.UPHELD, closed_at=local(2025, 3, 8)))
        seeker = JobSeeker(name="黄春梅", phone="13900000999", source=JobSeekerSource.OPERATOR,
                           status=JobSeekerStatus.HIRED, created_at=local(2025, 3, 3))
        session.add(seeker)
        session.flush()
        session.add(Hire(seeker_id=seeker.id, provider_id=provider.id, hired_on=dt.date(2025, 3, 12)))
        training = TrainingSession(course="家政服务员培训", held_on=dt.date(2025, 3, 15), trainer="王老师")
        training.attendees.append(TrainingAttendee(seeker=seeker))
        session.add_all([training, SeventyDenominator(measure=SeventyMeasure.DEMAND, district_id=yuancheng.id,
                                                      month=dt.date(2025, 3, 1), value=5)])
        session.commit()


def _cells(html: str, section: str) -> list[str]:
    part = html.split(f'id="section-{section}"', 1)[1].split("</table>", 1)[0]
    return [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", part)]


def test_operators_may_not_read_the_report(client, auth):
    auth.login("operator")
    assert client.get("/reports").status_code == 403
    assert client.get("/reports/2025-03").status_code == 403
    assert client.get("/reports/2025-03.pdf").status_code == 403


@pytest.mark.parametrize("period", ["2025-13", "nonsense", "1999", "2025-03-01"])
def test_a_bad_period_in_the_address_is_a_clear_404(client, auth, period):
    auth.login("supervisor")
    for suffix in ("", ".csv", ".pdf"):
        response = client.get(f"/reports/{period}{suffix}")
        assert response.status_code == 404
        assert "不是可以统计的月份或年份" in response.get_data(as_text=True)


def test_the_picker_leads_to_a_period(client, auth):
    auth.login("supervisor")
    assert "月报" in client.get("/reports").get_data(as_text=True)
    assert client.get("/reports?period=2025-03").headers["Location"].endswith("/reports/2025-03")


def test_the_pdf_renders_chinese_in_a_cjk_font_with_the_pages_figures(client, auth, console_services):
    from pypdf import PdfReader

    _march_in_console(console_services)
    auth.login("supervisor")
    html = client.get("/reports/2025-03").get_data(as_text=True)
    response = client.get("/reports/2025-03.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    pdf = PdfReader(io.BytesIO(response.data))
    fonts = {font.get_object()["/BaseFont"] for page in pdf.pages
             for font in page["/Resources"]["/Font"].values()}
    assert any("WenQuanYi" in font for font in fonts), fonts
    text = re.sub(r"\s+", "", "".join(page.extract_text() for page in pdf.pages))
    for title in ("河源市家政服务行业统计月报", "工单（按服务类别）", "家政企业分类定级", "热线话务（与上期比较）",
                  "纠纷处理", "招工就业", "培训班与发证"):
        assert title in html and title in text
    # Every section's table, cell by cell as the page shows it, reads back from the PDF in order.
    for section in ("key_figures", "requests_by_category", "matching", "disputes", "grading", "training_sessions",
                    "certificates", "recruitment", "hires_by_district", "seventy_demand", "seventy_businesses",
                    "seventy_workers", "hotline_calls"):
        cells = _cells(html, section)
        assert "".join(cell.replace(" ", "") for cell in cells) in text, section
    assert _cells(html, "requests_by_category")[-5:] == ["合计", "3", "3", "3", "100.0%"]
    disputes = _cells(html, "disputes")
    assert disputes[disputes.index("支持消费者诉求") + 1] == "1" and disputes[disputes.index("本期办结纠纷") + 1] == "1"
    assert disputes[disputes.index("办结用时中位数（天）") + 1] == "3.0"
    recruitment = _cells(html, "recruitment")
    assert recruitment[recruitment.index("经平台录用") + 1] == "1"
    assert recruitment[recruitment.index("本年录用目标") + 1] == "1,200"  # the settings' goal (defaults.toml)
    # A denominator entered gives a share (0% here: a real zero); none entered gives "—", never 0%.
    demand = _cells(html, "seventy_demand")
    assert demand[demand.index("源城区") + 1:demand.index("源城区") + 4] == ["0", "5", "0.0%"]
    assert demand[demand.index("东源县") + 1:demand.index("东源县") + 4] == ["0", "—", "—"]


def test_csv_and_xlsx_carry_the_same_figures_and_every_export_is_audited(client, auth, console_services):
    from openpyxl import load_workbook

    _march_in_console(console_services)
    auth.login("supervisor")
    html = client.get("/reports/2025-03").get_data(as_text=True)
    page_rows = _cells(html, "requests_by_category")
    csv_text = client.get("/reports/2025-03.csv").data.decode("utf-8-sig")
    assert "工单（按服务类别）" in csv_text
    assert "合计,3,3,3,100.0%" in csv_text and ",".join(page_rows[-5:]) in csv_text
    workbook = load_workbook(io.BytesIO(client.get("/reports/2025-03.xlsx").data))
    sheet = workbook[next(name for name in workbook.sheetnames if "工单（按服务类别）" in name)]
    total = next(row for row in sheet.iter_rows(values_only=True) if row[0] == "合计")
    assert total == ("合计", 3, 3, 3, 1.0)
    assert "支持消费者诉求,1" in csv_text and "东源县,0,—,—" in csv_text and "源城区,0,5,0.0%" in csv_text
    disputes = workbook[next(name for name in workbook.sheetnames if "纠纷处理" in name)]
    assert ("支持消费者诉求", 1) in list(disputes.iter_rows(values_only=True))
    demand = workbook[next(name for name in workbook.sheetnames if "家庭服务需求" in name)]
    rows = {row[0]: row[1:] for row in demand.iter_rows(values_only=True)}
    assert rows["源城区"] == (0, 5, 0.0) and rows["东源县"] == (0, None, None)
    with console_services.sessions() as session:
        exports = session.execute(select(AuditEntry.details).where(AuditEntry.entity_type == "report")).scalars().all()
    assert sorted(entry["format"] for entry in exports) == ["csv", "xlsx"]
    assert {entry["period"] for entry in exports} == {"2025-03"}


def test_the_report_reads_in_english(client, auth, console_services):
    _march_in_console(console_services)
    auth.login("supervisor")
    auth.post("/language/en", {"next": "/"})
    page = client.get("/reports/2025-03").get_data(as_text=True)
    assert "Requests by category" in page and "Household services" in page and "工单（按服务类别）" not in page
    assert "Disputes taken in" in page and "Median days to close" in page and "Recruitment" in page
    assert "The three 70%: " in page and "Share (goal 70%)" in page and "三个70%" not in page

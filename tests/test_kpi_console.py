"""The KPI page in the console: supervisors only, names in words, the fixture day's figures
in its tables, charts as SVG images, bad choices reported and replaced, never a 500."""
from __future__ import annotations

import base64
import datetime as dt
import re

import pytest

from sqlalchemy import delete, update

from db.models import Dispute, Survey
from db.session import transaction
from tests import kpi_day

NOW = dt.datetime(2026, 12, 10, 4, 0, tzinfo=dt.timezone.utc)  # every fixture day long settled


@pytest.fixture
def fixture_day(console_services, monkeypatch):
    monkeypatch.setattr("agent_console.kpi.utcnow", lambda: NOW)
    with transaction(console_services.sessions) as session:
        # The demo's surveys are dated back from the wall clock: the figures are the fixture's alone.
        session.execute(update(Dispute).values(survey_id=None))  # the demo's disputes from low ratings
        session.execute(delete(Survey))
        people = kpi_day.build(session)
    return people


def _svgs(page: str) -> list[str]:
    return [base64.b64decode(data).decode("utf-8")
            for data in re.findall(r'src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)"', page)]


def test_operators_get_403_on_every_supervisor_page(client, auth):
    auth.login("operator")
    for path in ("/kpi", "/kpi?period=day&date=2026-11-26&by=operator", "/kpi?period=week", "/kpi?period=bogus"):
        assert client.get(path).status_code == 403, path
    assert "统计报表" not in client.get("/").get_data(as_text=True)


def test_the_fixture_day_by_queue(client, auth, fixture_day):
    auth.login("supervisor")
    assert 'href="/kpi"' in client.get("/").get_data(as_text=True)  # in the supervisor's menu
    page = client.get("/kpi?period=day&date=2026-11-26&by=queue").get_data(as_text=True)
    headline = page[page.index('id="kpi-headline"'):page.index("</div>\n<p")]
    # 9 inbound, 7 queued, 4 handled; SL 15 s 2/6 = 33.3 %, SL 20 s 3/6 = 50.0 %; ASA 16.75 s.
    assert re.search(r"来电 <b>9</b>.*进入排队 <b>7</b>.*接听 <b>4</b>", headline, re.S)
    assert "15秒服务水平 <b>33.3%</b>" in headline and "20秒服务水平 <b>50.0%</b>" in headline
    assert "16.8 秒" in headline and "一次解决率 <b>75.0%</b>" in headline  # ASA 16.75 s (one decimal); FCR 3/4
    assert "语言匹配率 <b>75.0%</b>" in headline  # calls 1, 3, 8 of 1, 2, 3, 8 (tests/test_kpi_formulas.py)
    # The breakdown names the queue by its title, never "general".
    breakdown = page[page.index('id="kpi-breakdown"'):page.index("</table>", page.index('id="kpi-breakdown"'))]
    assert "综合服务队列" in breakdown and ">general<" not in breakdown
    # The funnel's table: menu titles, reached / hung up / invalid; the keys refused most.
    funnel = page[page.index('id="kpi-funnel"'):]
    assert re.search(r"<td>选择语言</td><td>4</td><td>1</td><td>0</td>", funnel)
    assert re.search(r"<td>主菜单</td><td>3</td><td>1</td><td>2</td>", funnel)
    assert "按 9" in funnel and ">main<" not in funnel
    # Callbacks and satisfaction of the day.
    assert re.search(r"回拨用时中位数</dt><dd>60 分钟", page)
    assert re.search(r"满意率</dt><dd>66.7%", page)
    # Four charts, each an SVG image with the names in words.
    svgs = _svgs(page)
    assert len(svgs) == 4 and all(svg.lstrip().startswith(("<?xml", "<svg")) for svg in svgs)
    assert all("<script" not in svg for svg in svgs)
    assert "主菜单" in svgs[3] and "15秒服务水平" in svgs[0]


def test_the_fixture_day_by_operator_language_and_category(client, auth, fixture_day):
    auth.login("supervisor")
    by_operator = client.get("/kpi?period=day&date=2026-11-26&by=operator").get_data(as_text=True)
    # 坐席甲 (A): AHT 465 s, 2 calls in 9 h = 0.22 an hour, occupancy 932 / 28,800 = 3.2 %.
    row = re.search(r"<tr><td>坐席甲</td>.*?</tr>", by_operator, re.S).group(0)
    assert "465 秒" in row or "465.0 秒" in row
    assert "<td>0.22</td>" in row and "<td>3.2%</td>" in row
    by_language = client.get("/kpi?period=day&date=2026-11-26&by=language").get_data(as_text=True)
    assert "<td>粤语</td>" in by_language and "<td>yue</td>" not in by_language
    # The language match, last column by operator and by language: B answered call 2 in
    # Mandarin to a Cantonese caller (1/2); no Cantonese caller reached a Cantonese speaker.
    assert re.search(r"<tr><td>坐席乙</td>.*?</tr>", by_operator, re.S).group(0).endswith("<td>50.0%</td></tr>")
    for name, rate in (("粤语", "0.0%"), ("普通话", "100.0%")):
        assert re.search(rf"<tr><td>{name}</td>.*?</tr>", by_language, re.S).group(0).endswith(f"<td>{rate}</td></tr>")
    by_category = client.get("/kpi?period=day&date=2026-11-26&by=category").get_data(as_text=True)
    assert "<td>家庭服务</td>" in by_category and "<td>household</td>" not in by_category


def test_in_english(client, auth, fixture_day):
    auth.login("supervisor")
    auth.post("/language/en", {"next": "/kpi"})
    page = client.get("/kpi?period=week&date=2026-11-26&by=queue").get_data(as_text=True)
    assert "KPI reports" in page and "General queue" in page and "Main menu" in page
    assert "15 s service level" in page
    # Nothing in Chinese but the names people gave (the fixture's operators and providers).
    main = page[page.index("<main>"):]
    assert not re.search(r"[\u4e00-\u9fff]", re.sub(r"坐席[甲乙]|家政\d+-\d", "", main))


def test_a_week_adds_up_its_days(client, auth, fixture_day):
    auth.login("supervisor")
    page = client.get("/kpi?period=week&date=2026-11-26").get_data(as_text=True)
    assert "2026-11-23 至 2026-11-29" in page
    # The week has the two later calls too: 11 inbound, 9 queued, 6 handled.
    assert re.search(r"来电 <b>11</b>.*进入排队 <b>9</b>.*接听 <b>6</b>", page, re.S)


def test_bad_choices_are_named_and_replaced(client, auth, fixture_day):
    auth.login("supervisor")
    response = client.get("/kpi?period=year&date=2026-02-30&by=district")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "“统计周期”的值无法识别" in page and "“日期”的值无法识别" in page and "“分组”的值无法识别" in page
    assert "2026年12月" in page  # this month, by queue
    for day in ("0001-01-01", "9999-12-31"):  # no local midnight in UTC, no next month: each was a 500
        far = client.get(f"/kpi?period=week&date={day}")
        assert far.status_code == 200 and "“日期”的值无法识别" in far.get_data(as_text=True)


def test_counts_are_written_with_thousands_separators_as_in_the_industry_report(client, auth, fixture_day,
                                                                                 monkeypatch):
    """统计报表 wrote a month's 1607 calls as "1607" where 行业统计 writes the same figure "1,607"."""
    import dataclasses

    from agent_console import kpi as kpi_view

    real = kpi_view.build_report

    def busier(*args, **kwargs):
        report = real(*args, **kwargs)
        return dataclasses.replace(report, overall=dataclasses.replace(report.overall, inbound=16070, offered=15090,
                                                                      handled=13440))

    monkeypatch.setattr(kpi_view, "build_report", busier)
    auth.login("supervisor")
    page = client.get("/kpi?period=week&date=2026-11-26&by=queue").get_data(as_text=True)
    headline = page[page.index('id="kpi-headline"'):page.index('id="kpi-sl15"')]
    assert "<b>16,070</b>" in headline and "<b>15,090</b>" in headline and "<b>13,440</b>" in headline


def test_an_hour_table_with_no_calls_says_so(client, auth, fixture_day):
    auth.login("supervisor")
    page = client.get("/kpi?period=day&date=2026-12-09&by=queue").get_data(as_text=True)
    heat = page[page.index('id="kpi-heat"'):page.index('id="kpi-funnel"')]
    assert "这段时间没有来电。" in heat

"""In real headless Chromium at 1366×768: a supervisor opens the industry report's picker,
asks for a month, reads the report and prints it (the print link downloads its PDF)."""
from __future__ import annotations

import datetime as dt
import io
import time

from sqlalchemy import select

from tests.browser import click_and_load, fits, needs_chromium, sign_in

pytestmark = needs_chromium


def _march_2025(console_services) -> None:
    """Requests in a month the demo's rows (dated from today) never reach."""
    from db.models import RequestChannel, RequestStatus, ServiceCategory, ServiceRequest

    with console_services.sessions() as session:
        household = session.scalar(select(ServiceCategory).where(ServiceCategory.code == "household"))
        for day in (3, 4, 5, 6):
            session.add(ServiceRequest(number=f"HYB{day}", category_id=household.id, channel=RequestChannel.PHONE,
                                       status=RequestStatus.COMPLETED,
                                       created_at=dt.datetime(2025, 3, day, 2, 0, tzinfo=dt.timezone.utc)))
        session.commit()


def _downloaded(folder, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = [path for path in folder.iterdir() if path.suffix == ".pdf"]
        if done:
            return done[0]
        time.sleep(0.1)
    raise AssertionError(f"no PDF downloaded: {list(folder.iterdir())}")


def test_a_supervisor_reads_and_prints_the_monthly_report_in_chromium(console, browser, console_services, tmp_path):
    from pypdf import PdfReader
    from selenium.webdriver.common.by import By

    _march_2025(console_services)
    sign_in(browser, console, "supervisor")
    click_and_load(browser, browser.find_element(By.LINK_TEXT, "服务监督"))
    click_and_load(browser, browser.find_element(By.ID, "reports-link"))
    assert "月报" in browser.find_element(By.ID, "monthly").text
    browser.find_element(By.NAME, "period").send_keys("2025-03")
    click_and_load(browser, browser.find_element(By.CSS_SELECTOR, "#period-form button"))
    assert browser.find_element(By.ID, "report-title").text == "河源市家政服务行业统计月报 · 2025年3月"
    total = browser.find_element(By.CSS_SELECTOR, "#section-requests_by_category tr.total").text.split()
    assert total == ["合计", "4", "4", "4", "100.0%"]
    assert fits(browser)
    browser.save_screenshot(str(tmp_path / "report.png"))
    # The sections added for issue 16: each table within its section, none wider than the screen.
    for key in ("disputes", "recruitment", "hires_by_district", "training_sessions", "seventy_demand",
                "seventy_businesses", "seventy_workers"):
        section = browser.find_element(By.ID, f"section-{key}")
        browser.execute_script("arguments[0].scrollIntoView()", section)
        table = section.find_element(By.TAG_NAME, "table")
        assert table.size["width"] <= section.size["width"] and table.location["x"] >= 0, key
        assert browser.execute_script("return arguments[0].scrollWidth <= arguments[0].clientWidth", section), key
        browser.save_screenshot(str(tmp_path / f"report-{key}.png"))
    assert fits(browser)

    browser.find_element(By.ID, "print-link").click()
    pdf = PdfReader(io.BytesIO(_downloaded(browser.downloads).read_bytes()))
    text = "".join(page.extract_text() for page in pdf.pages)
    assert "河源市家政服务行业统计月报" in text and "合计 4 4 4 100.0%" in text

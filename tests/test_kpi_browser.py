"""In real headless Chromium at 1366×768: a supervisor opens the KPI page from the menu,
picks the fixture day by operator, and sees its charts drawn (SVG images the strict
Content-Security-Policy allows) beside their tables, all within the screen's width."""
from __future__ import annotations

import os
import shutil

from tests.browser import click_and_load, fits, needs_chromium, sign_in
from tests.test_kpi_console import fixture_day  # noqa: F401 (a fixture)

pytestmark = needs_chromium


def test_supervisor_reads_the_fixture_day_with_its_charts(browser, console, fixture_day, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    sign_in(browser, console, "supervisor")
    click_and_load(browser, browser.find_element(By.LINK_TEXT, "统计报表"))
    Select(browser.find_element(By.NAME, "period")).select_by_visible_text("日")
    browser.execute_script("arguments[0].value = '2026-11-26'", browser.find_element(By.NAME, "date"))
    Select(browser.find_element(By.NAME, "by")).select_by_visible_text("按坐席")
    click_and_load(browser, browser.find_element(By.CSS_SELECTOR, "#kpi-choice button[type=submit]"))
    assert "period=day" in browser.current_url and "by=operator" in browser.current_url

    images = browser.find_elements(By.CSS_SELECTOR, ".kpi-chart img")
    assert len(images) == 4
    # Each chart was decoded and drawn: an image the policy blocked or the browser could not read has no width.
    assert all(browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth", img) > 0 for img in images)
    # The funnel's table beside its chart: the language menu reached by 4 passes, the main menu by 3.
    funnel_rows = [row.text for row in browser.find_elements(By.CSS_SELECTOR, "#kpi-funnel .chart-table tbody tr")]
    assert funnel_rows[:2] == ["选择语言 4 1 0", "主菜单 3 1 2"]
    assert browser.find_element(By.ID, "kpi-sl15").text.endswith("33.3%")
    operators = [row.text for row in browser.find_elements(By.CSS_SELECTOR, "#kpi-breakdown tbody tr")]
    assert any(text.startswith("坐席甲 ") for text in operators) and any(text.startswith("坐席乙 ") for text in operators)
    assert fits(browser)
    browser.save_screenshot(str(tmp_path / "kpi.png"))
    if os.environ.get("KPI_SCREENSHOT"):  # for a person to look at: the whole page
        shutil.copy(tmp_path / "kpi.png", os.environ["KPI_SCREENSHOT"])
        height = browser.execute_script("return document.documentElement.scrollHeight")
        browser.set_window_size(1366, height + 140)
        browser.save_screenshot(os.environ["KPI_SCREENSHOT"].replace(".png", "-full.png"))
    # No violation of the page's policy reported in the console (an image it refused would be).
    errors = [entry["message"] for entry in browser.get_log("browser") if "Content Security Policy" in entry["message"]]
    assert errors == []
    # By language, the widest breakdown (every column and the language match), in both languages.
    for path in ("/kpi?period=day&date=2026-11-26&by=language", "/kpi?period=day&date=2026-11-26&by=language&lang=en"):
        browser.get(console.url + path)
        assert browser.find_element(By.ID, "kpi-language-match").text.endswith("75.0%")
        browser.save_screenshot(str(tmp_path / "kpi-by-language.png"))
        if os.environ.get("KPI_SCREENSHOT"):
            shutil.copy(tmp_path / "kpi-by-language.png", os.environ["KPI_SCREENSHOT"].replace(".png", "-by-language.png"))
        assert fits(browser), path

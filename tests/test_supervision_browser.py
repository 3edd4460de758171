"""In real headless Chromium at 1366×768: a supervisor regrades, reads why a provider has
its grade, overrides it, suspends the provider, and sees it listed as out of dispatch."""
from __future__ import annotations

import pytest

from tests.browser import click_and_load, fits, needs_chromium, sign_in

pytestmark = needs_chromium


def test_a_supervisor_grades_overrides_and_suspends_in_chromium(console, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    sign_in(browser, console, "supervisor")
    click_and_load(browser, browser.find_element(By.LINK_TEXT, "服务监督"))
    assert "分类定级规则" in browser.page_source
    assert fits(browser)
    click_and_load(browser, browser.find_element(By.XPATH, "//button[text()='全部重新定级']"))
    assert "已重新定级" in browser.find_element(By.CSS_SELECTOR, ".flash").text
    browser.save_screenshot(str(tmp_path / "supervision.png"))

    # The best-graded provider's credit file says why it has its stars.
    browser.get(console.url + "/providers")
    rows = browser.find_elements(By.CSS_SELECTOR, "tbody tr")
    graded = next(r for r in rows if r.find_elements(By.TAG_NAME, "td")[1].text.strip() not in ("", "未定级"))
    click_and_load(browser, graded.find_element(By.TAG_NAME, "a"))
    click_and_load(browser, browser.find_element(By.ID, "credit-file-link"))
    reasons = browser.find_element(By.ID, "grade-reasons").text
    assert "信用基础分：+20" in reasons and "近90天回访平均评分" in reasons
    assert fits(browser)

    Select(browser.find_element(By.NAME, "grade")).select_by_value("1")
    browser.find_element(By.CSS_SELECTOR, "#override-form input[name=reason]").send_keys("消费者集中投诉，待核查")
    click_and_load(browser, browser.find_element(By.CSS_SELECTOR, "#override-form button"))
    assert "班长调整" in browser.find_element(By.ID, "grade").text
    assert "消费者集中投诉，待核查" in browser.find_element(By.ID, "grade-history").text

    Select(browser.find_element(By.CSS_SELECTOR, "#measure-form select[name=kind]")).select_by_value("suspension")
    browser.find_element(By.CSS_SELECTOR, "#measure-form input[name=days]").send_keys("7")
    browser.find_element(By.CSS_SELECTOR, "#measure-form input[name=reason]").send_keys("爽约两次")
    click_and_load(browser, browser.find_element(By.CSS_SELECTOR, "#measure-form button"))
    assert "暂停至" in browser.find_element(By.TAG_NAME, "h1").text
    assert "爽约两次" in browser.find_element(By.ID, "credit-timeline").text
    assert fits(browser)
    browser.save_screenshot(str(tmp_path / "credit.png"))
    name = browser.find_element(By.CSS_SELECTOR, "h1 a").text

    click_and_load(browser, browser.find_element(By.LINK_TEXT, "服务监督"))
    assert name in browser.find_element(By.ID, "out-of-dispatch").text

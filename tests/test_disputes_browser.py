"""In real headless Chromium at 1366×768: a supervisor sees the overdue dispute on the
dashboard, opens a dispute from a complaint, records both sides' statements and a
mediation step, closes it with an outcome, and finds it in the provider's credit file."""
from __future__ import annotations

from tests.browser import click_and_load, fits, needs_chromium, sign_in

pytestmark = needs_chromium


def test_a_supervisor_opens_a_dispute_from_a_complaint_and_closes_it_in_chromium(console, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    sign_in(browser, console, "supervisor")
    overdue = browser.find_element(By.ID, "overdue-disputes")
    assert overdue.text.split()[0] == "1"
    click_and_load(browser, overdue)
    assert len(browser.find_elements(By.CSS_SELECTOR, "#disputes tbody a")) == 1
    assert "已超期" in browser.find_element(By.ID, "disputes").text

    # The demo's complaint still open: escalated from its page.
    click_and_load(browser, browser.find_element(By.LINK_TEXT, "投诉"))
    rows = browser.find_elements(By.CSS_SELECTOR, "tbody tr")
    open_row = next(r for r in rows if r.find_elements(By.TAG_NAME, "td")[3].text == "待处理")
    click_and_load(browser, open_row.find_element(By.TAG_NAME, "a"))
    complaint_url = browser.current_url
    click_and_load(browser, browser.find_element(By.CSS_SELECTOR, "#escalate-form button"))
    assert "已转为纠纷" in browser.find_element(By.CSS_SELECTOR, ".flash").text
    assert "投诉转入" in browser.find_element(By.ID, "dispute-facts").text
    assert fits(browser)

    statement = browser.find_element(By.ID, "statement-form")
    Select(statement.find_element(By.NAME, "side")).select_by_value("caller")
    statement.find_element(By.NAME, "author").send_keys("林先生")
    statement.find_element(By.NAME, "text").send_keys("保洁后木地板有多处新划痕，要求赔偿修复费")
    click_and_load(browser, statement.find_element(By.TAG_NAME, "button"))
    statement = browser.find_element(By.ID, "statement-form")
    Select(statement.find_element(By.NAME, "side")).select_by_value("provider")
    statement.find_element(By.NAME, "author").send_keys("企业负责人")
    statement.find_element(By.NAME, "text").send_keys("划痕是旧的，与本次保洁无关")
    click_and_load(browser, statement.find_element(By.TAG_NAME, "button"))
    # The step's day is today, filled in already; the note says what was done.
    step = browser.find_element(By.ID, "step-form")
    step.find_element(By.NAME, "note").send_keys("上门查看并比对服务前照片，确认为新划痕")
    click_and_load(browser, step.find_element(By.TAG_NAME, "button"))
    assert "调解记录已添加" in browser.find_element(By.CSS_SELECTOR, ".flash").text

    close = browser.find_element(By.ID, "close-form")
    Select(close.find_element(By.NAME, "outcome")).select_by_value("partly_upheld")
    close.find_element(By.NAME, "remedy").send_keys("企业承担地板修复费一半（400元）")
    click_and_load(browser, close.find_element(By.TAG_NAME, "button"))
    assert "已办结" in browser.find_element(By.ID, "dispute-status").text
    timeline = browser.find_element(By.ID, "dispute-timeline").text
    for text in ("林先生：保洁后木地板有多处新划痕", "企业负责人：划痕是旧的", "上门查看并比对服务前照片", "部分支持消费者诉求"):
        assert text in timeline, text
    assert fits(browser)
    browser.save_screenshot(str(tmp_path / "dispute.png"))

    click_and_load(browser, browser.find_element(By.ID, "dispute-credit-link"))
    credit = browser.find_element(By.ID, "credit-timeline").text
    assert "纠纷办结" in credit and "企业承担地板修复费一半（400元）" in credit
    browser.get(complaint_url)
    assert "已转为纠纷" in browser.find_element(By.ID, "complaint-dispute").text

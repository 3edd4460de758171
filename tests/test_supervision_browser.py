"""In real headless Chromium at 1366×768: a supervisor regrades, reads why a provider has
its grade, overrides it, suspends the provider, and sees it listed as out of dispatch."""
from __future__ import annotations

import pytest

from agent_console import create_app
from hotline.demo_stack import ConsoleServer
from tests.test_console_browser import CHROMEDRIVER, CHROMIUM, browser  # noqa: F401 (a fixture)
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                       reason="Debian's chromium and chromium-driver are not installed (make install adds them)"),
]


@pytest.fixture
def console(console_services):
    server = ConsoleServer(create_app(services=console_services), "127.0.0.1", 0).start()
    yield server
    server.stop()




def _click(browser, element) -> None:
    """Click what loads a new page, and wait until it has."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as seen
    from selenium.webdriver.support.ui import WebDriverWait

    page = browser.find_element(By.TAG_NAME, "html")
    element.click()
    WebDriverWait(browser, 10).until(seen.staleness_of(page))
    WebDriverWait(browser, 10).until(lambda d: d.execute_script("return document.readyState") == "complete")


def _fits(browser) -> None:
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 1366


def test_a_supervisor_grades_overrides_and_suspends_in_chromium(console, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as seen
    from selenium.webdriver.support.ui import WebDriverWait
    from selenium.webdriver.support.ui import Select

    browser.get(console.url + "/login")
    browser.find_element(By.NAME, "username").send_keys("supervisor")
    page = browser.find_element(By.TAG_NAME, "html")
    browser.find_element(By.NAME, "password").send_keys("supervisor-demo-2026" + Keys.ENTER)
    WebDriverWait(browser, 10).until(seen.staleness_of(page))
    _click(browser, browser.find_element(By.LINK_TEXT, "服务监督"))
    assert "分类定级规则" in browser.page_source
    _fits(browser)
    _click(browser, browser.find_element(By.XPATH, "//button[text()='全部重新定级']"))
    assert "已重新定级" in browser.find_element(By.CSS_SELECTOR, ".flash").text
    browser.save_screenshot(str(tmp_path / "supervision.png"))

    # The best-graded provider's credit file says why it has its stars.
    browser.get(console.url + "/providers")
    rows = browser.find_elements(By.CSS_SELECTOR, "tbody tr")
    graded = next(r for r in rows if r.find_elements(By.TAG_NAME, "td")[1].text.strip() not in ("", "未定级"))
    _click(browser, graded.find_element(By.TAG_NAME, "a"))
    _click(browser, browser.find_element(By.ID, "credit-file-link"))
    reasons = browser.find_element(By.ID, "grade-reasons").text
    assert "信用基础分：+20" in reasons and "近90天回访平均评分" in reasons
    _fits(browser)

    Select(browser.find_element(By.NAME, "grade")).select_by_value("1")
    browser.find_element(By.CSS_SELECTOR, "#override-form input[name=reason]").send_keys("消费者集中投诉，待核查")
    _click(browser, browser.find_element(By.CSS_SELECTOR, "#override-form button"))
    assert "班长调整" in browser.find_element(By.ID, "grade").text
    assert "消费者集中投诉，待核查" in browser.find_element(By.ID, "grade-history").text

    Select(browser.find_element(By.CSS_SELECTOR, "#measure-form select[name=kind]")).select_by_value("suspension")
    browser.find_element(By.CSS_SELECTOR, "#measure-form input[name=days]").send_keys("7")
    browser.find_element(By.CSS_SELECTOR, "#measure-form input[name=reason]").send_keys("爽约两次")
    _click(browser, browser.find_element(By.CSS_SELECTOR, "#measure-form button"))
    assert "暂停至" in browser.find_element(By.TAG_NAME, "h1").text
    assert "爽约两次" in browser.find_element(By.ID, "credit-timeline").text
    _fits(browser)
    browser.save_screenshot(str(tmp_path / "credit.png"))
    name = browser.find_element(By.CSS_SELECTOR, "h1 a").text

    _click(browser, browser.find_element(By.LINK_TEXT, "服务监督"))
    assert name in browser.find_element(By.ID, "out-of-dispatch").text

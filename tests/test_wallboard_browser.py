"""In real headless Chromium at 1366×768, beside an emulated Asterisk and its AMI link: a
supervisor watches the wallboard while the only operator pauses for a meal and a caller
joins the queue; the page shows both without a reload, turns the queue red past its
threshold, and fits the screen in full-screen mode."""
from __future__ import annotations

import threading

import pytest

from tests.browser import click_and_load, fits, needs_chromium, sign_in
from tests.conftest import console_services_for

pytestmark = needs_chromium
RED_AFTER = 4  # seconds: the queue turns red within the test


@pytest.fixture
def console_services(ivr_db, tmp_path):
    """The console's services with a short wallboard threshold for every queue."""
    yield from console_services_for(ivr_db, tmp_path, **{"wallboard.red_after_seconds": RED_AFTER,
                                                         "wallboard.red_after_by_queue": {}})


def queue_row(browser, title: str):
    from selenium.webdriver.common.by import By

    for row in browser.find_elements(By.CSS_SELECTOR, "tr.wb-queue"):
        if row.find_element(By.CSS_SELECTOR, ".wb-queue-name").text == title:
            return row
    raise AssertionError(f"no queue {title} on the board")


def waiting(browser, title: str) -> str:
    from selenium.common.exceptions import StaleElementReferenceException

    try:
        return queue_row(browser, title).find_element("css selector", ".wb-waiting").text
    except StaleElementReferenceException:  # the board was just fetched again
        return ""


def is_red(browser, title: str) -> bool:
    from selenium.common.exceptions import StaleElementReferenceException

    try:
        return "red" in queue_row(browser, title).get_attribute("class").split()
    except StaleElementReferenceException:
        return False


def operator_state(browser, extension: str) -> str:
    return browser.execute_script(
        "var extension = arguments[0];"
        "var li = Array.from(document.querySelectorAll('.wb-operator')).find(function (li) {"
        "  return li.querySelector('.wb-extension').textContent === extension; });"
        "return li ? li.querySelector('.wb-state').textContent : '';", extension)


def fits_the_screen(browser) -> bool:
    """Nothing wider than the screen, nor taller than the window: a wall monitor never scrolls."""
    return fits(browser) and browser.execute_script(
        "return document.documentElement.scrollHeight <= window.innerHeight")


def test_the_wallboard_follows_a_caller_live_and_fits_the_wall_monitor(stack, browser, tmp_path):
    from selenium.webdriver.support.ui import WebDriverWait

    asterisk, console = stack
    general = "综合服务队列"
    sign_in(browser, console, "supervisor")
    browser.get(console.url + "/wallboard")
    wait = WebDriverWait(browser, 20, poll_frequency=0.2)
    wait.until(lambda d: d.execute_script("return document.body.dataset.popListening") == "1")
    assert waiting(browser, general) == "0" and not is_red(browser, general)
    browser.execute_script("window.hotlineSamePage = true")  # gone if the page were reloaded

    # The only operator in the queues pauses for a meal (a phone's feature code): nobody is free.
    asterisk.ami.pause_member("PJSIP/1001", True, "meal")
    wait.until(lambda d: operator_state(d, "1001") == "暂停（用餐）")

    hold = threading.Event()
    caller = threading.Thread(target=asterisk.call, args=("13800138000", "1 1"),
                              kwargs={"wait_in_queue": 60, "hold": hold}, daemon=True)
    caller.start()  # a returning Mandarin caller: family services, housekeeping; then the queue
    try:
        wait.until(lambda d: waiting(d, general) == "1")
        assert browser.execute_script("return window.hotlineSamePage") is True
        assert not is_red(browser, general)  # just joined
        wait.until(lambda d: is_red(d, general))  # ticks in the browser past RED_AFTER seconds
        assert f"等待超过 {RED_AFTER} 秒" in queue_row(browser, general).text
        assert fits(browser)
        browser.save_screenshot(str(tmp_path / "wallboard.png"))

        browser.get(console.url + "/wallboard?full=1")
        wait.until(lambda d: d.execute_script("return document.body.dataset.popListening") == "1")
        assert browser.find_elements("css selector", "header.top") == []
        assert waiting(browser, general) == "1" and is_red(browser, general)
        assert fits_the_screen(browser)
        browser.save_screenshot(str(tmp_path / "wallboard-full.png"))
        browser.get(console.url + "/wallboard")
        click_and_load(browser, browser.find_element("css selector", "header.top button[lang=en]"))
        assert waiting(browser, "General queue") == "1" and "Paused (Meal)" in operator_state(browser, "1001")
        assert fits(browser)  # English words run longer
        browser.save_screenshot(str(tmp_path / "wallboard-en.png"))
        browser.get(console.url + "/wallboard?full=1")
        wait.until(lambda d: d.execute_script("return document.body.dataset.popListening") == "1")
        assert "Wallboard" in browser.find_element("tag name", "h1").text and is_red(browser, "General queue")
        assert fits_the_screen(browser)
        browser.save_screenshot(str(tmp_path / "wallboard-full-en.png"))
        browser.execute_script("window.hotlineSamePage = true")
    finally:
        hold.set()  # the caller gives up
        caller.join(30)
    wait.until(lambda d: waiting(d, "General queue") == "0")
    assert not is_red(browser, "General queue") and browser.execute_script("return window.hotlineSamePage") is True

"""In real headless Chromium: an operator signs in, gets a screen pop from an emulated call,
logs the request, dispatches it and finds the SMS in the outbox."""
from __future__ import annotations

import re

import pytest

from db.reference import CATEGORIES
from tests.browser import fits, needs_chromium, sign_in

pytestmark = needs_chromium


def test_operator_pop_request_dispatch_and_sms_in_chromium(stack, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as seen
    from selenium.webdriver.support.ui import Select, WebDriverWait

    asterisk, console = stack
    wait = WebDriverWait(browser, 10)
    browser.get(console.url + "/login")
    browser.find_element(By.NAME, "username").send_keys("operator")
    browser.find_element(By.NAME, "password").send_keys("operator-demo-2026")
    browser.find_element(By.NAME, "password").send_keys(Keys.ENTER)  # by keyboard
    wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-pop-listening") == "1")
    # Usable on a 1366×768 workstation: nothing wider than the screen.
    assert fits(browser)

    # A Cantonese caller chooses a service; the queue offers the call to extension 1001.
    switched = asterisk.call("13912345678", "2 1 3")  # Cantonese, family services, medical escort
    assert switched.agent == "PJSIP/1001"
    chosen = dict((code, name) for code, name, _ in CATEGORIES)[switched.transcript.variables["HOTLINE_CATEGORY"]]
    pop = wait.until(seen.visibility_of_element_located((By.ID, "pop")))
    assert "13912345678" in pop.text and "粤语" in pop.text
    browser.find_element(By.ID, "pop-new-request").click()

    wait.until(seen.presence_of_element_located((By.ID, "request-form")))
    assert fits(browser)
    assert browser.find_element(By.NAME, "phone").get_attribute("value") == "13912345678"
    assert Select(browser.find_element(By.NAME, "category")).first_selected_option.text == chosen
    Select(browser.find_element(By.NAME, "district")).select_by_visible_text("源城区")
    browser.find_element(By.NAME, "address").send_keys("源城区大同路88号")
    browser.find_element(By.NAME, "description").send_keys("空调不制冷，双击也只登记一次")
    once = browser.find_element(By.CSS_SELECTOR, '#request-form input[name="once"]').get_attribute("value")
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", once)  # once.py's token
    # Sent, then changed (back, and edited for another record): another submission, another token.
    changed = browser.execute_script("""
        var form = document.getElementById('request-form'), once = form.querySelector('input[name="once"]');
        var first = once.value;
        form.dispatchEvent(new Event('submit', {bubbles: true, cancelable: true}));  // recorded as sent; nothing leaves the page
        form.querySelector('[name="description"]').value += '（改）';
        form.dispatchEvent(new Event('submit', {bubbles: true, cancelable: true}));
        var second = once.value;
        form.querySelector('[name="description"]').value = form.querySelector('[name="description"]').value.replace('（改）', '');
        delete form.dataset.sentData;
        once.value = first;
        return [first, second];""")
    assert changed[0] != changed[1]
    # An operator's double click: the second submit sends nothing.
    browser.execute_script("var form = document.getElementById('request-form'); form.requestSubmit(); form.requestSubmit();")

    number = wait.until(seen.presence_of_element_located((By.ID, "request-number"))).text
    assert number.startswith("HY")
    browser.get(console.url + "/requests?q=13912345678")  # a new caller: this is their one request
    assert [a.text for a in browser.find_elements(By.CSS_SELECTOR, "tbody tr a[href^='/requests/HY']")] == [number]
    browser.get(console.url + f"/requests/{number}")
    browser.find_element(By.CSS_SELECTOR, "#suggestions button.dispatch").click()
    wait.until(seen.presence_of_element_located((By.ID, "current-dispatch")))

    browser.get(console.url + "/sms")
    outbox = browser.find_element(By.ID, "outbox").text
    assert outbox.count(number) == 2  # to the provider and to the caller
    assert "13912345678" in outbox


@pytest.mark.parametrize("sharing", ["shared-worker", "lock-leader"])
def test_ten_tabs_and_twenty_pages_share_one_pop_stream(stack, browser, sharing):
    """A browser allows six connections per host: a pop stream per page would starve page loads.
    With one stream per browser every load stays quick, and a pop still reaches the tab in use.
    lock-leader: a browser without SharedWorker (one tab streams, the others hear it)."""
    import time

    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as seen
    from selenium.webdriver.support.ui import WebDriverWait

    asterisk, console = stack

    def without_shared_worker():  # for the tab in use; each new tab is asked again
        if sharing == "lock-leader":
            browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": "delete window.SharedWorker;"})

    without_shared_worker()
    wait = WebDriverWait(browser, 10)
    sign_in(browser, console)
    browser.set_page_load_timeout(3)
    pages = ["/", "/requests", "/requests/new", "/callbacks", "/complaints", "/providers", "/sms", "/surveys", "/desk"]
    loads = []

    def load(path):
        started = time.monotonic()
        try:
            browser.get(console.url + path)
        except TimeoutException:
            pass  # a starved load: slow, and reported below
        loads.append((path, round(time.monotonic() - started, 2)))
        assert loads[-1][1] < 1.0, loads

    for tab in range(9):  # ten tabs with the first one
        browser.switch_to.new_window("tab")
        without_shared_worker()
        load(pages[tab % len(pages)])
    for step in range(20):  # each page left behind may sit in the back/forward cache
        load(pages[step % len(pages)])
    assert len(browser.window_handles) == 10
    assert browser.execute_script("return typeof SharedWorker") == ("function" if sharing == "shared-worker" else "undefined")

    wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-pop-listening") == "1")
    asterisk.call("13912345678", "1 1 1")
    pop = wait.until(seen.visibility_of_element_located((By.ID, "pop")))
    assert "13912345678" in pop.text


def test_the_request_page_keeps_each_dispatch_button_on_one_line_at_1366(stack, browser, console_services):
    from zoneinfo import ZoneInfo

    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    from sqlalchemy import select

    from db.models import District, PhoneKind, RequestChannel, ServiceCategory
    from db.phones import Phone
    from db.service_requests import caller_for_phone, open_request
    from db.session import transaction

    _, console = stack
    with transaction(console_services.sessions) as session:
        caller = caller_for_phone(session, Phone("13912345678", PhoneKind.MOBILE))
        number = open_request(session, caller, session.scalar(select(ServiceCategory).where(ServiceCategory.code == "household")),
                              RequestChannel.PHONE, ZoneInfo("Asia/Shanghai"), address="新江路 12 号", description="保洁",
                              district_id=session.scalar(select(District.id).where(District.name_zh == "源城区"))).number
    sign_in(browser, console)
    browser.get(f"{console.url}/requests/{number}")
    buttons = browser.find_elements(By.CSS_SELECTOR, "#suggestions button.dispatch")
    assert buttons
    lines = browser.execute_script("""return arguments[0].map(function (button) {
        var range = document.createRange(); range.selectNodeContents(button);
        return range.getClientRects().length; });""", buttons)
    assert lines == [1] * len(buttons)
    assert fits(browser)


def test_the_pop_names_the_way_through_the_menu_without_overflowing(stack, browser, console_services):
    import datetime as dt
    from zoneinfo import ZoneInfo

    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from db.models import PhoneKind
    from db.phones import Phone
    from db.session import transaction
    from ivr.call_log import IvrCallRecord, save_calls

    _, console = stack
    at = dt.datetime(2026, 11, 27, 2, 0, 5, tzinfo=dt.timezone.utc)
    record = IvrCallRecord(
        uniqueid="1764208805.77", linkedid="1764208805.77", did="4008300762", caller_number="13911112222",
        phone=Phone("13911112222", PhoneKind.MOBILE), script="ivr", started_at=at, language="cmn",
        path=["welcome_back", "open_check", "main", "life_services", "shopping_guide", "main", "family_services",
              "elderly_care"])
    with transaction(console_services.sessions) as session:
        save_calls(session, [record], ZoneInfo("Asia/Shanghai"))
    sign_in(browser, console, "supervisor")  # a pop of any call: supervisors only
    # What console.js does with a pop: the server's fragment in the pop box.
    browser.execute_async_script("""var done = arguments[0];
        fetch('/pop/1764208805.77').then(function (r) { return r.text(); }).then(function (html) {
          var box = document.getElementById('pop'); box.innerHTML = html; box.hidden = false; done(); });""")
    pop = browser.find_element(By.ID, "pop")
    assert browser.execute_script("return arguments[0].scrollWidth <= arguments[0].clientWidth", pop)
    assert "主菜单 › 生活服务菜单 › 社区导购 › 主菜单 › 家庭服务菜单 › 养老服务" in pop.text
    assert "welcome_back" not in pop.text
    # Its two buttons stand apart: they touched, the focus ring of one over the other.
    gap = browser.execute_script("""var a = document.getElementById('pop-new-request').getBoundingClientRect();
        var b = document.querySelector('#pop .pop-close').getBoundingClientRect();
        return b.top >= a.bottom ? b.top - a.bottom : b.left - a.right;""")
    assert gap >= 8

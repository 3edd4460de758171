"""In real headless Chromium: an operator signs in, gets a screen pop from an emulated call,
logs the request, dispatches it and finds the SMS in the outbox."""
from __future__ import annotations

import shutil
import threading

import pytest

from agent_console import create_app
from db.reference import CATEGORIES
from hotline.demo_stack import ConsoleServer, EmulatedAsterisk
from telephony.ami import AmiLink
from telephony.ami_service import AmiService
from telephony.call_events import CallTracker
from telephony.callback_placer import CallbackPlacer

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                       reason="Debian's chromium and chromium-driver are not installed (make install adds them)"),
]


@pytest.fixture
def stack(console_services, ivr_server):
    settings = console_services.settings
    asterisk = EmulatedAsterisk(ivr_server.address, settings, port=0, talk_seconds=5).start()
    asterisk.log_in_operators(["1001"], ["hotline-general", "hotline-priority"])
    link = AmiLink("127.0.0.1", asterisk.port, settings.asterisk.ami_username, settings.asterisk.ami_secret)
    ami = AmiService(link, CallTracker(console_services.sessions), CallbackPlacer(link, console_services.sessions),
                     pop_bus=console_services.pop_bus)
    thread = threading.Thread(target=ami.run, daemon=True)
    thread.start()
    assert link.wait_connected(3)
    console = ConsoleServer(create_app(services=console_services), "127.0.0.1", 0).start()
    yield asterisk, console
    console.stop()
    ami.stop()
    thread.join(10)
    asterisk.stop()


@pytest.fixture
def browser(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1366,768", f"--user-data-dir={tmp_path / 'chromium'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(0)
    yield driver
    driver.quit()


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
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 1366

    # A Cantonese caller chooses a service; the queue offers the call to extension 1001.
    switched = asterisk.call("13912345678", "2 1 3")  # Cantonese, family services, medical escort
    assert switched.agent == "PJSIP/1001"
    chosen = dict((code, name) for code, name, _ in CATEGORIES)[switched.transcript.variables["HOTLINE_CATEGORY"]]
    pop = wait.until(seen.visibility_of_element_located((By.ID, "pop")))
    assert "13912345678" in pop.text and "粤语" in pop.text
    browser.find_element(By.ID, "pop-new-request").click()

    wait.until(seen.presence_of_element_located((By.ID, "request-form")))
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 1366
    assert browser.find_element(By.NAME, "phone").get_attribute("value") == "13912345678"
    assert Select(browser.find_element(By.NAME, "category")).first_selected_option.text == chosen
    Select(browser.find_element(By.NAME, "district")).select_by_visible_text("源城区")
    browser.find_element(By.NAME, "address").send_keys("源城区大同路88号")
    browser.find_element(By.NAME, "description").send_keys("空调不制冷")
    browser.find_element(By.ID, "save-request").click()

    number = wait.until(seen.presence_of_element_located((By.ID, "request-number"))).text
    assert number.startswith("HY")
    browser.find_element(By.CSS_SELECTOR, "#suggestions button.dispatch").click()
    wait.until(seen.presence_of_element_located((By.ID, "current-dispatch")))

    browser.get(console.url + "/sms")
    outbox = browser.find_element(By.ID, "outbox").text
    assert outbox.count(number) == 2  # to the provider and to the caller
    assert "13912345678" in outbox


def _sign_in(browser, console, wait, username="operator"):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    browser.get(console.url + "/login")
    browser.find_element(By.NAME, "username").send_keys(username)
    browser.find_element(By.NAME, "password").send_keys(f"{username}-demo-2026")
    browser.find_element(By.NAME, "password").send_keys(Keys.ENTER)
    wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-pop-listening") == "1")


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
    _sign_in(browser, console, wait)
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
    _sign_in(browser, console, WebDriverWait(browser, 10))
    browser.get(f"{console.url}/requests/{number}")
    buttons = browser.find_elements(By.CSS_SELECTOR, "#suggestions button.dispatch")
    assert buttons
    lines = browser.execute_script("""return arguments[0].map(function (button) {
        var range = document.createRange(); range.selectNodeContents(button);
        return range.getClientRects().length; });""", buttons)
    assert lines == [1] * len(buttons)
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 1366


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
    _sign_in(browser, console, WebDriverWait(browser, 10), "supervisor")  # a pop of any call: supervisors only
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

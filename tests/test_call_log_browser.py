"""In real headless Chromium at 1366×768: a supervisor filters the call log, opens a call the
emulated Asterisk put through, plays its recording, exports XLSX and reads it back, and
books a callback for a lost caller."""
from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import select

from agent_console import create_app
from db.models import Call, CallbackTask, CallOutcome
from hotline.demo_stack import ConsoleServer, EmulatedAsterisk
from telephony.ami import AmiLink
from telephony.ami_service import AmiService
from telephony.call_events import CallTracker
from telephony.callback_placer import CallbackPlacer
from tests.conftest import wait_until
from tests.test_call_log_console import add_call, console_services, recordings_dir, write_wav  # noqa: F401
from tests.test_console_browser import CHROMEDRIVER, CHROMIUM

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                       reason="Debian's chromium and chromium-driver are not installed (make install adds them)"),
]


@pytest.fixture
def stack(console_services, ivr_server):  # noqa: F811
    settings = console_services.settings
    asterisk = EmulatedAsterisk(ivr_server.address, settings, port=0, talk_seconds=1).start()
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

    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1366,768", "--autoplay-policy=no-user-gesture-required",
                 f"--user-data-dir={tmp_path / 'chromium'}"):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    driver.implicitly_wait(0)
    driver.downloads = downloads
    yield driver
    driver.quit()


def _fits(browser) -> bool:
    return browser.execute_script("return document.documentElement.scrollWidth") <= 1366


def test_supervisor_filters_opens_plays_exports_and_books_a_callback(stack, browser, console_services, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as seen
    from selenium.webdriver.support.ui import Select, WebDriverWait

    asterisk, console = stack
    wait = WebDriverWait(browser, 15)
    switched = asterisk.call("13912348000", "2 1 3")  # Cantonese, family services, medical escort
    assert switched.agent == "PJSIP/1001"

    def recorded():
        with console_services.sessions() as session:
            return session.scalar(select(Call).where(Call.uniqueid == switched.uniqueid,
                                                     Call.recording_file.is_not(None), Call.ended_at.is_not(None)))
    assert wait_until(lambda: recorded() is not None, timeout=15)
    call = recorded()
    # MixMonitor's file, where the row says it is (the emulator writes no sound).
    write_wav(Path(call.recording_file), seconds=2.0)
    lost = add_call(console_services, "lost-1", number="13700009999", outcome=CallOutcome.ABANDONED_IN_QUEUE,
                    queue="general", queue_wait_seconds=75, started_at=call.started_at - dt.timedelta(hours=1))

    browser.get(console.url + "/login")
    browser.find_element(By.NAME, "username").send_keys("supervisor")
    browser.find_element(By.NAME, "password").send_keys("supervisor-demo-2026")
    browser.find_element(By.NAME, "password").send_keys(Keys.ENTER)
    wait.until(seen.presence_of_element_located((By.ID, "lost-callers-count")))
    assert browser.find_element(By.ID, "lost-callers-count").text.startswith("1")

    browser.get(console.url + "/calls")
    day = call.started_at.astimezone(console_services.tz).strftime("%Y-%m-%d")
    browser.find_element(By.NAME, "number").send_keys("8000")
    for name in ("date_from", "date_to"):
        browser.execute_script("arguments[0].value = arguments[1]", browser.find_element(By.NAME, name), day)
    Select(browser.find_element(By.NAME, "language")).select_by_visible_text("粤语")
    Select(browser.find_element(By.NAME, "has_recording")).select_by_visible_text("有录音")
    browser.find_element(By.ID, "call-search").click()
    wait.until(lambda d: "number=8000" in d.current_url)
    rows = browser.find_elements(By.CSS_SELECTOR, "table.calls tbody tr")
    assert len(rows) == 1 and "139****8000" in rows[0].text and "13912348000" not in browser.page_source
    assert _fits(browser)
    browser.save_screenshot(str(tmp_path / "call-log.png"))

    browser.find_element(By.ID, "export-xlsx").click()
    assert wait_until(lambda: [p for p in browser.downloads.glob("*.xlsx")], timeout=15)
    (exported,) = browser.downloads.glob("*.xlsx")
    sheet = openpyxl.load_workbook(exported, read_only=True).active
    values = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert values[0][:2] == ["开始时间", "来电号码"] and len(values) == 2 and values[1][1] == "139****8000"

    rows[0].find_element(By.TAG_NAME, "a").click()
    player = wait.until(seen.presence_of_element_located((By.ID, "call-recording")))
    assert _fits(browser)
    browser.execute_script("arguments[0].play()", player)
    wait.until(lambda d: d.execute_script("return arguments[0].readyState", player) >= 1)
    duration = browser.execute_script("return arguments[0].duration", player)
    assert 1.5 < duration < 2.5
    wait.until(lambda d: d.execute_script("return arguments[0].currentTime", player) > 0)
    browser.save_screenshot(str(tmp_path / "call.png"))

    browser.get(console.url + "/lost-callers")
    row = browser.find_element(By.ID, f"lost-{lost}")
    assert "137****9999" in row.text and "75 秒" in row.text and _fits(browser)
    row.find_element(By.TAG_NAME, "button").click()
    wait.until(seen.presence_of_element_located((By.CSS_SELECTOR, ".flash.success")))
    assert "已预约" in browser.find_element(By.ID, f"lost-{lost}").text
    with console_services.sessions() as session:
        assert session.scalar(select(CallbackTask).where(CallbackTask.call_id == lost)) is not None

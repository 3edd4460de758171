"""What every headless-Chromium test shares: the browser at 1366×768, a console (alone or
beside an emulated Asterisk and its AMI link), signing in, and waiting for a page to load.

Its fixtures reach every test module through conftest.py's `pytest_plugins`.
"""
from __future__ import annotations

import shutil
import threading

import pytest

from agent_console import create_app
from hotline.demo_stack import ConsoleServer, EmulatedAsterisk
from telephony.ami import AmiLink
from telephony.ami_service import AmiService
from telephony.call_events import CallTracker
from telephony.callback_placer import CallbackPlacer

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
WIDTH = 1366
needs_chromium = [
    pytest.mark.slow,
    pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                       reason="Debian's chromium and chromium-driver are not installed (make install adds them)"),
]


def _start_chromium(profile):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--window-size={WIDTH},768", "--autoplay-policy=no-user-gesture-required",
                 f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"download.prompt_for_download": False})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


class _SharedChromium:
    """One Chromium for the run's browser tests: starting one cost each test a second or
    more. Each test gets it as if just started (see `fresh`)."""

    def __init__(self, profile):
        self.profile = profile
        self.driver = _start_chromium(profile)
        self.size = self.driver.get_window_size()

    def fresh(self, downloads):
        """One blank tab (the test's own scripts and tabs gone with the tabs they were in),
        no cookies, the window's first size, the usual timeouts, downloads into `downloads`.
        A browser that cannot be reset (it crashed) is started again."""
        from selenium.common.exceptions import WebDriverException

        try:
            self._reset(downloads)
        except WebDriverException:
            try:
                self.driver.quit()
            except WebDriverException:
                pass
            self.driver = _start_chromium(self.profile)
            self._reset(downloads)
        return self.driver

    def _reset(self, downloads) -> None:
        driver = self.driver
        self.blank_tab_only()
        driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
        driver.execute_cdp_cmd("Network.clearBrowserCache", {})
        driver.set_window_size(self.size["width"], self.size["height"])
        driver.implicitly_wait(0)
        driver.set_page_load_timeout(300)
        driver.set_script_timeout(30)
        driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
        driver.downloads = downloads

    def blank_tab_only(self) -> None:
        """Close every tab but a new blank one: the pages' pop streams end with them."""
        driver = self.driver
        driver.switch_to.new_window("tab")
        blank = driver.current_window_handle
        for handle in driver.window_handles:
            if handle != blank:
                driver.switch_to.window(handle)
                driver.close()
        driver.switch_to.window(blank)


@pytest.fixture(scope="session")
def _chromium(tmp_path_factory):
    shared = _SharedChromium(tmp_path_factory.mktemp("chromium"))
    yield shared
    shared.driver.quit()


@pytest.fixture
def browser(_chromium, tmp_path):
    """Chromium at a 1366×768 workstation's size; downloads land in `browser.downloads`."""
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    yield _chromium.fresh(downloads)
    from selenium.common.exceptions import WebDriverException

    try:  # before the test's console stops: its pages' streams would hold it up
        _chromium.blank_tab_only()
    except WebDriverException:
        pass  # the next test starts it again


@pytest.fixture
def console(console_services):
    """The console alone, on a free port."""
    server = ConsoleServer(create_app(services=console_services), "127.0.0.1", 0).start()
    yield server
    server.stop()


@pytest.fixture
def talk_seconds() -> float:
    """How long an emulated operator talks; a module overrides it for shorter calls."""
    return 5


@pytest.fixture
def stack(console_services, ivr_server, talk_seconds):
    """An emulated Asterisk with extension 1001 signed in, its AMI link, and the console."""
    settings = console_services.settings
    asterisk = EmulatedAsterisk(ivr_server.address, settings, port=0, talk_seconds=talk_seconds).start()
    asterisk.log_in_operators(["1001"], ["hotline-general", "hotline-priority"])
    link = AmiLink("127.0.0.1", asterisk.port, settings.asterisk.ami_username, settings.asterisk.ami_secret)
    ami = AmiService(link, CallTracker(console_services.sessions), CallbackPlacer(link, console_services.sessions),
                     pop_bus=console_services.pop_bus)
    thread = threading.Thread(target=ami.run, daemon=True)
    thread.start()
    assert link.wait_connected(3)
    server = ConsoleServer(create_app(services=console_services), "127.0.0.1", 0).start()
    yield asterisk, server
    server.stop()
    ami.stop()
    thread.join(10)
    asterisk.stop()


def sign_in(browser, console, username: str = "operator", timeout: float = 10) -> None:
    """Sign in with the demo password, by keyboard, and wait for the console's pop stream."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(console.url + "/login")
    browser.find_element(By.NAME, "username").send_keys(username)
    browser.find_element(By.NAME, "password").send_keys(f"{username}-demo-2026")
    browser.find_element(By.NAME, "password").send_keys(Keys.ENTER)
    WebDriverWait(browser, timeout).until(
        lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-pop-listening") == "1")


def click_and_load(browser, element, timeout: float = 10) -> None:
    """Click what loads a new page, and wait until the new page has loaded.

    The old page is marked on its window object, which a new document replaces. (Waiting
    for the old <html> to go stale raced: while Chromium swaps documents, asking about the
    old node can fail with "Node with given id does not belong to the document".)"""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    browser.execute_script("window.hotlineOldPage = true")
    element.click()

    def loaded(driver) -> bool:
        try:
            return driver.execute_script(
                "return window.hotlineOldPage === undefined && document.readyState === 'complete'")
        except WebDriverException:  # between two documents
            return False

    WebDriverWait(browser, timeout).until(loaded)


def fits(browser) -> bool:
    """Nothing on the page is wider than the workstation's screen."""
    return browser.execute_script("return document.documentElement.scrollWidth") <= WIDTH

"""The console's header at 1366 px in headless Chromium: one row in either language, for
every role; in English it wrapped onto two rows (the brand, the menu and the user block
were wider together than the screen)."""
from __future__ import annotations

import pytest

from tests.browser import needs_chromium, sign_in

pytestmark = needs_chromium


def _header(browser) -> dict:
    return browser.execute_script("""var box = function (s) { var e = document.querySelector(s);
        return e ? Math.round(e.getBoundingClientRect().width) : 0; };
        return {height: Math.round(document.querySelector('header.top').getBoundingClientRect().height),
                brand: box('.brand'), menu: box('header.top nav'), who: box('.who'),
                page: document.documentElement.scrollWidth};""")


@pytest.mark.parametrize("role", ["operator", "supervisor", "admin"])
def test_the_header_is_one_row_at_1366_in_both_languages(console, browser, role):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 10)
    sign_in(browser, console, role)
    browser.get(console.url + "/requests")
    chinese = _header(browser)
    browser.find_element(By.CSS_SELECTOR, ".who button[lang='en']").click()
    wait.until(lambda d: d.execute_script("return document.readyState == 'complete' && document.documentElement.lang") == "en")
    english = _header(browser)
    assert english["height"] == chinese["height"] < 60, repr((chinese, english))
    assert english["page"] <= 1366 and chinese["page"] <= 1366

"""The recruitment, training and 70% pages in headless Chromium at 1366×768: nothing wider
than the screen, the trend chart shown as an image under the console's strict CSP."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from db.models import JobSeeker, JobSeekerStatus, TrainingSession
from tests.browser import fits, needs_chromium, sign_in

pytestmark = needs_chromium


@pytest.mark.parametrize("language", ["zh", "en"])
def test_the_workforce_pages_fit_a_workstation_screen(console, browser, console_services, tmp_path, language):
    with console_services.sessions() as session:
        seeker = session.scalar(select(JobSeeker.id).where(JobSeeker.status == JobSeekerStatus.SEEKING).limit(1))
        ts = session.scalar(select(TrainingSession.id).limit(1))
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    sign_in(browser, console, "supervisor")
    if language == "en":
        browser.find_element(By.CSS_SELECTOR, ".who button[lang='en']").click()
        WebDriverWait(browser, 10).until(lambda d: d.execute_script(
            "return document.readyState == 'complete' && document.documentElement.lang") == "en")
    pages = {"seekers": "/jobs", "seeker": f"/jobs/seekers/{seeker}", "new-seeker": "/jobs/seekers/new",
             "openings": "/jobs/openings", "sessions": "/training", "session": f"/training/{ts}", "seventy": "/seventy"}
    too_wide = []
    for name, path in pages.items():
        browser.get(console.url + path)
        browser.save_screenshot(str(tmp_path / f"{name}-{language}.png"))
        if not fits(browser):
            too_wide.append(path)
    assert too_wide == []
    # The last page is the figures: its chart loaded (an image the CSP let through) and was drawn.
    drawn = browser.execute_script("var i = document.querySelector('#seventy-trend img');"
                                   "return i.complete && i.naturalWidth > 0 && i.getBoundingClientRect().width;")
    assert drawn > 400

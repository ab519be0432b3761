"""The hostile-learner suite in a real Chromium (issue 13): learners with crafted names and outcomes, the
teacher page opened with its passphrase, and a learner signing in with a link for a name. No link, image
or math element may come from learner text; the text itself is on screen, literally. Screenshots go to
artifacts/screenshots/."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.test_browser import CHROMIUM, IDLE, SHOTS, serve_app, settle
from tests.test_hostile_learner import CODE, HOSTILE_NAMES, HOSTILE_OUTCOMES, make_hostile_class
from tutor.store.text import clean_display_name

pytestmark = [
    pytest.mark.browser,
    pytest.mark.needs("chromium"),  # fails without it unless TUTOR_TEST_CHROMIUM=skip (conftest.py)
]
FOREIGN = "a[href*='example.invalid'], img[src*='example.invalid'], .katex"
# No icon inside text the page wrote (a shortcode in a name or outcome stays text); the app's own links
# and buttons may carry icons.
ICONS = ",".join(f"[data-testid='{box}'] [data-testid='stIconMaterial']" for box in ("stHtml", "stMarkdownContainer"))


def test_hostile_text_stays_text_in_the_browser(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    db_path = tmp_path / "hostile.sqlite3"
    make_hostile_class(db_path)
    env = dict(os.environ, TUTOR_DB_PATH=str(db_path), TUTOR_WORKSHOP_CODE=CODE,
               TUTOR_TEACHER_PASSPHRASE="open sesame")  # fmt: skip
    SHOTS.mkdir(parents=True, exist_ok=True)
    with serve_app(env, tmp_path / "streamlit.log") as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1300, "height": 1400})
        page.set_default_timeout(30_000)

        # The teacher
        page.goto(f"{url}/teacher")
        settle(page)
        page.get_by_label("Teacher passphrase").fill("open sesame")
        page.get_by_role("button", name="Open the teacher page").click()
        page.get_by_text("Where learners are stuck").wait_for()
        settle(page)
        page.screenshot(path=str(SHOTS / "30-teacher-hostile.png"), full_page=True)
        main = page.locator("[data-testid='stMain']")  # the sidebar's own icons are Streamlit's
        assert main.locator(FOREIGN).count() == 0
        assert main.locator(ICONS).count() == 0
        body = main.inner_text()
        shown = [outcome for outcome in HOSTILE_OUTCOMES if outcome in body]
        assert shown == [], body  # outcomes are in the stuck table's cells only (drawn, never markup): issue 22
        assert "Teacher: your session expired" not in [link.inner_text() for link in main.locator("a").all()]

        # A learner whose name is a link
        learner = browser.new_page(viewport={"width": 1300, "height": 900})
        learner.set_default_timeout(30_000)
        learner.goto(url)
        learner.wait_for_selector(IDLE)
        learner.get_by_label("Your name").fill(HOSTILE_NAMES["link"])
        learner.get_by_label("Workshop code").fill("keras42")
        learner.get_by_role("button", name="Start").click()
        cleaned = clean_display_name(HOSTILE_NAMES["link"])
        learner.get_by_text(f"Welcome, {cleaned}!").wait_for()
        learner.screenshot(path=str(SHOTS / "31-learner-hostile-name.png"))
        assert learner.locator("[data-testid='stMain']").locator(FOREIGN).count() == 0
        assert learner.locator("[data-testid='stSidebar'] a[href*='example.invalid']").count() == 0
        assert learner.get_by_text(f"Signed in as {cleaned}").count() == 1
        browser.close()

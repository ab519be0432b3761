"""A workshop learner in a real browser: the sign-in lives in the URL, so moving between pages and
reloading keeps them signed in; the teacher page opens with its passphrase and fits a 1400 px window, and its
projector view opens in a tab of its own. Screenshots go to artifacts/screenshots/."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.test_browser import CHROMIUM, SHOTS, serve_app, settle

pytestmark = [
    pytest.mark.browser,
    pytest.mark.needs("chromium"),  # fails without it unless TUTOR_TEST_CHROMIUM=skip (conftest.py)
]


@pytest.fixture
def workshop_url(tmp_path: Path):
    env = dict(os.environ, TUTOR_DB_PATH=str(tmp_path / "workshop.sqlite3"), TUTOR_WORKSHOP_CODE="KERAS-42",
               TUTOR_TEACHER_PASSPHRASE="open sesame")  # fmt: skip
    with serve_app(env, tmp_path / "streamlit.log") as url:
        yield url


def test_sign_in_survives_page_changes_and_reloads(workshop_url) -> None:
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        page.set_default_timeout(30_000)

        page.goto(workshop_url)
        settle(page)
        from tests.test_browser_learner import serious_violations

        assert serious_violations(page) == []  # axe-core on the sign-in page (issue 11)
        page.get_by_label("Your name").fill("Ada Lovelace")
        page.get_by_label("Workshop code").fill("not the code")
        page.get_by_role("button", name="Start").click()
        page.get_by_text("That workshop code does not match").wait_for()
        page.screenshot(path=str(SHOTS / "10-sign-in-wrong-code.png"))
        page.get_by_label("Workshop code").fill("keras-42")
        page.get_by_role("button", name="Start").click()
        page.get_by_text("Welcome, Ada Lovelace").wait_for()
        assert "learner=" in page.url

        page.get_by_role("link", name="Keep what build_model() returns").first.click()
        page.wait_for_url(lambda url: "/assign-the-model" in url and "learner=" in url)  # still signed in
        settle(page)
        page.reload()
        settle(page)
        assert page.get_by_text("Signed in as").count() == 1, page.url
        assert page.get_by_role("heading", name="Keep what build_model() returns").count() == 1

        page.set_viewport_size({"width": 1400, "height": 900})
        page.get_by_role("link", name="Teacher").click()
        settle(page)
        page.get_by_label("Teacher passphrase").fill("open sesame")
        page.get_by_role("button", name="Open the teacher page").click()
        page.get_by_text("Where learners are stuck").wait_for()
        settle(page)
        assert page.get_by_text("Ada Lovelace").count() >= 1
        assert overflowing(page) == [], "wider than the 1400 px window"  # issue 22: the grid's columns scroll
        page.screenshot(path=str(SHOTS / "11-teacher.png"))

        # The projector view: its own tab (behind the passphrase again: a new tab is a new session)
        with page.context.expect_page() as opened:
            page.get_by_role("link", name=re.compile("Projector view")).click()
        projector = opened.value
        projector.set_viewport_size({"width": 1400, "height": 900})
        projector.wait_for_load_state()
        assert projector.url.endswith("/projector"), projector.url
        settle(projector)
        projector.get_by_label("Teacher passphrase").fill("open sesame")
        projector.get_by_role("button", name="Open the projector view").click()
        projector.get_by_role("img", name=re.compile("QR code of the join link http")).wait_for()
        settle(projector)
        assert projector.get_by_text("KERAS-42", exact=True).is_visible()
        assert projector.get_by_text("Ada Lovelace").count() == 0  # no names on the wall
        assert overflowing(projector) == []
        projector.screenshot(path=str(SHOTS / "11-projector.png"), full_page=True)
        browser.close()


def overflowing(page) -> list[str]:
    """What sticks out of the window sideways: the page or its main area scrolling wider than the window, or
    a table (the class grid) wider than it instead of scrolling within its own box."""
    return page.evaluate(
        """() => {
        const width = window.innerWidth, out = [];
        const main = document.querySelector('[data-testid=stMain]');
        if (document.documentElement.scrollWidth > width) out.push('page ' + document.documentElement.scrollWidth);
        if (main && main.scrollWidth > width) out.push('main ' + main.scrollWidth);
        for (const el of document.querySelectorAll('[data-testid=stDataFrame], [data-testid=stHtml], img')) {
            const box = el.getBoundingClientRect();
            if (box.width && box.right > width + 1) out.push(el.dataset.testid + ' ' + Math.round(box.right));
        }
        return out;
    }"""
    )

"""A new learner's hour (issue 11) in real Chromium: every browser its own learner without a workshop code,
the keyboard way out of the editor, axe-core on the app's pages, a 2 MB paste that is refused while the
tab stays responsive, and a phone-width page. Few and fast: one server, no training runs.

Screenshots in artifacts/screenshots/ (look at them)."""

from __future__ import annotations

import contextlib
import os
import re
import time

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Error as PlaywrightError

from tests.test_browser import CHROMIUM, EDITOR_FRAME, EDITOR_INPUT, IDLE, ROOT, SHOTS, serve_app, settle

pytestmark = [
    pytest.mark.browser,
    pytest.mark.needs("chromium"),  # fails without it unless TUTOR_TEST_CHROMIUM=skip (conftest.py)
]

SERIOUS = ("serious", "critical")
# Streamlit's own chrome, not the app's content: its sidebar navigation (list markup it owns), the header
# toolbar and the component frames' documents.
NOT_OURS = ("stSidebarNav", "stToolbar", "stHeader", "stDecoration", "stMainMenu")


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    database = tmp_path_factory.mktemp("learner") / "tutor.sqlite3"
    env = {**os.environ, "TUTOR_POOL_SIZE": "0", "TUTOR_DB_PATH": str(database),
           "TUTOR_TEACHER_PASSPHRASE": "open sesame"}  # fmt: skip
    env.pop("TUTOR_WORKSHOP_CODE", None)
    with serve_app(env, ROOT / "artifacts" / "streamlit-learner.log") as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield browser
        browser.close()


def new_page(browser, width: int = 1400):
    context = browser.new_context(viewport={"width": width, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    return page


def learner_token(page) -> str:
    page.wait_for_url(re.compile(r"learner="))
    return re.search(r"learner=([^&]+)", page.url).group(1)


def serious_violations(page) -> list[str]:
    settle(page)  # the last rerun's elements are in place (stale ones are drawn faded until then)
    # A tooltip the last click left under the pointer is measured mid-fade (its text at part opacity): move
    # the pointer off it and let it go (a tooltip fully shown passes; this is about the fade).
    page.mouse.move(0, 0)
    with contextlib.suppress(PlaywrightError):
        page.wait_for_selector(".stTooltipContent", state="detached", timeout=5_000)
    exclude = [[f"[data-testid='{mark}']"] for mark in NOT_OURS]
    results = Axe().run(page, context={"exclude": exclude})
    found = []
    for violation in results.response["violations"]:
        if violation["impact"] not in SERIOUS:
            continue
        for node in violation["nodes"]:
            where = " ".join(str(t) for t in node["target"]) + node.get("html", "")
            if not any(mark in where for mark in NOT_OURS):
                found.append(f"{violation['id']}: {where[:200]}")
    return found


def test_every_browser_is_its_own_learner(browser, app_url) -> None:
    first = new_page(browser)
    first.goto(app_url)
    first.wait_for_selector(IDLE)
    token = learner_token(first)
    assert first.get_by_text(re.compile("Start here: 1. ")).is_visible()  # the overview says where to start
    shot = SHOTS / "11-overview-start-here.png"
    first.screenshot(path=str(shot), full_page=True)
    again = first.context.new_page()  # a new tab, same browser, no token in its address
    again.goto(app_url)
    assert learner_token(again) == token
    other = new_page(browser)  # another browser (its own storage)
    other.goto(app_url)
    assert learner_token(other) != token
    for page in (first, again, other):
        page.context.close()


def test_keyboard_leaves_the_editor_to_run_and_pages_pass_axe(browser, app_url) -> None:
    page = new_page(browser)
    page.goto(f"{app_url}/assign-the-model")
    page.wait_for_selector(IDLE)
    frame = page.frame_locator(EDITOR_FRAME)
    frame.locator(".ace_line").first.wait_for()
    assert page.get_by_text(
        "Keyboard: Tab indents in the editor; Esc then Tab leaves it. Ctrl+Enter (⌘+Enter on a Mac) runs."
    ).is_visible()
    assert page.get_by_role("button", name="Deploy").count() == 0  # .streamlit/config.toml: toolbarMode
    frame.locator(EDITOR_INPUT).focus()
    page.keyboard.press("Tab")  # Tab alone indents: it stays in the editor
    assert page.evaluate("document.activeElement.tagName") == "IFRAME"
    page.keyboard.press("Escape")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.innerText || ''")
    assert focused.strip().endswith("Run"), focused
    page.screenshot(path=str(SHOTS / "12-escape-tab-to-run.png"))
    assert serious_violations(page) == []
    page.goto(app_url)
    page.wait_for_selector(IDLE)
    assert serious_violations(page) == []
    page.goto(f"{app_url}/teacher")
    page.wait_for_selector(IDLE)
    assert serious_violations(page) == []
    page.get_by_label("Teacher passphrase").fill("open sesame")
    page.get_by_role("button", name="Open the teacher page").click()
    page.get_by_text("Where learners are stuck").wait_for()
    page.wait_for_selector(IDLE)
    assert serious_violations(page) == []
    page.screenshot(path=str(SHOTS / "13-teacher.png"), full_page=True)
    page.context.close()


def test_a_2_mb_paste_is_refused_and_the_tab_stays_responsive(browser, app_url) -> None:
    page = new_page(browser)
    page.goto(f"{app_url}/assign-the-model")
    page.wait_for_selector(IDLE)
    frame = page.frame_locator(EDITOR_FRAME)
    frame.locator(".ace_line").first.wait_for()
    lines_before = len(frame.locator(".ace_line").all())
    started = time.monotonic()
    frame.locator(EDITOR_INPUT).evaluate(
        """(area) => { const data = new DataTransfer(); data.setData('text/plain', 'x = 1\\n'.repeat(350000));
                      area.dispatchEvent(new ClipboardEvent('paste', {clipboardData: data, bubbles: true,
                                                                     cancelable: true})); }"""
    )
    frame.get_by_text(re.compile(r"Not pasted: that would make \d+ KB of code; the limit is 200 KB")).wait_for()
    assert page.evaluate("1 + 1") == 2  # the page still answers at once
    assert time.monotonic() - started < 10
    assert len(frame.locator(".ace_line").all()) == lines_before
    page.screenshot(path=str(SHOTS / "14-paste-refused.png"))
    page.context.close()


def test_phone_width_has_no_horizontal_page_scroll(browser, app_url) -> None:
    page = new_page(browser, width=390)
    page.goto(f"{app_url}/assign-the-model")
    page.wait_for_selector(IDLE)
    learner_token(page)  # the browser answered from the (collapsed) sidebar: a learner of its own
    page.frame_locator(EDITOR_FRAME).locator(".ace_line").first.wait_for()
    page.get_by_role("button", name=re.compile("Run$")).click()
    page.get_by_text("This is the starter code, as given.").wait_for(timeout=120_000)
    page.wait_for_selector(IDLE)
    widths = page.evaluate(
        "() => { const main = document.querySelector('[data-testid=stMain]');"
        " return [document.documentElement.scrollWidth, main.scrollWidth, window.innerWidth]; }"
    )
    assert widths[0] <= widths[2] and widths[1] <= widths[2], widths
    page.screenshot(path=str(SHOTS / "15-phone-verdict.png"), full_page=True)
    page.context.close()

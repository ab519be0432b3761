"""The pages as a product (issue 22), in real Chromium: at 1400, 1024, 820 and 390 px wide — the lesson page
before a run, with a failing verdict and its hints and solution open, and with a passing verdict; the teacher
page, its projector view and the studio — nothing is wider than the screen (code, diffs and the class grid
scroll inside their own box) and axe-core finds nothing serious; a
keyboard-only pass reaches the editor (its help said before it), skips to Run, runs, lands on the verdict
and comes back to the editor with the key the help names.

Screenshots in artifacts/screenshots/layout-*.png (look at them)."""

from __future__ import annotations

import contextlib
import os
import re

import pytest
from playwright.sync_api import Error as PlaywrightError

from tests.test_browser import EDITOR_FRAME, EDITOR_INPUT, IDLE, ROOT, SHOTS, serve_app, settle, type_at_line
from tests.test_browser_learner import browser, new_page, serious_violations  # noqa: F401 (fixture)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.needs("chromium"),  # fails without it unless TUTOR_TEST_CHROMIUM=skip (conftest.py)
]

WIDTHS = (1400, 1024, 820, 390)
# Elements of the page that reach past the right edge of the window, unless a box that scrolls sideways
# (a code listing, a diff, a table) holds them and itself fits.
OVERFLOWING = """() => {
  const width = document.documentElement.clientWidth, found = [];
  for (const el of document.querySelectorAll('[data-testid=stMain] *')) {
    const box = el.getBoundingClientRect();
    if (box.width === 0 || box.height === 0 || box.right <= width + 1) continue;
    let up = el.parentElement, held = false;
    for (; up && up !== document.body; up = up.parentElement) {
      if (/(auto|scroll)/.test(getComputedStyle(up).overflowX) && up.getBoundingClientRect().right <= width + 1) {
        held = true; break; }
    }
    if (!held) found.push(`${el.tagName}.${String(el.className).slice(0, 60)} ends at ${Math.round(box.right)}`);
  }
  return found.slice(0, 10);
}"""


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    database = tmp_path_factory.mktemp("layout") / "tutor.sqlite3"
    env = {**os.environ, "TUTOR_POOL_SIZE": "1", "TUTOR_DB_PATH": str(database),
           "TUTOR_TEACHER_PASSPHRASE": "open sesame"}  # fmt: skip
    env.pop("TUTOR_WORKSHOP_CODE", None)
    with serve_app(env, ROOT / "artifacts" / "streamlit-layout.log") as url:
        yield url


def open_lesson(browser, app_url: str, width: int = 1400):  # noqa: F811 (browser: the fixture)
    page = new_page(browser, width)
    page.goto(f"{app_url}/?lesson=assign-the-model")
    page.wait_for_url(re.compile(r"learner="))
    page.wait_for_selector(IDLE)
    page.frame_locator(EDITOR_FRAME).locator(".ace_line").first.wait_for()
    return page


def overflowing(page) -> list[str]:
    """What is off the screen once the layout has followed the width (a container query, Streamlit's columns;
    a table redraws itself after its own resize observer, a moment later)."""
    with contextlib.suppress(PlaywrightError):
        page.wait_for_function(f"({OVERFLOWING})().length === 0", timeout=5_000)
    return page.evaluate(OVERFLOWING)


def check_every_width(page, state: str, widths: tuple[int, ...] = WIDTHS) -> None:
    """At each width: nothing off the screen, axe content, a screenshot of the whole page (a window as tall
    as the page: the page scrolls inside Streamlit's main box, which a full-page screenshot does not see)."""
    # Colours are measured at rest: an element fading in (Streamlit animates new elements) measured mid-fade
    # fails contrast by its opacity, not by its colours.
    page.add_style_tag(content="*, *::before, *::after { animation: none !important; transition: none !important; }")
    for width in widths:
        page.set_viewport_size({"width": width, "height": 1000})
        settle(page)
        found = overflowing(page)
        if found:
            page.screenshot(path=str(SHOTS / f"layout-{state}-{width}-overflowing.png"))
        assert found == [], f"{state} at {width} px"
        assert serious_violations(page) == [], f"{state} at {width} px"
        height = page.evaluate("document.querySelector('[data-testid=stMain]').scrollHeight")
        page.set_viewport_size({"width": width, "height": min(max(height, 1000), 6000)})
        page.wait_for_timeout(300)
        page.screenshot(path=str(SHOTS / f"layout-{state}-{width}.png"))
    page.set_viewport_size({"width": 1400, "height": 1000})
    settle(page)


def panels_side_by_side(page) -> bool:
    """Whether the verdict's column and the hints' column share a row."""
    return page.evaluate(
        """() => { const cols = document.querySelectorAll('.st-key-lesson-panels [data-testid=stColumn]');
                   const [a, b] = [...cols].map(c => c.getBoundingClientRect());
                   return Math.abs(a.top - b.top) < 2 && b.left >= a.right - 1; }"""
    )


def test_the_lesson_page_fits_every_width(browser, app_url) -> None:  # noqa: F811
    page = open_lesson(browser, app_url)
    check_every_width(page, "before")

    # A real attempt that fails, all hints shown: the solution opens beside (or under) the verdict.
    frame = page.frame_locator(EDITOR_FRAME)
    frame.locator(EDITOR_INPUT).focus()
    page.keyboard.press("Control+End")
    page.keyboard.insert_text("\n# my first try\n")
    page.get_by_role("button", name=re.compile("Run$")).click()
    page.get_by_text(re.compile("^(Not yet|This is the starter)")).first.wait_for(timeout=120_000)
    page.screenshot(path=str(SHOTS / "layout-first-try.png"))
    assert page.get_by_text("Not yet.").count() > 0  # a real attempt (the edit reached the run)
    for number in (1, 2, 3):
        page.get_by_role("button", name=re.compile("Show (a|another) hint")).click()
        page.get_by_text(f"Hint {number} of 3.").wait_for()
    page.get_by_text("What the reference solution changes").wait_for()  # open after the last hint
    page.locator(".st-key-lesson-panels [data-testid=stCode]:visible").first.wait_for()  # the diff
    settle(page)
    assert panels_side_by_side(page)  # 1400 px: there is room
    check_every_width(page, "failing")
    page.set_viewport_size({"width": 820, "height": 1000})
    settle(page)
    page.wait_for_timeout(300)
    assert not panels_side_by_side(page)  # 820 px: the verdict and the solution stacked, each full width
    page.set_viewport_size({"width": 1400, "height": 1000})

    # The fix: a passing verdict with its digits.
    type_at_line(page, frame, 23, "model = ")
    page.get_by_role("button", name=re.compile("Run$")).click()
    page.get_by_text("All checks passed").wait_for(timeout=240_000)
    page.get_by_text("said ").nth(15).wait_for()
    check_every_width(page, "passed")
    page.context.close()


def test_keyboard_only_through_a_lesson(browser, app_url) -> None:  # noqa: F811
    page = open_lesson(browser, app_url)
    # The editor's help comes before it and describes its frame (read out on entering it).
    described = page.evaluate(
        f"""() => {{ const frame = document.querySelector("{EDITOR_FRAME}");
                    const help = document.getElementById(frame.getAttribute('aria-describedby') || '-');
                    return [frame.getAttribute('aria-label'), help ? help.textContent : null,
                            help ? Boolean(help.compareDocumentPosition(frame) & Node.DOCUMENT_POSITION_FOLLOWING)
                                 : null]; }}"""
    )
    assert described[0] == "Code editor"
    assert "Esc then Tab leaves it" in described[1] and "press E to come back to the editor" in described[1]
    assert described[2] is True  # the help is before the editor
    inner = page.frame_locator(EDITOR_FRAME).locator(EDITOR_INPUT)
    assert "Esc then Tab leaves it" in inner.evaluate(
        "area => document.getElementById(area.getAttribute('aria-describedby')).textContent"
    )

    # From the top of the page: Tab to the skip link, follow it: the Run button has the focus.
    page.locator("body").focus()
    skip = page.get_by_role("link", name="the Run button")
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == "the Run button":
            break
    assert skip.evaluate("link => link === document.activeElement")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.innerText.trim()").endswith("Run")
    # Back into the editor (the stop before Run; Tab inside it indents: tests/test_browser_learner.py), and out
    # again the way the help named: Esc, then Tab.
    page.keyboard.press("Shift+Tab")
    assert page.evaluate(f"""document.activeElement.matches("{EDITOR_FRAME}")""")
    assert inner.evaluate("area => area === document.activeElement")
    page.keyboard.press("Escape")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.innerText.trim()").endswith("Run")
    page.keyboard.press("Enter")  # runs the starter
    page.get_by_text("This is the starter code, as given.").wait_for(timeout=120_000)
    page.wait_for_function("document.activeElement && document.activeElement.matches('.st-key-verdict')")
    page.screenshot(path=str(SHOTS / "layout-keyboard-verdict.png"))
    page.keyboard.press("e")  # back to the editor, where typing goes on
    page.wait_for_function(f"""document.activeElement && document.activeElement.matches("{EDITOR_FRAME}")""")
    assert inner.evaluate("area => area === document.activeElement")
    # The skip link to the verdict now that there is one.
    page.get_by_role("link", name="your verdict").click()
    page.wait_for_function("document.activeElement && document.activeElement.matches('.st-key-verdict')")
    page.context.close()


def unlock(page, button: str) -> None:
    page.get_by_label("Teacher passphrase").fill("open sesame")
    page.get_by_role("button", name=button).click()


def open_teacher_page(browser, app_url: str, width: int):  # noqa: F811 (browser: the fixture)
    page = new_page(browser, width)
    page.goto(f"{app_url}/teacher")
    page.wait_for_url(re.compile(r"learner="))
    settle(page)
    unlock(page, "Open the teacher page")
    page.get_by_text("Where learners are stuck").wait_for()
    return page


def test_the_teacher_pages_and_the_studio_fit_every_width(browser, app_url) -> None:  # noqa: F811
    # The teacher page opened at each width (its tables take their width when drawn: a window made narrower
    # afterwards leaves them as wide as they were, as any page's tables until redrawn); the class grid has the
    # learners of the tests above when the module runs whole.
    for width in WIDTHS[1:]:
        narrow = open_teacher_page(browser, app_url, width)
        check_every_width(narrow, "teacher", widths=(width,))
        narrow.context.close()
    page = open_teacher_page(browser, app_url, WIDTHS[0])
    check_every_width(page, "teacher", widths=WIDTHS[:1])

    with page.context.expect_page() as opened:  # the projector view: a tab of its own, a session of its own
        page.get_by_role("link", name=re.compile("Projector view")).click()
    projector = opened.value
    projector.wait_for_url(re.compile(r"/projector"))
    settle(projector)
    unlock(projector, "Open the projector view")
    projector.get_by_role("img", name=re.compile("QR code of the join link http")).wait_for()
    check_every_width(projector, "projector")

    page.goto(f"{app_url}/studio")  # a new session: the studio asks for the passphrase again
    page.wait_for_url(re.compile(r"/studio\?learner="))
    settle(page)
    unlock(page, "Open")
    page.get_by_label("New lesson's id").fill("layout-check")
    page.get_by_label("New lesson's id").press("Enter")
    settle(page)
    page.get_by_role("button", name="Open lesson").click()
    page.get_by_text("The lesson file is valid.").wait_for()
    page.get_by_role("tab", name="Lesson (TOML)").wait_for()
    check_every_width(page, "studio")
    page.context.close()

"""End to end in a real browser: Debian's Chromium driven by Playwright against a live `streamlit run`.

Screenshots of each state are saved in artifacts/screenshots/ (look at them)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"  # the one tests/conftest.py checks for
IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"
STALE = "[data-testid='stElementContainer'][data-stale='true']"
EDITOR_FRAME = "iframe[title='ui.editor.tutor_ace']"
EDITOR_INPUT = ".ace_editor:not(.ace_autocomplete) > textarea.ace_text-input"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.needs("chromium"),  # fails without it unless TUTOR_TEST_CHROMIUM=skip (conftest.py)
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def serve_app(env: dict[str, str], log_path: Path):
    """The app as scripts/run.sh starts it (serve.py: `streamlit run app.py`) on a free port until the block
    ends; yields its URL."""
    port = free_port()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = log_path.open("w")  # noqa: SIM115 (closed in finally)
    server = subprocess.Popen(
        [sys.executable, "serve.py", "--server.headless", "true", "--server.address",
         "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        try:
            return urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok"
        except OSError:
            return False

    try:
        up = wait_for(lambda: server.poll() is not None or healthy(), timeout_s=60, interval_s=0.3)
        if not up or server.poll() is not None:
            pytest.fail(f"the app did not start: {log_path.read_text()[-2000:]}")
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:  # a slow stop is not what these tests test: make sure it is gone
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=20)
            print(f"the app took over 20 s to stop after SIGTERM and was killed ({log_path})")
        log.close()


@contextlib.contextmanager
def chromium_page(width: int = 1400, height: int = 1100):
    """A fresh Chromium page (its own browser) for one test; screenshots go to SHOTS."""
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": width, "height": height})
        page.set_default_timeout(30_000)
        yield page
        browser.close()


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    # The app as a teacher runs it: with a warm sandbox; a fresh database (every browser a new learner).
    database = tmp_path_factory.mktemp("browser") / "tutor.sqlite3"
    env = {**os.environ, "TUTOR_POOL_SIZE": "1", "TUTOR_DB_PATH": str(database)}
    with serve_app(env, ROOT / "artifacts" / "streamlit.log") as url:
        yield url


@pytest.fixture
def page(app_url):
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"],
        )  # fmt: skip
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        page.set_default_timeout(30_000)
        yield page
        browser.close()


def settle(page) -> None:
    """Wait until the app's script is idle and no element of an earlier run is still on the page (drawn
    faded until the run that replaces it ends)."""
    page.wait_for_selector(IDLE)
    page.wait_for_selector(STALE, state="detached")


def shot(page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def type_at_line(page, frame, line: int, text: str) -> None:
    """Type ``text`` at the start of ``line`` (1-based) of the editor in ``frame``, as a learner would:
    Ctrl+Home, down to the line, Home, then the text."""
    frame.locator(EDITOR_INPUT).focus()
    page.keyboard.press("Control+Home")
    for _ in range(line - 1):
        page.keyboard.press("ArrowDown")
    page.keyboard.press("Home")
    page.keyboard.insert_text(text)


def editor_lines(page) -> list[str]:
    frame = page.frame_locator(EDITOR_FRAME)
    return frame.locator(".ace_line").all_inner_texts()


def test_overview_lists_every_lesson(page, app_url) -> None:
    page.goto(app_url)
    page.wait_for_selector(IDLE)
    for title in ("Keep what build_model() returns",):
        expect(page.get_by_text(title).first).to_be_visible()
    # (the first draw is followed by the one that signs this browser in: wait for the page, not for a pause)
    assert wait_for(lambda: page.get_by_text("not started").count() >= 4, timeout_s=30, interval_s=0.2)
    assert page.get_by_text("offline MNIST stand-in").is_visible() or page.get_by_text("real MNIST").is_visible()
    shot(page, "01-overview")


def test_learner_fixes_the_name_error(page, app_url) -> None:
    page.goto(f"{app_url}/?lesson=assign-the-model")
    page.wait_for_url(re.compile(r"learner="))  # the draw that signs this browser in (as for Ctrl+Enter below)
    page.wait_for_selector(IDLE)
    page.wait_for_selector(EDITOR_FRAME)
    frame = page.frame_locator(EDITOR_FRAME)
    frame.locator(".ace_line").first.wait_for()
    assert "build_model()" in editor_lines(page)[22]

    # 1. The starter as it is: what happened on line 24, marked in the editor; not the fix.
    page.get_by_role("button", name=re.compile("Run$")).click()
    page.get_by_text("This is the starter code, as given.").wait_for(timeout=90_000)
    # The verdict's parts arrive one after another: What happened follows the headline (never a blank gap).
    expect(page.get_by_text("On line 24, Python looked for the name")).to_be_visible()
    assert page.get_by_text("model = build_model()").count() == 0
    frame.locator(".tutor-error-line").wait_for()
    assert frame.locator(".ace_gutter-cell.ace_error").inner_text().strip() == "24"
    # Focus went to the verdict (a screen reader reads it out), not to the page body.
    page.wait_for_function("document.activeElement && document.activeElement.matches('.st-key-verdict')")
    shot(page, "02-starter-name-error")

    # 2. Type the fix and click Run at once: the keystrokes must not be lost.
    type_at_line(page, frame, 23, "model = ")
    page.get_by_role("button", name=re.compile("Run$")).click()  # at once: the editor flushes its text
    page.get_by_text("Training: epoch").first.wait_for(timeout=180_000)  # a fresh sandbox on 2 busy cores
    page.get_by_text("step ").first.wait_for(timeout=30_000)
    expect(frame.locator(".tutor-error-line")).to_have_count(0)  # the old mark goes once the code changed
    shot(page, "03-training")
    page.get_by_text("All checks passed").wait_for(timeout=180_000)
    expect(page.get_by_text("ran all 5 epochs")).to_be_visible()
    page.get_by_text("said ").nth(15).wait_for()  # the grid of 16 test digits with predictions
    assert frame.locator(".tutor-error-line").count() == 0
    shot(page, "04-passed")

    # 3. Reset puts the starter back.
    page.get_by_role("link", name=re.compile("Next lesson")).wait_for()
    page.get_by_role("button", name=re.compile("Reset$")).click()
    # The rerun that swaps the editor may start after the page first looks idle: wait for its outcome,
    # one editor (the new one replaced the old one) showing the starter again.
    lines: list[str] = []

    def shows_the_starter() -> bool:
        page.wait_for_selector(IDLE)
        if page.locator(EDITOR_FRAME).count() != 1:
            return False
        try:
            lines[:] = editor_lines(page)
        except PlaywrightError:  # the old editor's frame went while it was read: look again
            return False
        return len(lines) > 22 and lines[22].strip() == "build_model()"

    wait_for(shows_the_starter, timeout_s=60, interval_s=0.5)
    expect(page.locator(EDITOR_FRAME)).to_have_count(1)
    assert lines[22].strip() == "build_model()", lines[20:25]
    shot(page, "05-reset")


def test_run_is_answered_in_the_page_before_the_server_hears_of_it(page, app_url) -> None:
    """The editor's script shows "Running your code…" (role=status) the moment Run is pressed, before any
    round trip to the server; it goes once the server's own status or the verdict is drawn."""
    page.goto(f"{app_url}/?lesson=assign-the-model")
    page.wait_for_url(re.compile(r"learner="))
    page.wait_for_selector(IDLE)
    page.frame_locator(EDITOR_FRAME).locator(".ace_line").first.wait_for()
    # A pointerdown alone, dispatched and checked in one task: nothing can have come back from the server.
    shown = page.evaluate(
        """() => {
          const button = document.querySelector('[class*="st-key-run-"] button');
          button.dispatchEvent(new PointerEvent('pointerdown', {bubbles: true}));
          const status = document.getElementById('tutor-pending');
          return status && [status.getAttribute('role'), status.textContent];
        }"""
    )
    assert shown == ["status", "Running your code…"]
    # A real click: the run's verdict comes, and the page's own copy of the status is gone by then.
    page.get_by_role("button", name=re.compile("Run$")).click()
    page.get_by_text("This is the starter code, as given.").wait_for(timeout=90_000)
    expect(page.locator("#tutor-pending")).to_have_count(0)


def test_ctrl_enter_in_the_editor_runs(page, app_url) -> None:
    page.goto(f"{app_url}/assign-the-model")
    # The first draw is followed by the one that signs this browser in (?learner=...), which starts the
    # session's lesson state afresh: a run started between the two would be another session's.
    page.wait_for_url(re.compile(r"learner="))
    page.wait_for_selector(IDLE)
    frame = page.frame_locator(EDITOR_FRAME)
    frame.locator(".ace_line").first.wait_for()
    frame.locator(EDITOR_INPUT).focus()
    page.keyboard.press("Control+End")
    page.keyboard.insert_text("\nprint('edited')")
    page.keyboard.press("Control+Enter")
    page.get_by_text("Not yet.").wait_for(timeout=90_000)
    shot(page, "06-ctrl-enter")
    expect(page.get_by_text("Line 24: NameError").first).to_be_visible()
    assert "print('edited')" in "\n".join(editor_lines(page))

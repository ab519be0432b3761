"""A learner's plot on the lesson page, in real Chromium (issue 19, "Plots"): the fixed lesson program plots its
training loss with matplotlib; the figure comes back from the sandbox and is shown under the verdict, as an
image with alt text and its caption, and again after a reload (the verdict is stored with its figures).

Screenshot in artifacts/screenshots/ (look at it)."""

from __future__ import annotations

import os
import re

import pytest
from playwright.sync_api import expect

from tests.test_browser import EDITOR_FRAME, EDITOR_INPUT, IDLE, ROOT, SHOTS, chromium_page, serve_app, settle

pytestmark = [
    pytest.mark.browser,
    pytest.mark.tf,  # the lesson trains on MNIST
    pytest.mark.needs("chromium"),  # fails without it unless TUTOR_TEST_CHROMIUM=skip (conftest.py)
]


@pytest.fixture
def app_url(tmp_path):
    env = {**os.environ, "TUTOR_POOL_SIZE": "0", "TUTOR_DB_PATH": str(tmp_path / "tutor.sqlite3")}
    env.pop("TUTOR_WORKSHOP_CODE", None)
    with serve_app(env, ROOT / "artifacts" / "streamlit-figures.log") as url:
        yield url


@pytest.fixture
def page():
    with chromium_page() as page:
        yield page


def type_at_line_start(page, row: int, text: str) -> None:
    """Put the cursor at the start of line ``row`` (from 0) of the editor and type ``text`` there."""
    page.frame_locator(EDITOR_FRAME).locator(EDITOR_INPUT).focus()
    page.keyboard.press("Control+Home")
    for _ in range(row):
        page.keyboard.press("ArrowDown")
    page.keyboard.press("Home")
    page.keyboard.insert_text(text)


def test_a_plot_after_training_is_shown_under_the_verdict(page, app_url) -> None:
    page.goto(f"{app_url}/?lesson=assign-the-model")
    page.wait_for_url(re.compile(r"learner="))
    page.wait_for_selector(IDLE)
    page.frame_locator(EDITOR_FRAME).locator(".ace_line").first.wait_for()
    type_at_line_start(page, 22, "model = ")  # build_model()  ->  model = build_model()
    type_at_line_start(page, 23, "history = ")  # model.fit(...)  ->  history = model.fit(...)
    page.keyboard.press("Control+End")
    page.keyboard.press("Enter")  # one line: an Enter after typed words could accept the editor's autocompletion
    page.keyboard.insert_text("import matplotlib.pyplot as plt; plt.plot(history.history['loss']); plt.show()")
    page.get_by_role("button", name=re.compile("Run$")).click()
    try:
        page.get_by_text("All checks passed").wait_for(timeout=300_000)  # a fresh sandbox, MNIST, 2 busy cores
    finally:
        page.screenshot(path=str(SHOTS / "figures-00-after-run.png"), full_page=True)
    settle(page)
    figure = page.get_by_role("img", name=re.compile(r"^Figure 1 your program drew \(shown\), 640 by 480 pixels"))
    expect(figure).to_be_visible()
    expect(page.get_by_text("Figure 1 (640×480)")).to_be_visible()
    assert figure.evaluate("img => img.naturalWidth") == 640  # the PNG itself arrived, not a broken image
    page.screenshot(path=str(SHOTS / "figures-01-plot.png"), full_page=True)

    page.reload()  # the verdict is read back from the database, figures and all
    page.wait_for_selector(IDLE)
    expect(page.get_by_text("Figure 1 (640×480)")).to_be_visible(timeout=30_000)

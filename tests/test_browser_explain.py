"""Explain my error in real Chromium: a learner uploads their own notebook whose cell 1 uses a name that cell 2
creates (cell 2 ran first in their session, so it worked there; Restart & Run All fails). The page marks
the cell, says it is the notebook's order, and running the fix shows the NameError gone. axe-core checks
the page. No TensorFlow: the notebook is plain Python. Screenshots in artifacts/screenshots/."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import nbformat
import pytest

from tests.test_browser import CHROMIUM, IDLE, ROOT, SHOTS, serve_app, settle
from tests.test_browser_learner import learner_token, serious_violations

pytestmark = [
    pytest.mark.browser,
    pytest.mark.needs("chromium"),  # fails without it unless TUTOR_TEST_CHROMIUM=skip (conftest.py)
]


def out_of_order_notebook(path: Path) -> Path:
    """Cell 1 reads `total`, which cell 2 makes; cell 2 ran first (In [1]), then cell 1 (In [2])."""
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_markdown_cell("# My own notebook"),
        nbformat.v4.new_code_cell(
            "doubled = total * 2\nprint(doubled)", execution_count=2,
            outputs=[nbformat.v4.new_output("stream", name="stdout", text="84\n")],
        ),
        nbformat.v4.new_code_cell("total = 42", execution_count=1),
    ]  # fmt: skip
    path.write_text(nbformat.writes(notebook), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    folder = tmp_path_factory.mktemp("explain")
    env = {**os.environ, "TUTOR_POOL_SIZE": "0", "TUTOR_DB_PATH": str(folder / "tutor.sqlite3")}
    env.pop("TUTOR_WORKSHOP_CODE", None)
    with serve_app(env, ROOT / "artifacts" / "streamlit-explain.log") as url:
        yield url, folder / "tutor.sqlite3"


def test_an_uploaded_notebook_run_out_of_order_is_explained_and_its_fix_runs(app_url, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    url, database = app_url
    SHOTS.mkdir(parents=True, exist_ok=True)
    notebook = out_of_order_notebook(tmp_path / "my notebook.ipynb")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1300, "height": 1000})
        page.set_default_timeout(60_000)
        page.goto(f"{url}/explain")
        learner_token(page)  # the draw that signs this browser in comes first
        page.wait_for_selector(IDLE)
        page.get_by_role("heading", name="Explain my error").wait_for()
        assert serious_violations(page) == []

        page.locator("input[type='file']").set_input_files(str(notebook))
        page.get_by_text("my notebook.ipynb").first.wait_for()  # the uploader lists it
        page.get_by_role("button", name="Explain").click()
        headline = page.locator(".tutor-error").first
        headline.wait_for()
        settle(page)
        text = headline.inner_text()
        assert "NameError: total in cell 2 (In [2]), line 1" in text, text
        assert "notebook cells run out of order or not run" in text
        assert page.get_by_text("— NameError in this cell").count() == 1  # the failing cell, marked
        assert page.get_by_text("◀ NameError here").count() == 1  # and its line
        marked = page.get_by_role("region", name="Cell 2 · In [2]: the cell that failed")
        assert "doubled = total * 2" in marked.inner_text()
        assert page.get_by_text("Cell 3 · In [1]:").count() == 1
        body = page.locator("[data-testid='stMain']").inner_text()
        assert "cell 3" in body.lower()  # the diagnosis names the cell that makes `total`
        page.screenshot(path=str(SHOTS / "40-explain-notebook.png"), full_page=True)
        assert serious_violations(page) == []

        page.get_by_role("button", name="Run the fix").click()
        page.get_by_text("No NameError now: it ran to the end.").wait_for(timeout=120_000)
        settle(page)
        page.screenshot(path=str(SHOTS / "41-explain-fix-ran.png"), full_page=True)
        found = serious_violations(page)
        assert found == [], "\n".join(found)
        browser.close()
    with sqlite3.connect(database) as raw:  # one count for the teacher: the cause and the kind, no code
        assert raw.execute("SELECT cause, kind FROM explanations").fetchall() == [("notebook-order", "notebook")]

"""End to end in a real browser (issue 20): a teacher writes a notebook lesson in the studio — new, kind
notebook, the starter and solution as cells (an editor per code cell, a text area per markdown cell, buttons
to add, move and delete them, by keyboard too), edits cells, proves it (real sandboxes and a real kernel
replaying the session) and publishes it; then takes the starter out as .ipynb and brings notebooks in (a
broken one is refused in words). axe-core finds nothing serious. Screenshots in
artifacts/screenshots/studio-notebook-*.png (look at them)."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.test_browser import EDITOR_FRAME, EDITOR_INPUT, IDLE, ROOT, SHOTS, chromium_page, serve_app, settle
from tests.test_browser_learner import serious_violations

pytestmark = [
    pytest.mark.browser,
    pytest.mark.tf,  # the proofs train on MNIST and run a real kernel
    pytest.mark.needs("chromium"),  # fails without it unless TUTOR_TEST_CHROMIUM=skip (conftest.py)
]
LESSON = "keep-it-in-cells"
STARTER = "Starter code (what learners get)"
PROOFS_MS = 540_000  # the solution, the starter's session on a kernel and its Restart & Run All, a variant, a claim


@pytest.fixture
def server(tmp_path: Path):
    lessons, solutions = tmp_path / "lessons", tmp_path / "solutions"
    shutil.copytree(ROOT / "lessons", lessons)
    shutil.copytree(ROOT / "solutions", solutions)
    env = {**os.environ, "TUTOR_POOL_SIZE": "0", "TUTOR_TEACHER_PASSPHRASE": "open sesame",
           "TUTOR_LESSONS_DIR": str(lessons), "TUTOR_SOLUTIONS_DIR": str(solutions),
           "TUTOR_DB_PATH": str(tmp_path / "db.sqlite3"),
           "TUTOR_PROOFS_PATH": str(tmp_path / "proofs.json")}  # fmt: skip
    with serve_app(env, ROOT / "artifacts" / "streamlit-studio-notebook.log") as url:
        yield url, lessons, solutions


@pytest.fixture
def page():
    with chromium_page(1500, 1100) as page:
        yield page


def shot(page, name: str) -> None:
    settle(page)
    page.screenshot(path=str(SHOTS / f"studio-notebook-{name}.png"), full_page=True)


def type_over_line(page, frame, row: int, text: str) -> None:
    """Select line ``row`` (from 0) of an Ace editor, type ``text`` over it, and let the editor send it."""
    frame.locator(".ace_line").first.wait_for()
    frame.locator(EDITOR_INPUT).focus()
    page.keyboard.press("Control+Home")
    for _ in range(row):
        page.keyboard.press("ArrowDown")
    page.keyboard.press("Home")
    page.keyboard.press("Shift+End")
    page.keyboard.insert_text(text)
    page.wait_for_timeout(800)  # the editor sends its text ~200 ms after typing stops
    settle(page)


def test_a_teacher_writes_a_notebook_lesson_in_cells_and_it_proves_itself(server, page, tmp_path: Path) -> None:
    url, lessons, solutions = server
    page.goto(f"{url}/studio")
    page.wait_for_selector(IDLE)
    page.get_by_label("Teacher passphrase").fill("open sesame")
    page.get_by_role("button", name="Open", exact=True).click()

    # 1. New, kind notebook: the notebook skeleton, as cells (the TOML's editor, then 3 code cells each), a tab
    # each for the TOML, the starter and the solution (all three drawn; the one picked shown, at full width).
    page.get_by_label("New lesson's id").fill(LESSON)
    page.get_by_label("New lesson's id").press("Enter")
    page.wait_for_selector(IDLE)
    page.get_by_text("Notebook (# %% cells)").click()
    page.wait_for_selector(IDLE)
    page.get_by_role("button", name="Open lesson").click()
    expect(page.locator(EDITOR_FRAME)).to_have_count(7)
    page.get_by_text("The lesson file is valid.").wait_for()
    page.get_by_role("tab", name="Starter").click()
    markdown = page.get_by_role("textbox", name=f"Markdown cell at position 1 of the {STARTER}")
    expect(markdown).to_have_value(re.compile(r"^# TODO: the notebook's title"))
    expect(page.get_by_role("button", name="Move up").first).to_be_disabled()
    shot(page, "01-cells")
    assert serious_violations(page) == []

    # 2. The teacher edits cells: the markdown (a title), and the Train cell of the starter and of the solution.
    markdown.fill("# Keep the model, in cells\n\nRun the cells from the top: the last one stops with a NameError.")
    markdown.press("Tab")  # a text area sends its text when it loses focus
    settle(page)
    for tab, frame in (("Starter", 3), ("Solution", 6)):  # the TOML's editor, the starter's cells 1-3, the solution's
        page.get_by_role("tab", name=tab).click()
        type_over_line(page, page.frame_locator(EDITOR_FRAME).nth(frame), 0,
                       "model.fit(x_train, y_train, epochs=1, batch_size=128)")  # fmt: skip
    page.get_by_text("batch_size=128").first.wait_for()  # the preview shows the starter's cells

    # By keyboard: a code cell added below the first cell, then deleted.
    page.get_by_role("tab", name="Starter").click()
    page.get_by_role("button", name="Add code cell").first.focus()
    page.keyboard.press("Enter")
    expect(page.locator(EDITOR_FRAME)).to_have_count(8)
    settle(page)
    shot(page, "02-cell-added")
    page.get_by_role("button", name="Delete").nth(1).focus()  # the new cell's (the second of the starter)
    page.keyboard.press("Enter")
    expect(page.locator(EDITOR_FRAME)).to_have_count(7)
    page.get_by_text("The lesson file is valid.").wait_for()

    # 3. Prove: real sandboxes, a real kernel replays the session; then Publish.
    page.get_by_role("button", name="Prove").click()
    page.get_by_text("Proving:").first.wait_for(timeout=60_000)
    shot(page, "03-proving")
    page.get_by_text("proofs passed: this version can be published").wait_for(timeout=PROOFS_MS)
    shot(page, "04-proved")
    assert serious_violations(page) == []
    page.get_by_role("button", name="Publish").click()
    page.get_by_text(f"Published '{LESSON}'").wait_for()
    published = (lessons / f"{LESSON}.py").read_text()
    assert published.startswith("# %% [markdown]\n# # Keep the model, in cells\n#\n# Run the cells")
    assert "# %% Train\nmodel.fit(x_train, y_train, epochs=1, batch_size=128)\n" in published
    assert "batch_size=128" in (solutions / f"{LESSON}.py").read_text()
    assert 'kind = "notebook"' in (lessons / f"{LESSON}.toml").read_text()

    # 4. The starter out as .ipynb: the same cells.
    with page.expect_download() as download:
        page.get_by_role("button", name="Download starter .ipynb").click()
    notebook = json.loads(Path(download.value.path()).read_text())
    assert [cell["cell_type"] for cell in notebook["cells"]] == ["markdown", "code", "code", "code"]
    assert "batch_size=128" in "".join(notebook["cells"][3]["source"])

    # 5. A broken notebook is refused in words; the downloaded one comes in as the solution.
    chooser = page.locator(".st-key-studio-ipynb input[type=file]")
    broken = tmp_path / "broken.ipynb"
    broken.write_text("{not json")
    chooser.set_input_files(str(broken))
    settle(page)
    page.get_by_role("button", name="Import this notebook").click()
    page.get_by_text(re.compile(r"Not imported: broken\.ipynb is not JSON")).wait_for()
    shot(page, "05-broken-ipynb")
    good = tmp_path / "starter.ipynb"
    good.write_text(json.dumps(notebook))
    page.locator(".st-key-studio-ipynb input[type=file]").set_input_files(str(good))
    settle(page)
    page.get_by_role("radiogroup", name="Import it as").get_by_text("the solution", exact=True).click()
    settle(page)
    page.get_by_role("button", name="Import this notebook").click()
    page.get_by_text("Imported starter.ipynb into the solution: 4 cells, 3 of them code").wait_for()
    shot(page, "06-ipynb-imported")
    assert serious_violations(page) == []

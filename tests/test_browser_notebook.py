"""A notebook lesson on a real kernel, in real Chromium (issue 20): `notebook-cell-order`. The fit cell run
first stops with a NameError said in cell words; the model cell then the fit cell trains (In [n] tells the
order); Grade (Restart & Run All with the lesson's checks) fails and says the session ran the cells in
another order; the model cell moved up, Restart & run all runs every cell, and Grade passes. Restart clears
In [n]. Hostile cells: a cell that never ends is stopped (Stop) and the kernel lives on; a cell added below
that ends its kernel's process is said ("Your kernel died"), its cells keep In [n] until Restart, and the
fresh kernel's first run is In [1]. A kernel idle past TUTOR_KERNEL_IDLE_S is shut down: the next draw says
so (nothing polls an idle page) and the next run starts a fresh kernel. axe-core finds nothing serious.

Screenshots in artifacts/screenshots/notebook-*.png (look at them)."""

from __future__ import annotations

import os
import re

import pytest
from playwright.sync_api import expect

from tests.test_browser import EDITOR_FRAME, EDITOR_INPUT, IDLE, ROOT, SHOTS, chromium_page, serve_app, settle
from tests.test_browser_learner import serious_violations

pytestmark = [
    pytest.mark.browser,
    pytest.mark.tf,  # the cells import TensorFlow and train on MNIST
    pytest.mark.needs("chromium"),  # fails without it unless TUTOR_TEST_CHROMIUM=skip (conftest.py)
]

LESSON = "notebook-cell-order"
TRAIN_S = 240_000  # a cell or a graded run that trains 3 epochs (ms)


@pytest.fixture
def app_url(tmp_path):
    env = {**os.environ, "TUTOR_POOL_SIZE": "1", "TUTOR_DB_PATH": str(tmp_path / "tutor.sqlite3")}
    env.pop("TUTOR_WORKSHOP_CODE", None)
    with serve_app(env, ROOT / "artifacts" / "streamlit-notebook.log") as url:
        yield url


@pytest.fixture
def page():
    with chromium_page() as page:
        yield page


def shot(page, name: str, show=None) -> None:
    """A screenshot of the viewport (Streamlit scrolls inside its main area), ``show`` scrolled into view."""
    settle(page)
    if show is not None:
        show.scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / f"notebook-{name}.png"), full_page=True)


def header(page, title: str):
    """The line above a cell: "In [n]: Cell k · title"."""
    return page.locator("p", has_text=re.compile(rf"Cell \d+ · {re.escape(title)}$"))


def run(page, number: int) -> None:
    page.get_by_role("button", name=re.compile(rf"Run cell {number}$")).click()


def press_in_cell(page, position: int, keys: str) -> None:
    """Keys in the editor of the code cell at ``position`` on the page (from 0)."""
    page.frame_locator(EDITOR_FRAME).nth(position).locator(EDITOR_INPUT).focus()
    page.keyboard.press(keys)


def wait_prompt(page, title: str, pattern: str, timeout: int = TRAIN_S) -> None:
    expect(header(page, title)).to_have_text(re.compile(pattern), timeout=timeout)
    settle(page)


def test_cell_order_from_name_error_to_a_passing_grade(page, app_url) -> None:
    page.goto(f"{app_url}/?lesson={LESSON}")
    page.wait_for_url(re.compile(r"learner="))
    page.wait_for_selector(IDLE)
    expect(page.get_by_role("heading", name="Train a digit classifier")).to_be_visible(timeout=30_000)
    for title in ("Imports and data", "Train", "Build the model"):
        expect(header(page, title)).to_have_text(re.compile(r"^In \[ \]:"))
    assert serious_violations(page) == []

    # The data cell, then the fit cell: NameError, explained in cell words.
    press_in_cell(page, 0, "Control+Enter")  # Ctrl+Enter in a cell runs it
    wait_prompt(page, "Imports and data", r"^In \[1\]:", timeout=120_000)
    run(page, 2)
    wait_prompt(page, "Train", r"^In \[2\]:")
    expect(page.get_by_text("NameError: name 'model' is not defined (cell 2, line 1)")).to_be_visible()
    why = page.locator(".tutor-info", has_text="Why:")
    expect(why).to_contain_text("Cell 2 uses model")
    expect(why).to_contain_text("cell 3, below it")
    shot(page, "1-name-error", why)
    assert serious_violations(page) == []

    # The model cell, then the fit cell: it trains, and In [n] tells the order.
    press_in_cell(page, 2, "Shift+Enter")  # and Shift+Enter, as in Jupyter
    wait_prompt(page, "Build the model", r"^In \[3\]:", timeout=60_000)
    run(page, 2)
    wait_prompt(page, "Train", r"^In \[4\]:")
    expect(page.get_by_text(re.compile(r"Epoch 3/3"))).to_be_visible()
    expect(page.locator(".tutor-error")).to_have_count(0)
    shot(page, "2-trained-out-of-order", header(page, "Build the model"))

    # Grade: Restart & Run All stops at cell 2, and says why it worked in the session.
    page.get_by_role("button", name=re.compile("Grade")).click()
    verdict = page.locator(".st-key-verdict")
    expect(verdict).to_contain_text("It stopped in cell 2, line 1.", timeout=TRAIN_S)
    expect(verdict).to_contain_text("Why it worked in your session")
    expect(verdict).to_contain_text("In your session cell 2 ran fine (In [4]) because cell 3 (In [3])")
    shot(page, "3-graded-fails", verdict)

    # Move the model cell above the fit cell; Restart & run all runs every cell, in order.
    page.get_by_role("button", name=re.compile(r"Move cell 3 up$")).click()
    settle(page)
    expect(header(page, "Build the model")).to_contain_text("Cell 2 · Build the model")
    page.get_by_role("button", name=re.compile(r"Restart & run all")).click()
    wait_prompt(page, "Train", r"^In \[3\]:")
    expect(header(page, "Imports and data")).to_have_text(re.compile(r"^In \[1\]:"))
    expect(header(page, "Build the model")).to_have_text(re.compile(r"^In \[2\]:"))
    shot(page, "4-restart-run-all", header(page, "Train"))

    # Grade again: it passes.
    page.get_by_role("button", name=re.compile("Grade")).click()
    expect(verdict).to_contain_text("All checks passed.", timeout=TRAIN_S)
    shot(page, "5-graded-passes", verdict)
    assert serious_violations(page) == []

    # Restart: every In [n] is blank again; the outputs stay, marked as an earlier kernel's.
    settle(page)
    page.locator(f".st-key-restart-{LESSON} button").first.click()
    settle(page)
    for title in ("Imports and data", "Build the model", "Train"):
        expect(header(page, title)).to_have_text(re.compile(r"^In \[ \]:"))
    expect(page.get_by_text("Output from an earlier kernel").first).to_be_visible()
    shot(page, "6-restarted", header(page, "Build the model"))


def type_in_cell(page, position: int, text: str) -> None:
    """Replace the text of the code cell at ``position`` on the page (from 0) with ``text``."""
    page.frame_locator(EDITOR_FRAME).nth(position).locator(EDITOR_INPUT).focus()
    page.keyboard.press("Control+a")
    page.keyboard.insert_text(text)


def numbered(page, number: int):
    """The line above the code cell numbered ``number``, title or not: "In [n]: Cell k[ · title]"."""
    return page.locator("p", has_text=re.compile(rf"^In \[.*\]: Cell {number}( · .*)?$"))


def open_notebook(page, url: str) -> None:
    page.goto(f"{url}/?lesson={LESSON}")
    page.wait_for_url(re.compile(r"learner="), timeout=120_000)  # a loaded machine: the first draw is slow
    page.wait_for_selector(IDLE, timeout=60_000)
    expect(page.get_by_role("heading", name="Train a digit classifier")).to_be_visible(timeout=120_000)
    expect(page.locator(EDITOR_FRAME)).to_have_count(3, timeout=60_000)


def test_a_cell_that_never_ends_is_stopped_and_one_that_kills_its_kernel_is_said(page, app_url) -> None:
    open_notebook(page, app_url)
    type_in_cell(page, 0, "x = 41")
    page.keyboard.press("Control+Enter")
    wait_prompt(page, "Imports and data", r"^In \[1\]:", timeout=180_000)

    # A cell that never ends: Stop interrupts it, and the kernel (with x) lives on.
    type_in_cell(page, 1, "while True:\n    pass")
    page.keyboard.press("Control+Enter")  # the text and the run in one message from the editor
    expect(header(page, "Train")).to_have_text(re.compile(r"^In \[\*\]:"), timeout=60_000)
    expect(page.get_by_text(re.compile(r"Kernel: busy, running cell 2"))).to_be_visible(timeout=60_000)
    page.get_by_role("button", name=re.compile(r"Stop$")).click(timeout=60_000)
    expect(page.get_by_text("You stopped the cell.")).to_be_visible(timeout=90_000)
    wait_prompt(page, "Train", r"^In \[2\]:", timeout=60_000)
    type_in_cell(page, 2, "print(x + 1)")
    page.keyboard.press("Shift+Enter")
    wait_prompt(page, "Build the model", r"^In \[3\]:", timeout=90_000)
    expect(page.locator("[data-testid='stCode']", has_text=re.compile(r"^\s*42\s*$"))).to_have_count(1)
    expect(page.get_by_text("You stopped the cell.")).to_be_visible()
    shot(page, "7-stopped-kernel-lives", header(page, "Train"))
    assert serious_violations(page) == []

    # A cell added below, that ends its kernel's process: the kernel died, said; In [n] stay until Restart.
    page.get_by_role("button", name=re.compile(r"Add cell below cell 3$")).click()
    expect(page.locator(EDITOR_FRAME)).to_have_count(4, timeout=60_000)
    settle(page)
    expect(numbered(page, 4)).to_have_text(re.compile(r"^In \[ \]: Cell 4$"))
    type_in_cell(page, 3, "import os\nos._exit(1)")
    page.keyboard.press("Control+Enter")
    status = page.locator(".st-key-kernel-status")
    expect(status).to_contain_text("Your kernel died — restart it.", timeout=90_000)
    settle(page)
    for title, count in (("Imports and data", 1), ("Train", 2), ("Build the model", 3)):
        expect(header(page, title)).to_have_text(re.compile(rf"^In \[{count}\]:"))
    shot(page, "8-kernel-died", status)
    assert serious_violations(page) == []

    # Restart: a fresh kernel, whose first run is In [1]; the added cell deleted again.
    page.get_by_role("button", name=re.compile(r"Restart kernel$")).click()
    settle(page)
    expect(header(page, "Imports and data")).to_have_text(re.compile(r"^In \[ \]:"), timeout=60_000)
    expect(status).not_to_contain_text("died")
    run(page, 1)
    wait_prompt(page, "Imports and data", r"^In \[1\]:", timeout=180_000)
    run(page, 3)
    wait_prompt(page, "Build the model", r"^In \[2\]:", timeout=90_000)
    expect(page.locator("[data-testid='stCode']", has_text=re.compile(r"^\s*42\s*$"))).to_have_count(1)
    page.get_by_role("button", name=re.compile(r"Delete cell 4$")).click()
    expect(page.locator(EDITOR_FRAME)).to_have_count(3, timeout=60_000)
    settle(page)
    expect(page.get_by_role("button", name=re.compile(r"Undo delete$"))).to_be_visible()
    shot(page, "9-restarted-fresh-kernel", header(page, "Imports and data"))
    assert serious_violations(page) == []


@pytest.fixture
def idle_app_url(tmp_path):
    env = {
        **os.environ, "TUTOR_POOL_SIZE": "1", "TUTOR_DB_PATH": str(tmp_path / "tutor.sqlite3"),
        "TUTOR_KERNEL_IDLE_S": "5",
    }  # fmt: skip
    env.pop("TUTOR_WORKSHOP_CODE", None)
    with serve_app(env, ROOT / "artifacts" / "streamlit-notebook-idle.log") as url:
        yield url


def test_an_idle_kernel_is_shut_down_and_the_learner_told(page, idle_app_url) -> None:
    open_notebook(page, idle_app_url)
    status = page.locator(".st-key-kernel-status")
    expect(status).to_contain_text("Kernels shut down after 5 s without a run")
    type_in_cell(page, 0, "x = 41")
    page.keyboard.press("Control+Enter")
    wait_prompt(page, "Imports and data", r"^In \[1\]:", timeout=180_000)
    expect(status).to_contain_text("Kernel: idle.")
    page.wait_for_timeout(15_000)  # the hub shuts it down after 5 s (it looks every 2.5 s)

    # Nothing polls an idle page: the next draw (here: a cell added) says the kernel was shut down.
    page.get_by_role("button", name=re.compile(r"Add cell below cell 3$")).click()
    expect(page.locator(EDITOR_FRAME)).to_have_count(4, timeout=60_000)
    settle(page)
    expect(status).to_contain_text("Kernel: shut down.")
    expect(status).to_contain_text("shut down after 5 s without a run")
    expect(header(page, "Imports and data")).to_have_text(re.compile(r"^In \[ \]:"))
    shot(page, "10-idle-shut-down", status)
    assert serious_violations(page) == []

    # Running a cell starts a fresh kernel: In [1] again, and the page says why the variables are gone.
    type_in_cell(page, 3, "print('fresh', 'x' in dir())")
    page.keyboard.press("Control+Enter")
    expect(numbered(page, 4)).to_have_text(re.compile(r"^In \[1\]: Cell 4$"), timeout=180_000)
    settle(page)
    expect(page.locator("[data-testid='stCode']", has_text="fresh False")).to_have_count(1)
    expect(status).to_contain_text("This run starts a fresh kernel.")
    shot(page, "11-fresh-kernel-after-idle", status)
    assert serious_violations(page) == []

"""A learner who tries to write on the teacher's screen or into the teacher's spreadsheet (issue 13).

Runs are recorded with crafted names, outcomes, error names and code (links, images, HTML, backticks,
shortcodes, math, formulas, bidi overrides, look-alike letters), through the real sign-in and the real
sandbox where that is the path, and straight into the database where an older version could have
stored them. Then the teacher page is rendered (AppTest here; a real Chromium in
tests/test_browser_hostile.py) and the CSVs are read back: learner text only ever appears as text.
"""

from __future__ import annotations

import csv
import html
import io
import re
from pathlib import Path

import pytest
from sqlalchemy import update
from streamlit.testing.v1 import AppTest

from tests.test_app import texts
from tutor.grading.grade import grade_source
from tutor.lessons.lesson import load_lessons
from tutor.runs.contract import RunStatus
from tutor.runs.pipeline import run_columns
from tutor.store.class_report import export_grid_csv, export_runs_csv
from tutor.store.db import IdentitySource, Run, open_database
from tutor.store.progress import list_learners, record_finished, record_started, record_submitted, sign_in_learner
from tutor.store.text import FORMULA_STARTS, clean_display_name, restore_cell

ROOT = Path(__file__).resolve().parent.parent
CODE = "KERAS 42"
LESSON = "assign-the-model"
PHISH = "https://example.invalid/login"
HOSTILE_NAMES = {
    "link": f"[Teacher: your session expired, sign in again]({PHISH})",
    "image": "![pixel](https://example.invalid/pixel.png)",
    "html": "<img src=https://example.invalid/x.png onerror=alert(1)><b>bold</b>",
    "backticks": f"x` [Teacher, sign in]({PHISH}) `y",
    "shortcodes": ":material/home: :smile: :red[red] $x^2$",
    "bare-url": "see https://example.invalid and www.example.invalid",
    "formula": '=HYPERLINK("https://example.invalid","grade")',
    "plus-formula": "+1+cmd|' /C calc'!A0",
    "bidi": "Ann\u202eevil\u202c Smith",
    "zero-width": "Bob\u200b\u200bby",
    "lookalike-latin": "Anna",
    "lookalike-cyrillic": "\u0410nna",  # Cyrillic capital A
}
HOSTILE_OUTCOMES = [
    f"NameError: x` [Teacher: your session expired, sign in again]({PHISH}) `y",
    "<script>alert(1)</script>",
    ":material/warning: $\\pi$ ![x](https://example.invalid/x.png)",
    "=1+1",
]


def make_hostile_class(db_path: Path) -> dict[str, str]:
    """Learners with hostile names, each with a run; returns {learner id: name as typed}."""
    db = open_database(f"sqlite:///{db_path}")
    typed: dict[str, str] = {}
    for index, name in enumerate(HOSTILE_NAMES.values()):
        learner = sign_in_learner(db, IdentitySource.WORKSHOP, name, f"key-{index}", CODE)
        typed[learner.id] = name
        code = f"=cmd|' /C calc'!A0\n# {name}\n"
        run_id = record_submitted(db, learner.id, LESSON, code, "server", index, 1000.0 + index)
        record_started(db, run_id, 1001.0 + index)
        record_finished(db, run_id, run_columns(RunStatus.FAILED, None, "x"), 1002.0 + index)
        outcome = HOSTILE_OUTCOMES[index % len(HOSTILE_OUTCOMES)]
        with db.sessions.begin() as session:  # as an older version, without validation, could have stored
            session.execute(
                update(Run)
                .where(Run.id == run_id)
                .values(status=RunStatus.DONE.value, outcome=outcome, error_type="NameError", error_name=outcome)
            )
    return typed


@pytest.fixture
def hostile_db(tmp_path: Path, monkeypatch) -> tuple[Path, dict[str, str]]:
    db_path = tmp_path / "hostile.sqlite3"
    monkeypatch.setenv("TUTOR_DB_PATH", str(db_path))
    monkeypatch.setenv("TUTOR_WORKSHOP_CODE", CODE)
    monkeypatch.setenv("TUTOR_TEACHER_PASSPHRASE", "open sesame")
    return db_path, make_hostile_class(db_path)


def html_text(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", fragment))


def html_tags(fragment: str) -> set[str]:
    return {tag.lower() for tag in re.findall(r"<\s*([a-zA-Z]+)", fragment)}


# --- names ---------------------------------------------------------------------------------------


def test_names_are_stored_clean_and_look_alikes_are_told_apart(hostile_db) -> None:
    db_path, typed = hostile_db
    learners = {learner.id: learner for learner in list_learners(open_database(f"sqlite:///{db_path}"))}
    for learner_id, name in typed.items():
        shown = learners[learner_id].display_name
        assert shown == clean_display_name(name)
        assert not any(ch in shown for ch in "\u202e\u202c\u200b")
    grid_csv = list(csv.reader(io.StringIO(export_grid_csv(open_database(f"sqlite:///{db_path}"), [LESSON]))))
    labels = [restore_cell(row[0]) for row in grid_csv[1:]]
    anna = [label for label in labels if label.endswith("nna") or "nna #" in label]
    assert len(anna) == 2 and all(re.search(r" #[0-9a-f]{4}$", label) for label in anna)
    assert len(set(anna)) == 2


# --- spreadsheets ----------------------------------------------------------------------------------


@pytest.mark.parametrize("export", ["grid", "runs"])
def test_csv_exports_hold_no_formula_and_round_trip(hostile_db, export: str) -> None:
    db_path, typed = hostile_db
    db = open_database(f"sqlite:///{db_path}")
    text = export_grid_csv(db, [LESSON]) if export == "grid" else export_runs_csv(db)
    rows = list(csv.reader(io.StringIO(text)))
    for row in rows:
        for cell in row:
            assert not cell.startswith(FORMULA_STARTS[:-1]), cell  # = + - @ tab CR: never a formula
    names = {restore_cell(row[1 if export == "runs" else 0]) for row in rows[1:]}
    cleaned = {clean_display_name(name) for name in typed.values()}
    assert {name.split(" #")[0] for name in names} == cleaned  # the same data comes back
    if export == "runs":
        codes = {restore_cell(row[-1]) for row in rows[1:]}
        assert all(code.startswith("=cmd|") for code in codes)
        outcomes = {restore_cell(row[5]) for row in rows[1:]}
        assert outcomes == set(HOSTILE_OUTCOMES)


# --- the teacher page --------------------------------------------------------------------------------


def open_teacher_page() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30).run()
    at.switch_page("app_pages/teacher.py").run()
    at.text_input(key="teacher-passphrase").input("open sesame")
    at.button[0].click().run()
    assert not at.exception
    return at


def test_the_teacher_page_shows_learner_text_only_as_text(hostile_db) -> None:
    _, typed = hostile_db
    at = open_teacher_page()
    assert "Where learners are stuck" in [h.value for h in at.subheader]
    markdown = "\n".join(str(e.value) for e in (*at.markdown, *at.caption, *at.error, *at.info, *at.warning))
    for needle in ("example.invalid", "HYPERLINK", "alert(1)", "evil", "cmd|"):
        assert needle not in markdown, needle  # nothing of theirs went through Markdown
    fragments = [e.value for e in at.html if not e.value.startswith("<style>")]  # (plain.style: our CSS)
    for fragment in fragments:
        assert html_tags(fragment) <= {"p", "div", "ul", "li", "strong", "code", "span"}, fragment
    shown = "\n".join(html_text(fragment) for fragment in fragments)
    shown_outcomes = [outcome for outcome in HOSTILE_OUTCOMES if outcome in shown]
    assert shown_outcomes == [], shown  # outcomes are in the stuck table's cells only (issue 22: no list beside it)
    stuck = at.dataframe[1].value
    assert set(stuck["outcome"]) == set(HOSTILE_OUTCOMES)
    grid = at.dataframe[0].value
    assert {label.split(" #")[0] for label in grid.index} == {clean_display_name(n) for n in typed.values()}


def test_a_crafted_name_error_reaches_the_teacher_as_a_plain_name_error(tmp_path: Path, monkeypatch) -> None:
    """Through the real sandbox: the crafted name is not an identifier, so it is unknown, and the outcome
    the teacher reads is just "NameError"."""
    db = open_database(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    learner = sign_in_learner(db, IdentitySource.WORKSHOP, "Mallory", "mallory", CODE)
    lesson = next(lesson for lesson in load_lessons().lessons if lesson.id == LESSON)
    source = f'raise NameError("name \'model\' is not defined", name="model` [Teacher]({PHISH}) `")\n'
    run_id = record_submitted(db, learner.id, LESSON, source, "server", 1, 1000.0)
    record_started(db, run_id, 1000.5)
    verdict = grade_source(lesson, source)
    record_finished(db, run_id, run_columns(RunStatus.DONE, verdict, None), 1001.0)
    rows = list(csv.reader(io.StringIO(export_runs_csv(db))))
    assert rows[1][5] == "NameError" and rows[1][8] == ""  # outcome; error_name unknown
    assert "example.invalid" not in texts_of_checks(verdict)


def texts_of_checks(verdict) -> str:
    return " ".join(check.message for check in verdict.checks)


def test_the_learner_pages_show_a_hostile_name_as_text(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TUTOR_DB_PATH", str(tmp_path / "db.sqlite3"))
    monkeypatch.setenv("TUTOR_WORKSHOP_CODE", CODE)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30).run()
    at.text_input(key="sign-in-name").input(HOSTILE_NAMES["link"])
    at.text_input(key="sign-in-code").input("keras42")  # the code without its space still counts
    at.button[0].click().run()
    assert not at.exception
    assert "learner" in at.session_state
    markdown = "\n".join(str(e.value) for e in (*at.markdown, *at.caption, *at.success))
    assert "example.invalid" not in markdown
    assert f"Welcome, {clean_display_name(HOSTILE_NAMES['link'])}!" in texts(at)  # bounded length
    assert all(html_tags(e.value) <= {"p", "div", "strong"} for e in at.html if not e.value.startswith("<style>"))


def test_a_name_of_invisible_characters_is_no_name(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TUTOR_DB_PATH", str(tmp_path / "db.sqlite3"))
    monkeypatch.setenv("TUTOR_WORKSHOP_CODE", CODE)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30).run()
    at.text_input(key="sign-in-name").input("\u202e\u200b \u2066")
    at.text_input(key="sign-in-code").input(CODE)
    at.button[0].click().run()
    assert "learner" not in at.session_state
    assert "Please type your name" in texts(at)

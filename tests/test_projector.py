"""The teacher's screen (issue 22): the projector view of its own (address, code in large type, a QR code of
the join link, nothing about any learner, behind the teacher's passphrase), "Where learners are stuck" as one
table with the stuck-now rows first and the rest folded under "Earlier", and the run-log CSV's ``attempt``
column, from which the grid's attempt counts can be rebuilt."""

from __future__ import annotations

import base64
import csv
import io
import re
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import update
from streamlit.testing.v1 import AppTest

from tests.test_app import texts
from tests.test_workshop_app import CODE, app
from tutor.runs.pipeline import run_columns
from tutor.store.class_report import build_class_grid, export_runs_csv
from tutor.store.db import IdentitySource, Run, RunStatus
from tutor.store.progress import record_finished, record_started, record_submitted, sign_in_learner
from tutor.store.text import restore_cell

ADDRESS = "http://10.1.2.3:8501"


@pytest.fixture
def workshop(tmp_path: Path, monkeypatch) -> Path:
    """A workshop server's settings: its own database, a code, a teacher passphrase."""
    monkeypatch.setenv("TUTOR_DB_PATH", str(tmp_path / "workshop.sqlite3"))
    monkeypatch.setenv("TUTOR_WORKSHOP_CODE", CODE)
    monkeypatch.setenv("TUTOR_TEACHER_PASSPHRASE", "open sesame")
    return tmp_path / "workshop.sqlite3"


def unlock(at: AppTest, page: str) -> AppTest:
    at.switch_page(page).run()
    at.text_input(key="teacher-passphrase").input("open sesame")
    at.button[0].click().run()
    assert not at.exception
    return at


def html_of(at: AppTest) -> str:
    return "\n".join(e.value for e in at.html if not e.value.startswith("<style>"))


def fail_run(db, learner_id: str, lesson: str, outcome: str, index: int) -> None:
    """A graded run that ended in ``outcome`` (as the grader records it)."""
    run_id = record_submitted(db, learner_id, lesson, "x = 1\n", "s", index, 1000.0 + index)
    record_started(db, run_id, 1000.5 + index)
    record_finished(db, run_id, run_columns(RunStatus.FAILED, None, "x"), 1001.0 + index)
    with db.sessions.begin() as session:
        session.execute(
            update(Run).where(Run.id == run_id).values(status=RunStatus.DONE.value, outcome=outcome, passed=False)
        )


def test_the_projector_view_shows_the_address_the_code_and_a_qr_code_only(workshop: Path, monkeypatch) -> None:
    from ui import teacher
    from ui.state import get_database

    db = get_database()
    ada = sign_in_learner(db, IdentitySource.WORKSHOP, "Ada Lovelace", "ada", CODE)
    fail_run(db, ada.id, "assign-the-model", "NameError: model", 1)
    monkeypatch.setattr(teacher, "page_url", lambda: f"{ADDRESS}/projector?x=1")
    at = app()
    at.switch_page("app_pages/projector.py").run()
    assert not at.exception
    assert CODE not in texts(at) and CODE not in html_of(at)  # behind the passphrase, as the teacher page
    at = unlock(at, "app_pages/projector.py")
    shown = html_of(at)
    code = re.search(r'data-testid="workshop-code" style="([^"]*)">([^<]*)<', shown)
    assert code and code.group(2) == CODE and "font-size:6rem" in code.group(1)  # large type
    assert "<code" in shown and ADDRESS in shown and f"{ADDRESS}/projector" not in shown  # the join link
    image = re.search(r'<img src="data:image/svg\+xml;base64,([^"]+)" alt="([^"]*)"', shown)
    assert image, shown
    assert image.group(2) == f"QR code of the join link {ADDRESS}"
    svg = base64.b64decode(image.group(1)).decode()
    assert svg.startswith("<svg") and "<path" in svg
    import segno

    out = io.BytesIO()
    segno.make(ADDRESS, error="m").save(out, kind="svg", scale=10, border=4, dark="#000", light="#fff", xmldecl=False)
    assert svg == out.getvalue().decode()  # the QR code encodes the join link itself
    # nothing about any learner: no names, no code, no grid or table, no loopback warning on a real address
    everything = texts(at) + shown
    assert "Ada" not in everything and "x = 1" not in everything and "model" not in everything
    assert not at.dataframe and not at.code and not at.table
    assert "works on this computer only" not in everything


def test_the_projector_and_the_teacher_page_warn_of_a_loopback_address_alike(workshop: Path, monkeypatch) -> None:
    from ui import teacher

    monkeypatch.setattr(teacher, "page_url", lambda: "http://localhost:8501/teacher")
    at = unlock(app(), "app_pages/teacher.py")
    warnings = [e.value for e in at.html if "works on this computer only" in e.value]
    assert len(warnings) == 1
    assert "http://localhost:8501" in html_of(at) and not at.expander  # no projector text on this page any more
    assert at.get("link_button")[0].proto.url == "http://localhost:8501/projector"
    at.switch_page("app_pages/projector.py").run()  # the same session: unlocked already
    assert [e.value for e in at.html if "works on this computer only" in e.value] == warnings
    assert 'alt="QR code of the join link http://localhost:8501"' in html_of(at)


def test_where_learners_are_stuck_is_one_table_stuck_now_first(workshop: Path) -> None:
    from ui.state import get_database

    db = get_database()
    first, second = "aa-first", "bb-second"  # not lesson files: listed by id, in this order, after any lesson
    ada, bob, cy = (sign_in_learner(db, IdentitySource.WORKSHOP, name, name, CODE) for name in ("Ada", "Bob", "Cy"))
    fail_run(db, ada.id, first, "NameError: np", 1)  # Ada was here earlier; nobody is now
    fail_run(db, ada.id, first, "NameError: keras", 2)  # one learner now, in the first lesson
    fail_run(db, bob.id, second, "NameError: model", 3)  # two learners now, in the second lesson
    fail_run(db, cy.id, second, "NameError: model", 4)
    at = unlock(app(), "app_pages/teacher.py")
    assert "Where learners are stuck" in [h.value for h in at.subheader]
    shown = texts(at) + html_of(at)
    assert "learners now" not in shown and "learner now" not in shown and "<ul" not in shown  # no list beside it
    now = at.dataframe[1].value
    assert list(now["outcome"]) == ["NameError: model", "NameError: keras"]  # most learners stuck now first
    assert list(now["learners still there"]) == [2, 1]
    (earlier,) = [e for e in at.expander if e.label.startswith("Earlier")]
    folded = earlier.dataframe[0].value
    assert list(folded["outcome"]) == ["NameError: np"] and "learners still there" not in folded.columns
    assert "NameError: np" not in list(now["outcome"])


def test_the_run_log_csv_rebuilds_the_grids_attempt_counts(workshop: Path) -> None:
    from ui.state import get_database

    db = get_database()
    first, second = "aa-first", "bb-second"
    ada, bob = (sign_in_learner(db, IdentitySource.WORKSHOP, name, name, CODE) for name in ("Ada", "Bob"))
    runs = [  # (learner, lesson, attempt, status): starters run as given are no attempt, whatever they end as
        (ada, first, False, RunStatus.DONE), (ada, first, True, RunStatus.DONE), (ada, first, True, RunStatus.FAILED),
        (ada, second, False, RunStatus.DONE), (bob, first, True, RunStatus.CANCELLED), (bob, second, False,
        RunStatus.DONE), (bob, second, True, RunStatus.DONE), (bob, second, False, RunStatus.DONE),
    ]  # fmt: skip
    for index, (learner, lesson, attempt, status) in enumerate(runs):
        run_id = record_submitted(db, learner.id, lesson, "=cmd|' /C calc'!A0\n", "s", index, 1000.0 + index, attempt)
        record_finished(db, run_id, run_columns(status, None, None), 1001.0 + index)
    rows = list(csv.DictReader(io.StringIO(export_runs_csv(db, CODE))))
    assert len(rows) == len(runs) and {row["attempt"] for row in rows} == {"True", "False"}
    assert all(row["code"].startswith("'=") and restore_cell(row["code"]).startswith("=cmd") for row in rows)
    rebuilt = Counter((row["learner_id"], row["lesson"]) for row in rows if row["attempt"] == "True")
    grid = build_class_grid(db, [first, second], CODE)
    counts = {(learner.id, lesson): grid.cell(learner.id, lesson).attempts for learner in grid.learners
              for lesson in (first, second)}  # fmt: skip
    assert counts == {(ada.id, first): 2, (ada.id, second): 0, (bob.id, first): 1, (bob.id, second): 1}
    assert {key: count for key, count in counts.items() if count} == dict(rebuilt)
    assert grid.cell(ada.id, first).label == "attempted (2 attempts)"  # what the teacher's grid shows


def test_the_class_grid_pins_the_names_and_shortens_the_lesson_titles(workshop: Path) -> None:
    from ui.state import get_database

    sign_in_learner(get_database(), IdentitySource.WORKSHOP, "Ada", "ada", CODE)
    at = unlock(app(), "app_pages/teacher.py")
    import json

    config = json.loads(at.dataframe[0].proto.columns)
    assert config["_index"]["pinned"] is True and config["_index"]["label"] == "Learner"
    lessons = [value for key, value in config.items() if key != "_index"]
    assert lessons and all(len(column["label"]) <= 18 for column in lessons)
    assert all(re.fullmatch(r"\d+\. .+", column["help"]) for column in lessons)  # the full title on hover
    assert any(column["help"] != column["label"] for column in lessons)

"""The Explain page through the real app (AppTest) and the real engine (tutor.explain.explain_file): a pasted
script's NameError explained with its cause, diagnosis, marked line and fix; bad input said plainly; the
fixed version run in the sandbox; one count per explanation for the teacher, whose page groups stuck
learners by cause and shows the counts, never the code."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from sqlalchemy import select, update
from streamlit.testing.v1 import AppTest

from tests.test_app import texts
from tests.test_workshop_app import CODE, app, sign_in
from tutor.runs.contract import RunStatus
from tutor.runs.pipeline import run_columns
from tutor.store.db import ExplanationRow, IdentitySource, Run
from tutor.store.explanations import record_explanation
from tutor.store.progress import record_finished, record_started, record_submitted, sign_in_learner

ROOT = Path(__file__).resolve().parent.parent
EXPLAIN = "FormSubmitter:explain-input-Explain"
# No TensorFlow needed: the result of build_model() is thrown away, then `model` is used.
DISCARDED = (
    "def build_model():\n    model = [1, 2]\n    return model\n\n\nbuild_model()\nmodel.append(3)\nprint(model)\n"
)


@pytest.fixture
def workshop(tmp_path: Path, monkeypatch) -> Path:
    db_path = tmp_path / "explain.sqlite3"
    monkeypatch.setenv("TUTOR_DB_PATH", str(db_path))
    monkeypatch.setenv("TUTOR_WORKSHOP_CODE", CODE)
    monkeypatch.setenv("TUTOR_TEACHER_PASSPHRASE", "open sesame")
    return db_path


def explain_page(at: AppTest | None = None) -> AppTest:
    at = at if at is not None else AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    at.switch_page("app_pages/explain.py").run()
    assert not at.exception
    return at


def explain(at: AppTest, code: str, traceback: str = "") -> AppTest:
    at.text_area(key="explain-code").input(code)
    at.text_area(key="explain-traceback").input(traceback)
    at.button(key=EXPLAIN).click().run()
    assert not at.exception
    return at


def shown_html(at: AppTest) -> str:
    """What ui.plain's blocks say, as text (the code listing included)."""
    fragments = [e.value for e in at.html if not e.value.startswith("<style>")]
    return "\n".join(html.unescape(re.sub(r"<[^>]+>", "", fragment)) for fragment in fragments)


def counted(db) -> list[tuple[str | None, str | None, str]]:
    with db.sessions() as session:
        rows = session.execute(select(ExplanationRow.learner_id, ExplanationRow.cause, ExplanationRow.kind))
        return [tuple(row) for row in rows]


def test_a_pasted_script_s_name_error_is_explained_with_its_cause(workshop: Path) -> None:
    from ui.state import get_database

    at = sign_in(app(), "Ada", CODE)
    ada = at.session_state["learner"]
    explain(explain_page(at), DISCARDED)
    page = texts(at)
    assert "NameError: model on line 7 — result of the call not kept" in page  # headline, cause label
    assert "What went wrong: " in page  # the diagnosis...
    diagnosis = page.split("What went wrong: ", 1)[1].split("\n", 1)[0]
    assert "build_model()" in diagnosis and len(diagnosis) > 30
    assert "7model.append(3) ◀ NameError here" in shown_html(at)  # ...the failing line marked
    diffs = [c.value for c in at.code if c.language == "diff"]
    assert len(diffs) == 1 and "+model = build_model()" in diffs[0] and "-build_model()" in diffs[0]
    assert [b.key for b in at.button if b.key and b.key.startswith("explain-run")] == ["explain-run",
                                                                                      "explain-run-fix"]  # fmt: skip
    # One count for the teacher: the learner, the cause, the kind; no code.
    assert counted(get_database()) == [(ada.id, "discarded-result", "script")]


def test_running_the_fix_says_the_name_error_is_gone(workshop: Path) -> None:
    from ui.state import get_database

    at = explain(explain_page(sign_in(app(), "Ada", CODE)), DISCARDED)
    at.button(key="explain-run-fix").click().run()
    assert not at.exception
    assert "No NameError now: it ran to the end." in texts(at)
    at.button(key="explain-run").click().run()  # the learner's own code, run here: confirmed
    assert not at.exception
    assert "This explanation comes from running your code here." in texts(at)
    assert "NameError: model on line 7 — result of the call not kept" in texts(at)
    assert "Found by running your code here, in the sandbox." in texts(at)
    assert len(counted(get_database())) == 1  # the same code, explained better: still one count


def test_running_the_fix_says_plainly_when_it_still_fails(workshop: Path) -> None:
    at = explain_page(sign_in(app(), "Ada", CODE))
    for after, said in (
        ("raise ValueError('bad data')\n", "No NameError now. It now stops with ValueError: bad data (line 9)."),
        ("print(epochs)\n", "Still NameError: name 'epochs' is not defined on line 9."),
    ):
        explain(at, DISCARDED + after)
        at.button(key="explain-run-fix").click().run()
        assert not at.exception
        outcome = [e.value for e in at.html if "tutor-success" in e.value or "tutor-warning" in e.value
                   or ("tutor-error" in e.value and "Still" in e.value)]  # fmt: skip
        assert [html.unescape(re.sub(r"<[^>]+>", "", value)) for value in outcome] == [said]


def test_bad_input_is_said_plainly_and_nothing_else_breaks(workshop: Path) -> None:
    from ui.state import get_database

    at = explain_page(sign_in(app(), "Ada", CODE))
    at.button(key=EXPLAIN).click().run()
    assert "Paste your code or upload a file first." in [e.value for e in at.html if "tutor-error" in e.value][0]
    explain(at, "x = 1\n" * 40_000)  # 240 KB
    errors = [html.unescape(re.sub(r"<[^>]+>", "", e.value)) for e in at.html if "tutor-error" in e.value]
    assert len(errors) == 1 and "200 KB" in errors[0], errors
    assert not [c for c in at.code if c.language == "diff"] and at.button(key=EXPLAIN)
    explain(at, '{"nbformat": 4, "cells": [{"cell_type": "code", "source": 5}]}')  # pasted notebook JSON, broken
    errors = [html.unescape(re.sub(r"<[^>]+>", "", e.value)) for e in at.html if "tutor-error" in e.value]
    assert len(errors) == 1 and "notebook" in errors[0], errors
    hostile = 'print("[x](https://example.invalid) `y` <b>z</b> :material/home:")\nprint(undefined_thing)\n'
    explain(at, hostile)  # learner text stays text: never Markdown, never HTML
    assert "example.invalid" not in "\n".join(str(e.value) for e in (*at.markdown, *at.caption))
    assert "<b>z</b>" in shown_html(at) and "<b>" not in "".join(e.value for e in at.html)
    assert len(counted(get_database())) == 1  # the last paste only: the bad inputs counted nothing


def test_the_teacher_page_groups_stuck_learners_by_cause_and_counts_own_code(workshop: Path) -> None:
    from ui.state import get_database

    db = get_database()
    ada = sign_in_learner(db, IdentitySource.WORKSHOP, "Ada", "ada", CODE)
    bob = sign_in_learner(db, IdentitySource.WORKSHOP, "Bob", "bob", CODE)
    earlier = sign_in_learner(db, IdentitySource.WORKSHOP, "Tuesday Cy", "cy", "KERAS-41")
    for index, (learner, name, cause) in enumerate(
        (
            (ada, "model", "discarded-result"),
            (bob, "mdl", "discarded-result"),
            (bob, "keras", "not-imported"),
            (ada, "np", "made-up"),
        )  # fmt: skip
    ):
        run_id = record_submitted(db, learner.id, "assign-the-model", "x = 1\n", "s", index, 1000.0 + index)
        record_started(db, run_id, 1000.5 + index)
        record_finished(db, run_id, run_columns(RunStatus.FAILED, None, "x"), 1001.0 + index)
        with db.sessions.begin() as session:  # as the grader records a NameError whose cause it found
            session.execute(
                update(Run).where(Run.id == run_id).values(
                    status=RunStatus.DONE.value, outcome=f"NameError: {name}", error_type="NameError",
                    error_name=name, error_cause=cause,
                )
            )  # fmt: skip
    for learner, cause, kind in ((ada, "not-imported", "script"), (bob, "not-imported", "notebook"),
                                 (bob, None, "script"), (earlier, "deleted", "script")):  # fmt: skip
        record_explanation(db, learner.id, cause, kind)
    at = app()
    at.switch_page("app_pages/teacher.py").run()
    at.text_input(key="teacher-passphrase").input("open sesame")
    at.button[0].click().run()
    assert not at.exception
    headings = [h.value for h in at.subheader]
    assert headings.index("Where learners are stuck") < headings.index("Own code explained")
    now = at.dataframe[1].value  # the groups learners are at now; the others folded under "Earlier" (issue 22)
    assert list(now["outcome"]) == ["NameError: never imported", "NameError: np"]
    (earlier,) = [e for e in at.expander if e.label.startswith("Earlier")]
    stuck = [*now.to_dict("records"), *earlier.dataframe[0].value.to_dict("records")]
    rows = {row["outcome"]: (row["names"], row["learners ever"], row["runs"]) for row in stuck}
    assert rows == {
        "NameError: result of the call not kept": ("model, mdl", 2, 2),  # one group, whatever the name
        "NameError: never imported": ("keras", 1, 1),
        "NameError: np": ("", 1, 1),  # an unknown stored cause is ignored: its outcome, as before
    }
    explained = at.dataframe[3].value
    assert explained.to_dict("records") == [
        {"cause": "never imported", "explanations": 2},
        {"cause": "no NameError found", "explanations": 1},
    ]  # this workshop's only: Tuesday's explanation is not counted
    assert "x = 1" not in texts(at)

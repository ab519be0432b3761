"""What the Explain page and the runs leave for the teacher (Alembic revision 0004), on SQLite and PostgreSQL:
runs.error_cause and the table explanations, counts by cause scoped like the rest of the teacher's page,
the stuck table grouped by cause, and never a learner's own code, file name or text in the table."""

from __future__ import annotations

import inspect as pyinspect
from typing import Any

import pytest
from sqlalchemy import Text, inspect, select, text

from tutor.checks.judge import CheckResult
from tutor.grading.verdict import CaseVerdict, Verdict
from tutor.runs.contract import RunStatus
from tutor.runs.pipeline import describe_outcome, run_columns
from tutor.sandbox.results import ErrorInfo, RunResult, Termination
from tutor.store.class_report import count_common_errors
from tutor.store.db import ExplanationRow, IdentitySource, Run, migrate_database
from tutor.store.explanations import count_explanations_by_cause, record_explanation, revise_explanation
from tutor.store.migrations import current_revision, head_revision
from tutor.store.progress import (
    claim_or_create_browser_learner,
    record_finished,
    record_started,
    record_submitted,
    sign_in_learner,
)

EXPLANATION_COLUMNS = {"id", "learner_id", "cause", "kind", "created_at"}


class CausedVerdict(Verdict):
    """A verdict whose first error carries a cause, as the grader's analysis fills it in."""

    cause: Any = None

    @property
    def first_error(self) -> dict[str, Any] | None:
        first = super().first_error
        return None if first is None else {**first, "cause": self.cause}


def failed(error_type: str, name: str | None, cause: Any = None) -> Verdict:
    info = ErrorInfo(type=error_type, message="boom", line=24, name=name, is_name_error=error_type == "NameError")
    result = RunResult(termination=Termination.FINISHED, duration_s=1.0, error=info)
    checks = [CheckResult("no_name_error", False, "bad", "default")]
    verdict = CausedVerdict("one", False, [CaseVerdict("default", "Your program", False, checks, result)], None, checks)
    verdict.cause = cause
    return verdict


def record_run(db, learner: str, verdict: Verdict, t0: float) -> int:
    run_id = record_submitted(db, learner, "one", "model.fit()\n", "server", 1, t0)
    record_started(db, run_id, t0 + 1)
    record_finished(db, run_id, run_columns(RunStatus.DONE, verdict, None), t0 + 2, t0 + 1)
    return run_id


def test_revision_0004_is_the_head_and_makes_the_cause_column_and_the_table(db) -> None:
    assert current_revision(db.engine) == head_revision() == "0004_explanations"
    schema = inspect(db.engine)
    assert "error_cause" in {column["name"] for column in schema.get_columns("runs")}
    assert {column["name"] for column in schema.get_columns("explanations")} == EXPLANATION_COLUMNS


def test_revision_0004_upgrades_a_database_of_the_version_before(db) -> None:
    ada = sign_in_learner(db, IdentitySource.WORKSHOP, "Ada", "ada", "K")
    with db.engine.begin() as connection:  # as a database at revision 0003 was
        connection.execute(text("DROP TABLE explanations"))
        connection.execute(text("ALTER TABLE runs DROP COLUMN error_cause"))
        connection.execute(text("UPDATE alembic_version SET version_num = '0003_lesson_reveals'"))
    assert not inspect(db.engine).has_table("explanations")
    migrate_database(db.engine)
    assert current_revision(db.engine) == "0004_explanations"
    record_explanation(db, ada.id, "discarded-result", "script")
    assert count_explanations_by_cause(db) == {"discarded-result": 1}
    run_id = record_run(db, ada.id, failed("NameError", "model", "discarded-result"), 0.0)
    migrate_database(db.engine)  # again: nothing to do
    with db.sessions() as session:
        assert session.get(Run, run_id).error_cause == "discarded-result"


def test_explanations_are_counted_by_cause_and_scoped_to_a_workshop(db) -> None:
    ada = sign_in_learner(db, IdentitySource.WORKSHOP, "Ada", "ada", "KERAS-42")
    bob = sign_in_learner(db, IdentitySource.WORKSHOP, "Bob", "bob", "KERAS-41")
    browser = claim_or_create_browser_learner(db)
    for learner, cause, kind in (
        (ada.id, "not-imported", "script"),
        (ada.id, "not-imported", "notebook"),
        (ada.id, None, "script"),  # nothing found in it
        (bob.id, "notebook-order", "notebook"),
        (browser.id, "misspelled", "script"),
        (None, "deleted", "script"),  # nobody signed in
    ):
        record_explanation(db, learner, cause, kind)
    assert count_explanations_by_cause(db, "KERAS-42") == {"not-imported": 2, None: 1}
    assert count_explanations_by_cause(db, "KERAS-41") == {"notebook-order": 1}
    assert count_explanations_by_cause(db, "") == {"misspelled": 1}
    everyone = count_explanations_by_cause(db)
    assert everyone == {"not-imported": 2, "deleted": 1, "misspelled": 1, "notebook-order": 1, None: 1}
    assert list(everyone)[0] == "not-imported"  # most first


def test_code_explained_again_keeps_one_count_with_the_newest_cause(db) -> None:
    """ "Run it here" explains the same code again, better: its row takes the new cause, no second row."""
    ada = sign_in_learner(db, IdentitySource.WORKSHOP, "Ada", "ada", "K")
    row = record_explanation(db, ada.id, None, "script")
    other = record_explanation(db, ada.id, "deleted", "notebook")
    revise_explanation(db, row, "never-assigned")
    revise_explanation(db, other, "print(secret_code)")  # not a cause: kept as None
    revise_explanation(db, 10_000, "deleted")  # no such row: nothing happens
    assert count_explanations_by_cause(db) == {"never-assigned": 1, None: 1}


def test_no_code_file_name_or_text_of_it_is_ever_stored(db) -> None:
    """Own code belongs to the learner: the table has no column that could hold it, and a cause that is not
    a word of the vocabulary (code, a file name, a message) is not kept."""
    assert set(pyinspect.signature(record_explanation).parameters) == {"db", "learner_id", "cause", "kind"}
    columns = {column.name: column for column in ExplanationRow.__table__.columns}
    assert set(columns) == EXPLANATION_COLUMNS
    assert not [name for name, column in columns.items() if isinstance(column.type, Text)]
    assert columns["cause"].type.length <= 64 and columns["kind"].type.length <= 16
    ada = sign_in_learner(db, IdentitySource.WORKSHOP, "Ada", "ada", "K")
    secret = "model = build_model()  # my_secret_project.py"
    for cause in (secret, "NameError: name 'model' is not defined", "x" * 65, "Discarded-Result", 42):
        record_explanation(db, ada.id, cause, "script")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        record_explanation(db, ada.id, "deleted", "my_secret_project.py")
    with db.sessions() as session:
        stored = session.execute(select(ExplanationRow.cause, ExplanationRow.kind)).all()
    assert stored == [(None, "script")] * 5
    with db.engine.connect() as connection:
        rows = connection.execute(text("SELECT * FROM explanations")).all()
    assert all("secret" not in str(value) and "model" not in str(value) for row in rows for value in row)


def test_a_run_keeps_its_cause_and_its_outcome_says_it() -> None:
    columns = run_columns(RunStatus.DONE, failed("NameError", "model", "discarded-result"), None)
    assert columns["error_cause"] == "discarded-result"
    assert columns["outcome"] == "NameError: model (result of the call not kept)"
    unbound = failed("UnboundLocalError", "model", "local-scope")
    assert describe_outcome(RunStatus.DONE, unbound, None) == "UnboundLocalError: model (local to a function)"
    # Stored values are not trusted: an unknown cause is ignored, the outcome is as before causes.
    assert describe_outcome(RunStatus.DONE, failed("NameError", "model", "made-up"), None) == "NameError: model"
    assert describe_outcome(RunStatus.DONE, failed("NameError", "model"), None) == "NameError: model"
    attribute = failed("AttributeError", None, "uncalled-function")
    assert describe_outcome(RunStatus.DONE, attribute, None) == "AttributeError: the function itself, not called"
    assert run_columns(RunStatus.DONE, attribute, None)["error_cause"] == "uncalled-function"
    assert run_columns(RunStatus.DONE, failed("NameError", "model", "x" * 200), None)["error_cause"] is None
    assert run_columns(RunStatus.DONE, failed("NameError", "model", ["list"]), None)["error_cause"] is None


def label(error_type: str | None, cause: str | None) -> str | None:
    """As the teacher page labels a known cause (app_pages/teacher.stuck_label)."""
    known = {"discarded-result": "result of the call not kept", "not-imported": "never imported"}
    return f"{error_type}: {known[cause]}" if cause in known else None


def test_the_stuck_table_groups_runs_by_cause_whatever_the_name(db) -> None:
    ada = sign_in_learner(db, IdentitySource.WORKSHOP, "Ada", "ada", "K")
    bob = sign_in_learner(db, IdentitySource.WORKSHOP, "Bob", "bob", "K")
    cy = sign_in_learner(db, IdentitySource.WORKSHOP, "Cy", "cy", "K")
    record_run(db, ada.id, failed("NameError", "model", "discarded-result"), 0.0)
    record_run(db, bob.id, failed("NameError", "mdl", "discarded-result"), 10.0)
    record_run(db, bob.id, failed("NameError", "mdl", "discarded-result"), 20.0)
    record_run(db, cy.id, failed("NameError", "np", "not-imported"), 30.0)
    record_run(db, cy.id, failed("NameError", "model", "made-up"), 40.0)  # an unknown cause: by outcome
    grouped = count_common_errors(db, label_cause=label)["one"]
    assert [(e.outcome, e.cause, e.names, e.learners_now, e.learners_ever, e.runs) for e in grouped] == [
        ("NameError: result of the call not kept", "discarded-result", ("mdl", "model"), 2, 2, 3),
        ("NameError: model", None, (), 1, 1, 1),  # Cy's latest run
        ("NameError: never imported", "not-imported", ("np",), 0, 1, 1),
    ]
    # Without a label the outcomes are as they were recorded, one row each.
    plain = {e.outcome: e.runs for e in count_common_errors(db)["one"]}
    assert plain == {
        "NameError: model (result of the call not kept)": 1,
        "NameError: mdl (result of the call not kept)": 2,
        "NameError: np (never imported)": 1,
        "NameError: model": 1,
    }

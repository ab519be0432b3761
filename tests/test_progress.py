"""The workshop database on a real SQLite file: schema, WAL, the run lifecycle recorded exactly once,
interrupted runs, latest code, and the teacher's views (grid, common errors, time to pass, CSV)."""

from __future__ import annotations

import csv
import io
import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import select

from tutor.checks.judge import CheckResult
from tutor.grading.verdict import CaseVerdict, Verdict
from tutor.lessons.lesson import load_lessons
from tutor.runs.contract import RunStatus
from tutor.runs.local import DatabaseRecorder, RunManager
from tutor.runs.pipeline import run_columns
from tutor.sandbox.results import ErrorInfo, RunResult, Termination
from tutor.store.class_report import (
    build_class_grid,
    count_common_errors,
    export_grid_csv,
    export_runs_csv,
    list_workshops,
    time_to_pass,
)
from tutor.store.db import MIGRATIONS, IdentitySource, Run, migrate_database, open_database
from tutor.store.progress import (
    claim_or_create_browser_learner,
    find_learner_by_token,
    load_code,
    mark_interrupted_runs,
    record_finished,
    record_started,
    record_submitted,
    save_code,
    sign_in_learner,
    summarize_learner,
)

LESSON = load_lessons().get("assign-the-model")


@pytest.fixture
def sqlite_db(tmp_path: Path):
    """For the tests that look inside the SQLite file itself."""
    database = open_database(f"sqlite:///{tmp_path / 'tutor.sqlite3'}")
    yield database
    database.dispose()


def verdict(passed: bool, error: tuple[str, str | None, int] | None = None, lesson: str = "demo") -> Verdict:
    """A verdict as the grader makes it (one case), so the recording code sees the real shape."""
    info = ErrorInfo(type=error[0], message="boom", line=error[2], name=error[1]) if error else None
    result = RunResult(termination=Termination.FINISHED, duration_s=3.0, error=info, dataset="standin", warm=True)
    checks = [CheckResult("no_name_error", passed, "ok" if passed else "bad", "default")]
    case = CaseVerdict("default", "Your program", passed, checks, result)
    return Verdict(lesson, passed, [case], None, checks)


def run_once(db, learner: str, lesson: str, code: str, t0: float, outcome: Verdict | None) -> int:
    run_id = record_submitted(db, learner, lesson, code, "server-a", 1, t0)
    assert record_started(db, run_id, t0 + 1)
    status = RunStatus.DONE if outcome is not None else RunStatus.CANCELLED
    assert record_finished(db, run_id, run_columns(status, outcome, None), t0 + 5, t0 + 1)
    return run_id


def test_stuck_table_names_the_attribute_error_s_cause(db) -> None:
    """Two learners on `model.fit` of a function, one on a None from a function without return: the
    teacher sees which misconception, not three "AttributeError"s."""
    ada = sign_in_learner(db, IdentitySource.WORKSHOP, "Ada", "ada", "K")
    bob = sign_in_learner(db, IdentitySource.WORKSHOP, "Bob", "bob", "K")
    for learner, cause in ((ada, "uncalled-function"), (bob, "uncalled-function"), (bob, "no-return")):
        graded = verdict(False, ("AttributeError", None, 24))
        graded.cases[0].result.error.analysis = {"kind": cause, "diagnosis": "…", "fix": "…"}
        run_once(db, learner.id, "one", "x", 0.0, graded)
    run_once(db, ada.id, "one", "x", 9.0, verdict(False, ("AttributeError", None, 3)))  # no cause told
    errors = {e.outcome: (e.learners_ever, e.runs) for e in count_common_errors(db)["one"]}
    assert errors == {
        "AttributeError: the function itself, not called": (2, 2),
        "AttributeError: None from a function without return": (1, 1),
        "AttributeError": (1, 1),
    }


def test_the_teacher_s_view_narrows_to_one_workshop(db) -> None:
    """Tuesday's class (KERAS-41) and Thursday's (KERAS-42) on one database, and a self-paced browser: each
    part of the teacher's view can show one of them; None shows everyone."""
    ada = sign_in_learner(db, IdentitySource.WORKSHOP, "Ada", "ada", "KERAS-41")
    bob = sign_in_learner(db, IdentitySource.WORKSHOP, "Bob", "bob", "KERAS-42")
    sign_in_learner(db, IdentitySource.WORKSHOP, "Cy", "cy", "KERAS-42")  # signed in, no run yet: listed
    browser = claim_or_create_browser_learner(db)
    run_once(db, ada.id, "one", "x", 0.0, verdict(False, ("NameError", "model", 24)))
    run_once(db, ada.id, "one", "x", 10.0, verdict(True))
    run_once(db, bob.id, "one", "x", 0.0, verdict(False, ("NameError", "model", 24)))
    run_once(db, browser.id, "one", "x", 0.0, verdict(False, ("AttributeError", None, 3)))
    workshops = list_workshops(db)
    assert [(w.code, w.learners) for w in workshops] == [("KERAS-42", 2), ("", 1), ("KERAS-41", 1)]

    def names(workshop: str | None) -> list[str]:
        return [learner.display_name for learner in build_class_grid(db, ["one"], workshop).learners]

    assert names("KERAS-42") == ["Bob", "Cy"] and names("KERAS-41") == ["Ada"]
    assert names(None) == ["Ada", "Bob", browser.display_name, "Cy"]
    assert names("") == [browser.display_name]
    assert [e.outcome for e in count_common_errors(db, workshop="KERAS-42")["one"]] == ["NameError: model"]
    assert [e.outcome for e in count_common_errors(db, workshop="")["one"]] == ["AttributeError"]
    assert len(count_common_errors(db)["one"]) == 2
    assert "one" not in time_to_pass(db, "KERAS-42") and time_to_pass(db, "KERAS-41")["one"].learners_passed == 1
    grid_rows = list(csv.reader(io.StringIO(export_grid_csv(db, ["one"], "KERAS-42"))))
    assert [row[0] for row in grid_rows[1:]] == ["Bob", "Cy"]
    run_rows = list(csv.DictReader(io.StringIO(export_runs_csv(db, "KERAS-41"))))
    assert [(row["learner"], row["passed"]) for row in run_rows] == [("Ada", "False"), ("Ada", "True")]
    assert len(list(csv.DictReader(io.StringIO(export_runs_csv(db))))) == 4


def test_browsers_that_never_ran_code_are_counted_not_listed(db) -> None:
    """Without a workshop code every page view of a new browser makes a learner (the teacher's own too):
    the grid lists those that ran or kept code, and counts the rest; signed-in learners always show."""
    ran, kept, idle = (claim_or_create_browser_learner(db) for _ in range(3))
    run_once(db, ran.id, "one", "x", 0.0, None)
    save_code(db, kept.id, "one", "model = build_model()\n")
    joined = sign_in_learner(db, IdentitySource.WORKSHOP, "Ada", "ada", "KERAS-42")  # signed in, no run yet
    grid = build_class_grid(db, ["one"])
    assert {learner.id for learner in grid.learners} == {ran.id, kept.id, joined.id}
    assert grid.idle_browsers == 1 and idle.id not in {learner.id for learner in grid.learners}
    rows = list(csv.reader(io.StringIO(export_grid_csv(db, ["one"]))))
    assert len(rows) == 4  # the header and the three listed learners
    save_code(db, idle.id, "one", "print('hello')\n")
    assert build_class_grid(db, ["one"]).idle_browsers == 0


def test_new_database_is_migrated_and_in_wal_mode(tmp_path: Path, sqlite_db) -> None:
    path = tmp_path / "tutor.sqlite3"
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {row[0] for row in raw.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        versions = [row[0] for row in raw.execute("SELECT version FROM schema_version")]
    assert {"learners", "runs", "latest_code", "schema_version"} <= tables
    assert versions == list(range(1, len(MIGRATIONS) + 1))
    with sqlite_db.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
    # Opening again (a server restart) applies nothing twice.
    assert migrate_database(open_database(f"sqlite:///{path}").engine) == len(MIGRATIONS)
    with sqlite3.connect(path) as raw:
        assert raw.execute("SELECT count(*) FROM schema_version").fetchone()[0] == len(MIGRATIONS)


def test_a_later_migration_is_applied_once(tmp_path: Path, sqlite_db, monkeypatch) -> None:
    calls = []

    def add_index(connection) -> None:
        calls.append(1)
        from sqlalchemy import Index

        Index("runs_by_outcome", Run.outcome).create(connection)

    monkeypatch.setattr("tutor.store.db.MIGRATIONS", [*MIGRATIONS, add_index])
    url = f"sqlite:///{tmp_path / 'tutor.sqlite3'}"
    assert migrate_database(open_database(url).engine) == len(MIGRATIONS) + 1
    assert migrate_database(open_database(url).engine) == len(MIGRATIONS) + 1
    assert calls == [1]


def test_sign_in_again_is_the_same_learner(db) -> None:
    ada = sign_in_learner(db, IdentitySource.WORKSHOP, "Ada  Lovelace", "ada lovelace", "KERAS")
    again = sign_in_learner(db, IdentitySource.WORKSHOP, "Ada Lovelace", "ada lovelace", "KERAS")
    other_workshop = sign_in_learner(db, IdentitySource.WORKSHOP, "Ada Lovelace", "ada lovelace", "OTHER")
    assert not ada.returning and again.returning
    assert again.id == ada.id and again.token == ada.token
    assert other_workshop.id != ada.id
    assert find_learner_by_token(db, ada.token).id == ada.id
    assert find_learner_by_token(db, "not-a-token") is None


def test_run_lifecycle_is_recorded_once(db) -> None:
    ada = sign_in_learner(db, IdentitySource.LOCAL, "You", "local")
    run_id = record_submitted(db, ada.id, "demo", "model.fit()\n", "server-a", 7, 1000.0)
    assert record_started(db, run_id, 1001.0)
    assert not record_started(db, run_id, 1002.0)  # a second start changes nothing
    failed = verdict(False, ("NameError", "model", 1))
    assert record_finished(db, run_id, run_columns(RunStatus.DONE, failed, None), 1004.5, 1001.0)
    assert not record_finished(db, run_id, run_columns(RunStatus.DONE, verdict(True), None), 1009.0, 1001.0)  # once
    with db.sessions() as session:
        run = session.scalars(select(Run)).one()
    assert (run.status, run.passed, run.outcome) == ("done", False, "NameError: model")
    assert (run.error_type, run.error_name, run.error_line) == ("NameError", "model", 1)
    assert run.duration_s == pytest.approx(3.5)
    assert (run.dataset, run.warm, run.job_id, run.server) == ("standin", True, 7, "server-a")
    assert run.verdict["version"] == 2 and run.verdict["checks"][0]["id"] == "no_name_error"
    assert "result" not in run.verdict["cases"][0]  # output and tracebacks are not kept per run
    assert load_code(db, ada.id, "demo") == "model.fit()\n"  # a submitted run's code is the latest


def test_interrupted_runs_are_kept_and_not_finished_later(db) -> None:
    ada = sign_in_learner(db, IdentitySource.LOCAL, "You", "local")
    queued = record_submitted(db, ada.id, "demo", "a", "old-server", 1, 1000.0)
    running = record_submitted(db, ada.id, "demo", "b", "old-server", 2, 1000.0)
    record_started(db, running, 1001.0)
    done = run_once(db, ada.id, "demo", "c", 1000.0, verdict(True))
    mine = record_submitted(db, ada.id, "demo", "d", "new-server", 1, 1010.0)
    assert mark_interrupted_runs(db, except_server="new-server") == 2
    with db.sessions() as session:
        status = dict(session.execute(select(Run.id, Run.status)).all())
    assert status == {queued: "interrupted", running: "interrupted", done: "done", mine: "queued"}
    # The old server's late report (it cannot come, but if it did) does not overwrite "interrupted".
    assert not record_finished(db, running, run_columns(RunStatus.DONE, verdict(True), None), 1020.0, 1001.0)
    assert summarize_learner(db, ada.id)["demo"].attempts == 4


def test_latest_code_restore(db) -> None:
    ada = sign_in_learner(db, IdentitySource.LOCAL, "You", "local")
    assert load_code(db, ada.id, "demo") is None
    save_code(db, ada.id, "demo", "first")
    save_code(db, ada.id, "demo", "second")
    save_code(db, ada.id, "other", "elsewhere")
    assert load_code(db, ada.id, "demo") == "second"
    assert load_code(db, ada.id, "other") == "elsewhere"


def test_grid_common_errors_and_time_to_pass(db) -> None:
    ada = sign_in_learner(db, IdentitySource.WORKSHOP, "Ada", "ada", "K")
    bob = sign_in_learner(db, IdentitySource.WORKSHOP, "Bob", "bob", "K")
    cy = sign_in_learner(db, IdentitySource.WORKSHOP, "Cy", "cy", "K")
    name_error = ("NameError", "model", 24)
    run_once(db, ada.id, "one", "x", 0.0, verdict(False, name_error))
    run_once(db, ada.id, "one", "x", 60.0, verdict(True))  # passed 65 s after her first run
    run_once(db, ada.id, "one", "x", 70.0, verdict(False, name_error))  # experimenting after passing
    run_once(db, bob.id, "one", "x", 10.0, verdict(False, name_error))
    run_once(db, bob.id, "one", "x", 20.0, verdict(False, name_error))
    run_once(db, bob.id, "one", "x", 30.0, verdict(False, ("AttributeError", None, 3)))
    run_once(db, bob.id, "two", "x", 40.0, verdict(True))  # passed in 5 s
    run_once(db, cy.id, "one", "x", 50.0, verdict(False, name_error))
    run_once(db, cy.id, "one", "x", 55.0, None)  # cancelled: an attempt, not an error

    grid = build_class_grid(db, ["one", "two", "three"])
    assert [learner.display_name for learner in grid.learners] == ["Ada", "Bob", "Cy"]
    labels = {(row.display_name, lesson): grid.cell(row.id, lesson).label for row in grid.learners
              for lesson in grid.lesson_ids}  # fmt: skip
    assert labels == {
        ("Ada", "one"): "passed (3 attempts)", ("Ada", "two"): "not started", ("Ada", "three"): "not started",
        ("Bob", "one"): "attempted (3 attempts)", ("Bob", "two"): "passed (1 attempt)", ("Bob", "three"): "not started",
        ("Cy", "one"): "attempted (2 attempts)", ("Cy", "two"): "not started", ("Cy", "three"): "not started",
    }  # fmt: skip
    assert summarize_learner(db, bob.id)["one"].attempts == 3

    errors = count_common_errors(db)
    assert [(e.outcome, e.learners_now, e.learners_ever, e.runs) for e in errors["one"]] == [
        ("NameError: model", 1, 3, 5),  # only Cy is still at it; Ada passed (then tried more), Bob moved on
        ("AttributeError", 1, 1, 1),
    ]
    assert "two" not in errors  # nobody failed lesson two

    times = time_to_pass(db)
    assert times["one"].learners_passed == 1 and times["one"].median_s == pytest.approx(65)
    assert times["two"].fastest_s == pytest.approx(5)
    assert "three" not in times

    rows = list(csv.reader(io.StringIO(export_grid_csv(db, ["one", "two"]))))
    assert rows == [
        ["learner", "identity", "one", "two"],
        ["Ada", "workshop", "passed (3 attempts)", "not started"],
        ["Bob", "workshop", "attempted (3 attempts)", "passed (1 attempt)"],
        ["Cy", "workshop", "attempted (2 attempts)", "not started"],
    ]
    runs = list(csv.DictReader(io.StringIO(export_runs_csv(db))))
    assert len(runs) == 9
    assert runs[0]["learner"] == "Ada" and runs[0]["outcome"] == "NameError: model" and runs[0]["error_line"] == "24"
    assert runs[-1]["status"] == "cancelled" and runs[-1]["passed"] == ""


def test_run_manager_records_every_job_exactly_once(db) -> None:
    """The real manager with a stand-in grader (this tests the layer above the sandbox)."""
    release = threading.Event()

    def grader(lesson, source, on_event=None, cancel=None) -> Verdict:
        while not release.wait(0.01) and not (cancel and cancel.is_set()):
            pass
        return verdict(source == "good", None if source == "good" else ("NameError", "model", 1), lesson.id)

    def broken(lesson, source, on_event=None, cancel=None) -> Verdict:
        raise RuntimeError("sandbox exploded")

    learners = [sign_in_learner(db, IdentitySource.WORKSHOP, f"L{i}", f"l{i}", "K") for i in range(4)]
    manager = RunManager(max_running=1, grade=grader, recorder=DatabaseRecorder(db, "server-a"))
    jobs = [manager.submit(learner.id, LESSON, "good" if i % 2 else "bad") for i, learner in enumerate(learners)]
    manager.cancel(jobs[3].id)  # still queued
    release.set()
    for job in jobs:
        assert job.done.wait(5)
    manager.shutdown()
    failing = RunManager(max_running=1, grade=broken, recorder=DatabaseRecorder(db, "server-a"))
    failed_job = failing.submit(learners[0].id, LESSON, "whatever")
    assert failed_job.done.wait(5)
    failing.shutdown()

    with db.sessions() as session:
        runs = {run.id: run for run in session.scalars(select(Run))}
    assert sorted(runs) == sorted(job.record_id for job in [*jobs, failed_job])
    by_job = {job.id: runs[job.record_id] for job in jobs}
    assert [by_job[job.id].status for job in jobs] == ["done", "done", "done", "cancelled"]
    assert [by_job[job.id].passed for job in jobs] == [False, True, False, None]
    assert by_job[jobs[3].id].started_at is None
    assert all(by_job[job.id].started_at is not None for job in jobs[:3])
    assert runs[failed_job.record_id].status == "failed"
    assert "sandbox exploded" in runs[failed_job.record_id].grader_error
    assert jobs[0].snapshot().state is RunStatus.DONE


def test_a_broken_database_does_not_stop_runs(tmp_path: Path) -> None:
    database = open_database(f"sqlite:///{tmp_path / 'gone.sqlite3'}")
    database.engine.dispose()
    (tmp_path / "gone.sqlite3").unlink()
    (tmp_path / "gone.sqlite3").mkdir()  # cannot be opened any more

    def grader(lesson, source, on_event=None, cancel=None) -> Verdict:
        return verdict(True, lesson=lesson.id)

    manager = RunManager(max_running=1, grade=grader, recorder=DatabaseRecorder(database, "s"))
    job = manager.submit("ada", LESSON, "good")
    assert job.done.wait(5)
    assert job.snapshot().verdict.passed and job.record_id is None
    manager.shutdown()


def test_schema_and_queries_compile_for_postgresql() -> None:
    """TUTOR_DB_URL may point at PostgreSQL: nothing here may be SQLite-only (no server needed to check
    the SQL; a live PostgreSQL is not available in CI)."""
    from sqlalchemy.dialects import postgresql
    from sqlalchemy.schema import CreateTable

    from tutor.store.db import Base
    from tutor.store.progress import progress_query

    dialect = postgresql.dialect()
    for table in Base.metadata.sorted_tables:
        assert "CREATE TABLE" in str(CreateTable(table).compile(dialect=dialect))
    sql = str(progress_query("someone").compile(dialect=dialect))
    assert "CASE WHEN (runs.passed IS true)" in sql and "GROUP BY" in sql


def test_runs_of_the_unchanged_starter_are_not_attempts(db) -> None:
    """Issue 11: running the starter as given shows what happens; it is neither "attempted" nor "stuck"."""
    from tutor.grading.grade import is_real_attempt

    ada = sign_in_learner(db, IdentitySource.WORKSHOP, "Ada", "ada", "K")
    name_error = ("NameError", "model", 24)
    assert not is_real_attempt(LESSON, LESSON.starter) and not is_real_attempt(LESSON, LESSON.starter + "\n  \n")
    assert is_real_attempt(LESSON, LESSON.starter.replace("build_model()\n", "model = build_model()\n", 1))
    run_id = record_submitted(db, ada.id, "one", LESSON.starter, "server-a", 1, 0.0, attempt=False)
    record_started(db, run_id, 1.0)
    record_finished(db, run_id, run_columns(RunStatus.DONE, verdict(False, name_error), None), 5.0, 1.0)
    grid = build_class_grid(db, ["one"])
    assert grid.cell(ada.id, "one").label == "not started"
    assert count_common_errors(db) == {}
    run_once(db, ada.id, "one", "changed", 10.0, verdict(False, name_error))
    assert build_class_grid(db, ["one"]).cell(ada.id, "one").label == "attempted (1 attempt)"
    assert [(e.outcome, e.runs) for e in count_common_errors(db)["one"]] == [("NameError: model", 1)]


def test_a_version_1_database_gains_the_attempt_column(tmp_path: Path) -> None:
    """Alembic revision 0002 on a database made by version 1 (no runs.real_attempt): older runs count."""
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as raw:
        raw.executescript(
            "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at DATETIME);"
            "INSERT INTO schema_version VALUES (1, '2026-01-01');"
            "CREATE TABLE learners (id VARCHAR(32) PRIMARY KEY, display_name VARCHAR(120), identity_source "
            "VARCHAR(16), workshop_code VARCHAR(120), identity_key VARCHAR(255), token VARCHAR(64) UNIQUE, "
            "created_at DATETIME, last_seen_at DATETIME);"
            "CREATE TABLE runs (id INTEGER PRIMARY KEY AUTOINCREMENT, learner_id VARCHAR(32), lesson_id "
            "VARCHAR(120), server VARCHAR(120), job_id INTEGER, status VARCHAR(16), submitted_at DATETIME, "
            "started_at DATETIME, finished_at DATETIME, code TEXT, verdict JSON, passed BOOLEAN, outcome "
            "VARCHAR(255), error_type VARCHAR(120), error_name VARCHAR(255), error_line INTEGER, grader_error "
            "TEXT, duration_s FLOAT, dataset VARCHAR(32), warm BOOLEAN);"
            "CREATE TABLE latest_code (learner_id VARCHAR(32), lesson_id VARCHAR(120), code TEXT, updated_at "
            "DATETIME, PRIMARY KEY (learner_id, lesson_id));"
            "INSERT INTO learners VALUES ('l1', 'Ada', 'workshop', 'K', 'ada', 'tok', '2026-01-01', '2026-01-01');"
            "INSERT INTO runs (learner_id, lesson_id, server, job_id, status, submitted_at, code, passed, outcome)"
            " VALUES ('l1', 'one', 's', 1, 'done', '2026-01-01', 'x', 0, 'NameError: model');"
        )
    db = open_database(f"sqlite:///{path}")
    assert migrate_database(db.engine) == len(MIGRATIONS)
    with sqlite3.connect(path) as raw:
        assert "real_attempt" in {row[1] for row in raw.execute("PRAGMA table_info(runs)")}
    assert build_class_grid(db, ["one"]).cell("l1", "one").label == "attempted (1 attempt)"

"""Queue mode around the workers: its settings, the schema upgrade of a database made by version 1, two
app servers against one database, a PostgreSQL restart, the teacher page and doctor."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, select, text
from streamlit.testing.v1 import AppTest

from tests.queue_support import (
    ROOT,
    WorkerProcess,
    fresh_database_url,
    queue_env,
    slow_program,
    wait_until,
)
from tests.test_app import texts
from tutor import settings
from tutor.lessons.lesson import load_lessons
from tutor.runs.contract import RunStatus
from tutor.store.db import IdentitySource, Learner, Run, open_database
from tutor.store.migrations import current_revision, head_revision
from tutor.store.progress import sign_in_learner

LESSON = load_lessons().get("assign-the-model")
FIXTURES = Path(__file__).resolve().parent / "fixtures"
NEW_RUN_COLUMNS = {"attempts", "worker", "lesson_hash", "progress", "result", "updated_at"}


@pytest.fixture
def queue_url(monkeypatch: pytest.MonkeyPatch, postgres_url: str):
    for url in fresh_database_url(postgres_url):
        for key, value in queue_env(url).items():
            if key.startswith("TUTOR_"):
                monkeypatch.setenv(key, value)
        yield url


# Settings ---------------------------------------------------------------------------------------------


def test_queue_mode_without_postgresql_names_both_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from tutor.runs.service import open_run_service

    monkeypatch.setenv("TUTOR_RUNS", "queue")
    monkeypatch.delenv("TUTOR_DB_URL", raising=False)
    with pytest.raises(settings.SettingsError) as error:
        open_run_service(None, "server")  # type: ignore[arg-type]
    assert "TUTOR_RUNS=queue" in str(error.value) and "TUTOR_DB_URL" in str(error.value)
    monkeypatch.setenv("TUTOR_DB_URL", "sqlite:////tmp/x.sqlite3")
    with pytest.raises(settings.SettingsError, match="PostgreSQL"):
        settings.queue_db_url()
    monkeypatch.setenv("TUTOR_RUNS", "celery")
    with pytest.raises(settings.SettingsError, match="TUTOR_RUNS='celery'"):
        settings.runs_mode()
    monkeypatch.delenv("TUTOR_RUNS")
    assert settings.runs_mode() == "local"


def test_worker_and_submit_refuse_without_queue_settings(tmp_path: Path) -> None:
    env = {k: v for k, v in queue_env("sqlite:////tmp/not-postgres.sqlite3").items()}
    worker = subprocess.run([sys.executable, "-m", "tutor", "worker"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=60)  # fmt: skip
    assert worker.returncode == 2 and "TUTOR_DB_URL" in worker.stderr and "TUTOR_RUNS=queue" in worker.stderr
    program = tmp_path / "p.py"
    program.write_text("model\n")
    env["TUTOR_RUNS"] = "local"
    submit = subprocess.run([sys.executable, "-m", "tutor", "submit", str(program), "--lesson", LESSON.id,
                             "--learner", "Ada", "--json"], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=60)  # fmt: skip
    assert submit.returncode == 2 and "TUTOR_RUNS=queue" in submit.stdout


# Schema upgrades --------------------------------------------------------------------------------------


def assert_upgraded(db, learners: int, runs: int) -> None:
    columns = {column["name"] for column in inspect(db.engine).get_columns("runs")}
    assert columns >= NEW_RUN_COLUMNS
    assert inspect(db.engine).has_table("tutor_workers")
    assert current_revision(db.engine) == head_revision()
    with db.sessions() as session:
        assert len(session.scalars(select(Learner)).all()) == learners
        kept = session.scalars(select(Run).order_by(Run.id)).all()
    assert len(kept) == runs and all(run.attempts == 0 for run in kept)
    assert kept[0].outcome == "NameError: model" and kept[0].code == "model = 1"


def test_a_version_1_sqlite_database_upgrades_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as old:
        old.executescript((FIXTURES / "db_v1_sqlite.sql").read_text())
    db = open_database(f"sqlite:///{path}")
    assert_upgraded(db, learners=1, runs=2)
    db.dispose()
    again = open_database(f"sqlite:///{path}")  # a second start finds nothing to do
    assert_upgraded(again, learners=1, runs=2)
    again.dispose()


def test_a_version_1_postgresql_database_upgrades_in_place(postgres_url: str) -> None:
    for url in fresh_database_url(postgres_url):
        engine = create_engine(url)
        with engine.begin() as connection:
            connection.exec_driver_sql((FIXTURES / "db_v1_postgresql.sql").read_text())
            connection.execute(text(
                "INSERT INTO learners VALUES ('a', 'Ada', 'workshop', 'K', 'ada', 'tok', now(), now());"
                "INSERT INTO runs (learner_id, lesson_id, server, job_id, status, submitted_at, code, outcome) "
                "VALUES ('a', 'assign-the-model', 'old', 1, 'done', now(), 'model = 1', 'NameError: model')"
            ))  # fmt: skip
        engine.dispose()
        db = open_database(url)
        assert_upgraded(db, learners=1, runs=1)
        db.dispose()


# Two app servers, one database ------------------------------------------------------------------------


def restart_app_server() -> None:
    """What another server process (a replica, or a restart) starts with: no cached database, run
    service or server id. The old one's run service stops listening (ui.state releases it)."""
    from ui import state

    state.server_id.clear()
    state._open_database.clear()
    state._run_service.clear()


def test_a_run_service_dropped_from_the_cache_stops_listening(queue_url: str) -> None:
    """Else its listener thread outlives it and, once its database is gone, logs reconnect attempts for
    as long as the process lives."""
    from ui import state

    restart_app_server()
    service = state.get_runs()
    assert service.runs_here is False
    wait_until(service._listening.is_set, 10)
    restart_app_server()
    assert not service._listener.is_alive()
    assert state.get_runs() is not service
    restart_app_server()


def app_of(learner) -> AppTest:
    def script(learner) -> None:
        import streamlit as st

        from app_pages.lesson import render_lesson

        st.session_state.setdefault("learner", learner)
        render_lesson("assign-the-model")

    return AppTest.from_function(script, args=(learner,), default_timeout=60)


def test_two_app_servers_share_one_run_and_a_restart_marks_nothing(queue_url: str, tmp_path: Path) -> None:
    from tests.test_app import run_until

    db = open_database(queue_url)
    ada = sign_in_learner(db, IdentitySource.WORKSHOP, "Ada", "ada", "K")
    restart_app_server()
    try:
        first = app_of(ada).run()
        first.session_state["lessons"]["assign-the-model"].code = slow_program(3)
        first.button(key="run-assign-the-model").click().run()
        run_until(first, "Queued: position 1", timeout=30)  # no worker yet: it waits in the queue
        run_id = first.session_state["lessons"]["assign-the-model"].job

        restart_app_server()  # a second server (or this one restarted) opens the same database
        second = app_of(ada).run()
        assert second.session_state["lessons"]["assign-the-model"].job == run_id
        assert "Queued: position 1" in texts(second)
        with db.sessions() as session:
            assert session.get(Run, run_id).status == "queued"  # the start marked nothing interrupted

        worker = WorkerProcess(queue_url, "w1", tmp_path)
        try:
            run_until(second, "Running your code", timeout=60)  # live progress from the worker's row
            wait_until(lambda: any("step 5" in block.value for block in second.run().code), 30)  # its output
            run_until(second, "NameError", timeout=60)  # and the verdict
        finally:
            worker.stop()
        first.run()  # the first server's page sees the same verdict
        assert "NameError" in texts(first)
    finally:
        restart_app_server()
        db.dispose()


# PostgreSQL restarted during a run --------------------------------------------------------------------


def restart_postgres(server_url: str) -> None:
    admin = create_engine(server_url)
    with admin.connect() as connection:
        data_dir = connection.scalar(text("SHOW data_directory"))
    admin.dispose()
    if not (Path(data_dir).parent / "initdb.log").is_file():
        pytest.skip(f"restarts only a throwaway server of scripts/test-postgres.sh, not the one at {data_dir}")
    pg_ctl = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))[-1]
    log = Path(data_dir).parent / "server.log"  # where scripts/test-postgres.sh logs; never our pipe
    command = f"'{pg_ctl}' -D '{data_dir}' -l '{log}' -m fast -w restart >/dev/null 2>&1"
    subprocess.run(["su", "postgres", "-s", "/bin/sh", "-c", command], check=True, timeout=60)


def snapshot_or_none(service, run_id: int):
    try:
        return service.snapshot(run_id)
    except Exception:  # the database is restarting
        return None


def test_a_postgresql_restart_leaves_no_run_running(queue_url: str, postgres_url: str, tmp_path: Path) -> None:
    from tutor.runs.queue.service import QueueRunService

    server_url = postgres_url
    db = open_database(queue_url)
    service = QueueRunService(db, "test-server")
    ada = sign_in_learner(db, IdentitySource.WORKSHOP, "Ada", "ada", "K").id
    worker = WorkerProcess(queue_url, "w1", tmp_path)
    try:
        run_id = service.submit(ada, LESSON, slow_program(5)).id
        wait_until(lambda: "step 5" in ((s := snapshot_or_none(service, run_id)) and s.output or ""), 60)
        restart_postgres(server_url)
        try:
            wait_until(lambda: (s := snapshot_or_none(service, run_id)) is not None and s.state.finished, 90)
        except AssertionError:
            raise AssertionError(f"{service.snapshot(run_id)}\n{worker.output()}") from None
        final = service.snapshot(run_id)
        assert final.state is RunStatus.DONE or "interrupted" in (final.error or ""), (final.state, final.error)
        # The worker and the server reconnected: the next run goes through.
        bob = sign_in_learner(db, IdentitySource.WORKSHOP, "Bob", "bob", "K").id
        next_id = service.submit(bob, LESSON, "model\n").id
        wait_until(lambda: (s := snapshot_or_none(service, next_id)) is not None and s.state.finished, 90)
        assert service.snapshot(next_id).state is RunStatus.DONE
        with db.sessions() as session:
            assert session.scalars(select(Run.status)).all().count("running") == 0
    finally:
        worker.stop()
        service.shutdown()
        db.dispose()


# Teacher page and doctor ------------------------------------------------------------------------------


def test_teacher_page_and_doctor_show_the_queue_s_workers(queue_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from tutor.doctor import check_queue
    from tutor.runs.queue.schema import apply_queue_schema
    from tutor.runs.queue.store import upsert_worker

    db = open_database(queue_url)
    findings = {f.name: f for f in check_queue()}
    assert findings["schema"].ok
    apply_queue_schema(db)
    findings = {f.name: f for f in check_queue()}
    assert findings["queue schema"].ok and not findings["workers"].ok
    assert "no worker alive" in findings["workers"].detail
    upsert_worker(db, "gpu-box:17", "gpu-box", 17, capacity=2, running=1, warm=2)
    findings = {f.name: f for f in check_queue()}
    assert findings["workers"].ok and "gpu-box:17 on gpu-box" in findings["workers"].detail
    from tutor.runs.queue.store import forget_silent_workers

    assert forget_silent_workers(db) == 0  # it beats: kept
    upsert_worker(db, "gone:1", "gone", 1, capacity=1, running=0, warm=0)
    with db.engine.begin() as connection:
        connection.execute(text("UPDATE tutor_workers SET heartbeat_at = heartbeat_at - interval '2 hours' "
                                "WHERE name = 'gone:1'"))  # fmt: skip
    assert forget_silent_workers(db) == 1  # silent for an hour: off the page

    monkeypatch.setenv("TUTOR_TEACHER_PASSPHRASE", "open sesame")
    # The page takes a worker for dead 3 heartbeats after its last: with the tests' 0.5 s, drawing the app's
    # first page on a busy machine outlasted the fake worker's beat. This page is not about timing.
    monkeypatch.setenv("TUTOR_WORKER_HEARTBEAT_S", "20")
    restart_app_server()
    try:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30).run()
        at.switch_page("app_pages/teacher.py").run()
        at.text_input(key="teacher-passphrase").input("open sesame")
        at.button[0].click().run()
        assert not at.exception
        assert "1 of 1 workers alive, 2 runs at once in all; 0 runs waiting in the queue." in texts(at)
        table = next(frame.value for frame in at.dataframe if "worker" in frame.value.columns)
        assert table.to_dict("records")[0]["host"] == "gpu-box"
        assert table.to_dict("records")[0]["running"] == "1 of 2"
    finally:
        restart_app_server()
        db.dispose()


def test_the_lesson_page_says_when_a_run_is_retried_on_another_worker() -> None:
    def script() -> None:
        from tutor.runs.contract import Progress, RunSnapshot, RunStatus
        from tutor.runs.queue.store import RETRY_NOTE
        from ui.widgets import render_live

        queued = Progress(note=RETRY_NOTE)
        render_live(RunSnapshot(1, "a", "l", "", RunStatus.QUEUED, queued, "", None, None, 1, 0.0, None, None, 1))
        running = Progress(phase="running", note=RETRY_NOTE)
        render_live(RunSnapshot(1, "a", "l", "", RunStatus.RUNNING, running, "", None, None, None, 0.0, 1.0, None, 2))

    at = AppTest.from_function(script, default_timeout=30).run()
    assert not at.exception
    page = texts(at)
    assert "It runs again from the start on another worker." in page
    assert "Attempt 2: the worker that started your run stopped" in page


def test_an_app_server_in_queue_mode_starts_no_sandbox_and_no_pool(queue_url: str) -> None:
    code = (
        "import os, sys\n"
        "from streamlit.testing.v1 import AppTest\n"
        "from tests.queue_support import descendants_of\n"
        "at = AppTest.from_file('app.py', default_timeout=30)\n"
        "at.query_params['lesson'] = 'assign-the-model'\n"
        "at.run()\n"
        "assert not at.exception, at.exception\n"
        "from ui.state import get_runs\n"
        "print(type(get_runs()).__name__, get_runs().pool_stats(), len(descendants_of(os.getpid())),\n"
        "      sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'keras'}),\n"
        "      'tutor.sandbox.pool' in sys.modules)\n"
    )
    env = queue_env(queue_url, TUTOR_POOL_SIZE="2")  # the setting a local server would start a pool with
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "QueueRunService None 0 [] False"


def test_a_verdict_is_written_once_and_a_late_attempt_changes_nothing(queue_url: str) -> None:
    from tutor.grading.verdict import Verdict
    from tutor.runs.contract import RunStatus
    from tutor.runs.queue.service import QueueRunService
    from tutor.runs.queue.store import claim_run, finish_run, settle_stalled_run

    db = open_database(queue_url)
    service = QueueRunService(db, "server")
    try:
        ada = sign_in_learner(db, IdentitySource.WORKSHOP, "Ada", "ada", "K").id
        run_id = service.submit(ada, LESSON, "model\n").id
        first = claim_run(db, run_id, "w1")
        assert first is not None and first.attempt == 1
        assert claim_run(db, run_id, "w2") is None  # running: nobody else takes it
        assert settle_stalled_run(db, run_id, retried=True, aborted=False) == "retried"  # w1 went silent
        second = claim_run(db, run_id, "w2")
        assert second is not None and second.attempt == 2
        late = Verdict(LESSON.id, True, [], None, [])
        assert not finish_run(db, first, RunStatus.DONE, late, None)  # w1's late report: ignored
        real = Verdict(LESSON.id, False, [], None, [])
        assert finish_run(db, second, RunStatus.DONE, real, None)
        assert not finish_run(db, second, RunStatus.DONE, late, None)  # a duplicate: ignored
        snapshot = service.snapshot(run_id)
        assert snapshot.verdict.passed is False and snapshot.attempts == 2 and snapshot.worker == "w2"
    finally:
        service.shutdown()
        db.dispose()


def test_the_run_record_and_its_job_are_one_transaction(queue_url: str) -> None:
    """The queue's own lock refuses a second queued job of the same learner and lesson; the run record
    written in the same transaction goes with it."""
    from tutor.runs.contract import RunInFlight
    from tutor.runs.queue.service import QueueRunService
    from tutor.runs.queue.store import TASK_NAME

    db = open_database(queue_url)
    service = QueueRunService(db, "server")
    try:
        ada = sign_in_learner(db, IdentitySource.WORKSHOP, "Ada", "ada", "K").id
        with db.engine.begin() as connection:  # a job queued behind the run records' back
            raw = connection.connection.driver_connection
            service.app.configure_task(TASK_NAME, queueing_lock=f"run:{ada}/{LESSON.id}", connection=raw).defer(
                run_id=0, lesson=LESSON.id, lesson_hash=""
            )
        with pytest.raises(RunInFlight, match="already queued"):
            service.submit(ada, LESSON, "model\n")
        with db.sessions() as session:
            assert session.scalars(select(Run)).all() == []  # rolled back with the refused job
    finally:
        service.shutdown()
        db.dispose()


def test_finished_jobs_leave_the_queue_after_a_day_and_their_runs_stay(queue_url: str) -> None:
    """The sweeper's pruning: a job that ended over TUTOR_QUEUE_KEEP_JOBS_HOURS ago leaves procrastinate's
    tables; a recent one and a queued one (however old) stay; the run records all stay."""
    import asyncio

    import procrastinate
    from sqlalchemy import text as sql

    from tutor.runs.queue.service import QueueRunService
    from tutor.runs.queue.store import conninfo
    from tutor.runs.queue.sweeper import prune_finished_jobs

    db = open_database(queue_url)
    service = QueueRunService(db, "server")
    try:
        ids = [sign_in_learner(db, IdentitySource.WORKSHOP, n, n.lower(), "K").id for n in ("Ada", "Bo", "Cy")]
        old, recent, waiting = (service.submit(learner, LESSON, "model\n").id for learner in ids)
        service.cancel(old)  # Stop while queued: the job ends as cancelled
        service.cancel(recent)
        with db.engine.begin() as connection:
            jobs = dict(connection.execute(sql("SELECT id, job_id FROM runs")).all())
            backdate = sql("UPDATE procrastinate_events SET at = at - interval '25 hours' WHERE job_id IN (:a, :b)")
            connection.execute(backdate, {"a": jobs[old], "b": jobs[waiting]})

        async def prune() -> None:
            app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=conninfo(queue_url)))
            async with app.open_async():
                await prune_finished_jobs(app, 24)

        asyncio.run(prune())
        with db.engine.connect() as connection:
            left = set(connection.scalars(sql("SELECT id FROM procrastinate_jobs")))
            runs = dict(connection.execute(sql("SELECT id, status FROM runs")).all())
        assert left == {jobs[recent], jobs[waiting]}
        assert runs == {old: "cancelled", recent: "cancelled", waiting: "queued"}
    finally:
        service.shutdown()
        db.dispose()

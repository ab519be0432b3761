"""Queue mode with its real parts: the throwaway PostgreSQL, real `python -m tutor worker` processes with
real sandboxes, the app's run service. The programs need no TensorFlow (the queue is the point): each
ends with the lesson's NameError after printing for a while."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from tests.queue_support import (
    QUICK_NAME_ERROR,
    ROOT,
    WorkerProcess,
    alive,
    fresh_database_url,
    printed_runs,
    queue_env,
    slow_program,
    wait_until,
)
from tutor import settings
from tutor.lessons.lesson import load_lessons
from tutor.runs.contract import RunInFlight, RunStatus
from tutor.runs.queue.service import QueueRunService
from tutor.runs.queue.sweeper import sandbox_processes
from tutor.sandbox.cgroups import GROUP
from tutor.sandbox.isolation import UID_RANGE
from tutor.store.db import IdentitySource, Run, open_database
from tutor.store.progress import sign_in_learner, summarize_learner

LESSON = load_lessons().get("assign-the-model")


@pytest.fixture
def queue_url(monkeypatch: pytest.MonkeyPatch, postgres_url: str) -> str:
    for url in fresh_database_url(postgres_url):
        for key, value in queue_env(url).items():
            if key.startswith("TUTOR_"):
                monkeypatch.setenv(key, value)
        yield url


@pytest.fixture
def workers(queue_url: str, tmp_path: Path):
    started: list[WorkerProcess] = []

    def start(name: str, **env: str) -> WorkerProcess:
        worker = WorkerProcess(queue_url, name, tmp_path, **env)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def service(queue_url: str):
    db = open_database(queue_url)
    runs = QueueRunService(db, "test-server")
    yield runs
    runs.shutdown()
    db.dispose()


def learner(service: QueueRunService, name: str) -> str:
    return sign_in_learner(service.db, IdentitySource.WORKSHOP, name, name.lower(), "K").id


def wait_finished(service: QueueRunService, run_id: int, timeout: float = 60):
    wait_until(lambda: (s := service.snapshot(run_id)) is not None and s.state.finished, timeout)
    return service.snapshot(run_id)


def test_two_workers_share_one_queue_and_every_run_is_recorded_once(workers, service) -> None:
    first, second = workers("w1"), workers("w2")
    ids = [service.submit(learner(service, f"L{i}"), LESSON, slow_program(0.5, f"run {i}")).id for i in range(20)]
    snapshots = [wait_finished(service, run_id, 120) for run_id in ids]
    assert all(s.state is RunStatus.DONE for s in snapshots), [(s.state, s.error) for s in snapshots]
    assert all(s.verdict.first_error["name"] == "model" for s in snapshots)
    assert {s.worker for s in snapshots} == {"w1", "w2"}  # both took runs
    assert all(s.attempts == 1 for s in snapshots)
    with service.db.sessions() as session:
        assert session.scalar(select(func.count(Run.id))) == 20
    wait_until(lambda: job_counts(service) == {"succeeded": 20}, 10)  # marked just after the run's record
    lines = printed_runs((first, second), 20)
    assert sorted(int(line.split()[1]) for line in lines) == sorted(ids)  # one printed line per run
    assert all("NameError: model" in line and "lesson assign-the-model" in line for line in lines)


def test_one_run_in_flight_per_learner_and_lesson(service) -> None:
    ada = learner(service, "Ada")
    first = service.submit(ada, LESSON, QUICK_NAME_ERROR)
    with pytest.raises(RunInFlight):
        service.submit(ada, LESSON, QUICK_NAME_ERROR)
    other = load_lessons().get("build-before-fit")
    service.submit(ada, other, QUICK_NAME_ERROR)  # another lesson is another run
    assert service.find_active(ada, LESSON.id) == first.id
    assert service.snapshot(first.id).state is RunStatus.QUEUED


def test_a_killed_worker_s_run_is_retried_once_on_another_worker(workers, service) -> None:
    doomed = workers("doomed")
    run_id = service.submit(learner(service, "Ada"), LESSON, slow_program(6)).id
    wait_until(lambda: "step 3" in (service.snapshot(run_id).output or ""), 60)
    assert service.snapshot(run_id).worker == "doomed"
    sandbox = doomed.descendants()
    assert sandbox, "the run's sandbox processes are children of the worker"
    uids = sandbox_uids(sandbox)
    assert uids or os.geteuid() != 0  # as root, the learner's code runs as a sandbox uid of its own
    survivor = workers("survivor")
    doomed.kill()
    wait_until(lambda: not alive(sandbox), 5)  # nothing of the killed worker's sandbox lives on
    retried = wait_until(lambda: service.snapshot(run_id).attempts == 2, 30) or service.snapshot(run_id)
    assert retried.worker == "survivor"
    done = wait_finished(service, run_id, 60)
    assert done.state is RunStatus.DONE and done.attempts == 2 and done.worker == "survivor"
    assert done.verdict.first_error["name"] == "model"
    with service.db.sessions() as session:
        assert session.scalar(select(func.count(Run.id))) == 1
        assert session.scalar(select(Run.outcome)) == "NameError: model (never created)"
    [line] = printed_runs([survivor], 1)
    assert line.startswith(f"run {run_id} ") and "attempt 2" in line
    # Nor its uid or cgroups, once the survivor's sweep has looked (the survivor's own run is over).
    for uid in uids:
        wait_until(lambda uid=uid: not sandbox_processes(range(uid, uid + 1)), 10)
        wait_until(
            lambda uid=uid: (
                not any((settings.cgroup_root() / c / GROUP / f"run-{uid}").exists() for c in ("memory", "pids"))
            ),
            15,
        )


def sandbox_uids(pids: set[int]) -> set[int]:
    uids = set()
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        uid = int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1])
        if uid in UID_RANGE:
            uids.add(uid)
    return uids


def test_a_run_whose_workers_die_twice_is_interrupted(workers, service) -> None:
    run_id = service.submit(learner(service, "Ada"), LESSON, slow_program(20)).id
    for name in ("first", "second"):
        worker = workers(name)
        wait_until(lambda name=name: service.snapshot(run_id).worker == name, 60)
        wait_until(lambda: service.snapshot(run_id).state is RunStatus.RUNNING, 30)
        worker.kill()
    watcher = workers("watcher")  # only its sweeper is needed: no run is left for it
    final = wait_finished(service, run_id, 30)
    assert final.state is RunStatus.INTERRUPTED and "interrupted" in final.error and final.attempts == 2
    assert f"run {run_id} " not in watcher.output().replace("sweeper: run", "")


def test_stop_while_queued_and_while_running(workers, service) -> None:
    worker = workers("w1")
    running = service.submit(learner(service, "Ada"), LESSON, slow_program(30)).id
    waiting = service.submit(learner(service, "Bob"), LESSON, QUICK_NAME_ERROR).id
    wait_until(lambda: "step 2" in (service.snapshot(running).output or ""), 60)
    assert service.snapshot(waiting).state is RunStatus.QUEUED
    service.cancel(waiting)
    assert service.snapshot(waiting).state is RunStatus.CANCELLED  # at once: its job was still queued
    sandbox = worker.descendants()
    assert sandbox
    stopped_at = time.monotonic()
    service.cancel(running)
    wait_until(lambda: not alive(sandbox), 1.0, interval=0.01)  # Stop reaches the sandbox within 1 s
    reached = time.monotonic() - stopped_at
    final = wait_finished(service, running, 10)
    assert final.state is RunStatus.CANCELLED, (final.state, final.error)
    assert reached < 1.0
    # The run's record is written before the task raises JobAborted; procrastinate marks the job a
    # moment later (CI's 2 cores once caught it still "doing"), so wait for that too.
    expected = {"cancelled": 1, "aborted": 1}
    wait_until(lambda: job_counts(service) == expected, 10)
    assert job_counts(service) == expected


def job_counts(service) -> dict[str, int]:
    with service.db.sessions() as session:
        return dict(session.execute(text("SELECT status, count(*) FROM procrastinate_jobs GROUP BY status")).all())


def test_a_worker_grades_the_lesson_version_the_app_sent(workers, service, tmp_path: Path) -> None:
    """The lesson's content travels with the job: a worker whose own lesson folder differs (a host not
    yet deployed) still grades against the app's version."""
    lessons = tmp_path / "lessons"
    subprocess.run(["cp", "-r", str(ROOT / "lessons"), str(lessons)], check=True)
    toml = lessons / "assign-the-model.toml"
    toml.write_text(toml.read_text().replace('[[checks]]\nkind = "no_name_error"\n', ""))
    workers("stale", TUTOR_LESSONS_DIR=str(lessons))
    run_id = service.submit(learner(service, "Ada"), LESSON, QUICK_NAME_ERROR).id
    final = wait_finished(service, run_id, 60)
    assert final.state is RunStatus.DONE, final.error
    assert [check.id for check in final.verdict.checks] == [spec.kind for spec in LESSON.checks]
    assert final.verdict.checks[0].id == "no_name_error"  # the app's version, which the worker's lacks


def test_a_lesson_that_does_not_match_its_hash_is_a_grader_error(workers, service) -> None:
    run_id = service.submit(learner(service, "Ada"), LESSON, QUICK_NAME_ERROR).id
    with service.db.engine.begin() as connection:  # the job's lesson altered on its way
        connection.execute(text("UPDATE procrastinate_jobs SET args = jsonb_set(args, '{lesson_hash}', '\"0\"')"))
    workers("w1")
    final = wait_finished(service, run_id, 60)
    assert final.state is RunStatus.FAILED and final.verdict is None
    assert "the lesson sent with the run cannot be used here" in final.error
    assert "differs from the app's (hash)" in final.error


def test_submit_cli_prints_the_verdict_with_run_worker_and_attempts(workers, queue_url: str, tmp_path: Path) -> None:
    workers("cli-worker")
    program = tmp_path / "starter.py"
    program.write_text(QUICK_NAME_ERROR)
    command = [sys.executable, "-m", "tutor", "submit", str(program), "--lesson", LESSON.id, "--learner", "Ada"]
    done = subprocess.run([*command, "--json"], cwd=ROOT, env=queue_env(queue_url), capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["worker"] == "cli-worker" and result["attempts"] == 1 and result["status"] == "done"
    assert result["passed"] is False and result["error"]["name"] == "model" and result["lesson"] == LESSON.id
    graded = subprocess.run([sys.executable, "-m", "tutor", "grade", str(program), "--lesson", LESSON.id, "--json"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert set(json.loads(graded.stdout)) | {"run_id", "worker", "attempts", "status"} == set(result)
    db = open_database(queue_url)
    with db.sessions() as session:
        run = session.get(Run, result["run_id"])
        assert (run.status, run.attempts, run.worker) == ("done", 1, "cli-worker")
    db.dispose()


@pytest.mark.tf  # a warm sandbox imports TensorFlow
@pytest.mark.parametrize("fork_server", ["off", "auto"])
def test_express_lane_gives_a_quick_run_its_own_slot(workers, service, fork_server: str) -> None:
    worker = workers("w1", TUTOR_POOL_SIZE="1", TUTOR_FORK_SERVER=fork_server)

    def warm_ready() -> bool:
        return any(worker.warm == 1 for worker in service.workers())

    wait_until(warm_ready, 180)
    long_run = "import time\nprint('started', flush=True)\ntime.sleep(60)\nmodel = 1\n"
    busy = service.submit(learner(service, "Ada"), LESSON, long_run).id
    if fork_server == "off":
        wait_until(lambda: not warm_ready(), 60)  # it took the warm sandbox
        wait_until(warm_ready, 180)  # and the pool has made another
    else:
        wait_until(lambda: service.snapshot(busy).state is RunStatus.RUNNING, 60)  # a fork server stays ready
    quick = service.submit(learner(service, "Bob"), LESSON, QUICK_NAME_ERROR).id
    try:
        final = wait_finished(service, quick, 60)
    except AssertionError:
        raise AssertionError(f"{service.snapshot(quick)}\n{worker.output()}") from None
    assert final.state is RunStatus.DONE and final.verdict.first_error["name"] == "model"
    assert final.verdict.cases[0].result.warm  # tried in the warm sandbox of the express slot
    assert service.snapshot(busy).state is RunStatus.RUNNING  # while the only regular slot was still busy
    service.cancel(busy)
    assert wait_finished(service, busy, 10).state is RunStatus.CANCELLED


def test_stop_after_the_worker_died_ends_the_run_cancelled(workers, service) -> None:
    doomed = workers("doomed")
    run_id = service.submit(learner(service, "Ada"), LESSON, slow_program(30)).id
    wait_until(lambda: "step 2" in (service.snapshot(run_id).output or ""), 60)
    doomed.kill()
    service.cancel(run_id)  # the job is still 'doing' for procrastinate: abort requested, nobody to hear it
    assert service.snapshot(run_id).state is RunStatus.RUNNING
    workers("sweeper")  # its sweeper finds the dead worker's job and ends it, as Stop asked
    final = wait_finished(service, run_id, 30)
    assert final.state is RunStatus.CANCELLED and final.attempts == 1
    with service.db.sessions() as session:
        assert session.execute(text("SELECT status FROM procrastinate_jobs")).scalar() == "failed"


def test_the_unchanged_starter_through_the_queue_is_no_attempt(workers, service) -> None:
    """As in local mode (tests/test_app.py): the starter as given shows what happens, counts nothing, and its
    verdict says so on whichever page reads it back from the run's row. A changed program is an attempt."""
    workers("w-starter")
    ada = learner(service, "Ada")
    starter = wait_finished(service, service.submit(ada, LESSON, LESSON.starter).id, 120)
    assert starter.state is RunStatus.DONE, starter.error
    assert starter.verdict.attempt is False and starter.verdict.empty is False
    assert starter.verdict.first_error["name"] == "model"
    changed = wait_finished(service, service.submit(ada, LESSON, LESSON.starter + "\n# my fix\n").id, 120)
    assert changed.verdict.attempt is True
    with service.db.sessions() as session:
        attempts = dict(session.execute(select(Run.id, Run.real_attempt)).all())
    assert attempts == {starter.id: False, changed.id: True}
    assert summarize_learner(service.db, ada)[LESSON.id].attempts == 1
    assert service.last_run(ada, LESSON.id).verdict.attempt is True


def test_a_thread_pool_runs_in_a_worker_s_sandbox(workers, service) -> None:
    """A worker's sandbox is the same as a local one: multiprocessing finds its private /dev/shm there too."""
    workers("w-pool")
    source = (
        "from multiprocessing.pool import ThreadPool\n\nwith ThreadPool(processes=2) as pool:\n"
        "    print('pooled', pool.map(abs, [-1, -2]))\nmodel.fit()\n"
    )
    done = wait_finished(service, service.submit(learner(service, "Ada"), LESSON, source).id, 120)
    assert done.state is RunStatus.DONE, done.error
    result = done.verdict.cases[0].result
    assert result.error is not None and result.error.type == "NameError", result.error  # the lesson's, not ours
    assert result.stdout == "pooled [1, 2]\n"


def test_a_figure_crosses_the_queue_to_the_learner_s_page(workers, service) -> None:
    """A plot made in a worker's sandbox comes back with the verdict, as the lesson page reads it."""
    workers("w-plot")
    source = (
        "import matplotlib.pyplot as plt\n\nplt.figure(figsize=(4, 3), dpi=50)\nplt.plot([0.9, 0.5, 0.2])\n"
        "plt.show()\nmodel.fit()\n"
    )
    done = wait_finished(service, service.submit(learner(service, "Ada"), LESSON, source).id, 120)
    assert done.state is RunStatus.DONE, done.error
    result = done.verdict.cases[0].result
    assert result.error is not None and result.error.type == "NameError", result.error
    [figure] = result.figures
    assert (figure.width, figure.height, figure.how) == (200, 150, "shown")
    assert figure.png and result.figures_made == 1

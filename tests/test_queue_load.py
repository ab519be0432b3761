"""The 30-learner workshop of tests/test_load.py in queue mode: the app's run service, the throwaway
PostgreSQL and two real worker processes (each with one run at a time and a warm sandbox), with the tiny
lesson (one epoch on 256 samples)."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.queue_support import WorkerProcess, fresh_database_url, printed_runs, queue_env
from tests.workshop_sim import FIRST_TRY, LESSON_ID, SOLUTION, write_tiny_lesson
from tutor.runs.contract import RunStatus
from tutor.store.class_report import build_class_grid, count_common_errors
from tutor.store.db import IdentitySource, Run, open_database
from tutor.store.progress import sign_in_learner

LEARNERS = 30
ARRIVAL_S = 20.0


@pytest.fixture
def queue_url(postgres_url: str):
    yield from fresh_database_url(postgres_url)


@pytest.mark.tf
def test_thirty_learners_through_the_queue_every_run_recorded_once(
    tmp_path: Path, queue_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tutor.runs.queue.service import QueueRunService

    lesson = write_tiny_lesson(tmp_path)
    folders = {"TUTOR_LESSONS_DIR": str(tmp_path / "lessons"), "TUTOR_SOLUTIONS_DIR": str(tmp_path / "solutions")}
    for key, value in {**queue_env(queue_url), **folders}.items():
        if key.startswith("TUTOR_"):
            monkeypatch.setenv(key, value)
    db = open_database(queue_url)
    service = QueueRunService(db, "load-test")
    workers = [WorkerProcess(queue_url, f"w{i}", tmp_path, TUTOR_POOL_SIZE="1", **folders) for i in (1, 2)]
    try:
        learners = [sign_in_learner(db, IdentitySource.WORKSHOP, f"Learner {i:02d}", f"learner {i:02d}", "K")
                    for i in range(LEARNERS)]  # fmt: skip
        submitted, problems, lock = [], [], threading.Lock()
        rng = random.Random(6)
        arrivals = sorted(rng.uniform(0, ARRIVAL_S) for _ in learners)

        def learner_session(learner_id: str, arrival: float) -> None:
            time.sleep(arrival)
            for code in (FIRST_TRY, SOLUTION):
                try:
                    run_id = service.submit(learner_id, lesson, code).id
                except Exception as exc:  # e.g. RunInFlight: must not happen, each waits for their run
                    problems.append(repr(exc))
                    return
                with lock:
                    submitted.append((run_id, learner_id, code))
                deadline = time.monotonic() + 400
                while not service.snapshot(run_id).state.finished:
                    if time.monotonic() > deadline:
                        problems.append(f"run {run_id} never finished")
                        return
                    time.sleep(0.2)
                time.sleep(rng.uniform(0, 1))

        threads = [threading.Thread(target=learner_session, args=(learner.id, arrival))
                   for learner, arrival in zip(learners, arrivals, strict=True)]  # fmt: skip
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(600)
        assert problems == []
        assert len(submitted) == 2 * LEARNERS

        with db.sessions() as session:
            runs = list(session.scalars(select(Run).order_by(Run.id)))
        assert Counter(run_id for run_id, _, _ in submitted) == Counter(run.id for run in runs)  # once each
        by_id = {run.id: run for run in runs}
        for run_id, learner_id, code in submitted:
            run = by_id[run_id]
            assert (run.learner_id, run.lesson_id, run.code, run.status) == (learner_id, LESSON_ID, code, "done")
            assert run.passed == (code == SOLUTION) and run.attempts == 1
            assert service.snapshot(run_id).state is RunStatus.DONE
        assert {run.worker for run in runs} == {"w1", "w2"}
        grid = build_class_grid(db, [LESSON_ID])
        assert all((grid.cell(learner.id, LESSON_ID).attempts, grid.cell(learner.id, LESSON_ID).passed) == (2, True)
                   for learner in learners)  # fmt: skip
        [name_error] = count_common_errors(db)[LESSON_ID]
        assert (name_error.outcome, name_error.learners_ever, name_error.runs) == (
            "NameError: model (result of the call not kept)",
            30,
            30,
        )
        assert len(printed_runs(workers, 2 * LEARNERS)) == 2 * LEARNERS
    finally:
        for worker in workers:
            worker.stop()
        service.shutdown()
        db.dispose()

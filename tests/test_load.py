"""A simulated workshop through the real run manager, the real database and the real sandbox: 30 learners
arriving over a short period, each running the starter and then the solution of a tiny lesson (one epoch
on 256 samples, so CI stays quick); and a server process killed mid-workshop and started again."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.waiting import wait_for
from tests.workshop_sim import FIRST_TRY, LESSON_ID, SOLUTION, write_tiny_lesson
from tutor.runs.contract import RunStatus
from tutor.runs.local import DatabaseRecorder, RunManager
from tutor.sandbox.dataset import ensure_dataset
from tutor.sandbox.isolation import Limits
from tutor.sandbox.pool import WarmPool
from tutor.store.class_report import build_class_grid, count_common_errors, time_to_pass
from tutor.store.db import IdentitySource, Run, open_database
from tutor.store.progress import sign_in_learner

ROOT = Path(__file__).resolve().parent.parent
LEARNERS = 30
ARRIVAL_S = 20.0  # learners arrive spread over this many seconds


def all_runs(db) -> list[Run]:
    with db.sessions() as session:
        return list(session.scalars(select(Run).order_by(Run.id)))


@pytest.mark.tf
def test_thirty_learners_every_run_recorded_once(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'workshop.sqlite3'}")
    lesson = write_tiny_lesson(tmp_path)
    learners = [sign_in_learner(db, IdentitySource.WORKSHOP, f"Learner {i:02d}", f"learner {i:02d}", "K") for i in
                range(LEARNERS)]  # fmt: skip
    # As the app runs it: warm sandboxes and the express lane (whose cut-short tries go back in line and
    # must still be recorded once).
    pool = WarmPool(2, 1536, ensure_dataset(), limits=Limits(wall_s=lesson.time_s))
    manager = RunManager(recorder=DatabaseRecorder(db, "load-test"), pool=pool)
    jobs, problems, lock = [], [], threading.Lock()
    rng = random.Random(6)
    arrivals = sorted(rng.uniform(0, ARRIVAL_S) for _ in learners)

    def learner_session(learner_id: str, arrival: float) -> None:
        time.sleep(arrival)
        for code in (FIRST_TRY, SOLUTION):
            try:
                job = manager.submit(learner_id, lesson, code)
            except Exception as exc:  # e.g. RunInFlight: must not happen, each learner waits for their run
                problems.append(repr(exc))
                return
            with lock:
                jobs.append(job)
            if not job.done.wait(300):
                problems.append(f"job {job.id} never finished")
                return
            time.sleep(rng.uniform(0, 1))  # reading the verdict, editing

    started = time.monotonic()
    threads = [threading.Thread(target=learner_session, args=(learner.id, arrival))
               for learner, arrival in zip(learners, arrivals, strict=True)]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(600)
    manager.shutdown()
    elapsed = time.monotonic() - started
    assert problems == []
    assert len(jobs) == 2 * LEARNERS

    runs = all_runs(db)
    # Every run recorded exactly once, and the record is the job's.
    assert len(runs) == len(jobs)
    assert Counter(job.record_id for job in jobs) == Counter(run.id for run in runs)
    assert len({(run.server, run.job_id) for run in runs}) == len(runs)
    by_id = {run.id: run for run in runs}
    for job in jobs:
        run, snapshot = by_id[job.record_id], job.snapshot()
        assert snapshot.state is RunStatus.DONE, snapshot.error
        assert (run.learner_id, run.lesson_id, run.code, run.status) == (job.owner, LESSON_ID, job.source, "done")
        assert run.passed == snapshot.verdict.passed == (job.source == SOLUTION)
        assert run.started_at is not None and run.finished_at >= run.started_at >= run.submitted_at
        if job.source == FIRST_TRY:
            assert (run.error_type, run.error_name, run.error_line) == ("NameError", "model", 16)

    # The teacher's views match the records.
    grid = build_class_grid(db, [LESSON_ID])
    assert len(grid.learners) == LEARNERS
    for learner in learners:
        cell = grid.cell(learner.id, LESSON_ID)
        mine = [run for run in runs if run.learner_id == learner.id]
        assert (cell.attempts, cell.passed) == (len(mine), any(run.passed for run in mine)) == (2, True)
    [name_error] = count_common_errors(db)[LESSON_ID]
    assert (name_error.outcome, name_error.learners_ever, name_error.learners_now, name_error.runs) == (
        "NameError: model (result of the call not kept)", LEARNERS, 0, LEARNERS
    )  # fmt: skip
    assert time_to_pass(db)[LESSON_ID].learners_passed == LEARNERS
    warm = sum(all(c.result.warm for c in job.verdict.cases if c.result) for job in jobs)
    tried = sum(job.probed for job in jobs)
    print(f"\n{len(jobs)} runs by {LEARNERS} learners in {elapsed:.0f} s, max_running={manager.max_running}, "
          f"{warm} warm, {tried} tried in the express lane")  # fmt: skip


@pytest.mark.tf
def test_runs_in_flight_when_the_server_dies_end_as_interrupted(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'workshop.sqlite3'}"
    db = open_database(url)
    learners = [sign_in_learner(db, IdentitySource.WORKSHOP, f"L{i}", f"l{i}", "K").id for i in range(6)]
    command = [sys.executable, str(ROOT / "tests" / "workshop_sim.py"), url, str(tmp_path)]
    first = subprocess.Popen([*command, *learners], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    events: list[dict] = []
    reader = threading.Thread(target=lambda: events.extend(json.loads(line) for line in first.stdout))
    reader.start()
    # Kill it once a run has finished (so the restart has finished runs to keep) while others are in flight.

    def one_done_one_running() -> bool:
        statuses = Counter(run.status for run in all_runs(db))
        return first.poll() is not None or (statuses["done"] >= 1 and statuses["running"] >= 1)

    assert wait_for(one_done_one_running, 180, 0.05) and first.poll() is None, events
    os.kill(first.pid, signal.SIGKILL)
    first.wait(30)
    reader.join(30)
    before = {run.id: run.status for run in all_runs(db)}
    in_flight = {run_id for run_id, status in before.items() if status in ("queued", "running")}
    assert in_flight, before

    # A new server on the same database; the learners submit again (the solution).
    second = subprocess.run(
        [*command, *learners, "--solution-only"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert second.returncode == 0, second.stderr[-3000:]
    second_events = [json.loads(line) for line in second.stdout.splitlines()]
    assert second_events[0] == {"event": "interrupted", "count": len(in_flight)}

    runs = all_runs(db)
    statuses = {run.id: run.status for run in runs}
    # Nothing vanished: every run the first server recorded is still there...
    assert set(before) <= set(statuses)
    assert {e["record"] for e in events if e["event"] == "submitted"} <= set(before)
    # ...those in flight when it died are "interrupted", finished ones kept their verdict,
    for run_id, status in before.items():
        assert statuses[run_id] == ("interrupted" if run_id in in_flight else status)
    # ...nothing was recorded twice, and the second server's runs all finished.
    assert len({(run.server, run.job_id) for run in runs}) == len(runs)
    new_runs = [run for run in runs if run.id not in before]
    assert len(new_runs) == len(learners) and all(run.status == "done" and run.passed for run in new_runs)
    assert {e["record"] for e in second_events if e["event"] == "submitted"} == {run.id for run in new_runs}
    grid = build_class_grid(db, [LESSON_ID])
    for learner in learners:
        tries = [run for run in runs if run.learner_id == learner and run.real_attempt is not False]  # starter: no try
        assert grid.cell(learner, LESSON_ID).attempts == len(tries)
        assert grid.cell(learner, LESSON_ID).passed

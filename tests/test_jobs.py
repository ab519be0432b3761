"""The run manager: a fair queue, bounded concurrency, one run per learner, cancel, progress."""

from __future__ import annotations

import threading

import pytest

from tests.waiting import wait_for
from tutor.grading.verdict import Verdict
from tutor.lessons.lesson import load_lessons
from tutor.runs.contract import RunInFlight, RunStatus
from tutor.runs.local import RunManager

LESSON = load_lessons().get("assign-the-model")


class SlowGrader:
    """Stands in for the sandbox (a unit test of the layer above it): waits until released."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.running = 0
        self.peak = 0
        self.order: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, lesson, source, on_event=None, cancel=None) -> Verdict:
        with self.lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
            self.order.append(source)
        on_event({"type": "fit_begin", "epochs": 5})
        on_event({"type": "epoch_end", "epoch": 0, "metrics": {"loss": 1.0, "accuracy": 0.5}})
        on_event({"type": "output", "stream": "stdout", "text": "Epoch 1/5\n"})
        while not self.release.wait(0.01):
            if cancel is not None and cancel.is_set():
                break
        with self.lock:
            self.running -= 1
        return Verdict(lesson.id, source == "good", [], None, [])


def test_bounded_concurrency_and_fifo_queue() -> None:
    grader = SlowGrader()
    manager = RunManager(max_running=2, grade=grader)
    jobs = [manager.submit(f"learner-{i}", LESSON, f"code-{i}") for i in range(5)]
    assert wait_for(lambda: grader.running == 2)
    snapshots = [job.snapshot() for job in jobs]
    assert [s.state for s in snapshots] == [RunStatus.RUNNING] * 2 + [RunStatus.QUEUED] * 3
    assert [s.queue_position for s in snapshots[2:]] == [1, 2, 3]
    grader.release.set()
    for job in jobs:
        assert job.done.wait(5)
    assert grader.peak == 2
    assert grader.order == [f"code-{i}" for i in range(5)]
    assert manager.counts().as_dict() == {"queued": 0, "running": 0, "max_running": 2}
    manager.shutdown()


def test_one_run_in_flight_per_learner() -> None:
    grader = SlowGrader()
    manager = RunManager(max_running=1, grade=grader)
    first = manager.submit("ada", LESSON, "code")
    with pytest.raises(RunInFlight):
        manager.submit("ada", LESSON, "code again")
    manager.submit("bob", LESSON, "other")  # others are not blocked
    grader.release.set()
    assert first.done.wait(5)
    second = manager.submit("ada", LESSON, "code again")  # allowed once the first is done
    assert second.done.wait(5)
    manager.shutdown()


def test_progress_and_verdict_are_visible_in_snapshots() -> None:
    grader = SlowGrader()
    manager = RunManager(max_running=1, grade=grader)
    job = manager.submit("ada", LESSON, "good")
    assert wait_for(lambda: job.snapshot().progress.history)
    snapshot = job.snapshot()
    assert snapshot.progress.epochs == 5
    assert snapshot.progress.history == [{"loss": 1.0, "accuracy": 0.5}]
    assert snapshot.output == "Epoch 1/5\n"
    grader.release.set()
    assert job.done.wait(5)
    assert job.snapshot().state is RunStatus.DONE
    assert job.snapshot().verdict.passed
    manager.shutdown()


def test_cancel_queued_and_running_jobs() -> None:
    grader = SlowGrader()
    manager = RunManager(max_running=1, grade=grader)
    running = manager.submit("ada", LESSON, "code")
    queued = manager.submit("bob", LESSON, "code")
    assert wait_for(lambda: grader.running == 1)
    manager.cancel(queued.id)
    assert queued.snapshot().state is RunStatus.CANCELLED
    manager.cancel(running.id)
    assert running.done.wait(5)
    assert running.snapshot().state is RunStatus.CANCELLED
    assert grader.order == ["code"]  # the cancelled queued job never ran
    manager.shutdown()


def test_a_broken_grader_fails_the_job_not_the_manager() -> None:
    def broken(lesson, source, on_event=None, cancel=None):
        raise RuntimeError("sandbox exploded")

    manager = RunManager(max_running=1, grade=broken)
    job = manager.submit("ada", LESSON, "code")
    assert job.done.wait(5)
    assert job.snapshot().state is RunStatus.FAILED
    assert "sandbox exploded" in job.snapshot().error
    ok = RunManager(max_running=1, grade=SlowGrader())
    ok.shutdown()
    manager.shutdown()


def test_real_run_through_the_manager() -> None:
    manager = RunManager(max_running=1)
    job = manager.submit("ada", LESSON, "print('hello')\nmodel.fit()\n")
    assert job.done.wait(60)
    snapshot = job.snapshot()
    assert snapshot.state is RunStatus.DONE
    assert snapshot.verdict.first_error["name"] == "model"
    assert snapshot.verdict.first_error["line"] == 2
    assert "hello" in snapshot.output
    manager.shutdown()

"""The run manager's express lane: a quick run does not wait behind long ones (a unit test of the layer
above the sandbox: the grader and the pool are stand-ins; tests/test_pool.py and bench/ use real ones)."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest

from tutor import jobs
from tutor.grading import CaseVerdict, Verdict
from tutor.jobs import JobState, RunManager
from tutor.lessons import load_lessons
from tutor.results import RunResult, Termination

LESSON = load_lessons().get("assign-the-model")


class ReadyPool:
    """Always has a warm sandbox ready (what the express lane asks of a pool)."""

    def __init__(self, ready: int = 1) -> None:
        self.ready = ready

    def stats(self) -> SimpleNamespace:
        return SimpleNamespace(ready=self.ready)

    def close(self) -> None:
        pass


class Grader:
    """ "slow" runs until stopped or 2 s have passed; anything else ends at once. Records every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, float]] = []
        self.lock = threading.Lock()

    def __call__(self, lesson, source, on_event=None, cancel=None, pool=None) -> Verdict:
        with self.lock:
            self.calls.append((source, time.monotonic()))
        on_event({"type": "output", "stream": "stdout", "text": f"{source} output\n"})
        termination = Termination.FINISHED
        if source.startswith("slow"):
            deadline = time.monotonic() + 2.0
            while time.monotonic() < deadline:
                if cancel.is_set():
                    termination = Termination.CANCELLED
                    break
                time.sleep(0.01)
        result = RunResult(termination, 0.1)
        passed = termination is Termination.FINISHED
        return Verdict(lesson.id, passed, [CaseVerdict("default", "", passed, [], result)])

    def count(self, source: str) -> int:
        with self.lock:
            return sum(1 for s, _ in self.calls if s == source)


@pytest.fixture
def short_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jobs, "EXPRESS_BUDGET_S", 0.3)


def test_a_quick_run_does_not_wait_behind_a_long_one() -> None:
    grader = Grader()
    manager = RunManager(max_running=1, grade=grader, pool=ReadyPool())
    try:
        slow = manager.submit("ada", LESSON, "slow")
        time.sleep(0.1)  # the only worker is busy now
        quick = manager.submit("bob", LESSON, "quick")
        assert quick.done.wait(1.0), "the quick run waited for the slow one"
        assert slow.snapshot().state is JobState.RUNNING
        assert quick.snapshot().state is JobState.DONE and quick.verdict.passed
        assert quick.probed
        assert slow.done.wait(5)
    finally:
        manager.shutdown()


def test_a_long_run_goes_back_to_its_place_and_runs_in_full(short_budget) -> None:
    grader = Grader()
    manager = RunManager(max_running=1, grade=grader, pool=ReadyPool())
    try:
        first = manager.submit("ada", LESSON, "slow-1")
        time.sleep(0.1)
        second = manager.submit("bob", LESSON, "slow-2")
        third = manager.submit("cyd", LESSON, "slow-3")
        deadline = time.monotonic() + 2
        while second.snapshot().progress.note is None and time.monotonic() < deadline:
            time.sleep(0.01)
        snapshot = second.snapshot()
        assert snapshot.state is JobState.QUEUED  # the quick try ran out of budget
        assert "needs more than a quick check" in snapshot.progress.note
        assert snapshot.output == ""  # the cut-short try's output is not shown as if it were the run's
        for job in (first, second, third):
            assert job.done.wait(15)
        for job in (first, second, third):
            assert job.snapshot().state is JobState.DONE
            assert job.verdict.passed  # the full run's verdict, not the cut-short try's
        assert grader.count("slow-2") == 2 and grader.count("slow-3") == 2  # one try, one full run each
        assert grader.count("slow-1") == 1  # it had a free worker: never tried in the express lane
        order = [source for source, _ in grader.calls if source in ("slow-2", "slow-3")]
        assert order[-2:] == ["slow-2", "slow-3"]  # full runs keep arrival order
    finally:
        manager.shutdown()


def test_code_that_binds_its_names_waits_its_turn() -> None:
    """Only code that reads a name nothing bound yet (the early NameError) is worth a quick try."""
    grader = Grader()
    manager = RunManager(max_running=1, grade=grader, pool=ReadyPool())
    try:
        slow = manager.submit("ada", LESSON, "slow")
        time.sleep(0.1)
        training = manager.submit("bob", LESSON, "slow_training = 1\n")  # binds all it reads: no try
        assert not training.done.wait(1.0)
        assert not training.probed and training.snapshot().state is JobState.QUEUED
        assert slow.done.wait(5) and training.done.wait(5)
        assert grader.count("slow_training = 1\n") == 1
    finally:
        manager.shutdown()


def test_no_express_try_while_a_worker_is_free() -> None:
    grader = Grader()
    manager = RunManager(max_running=2, grade=grader, pool=ReadyPool())
    try:
        job = manager.submit("ada", LESSON, "slow")
        assert job.done.wait(5)
        assert not job.probed
        assert grader.count("slow") == 1
    finally:
        manager.shutdown()


def test_no_express_lane_without_a_ready_warm_sandbox(short_budget) -> None:
    grader = Grader()
    manager = RunManager(max_running=1, grade=grader, pool=ReadyPool(ready=0))
    try:
        slow = manager.submit("ada", LESSON, "slow")
        time.sleep(0.1)
        quick = manager.submit("bob", LESSON, "quick")
        assert not quick.done.wait(0.8)  # a cold start could not be quick: it waits its turn
        assert quick.done.wait(5) and slow.done.wait(5)
        assert not quick.probed
    finally:
        manager.shutdown()


def test_stop_during_the_express_try_cancels_the_run(short_budget, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jobs, "EXPRESS_BUDGET_S", 5.0)
    grader = Grader()
    manager = RunManager(max_running=1, grade=grader, pool=ReadyPool())
    try:
        manager.submit("ada", LESSON, "slow-1")
        time.sleep(0.1)
        second = manager.submit("bob", LESSON, "slow-2")
        deadline = time.monotonic() + 2
        while second.snapshot().state is not JobState.RUNNING and time.monotonic() < deadline:
            time.sleep(0.01)
        manager.cancel(second.id)
        assert second.done.wait(2)
        assert second.snapshot().state is JobState.CANCELLED
        assert grader.count("slow-2") == 1  # not put back in line
    finally:
        manager.shutdown()

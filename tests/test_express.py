"""The run manager's express lane: a quick run does not wait behind long ones (a unit test of the layer
above the sandbox: the grader and the pool are stand-ins; tests/test_pool.py and bench/ use real ones)."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest

from tests.waiting import GENEROUS_S, wait_for
from tutor.grading.verdict import CaseVerdict, Verdict
from tutor.lessons.lesson import load_lessons
from tutor.runs import pipeline
from tutor.runs.contract import RunStatus
from tutor.runs.local import RunManager
from tutor.sandbox.results import RunResult, Termination

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
    """A run whose source starts with "slow" runs until the test releases the slow runs (or stops it);
    anything else ends at once. Records every call. Nothing here depends on how fast the machine is."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, float]] = []
        self.lock = threading.Lock()
        self.release = threading.Event()

    def __call__(self, lesson, source, on_event=None, cancel=None, pool=None) -> Verdict:
        with self.lock:
            self.calls.append((source, time.monotonic()))
        on_event({"type": "output", "stream": "stdout", "text": f"{source} output\n"})
        termination = Termination.FINISHED
        if source.startswith("slow"):
            deadline = time.monotonic() + 2 * GENEROUS_S  # only so that a broken test cannot hang the suite
            while not self.release.is_set() and time.monotonic() < deadline:
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
    monkeypatch.setattr(pipeline, "EXPRESS_BUDGET_S", 0.3)


def test_a_quick_run_does_not_wait_behind_a_long_one() -> None:
    grader = Grader()
    manager = RunManager(max_running=1, grade=grader, pool=ReadyPool())
    try:
        slow = manager.submit("ada", LESSON, "slow")
        assert wait_for(lambda: grader.count("slow") == 1)  # the only worker is busy now
        quick = manager.submit("bob", LESSON, "quick")
        assert quick.done.wait(GENEROUS_S)
        # The slow run cannot end before it is released: the quick one did not wait for it.
        assert slow.snapshot().state is RunStatus.RUNNING
        assert quick.snapshot().state is RunStatus.DONE and quick.verdict.passed
        assert quick.probed
        grader.release.set()
        assert slow.done.wait(GENEROUS_S)
    finally:
        manager.shutdown()


def test_a_long_run_goes_back_to_its_place_and_runs_in_full(short_budget) -> None:
    grader = Grader()
    manager = RunManager(max_running=1, grade=grader, pool=ReadyPool())
    try:
        first = manager.submit("ada", LESSON, "slow-1")
        assert wait_for(lambda: grader.count("slow-1") == 1)
        second = manager.submit("bob", LESSON, "slow-2")
        third = manager.submit("cyd", LESSON, "slow-3")
        assert wait_for(lambda: second.snapshot().progress.note is not None)
        snapshot = second.snapshot()
        assert snapshot.state is RunStatus.QUEUED  # the quick try ran out of budget
        assert "needs more than a quick check" in snapshot.progress.note
        assert snapshot.output == ""  # the cut-short try's output is not shown as if it were the run's
        assert wait_for(lambda: third.snapshot().progress.note is not None)  # its try was cut short too
        grader.release.set()
        for job in (first, second, third):
            assert job.done.wait(GENEROUS_S)
        for job in (first, second, third):
            assert job.snapshot().state is RunStatus.DONE
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
        assert wait_for(lambda: grader.count("slow") == 1)
        training = manager.submit("bob", LESSON, "slow_training = 1\n")  # binds all it reads: no try
        # A try would start within the express lane's next look (every 0.25 s); give it several.
        assert not wait_for(lambda: grader.count("slow_training = 1\n") > 0, timeout_s=1.0)
        assert not training.probed and training.snapshot().state is RunStatus.QUEUED
        grader.release.set()
        assert slow.done.wait(GENEROUS_S) and training.done.wait(GENEROUS_S)
        assert grader.count("slow_training = 1\n") == 1
    finally:
        manager.shutdown()


def test_no_express_try_while_a_worker_is_free() -> None:
    grader = Grader()
    manager = RunManager(max_running=2, grade=grader, pool=ReadyPool())
    try:
        grader.release.set()  # it runs at once, and in full
        job = manager.submit("ada", LESSON, "slow")
        assert job.done.wait(GENEROUS_S)
        assert not job.probed
        assert grader.count("slow") == 1
    finally:
        manager.shutdown()


def test_no_express_lane_without_a_ready_warm_sandbox(short_budget) -> None:
    grader = Grader()
    manager = RunManager(max_running=1, grade=grader, pool=ReadyPool(ready=0))
    try:
        slow = manager.submit("ada", LESSON, "slow")
        assert wait_for(lambda: grader.count("slow") == 1)
        quick = manager.submit("bob", LESSON, "quick")
        # A cold start could not be quick: it waits its turn (a try would come within 0.25 s; give it more).
        assert not wait_for(lambda: grader.count("quick") > 0, timeout_s=1.0)
        assert quick.snapshot().state is RunStatus.QUEUED
        grader.release.set()
        assert quick.done.wait(GENEROUS_S) and slow.done.wait(GENEROUS_S)
        assert not quick.probed
    finally:
        manager.shutdown()


def test_stop_during_the_express_try_cancels_the_run(short_budget, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline, "EXPRESS_BUDGET_S", 5.0)
    grader = Grader()
    manager = RunManager(max_running=1, grade=grader, pool=ReadyPool())
    try:
        manager.submit("ada", LESSON, "slow-1")
        assert wait_for(lambda: grader.count("slow-1") == 1)
        second = manager.submit("bob", LESSON, "slow-2")
        assert wait_for(lambda: grader.count("slow-2") == 1)  # its express try is running
        manager.cancel(second.id)
        assert second.done.wait(GENEROUS_S)
        assert second.snapshot().state is RunStatus.CANCELLED
        assert grader.count("slow-2") == 1  # not put back in line
    finally:
        manager.shutdown()

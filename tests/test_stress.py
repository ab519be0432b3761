"""A burst of 20 runs, hostile and normal mixed, through the run manager: every run gets a verdict,
none is lost, normal runs are judged right, and nothing is left running."""

from __future__ import annotations

import dataclasses
import time

import pytest

from tests.test_hostile import HOSTILE, nothing_left_running, sandbox_processes, strict_only
from tutor.lessons.lesson import load_lessons
from tutor.runs.contract import RunStatus
from tutor.runs.local import RunManager
from tutor.sandbox.dataset import ensure_dataset
from tutor.sandbox.isolation import Limits
from tutor.sandbox.pool import WarmPool

LESSON = dataclasses.replace(load_lessons().get("assign-the-model"), time_s=8)
NORMAL = "print('hello')\nmodel = None\nmodel.fit()\n"  # a quick learner mistake (no TensorFlow import)


@strict_only
@pytest.mark.tf  # the warm sandboxes import TensorFlow
@pytest.mark.timeout(600)
def test_twenty_mixed_runs_all_get_a_verdict() -> None:
    hostile = ["endless-loop", "fork-bomb", "memory-bomb", "stdout-flood", "segfault", "forged-events",
               "thread-bomb", "huge-file", "os-exit", "recursion"]  # fmt: skip
    # Some runs find a warm sandbox (a pool of two, refilled as runs take them), the others start cold.
    pool = WarmPool(2, 4096, ensure_dataset(), limits=Limits(wall_s=LESSON.time_s))
    assert pool.wait_until_ready()
    manager = RunManager(max_running=2, pool=pool)
    jobs = []
    for i in range(20):
        source = HOSTILE[hostile[i // 2]][0] if i % 2 else NORMAL
        jobs.append((i % 2 == 0, manager.submit(f"learner-{i}", LESSON, source)))
    deadline = time.monotonic() + 500
    for _, job in jobs:
        assert job.done.wait(max(1, deadline - time.monotonic())), f"job {job.id} never finished"
    for normal, job in jobs:
        snapshot = job.snapshot()
        assert snapshot.state is RunStatus.DONE, (snapshot.state, snapshot.error)
        assert snapshot.verdict is not None and not snapshot.verdict.passed
        assert snapshot.verdict.grader_error is None
        if normal:
            assert snapshot.verdict.first_error["type"] == "AttributeError"
            assert snapshot.verdict.first_error["line"] == 3
    assert manager.counts().as_dict() == {"queued": 0, "running": 0, "max_running": 2}
    warm = [job.verdict.cases[0].result.warm for _, job in jobs]
    assert any(warm), "no run was served by a warm sandbox"
    # A warm sandbox serves one run: a final run, or an express-lane try cut short (then run again).
    tried = sum(job.probed for _, job in jobs)
    assert sum(warm) <= pool.stats().handed_out <= sum(warm) + tried
    manager.shutdown()  # closes the pool too
    assert nothing_left_running(), sandbox_processes()

"""Warm sandboxes: same verdicts and the same isolation as cold ones, one run each, within their budget."""

from __future__ import annotations

import os

import pytest

from tests.test_hostile import sandbox_processes
from tests.waiting import wait_for
from tutor import settings
from tutor.grading.grade import grade_source
from tutor.lessons.lesson import load_lessons
from tutor.runs.local import RunManager
from tutor.sandbox.dataset import ensure_dataset
from tutor.sandbox.isolation import Limits
from tutor.sandbox.pool import WarmPool, start_pool_from_settings
from tutor.sandbox.results import Termination
from tutor.sandbox.runner import RunRequest, run_program

pytestmark = [
    pytest.mark.tf,
    pytest.mark.needs("bubblewrap"),  # fails without it unless TUTOR_TEST_BWRAP=skip (conftest.py)
]
LESSON = load_lessons().get("assign-the-model")
LIMITS = Limits(wall_s=30, output_kb=256)

# What one run leaves behind, and what the next run looks for.
LEAVE_TRACES = """
import os, sys, tensorflow
open("/tmp/trace.txt", "w").write("secret")
open("trace.txt", "w").write("secret")
sys.modules["tensorflow"].LEFT_BEHIND = "secret"
print(os.getuid(), os.getpid(), flush=True)
"""
LOOK_FOR_TRACES = """
import os, sys, tensorflow
print(os.path.exists("/tmp/trace.txt"), os.path.exists("trace.txt"), hasattr(tensorflow, "LEFT_BEHIND"))
print(os.getuid(), os.getpid(), flush=True)
"""


@pytest.fixture(scope="module")
def pool():
    pool = WarmPool(1, 4096, ensure_dataset(), limits=LIMITS)
    assert pool.wait_until_ready(), "the warm sandbox never became ready"
    yield pool
    pool.close()


def run_warm(pool: WarmPool, source: str):
    return run_warm_with(pool, source, LIMITS)


def run_warm_with(pool: WarmPool, source: str, limits: Limits):
    assert pool.wait_until_ready()
    return run_program(RunRequest(source, limits=limits), pool=pool)


def test_warm_starter_gets_the_same_verdict_as_a_cold_one(pool: WarmPool) -> None:
    assert pool.wait_until_ready()
    warm = grade_source(LESSON, LESSON.starter, limits=LIMITS, pool=pool)
    cold = grade_source(LESSON, LESSON.starter, limits=LIMITS)
    warm_result, cold_result = warm.cases[0].result, cold.cases[0].result
    assert (warm_result.warm, cold_result.warm) == (True, False)
    for result in (warm_result, cold_result):
        assert result.error is not None
        assert (result.error.type, result.error.name, result.error.line) == ("NameError", "model", 24)
        assert [call["function"] for call in result.error.analysis["discarded_calls"]] == ["build_model"]
    assert [c.passed for c in warm.checks] == [c.passed for c in cold.checks]
    assert [c.message for c in warm.checks] == [c.message for c in cold.checks]


def test_import_chatter_of_the_warm_up_is_not_the_learners_output(pool: WarmPool) -> None:
    result = run_warm(pool, "import tensorflow\nprint('only this')\n")
    assert result.warm
    assert (result.stdout, result.stderr) == ("only this\n", "")


def test_each_warm_sandbox_serves_one_run_and_nothing_carries_over(pool: WarmPool) -> None:
    first = run_warm(pool, LEAVE_TRACES)
    second = run_warm(pool, LOOK_FOR_TRACES)
    assert first.warm and second.warm
    assert first.termination is Termination.FINISHED, first.detail
    looked, ids = second.stdout.splitlines()
    assert looked == "False False False"
    if os.geteuid() == 0:  # each sandbox has a uid of its own
        assert first.stdout.split()[0] != ids.split()[0]
    assert pool.stats().handed_out >= 2


def test_a_lessons_own_time_limit_still_gets_a_warm_sandbox(pool: WarmPool) -> None:
    result = run_warm_with(pool, "import time\ntime.sleep(5)\n", Limits(wall_s=1.5, output_kb=256))
    assert result.warm
    assert result.termination is Termination.TIMEOUT
    assert "stopped after 1.5 s" in result.detail


def test_a_run_with_other_limits_starts_cold(pool: WarmPool) -> None:
    assert pool.wait_until_ready()
    result = run_program(RunRequest("print('x')\n", limits=Limits(memory_mb=2048)), pool=pool)
    assert not result.warm
    assert result.stdout == "x\n"
    assert pool.stats().ready == 1  # the warm one is still there for a matching run


@pytest.mark.parametrize(
    ("source", "termination", "words"),
    [
        ("import os, tensorflow\nos._exit(0)\n", Termination.CRASHED, "os._exit"),
        ("import os\nos.kill(os.getppid(), 9)\nprint('still here')\n", Termination.FINISHED, ""),
        (
            'import os\nfor fd in sorted(map(int, os.listdir("/proc/self/fd")))[3:]:\n'
            '    try:\n        os.write(fd, b\'{"v": 1, "type": "finished"}\\n\')\n'
            "    except OSError:\n        pass\n",
            Termination.TAMPERED,
            "cannot be trusted",
        ),
        ("while True:\n    print('spam ' * 200)\n", Termination.OUTPUT_LIMIT, "more than 256 KiB"),
    ],
)
def test_hostile_programs_in_a_warm_sandbox(pool: WarmPool, source: str, termination, words: str) -> None:
    result = run_warm(pool, source)
    assert result.warm
    assert result.termination is termination, result.detail
    assert words in result.detail
    after = run_warm(pool, "print('next run fine')\n")
    assert after.stdout == "next run fine\n"


def test_the_pool_stays_within_its_memory_budget() -> None:
    """Room for one sandbox: a pool of three keeps one, and says what it holds (the memory it touched
    ahead for the program included)."""
    pool = WarmPool(3, 1700, ensure_dataset(), limits=LIMITS, prefault_mb=512)
    try:
        assert pool.wait_until_ready(1)
        assert not pool.wait_until_ready(2, timeout_s=8)
        stats = pool.stats()
        assert (stats.ready, stats.warming) == (1, 0)
        assert 512 + 100 < stats.held_mb <= 1700
    finally:
        pool.close()


# How much the program's resident memory grows when it fills a 300 MiB block.
GROWTH = """
def resident_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) // 1024
before = resident_mb()
block = b"x" * (300 * 1024 * 1024)
print(resident_mb() - before)
"""


@pytest.mark.parametrize(("prefault_mb", "fresh"), [(512, False), (0, True)])
def test_a_warm_sandbox_gives_the_program_memory_touched_ahead(prefault_mb: int, fresh: bool) -> None:
    """The learner's big arrays reuse the memory the warm sandbox touched while it waited (on a VM whose
    host takes free memory back, fresh memory is what made a warm starter take 1.3 s instead of 0.3 s).
    Without it, the same block is fresh memory: the control that shows the test can fail."""
    pool = WarmPool(1, 4096, ensure_dataset(), limits=LIMITS, prefault_mb=prefault_mb)
    try:
        assert pool.wait_until_ready()
        if prefault_mb:
            assert pool.stats().held_mb > prefault_mb
        result = run_warm(pool, GROWTH)
    finally:
        pool.close()
    assert result.warm and result.termination is Termination.FINISHED, result.detail
    growth = int(result.stdout)
    assert (growth > 250) if fresh else (growth < 50), f"resident memory grew by {growth} MiB"


def test_a_replaced_dataset_retires_the_warm_sandboxes(pool: WarmPool, tmp_path) -> None:
    assert pool.wait_until_ready()
    dataset = ensure_dataset()
    os.utime(dataset.path)  # as `python -m tutor data import` would leave it: a new file
    result = run_program(RunRequest("print('x')\n", limits=LIMITS), pool=pool, dataset=ensure_dataset())
    assert not result.warm  # the old sandbox had the old file bound
    assert run_warm(pool, "print('y')\n").warm


def test_run_manager_hands_its_pool_to_every_run_and_closes_it() -> None:
    pool = WarmPool(1, 4096, ensure_dataset())  # the lesson's own limits, as the app has them
    manager = RunManager(max_running=1, pool=pool)
    try:
        assert pool.wait_until_ready()
        job = manager.submit("learner", LESSON, LESSON.starter)
        assert job.done.wait(120)
        assert job.verdict.cases[0].result.warm
        assert job.verdict.first_error["type"] == "NameError"
    finally:
        manager.shutdown()
    assert pool.stats().ready == 0


def test_closing_a_pool_mid_warm_up_leaves_no_process(pool: WarmPool) -> None:
    # The module's own pool keeps one sandbox ready meanwhile; once it is ready, it starts no other.
    assert pool.wait_until_ready()
    before = set(sandbox_processes())
    pool = WarmPool(1, 4096, ensure_dataset(), limits=LIMITS)
    # bwrap is up and TensorFlow is importing: the check below can see a warming sandbox.
    assert wait_for(lambda: set(sandbox_processes()) - before)
    assert pool.stats().warming == 1
    pool.close()
    assert set(sandbox_processes()) - before == set()
    assert pool.stats().ready == 0


def test_pool_size_zero_turns_it_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUTOR_POOL_SIZE", "0")
    assert settings.pool_size() == 0
    assert start_pool_from_settings() is None


def test_a_memory_bomb_in_a_warm_sandbox_is_named_and_the_next_run_is_fine(pool: WarmPool) -> None:
    """With the memory touched ahead and big blocks taken from the heap, a program that wants ever more
    still meets the run's memory limit, told in words, and takes nothing from the next run."""
    from tests.test_hostile import HOSTILE, verdict_words

    assert pool.wait_until_ready()
    verdict = grade_source(LESSON, HOSTILE["memory-bomb"][0], pool=pool, limits=LIMITS)
    assert verdict.cases[0].result.warm and verdict.grader_error is None
    assert not verdict.passed
    assert "memory" in verdict_words(verdict).lower(), verdict_words(verdict)
    assert run_warm(pool, "print('next run fine')\n").stdout == "next run fine\n"

"""Notebook kernels (issue 20): a real IPython kernel in the strict sandbox keeps its state between cells,
counts like Jupyter, gives NameError as Jupyter does, contains hostile cells and restarts cleanly; the hub
shuts idle kernels down (the learner is told), keeps at most its cap (the kernel idle longest goes first),
and counts kernels against the warm pool's memory budget.

No TensorFlow here (cold kernels): these cells are plain Python, so each test takes a second or two."""

from __future__ import annotations

import os
import time

import pytest

from tutor.kernels.contract import CellStatus, KernelState, OutputKind
from tutor.kernels.hub import KernelHub
from tutor.kernels.process import KernelProcess
from tutor.kernels.session import RESTART, replay_session
from tutor.sandbox.isolation import Level, Limits

pytestmark = [pytest.mark.needs("bubblewrap")]  # fails without it unless TUTOR_TEST_BWRAP=skip (conftest.py)


def limits(wall_s: float = 10, output_kb: int = 64) -> Limits:
    return Limits(wall_s=wall_s, output_kb=output_kb)


@pytest.fixture
def kernel(offline_dataset):
    started = KernelProcess.start(Level.STRICT, limits(), offline_dataset)
    yield started
    started.close()


@pytest.fixture
def offline_dataset(tmp_path_factory):
    from tutor.sandbox.dataset import ensure_dataset

    return ensure_dataset()


def run_one(hub: KernelHub, code: str, owner: str = "learner", lesson: str = "nb", wall_s: float = 10):
    batch = hub.run_cells(owner, lesson, [("c", code)], limits(wall_s))
    assert batch.wait(60), "the batch never finished"
    runs, done = batch.snapshot()
    assert done
    return runs[0]


def test_state_lives_between_cells_and_counts_like_jupyter(kernel):
    first = kernel.execute("a", "x = 41", limits())
    second = kernel.execute("b", "print(x + 1)", limits())
    assert (first.status, first.execution_count) == (CellStatus.OK, 1)
    assert (second.status, second.execution_count, second.stream_text()) == (CellStatus.OK, 2, "42\n")


def test_name_error_comes_back_as_jupyter_shows_it(kernel):
    run = kernel.execute("a", "print(model)", limits())
    assert run.status is CellStatus.ERROR
    assert run.error is not None and run.error.name == "NameError"
    assert run.error.text == "NameError: name 'model' is not defined"
    assert "\x1b[" not in run.error.traceback  # plain text for the page
    assert "print(model)" in run.error.traceback


def test_the_kernel_is_sandboxed(kernel):
    network = kernel.execute("a", "import socket\nsocket.create_connection(('1.1.1.1', 80), timeout=2)", limits())
    assert network.status is CellStatus.ERROR and network.error.name == "OSError"
    sockets = kernel.execute("b", "open('/run/tutor/kernel/extra', 'w')", limits())
    assert sockets.status is CellStatus.ERROR and sockets.error.name == "PermissionError"
    here = os.path.dirname(os.path.abspath(__file__))  # the project's files: not in the sandbox
    server_files = kernel.execute("c", f"import os\nprint(os.path.exists({here!r}), os.getuid() != 0)", limits())
    assert server_files.stream_text() == "False True\n"


def test_endless_loop_is_interrupted_and_the_state_stays(kernel):
    kernel.execute("a", "kept = 'still here'", limits())
    run = kernel.execute("b", "while True:\n    pass", limits(wall_s=1.5))
    assert run.status is CellStatus.INTERRUPTED
    assert "1.5 s" in run.note
    assert run.duration_s < 8
    after = kernel.execute("c", "print(kept)", limits())
    assert after.stream_text() == "still here\n"


def test_output_flood_is_cut_and_the_kernel_lives_on(kernel):
    run = kernel.execute("a", "while True:\n    print('x' * 1000)", limits(wall_s=30, output_kb=64))
    assert run.status is CellStatus.INTERRUPTED
    assert "64 KiB" in run.note
    assert sum(len(output.text) for output in run.outputs) <= 64 * 1024 + 2000
    assert kernel.execute("b", "print('ok')", limits()).stream_text() == "ok\n"


def test_a_cell_that_ignores_interrupts_is_ended_with_its_kernel(kernel):
    code = "import time\nwhile True:\n    try:\n        time.sleep(0.1)\n    except KeyboardInterrupt:\n        pass"
    run = kernel.execute("a", code, limits(wall_s=1))
    assert run.status is CellStatus.DIED
    assert "did not stop when interrupted" in run.note
    assert not kernel.alive()


def test_memory_bomb_fails_the_cell_not_the_server(kernel):
    run = kernel.execute("a", "block = bytearray(16 * 1024 ** 3)", limits())
    assert run.status in (CellStatus.ERROR, CellStatus.DIED)
    if run.status is CellStatus.ERROR:
        assert run.error.name == "MemoryError"
        assert kernel.execute("b", "print('alive')", limits()).stream_text() == "alive\n"


def test_os_exit_is_a_dead_kernel_in_words(kernel):
    run = kernel.execute("a", "import os\nos._exit(3)", limits())
    assert run.status is CellStatus.DIED
    assert "Your kernel died" in run.note and "status 3" in run.note


def test_fork_bomb_is_contained_and_a_restart_is_clean(offline_dataset):
    hub = KernelHub(level=Level.STRICT, dataset=offline_dataset, max_kernels=2, idle_s=600)
    try:
        bomb = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass"
        run = run_one(hub, bomb, wall_s=2)
        assert run.status in (CellStatus.INTERRUPTED, CellStatus.DIED)
        hub.restart("learner", "nb")
        fresh = run_one(hub, "print(1 + 1)")
        assert (fresh.status, fresh.execution_count, fresh.stream_text()) == (CellStatus.OK, 1, "2\n")
    finally:
        hub.close()


def test_figures_come_back_as_png(kernel):
    run = kernel.execute("a", "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()", limits(wall_s=60))
    images = [output for output in run.outputs if output.kind is OutputKind.IMAGE]
    assert run.status is CellStatus.OK and len(images) == 1
    assert images[0].png.startswith(b"\x89PNG")


def test_run_all_stops_at_the_first_error_like_jupyter(offline_dataset):
    hub = KernelHub(level=Level.STRICT, dataset=offline_dataset, idle_s=600)
    try:
        batch = hub.run_cells("learner", "nb", [("1", "a = 1"), ("2", "print(b)"), ("3", "print('never')")], limits())
        assert batch.wait(60)
        runs, _ = batch.snapshot()
        assert [run.status for run in runs] == [CellStatus.OK, CellStatus.ERROR, CellStatus.NOT_RUN]
        assert runs[2].stream_text() == ""
    finally:
        hub.close()


def test_idle_kernel_is_shut_down_and_the_learner_told(offline_dataset):
    hub = KernelHub(level=Level.STRICT, dataset=offline_dataset, idle_s=5)
    try:
        run_one(hub, "x = 1")
        assert hub.info("learner", "nb").state is KernelState.IDLE
        deadline = time.monotonic() + 30
        while hub.info("learner", "nb").state is KernelState.IDLE and time.monotonic() < deadline:
            time.sleep(0.5)
        info = hub.info("learner", "nb")
        assert info.state is KernelState.SHUT_DOWN
        assert "without a run" in info.message and "variables are gone" in info.message
        assert hub.count() == 0
        again = run_one(hub, "print(x)")  # a fresh kernel: x is gone
        assert again.status is CellStatus.ERROR and again.execution_count == 1
    finally:
        hub.close()


def test_cap_shuts_down_the_kernel_idle_longest(offline_dataset):
    hub = KernelHub(level=Level.STRICT, dataset=offline_dataset, max_kernels=2, idle_s=600)
    try:
        run_one(hub, "x = 1", owner="first")
        run_one(hub, "x = 2", owner="second")
        run_one(hub, "x = 3", owner="third")
        assert hub.count() == 2
        first = hub.info("first", "nb")
        assert first.state is KernelState.SHUT_DOWN and "make room" in first.message
        assert hub.info("second", "nb").state is KernelState.IDLE
        assert run_one(hub, "print(x)", owner="second").stream_text() == "2\n"
    finally:
        hub.close()


def test_kernels_count_against_the_pools_memory_budget(offline_dataset):
    class Pool:  # the hub's side of the contract with tutor.sandbox.pool.WarmPool
        def __init__(self) -> None:
            self.holders, self.pokes = [], 0

        def count_also(self, held_mb) -> None:
            self.holders.append(held_mb)

        def poke(self) -> None:
            self.pokes += 1

        def take(self, *args):
            return None  # no warm sandbox: the kernel starts cold

    pool = Pool()
    hub = KernelHub(pool=pool, level=Level.STRICT, dataset=offline_dataset, idle_s=600)
    try:
        assert pool.holders and pool.holders[0]() == 0
        run_one(hub, "block = bytearray(64 * 1024 * 1024)")
        assert pool.holders[0]() > 50  # the kernel's memory, as its cgroup (or the estimate) says
        hub.restart("learner", "nb")
        assert pool.pokes == 1 and pool.holders[0]() == 0
    finally:
        hub.close()


def test_replayed_session_meets_hidden_state(offline_dataset):
    cells = ["model = 'built'", "print(model)"]
    steps = replay_session(cells, [1, 2, RESTART, 2], limits(), Level.STRICT, offline_dataset)
    runs = [step.run for step in steps]
    assert runs[1].stream_text() == "built\n" and runs[1].execution_count == 2
    assert runs[2] is None  # the restart
    assert runs[3].status is CellStatus.ERROR and runs[3].error.text == "NameError: name 'model' is not defined"
    assert runs[3].execution_count == 1  # counts start again after a restart, as in Jupyter


def test_a_giant_message_from_the_kernel_is_dropped_not_held(kernel):
    # The learner's code owns the kernel: it can send the server any message. One larger than the cap
    # never reaches the server's memory, and the cell still ends (its time limit at worst).
    code = "from IPython.display import display\ndisplay({'text/plain': 'x' * (300 * 1024 * 1024)}, raw=True)"
    run = kernel.execute("a", code, limits(wall_s=5))
    assert all(len(output.text) < 200 * 1024 * 1024 for output in run.outputs)
    assert run.status in (CellStatus.OK, CellStatus.INTERRUPTED, CellStatus.DIED)


def test_a_kernel_that_used_up_its_cpu_time_says_so(offline_dataset):
    started = KernelProcess.start(Level.STRICT, Limits(wall_s=0.5, output_kb=64), offline_dataset)  # 34 s of CPU
    try:
        run = started.execute("a", "while True:\n    pass", limits(wall_s=120))
        assert run.status is CellStatus.DIED
        assert "killed by a limit of the sandbox: its processor time (34 s over the kernel's life" in run.note
    finally:
        started.close()

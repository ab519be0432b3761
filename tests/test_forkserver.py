"""The fork server (issue 23): one sandbox imports TensorFlow once and forks every run into a sandbox of its own.

What a forked run must still be: its own uid, pid namespace, /proc, home, /tmp and /dev/shm, nobody else's
staged files, no capabilities, no new privileges, the seccomp filter, its limits; nothing carried over from
an earlier run; a run whose server dies ends in words and the next run gets a new server. The hostile
programs' suite runs on forked runs too (tests/test_hostile.py)."""

from __future__ import annotations

import json
import os
import signal
import threading

import pytest

from tests.test_hostile import HOSTILE, nothing_left_running, sandbox_processes, verdict_words
from tests.waiting import wait_for
from tutor import settings
from tutor.grading.grade import grade_source
from tutor.lessons.lesson import load_lessons
from tutor.sandbox.dataset import ensure_dataset
from tutor.sandbox.forkpool import ForkServerPool
from tutor.sandbox.isolation import Level, Limits
from tutor.sandbox.pool import WarmPool, start_pool_from_settings
from tutor.sandbox.results import Termination
from tutor.sandbox.runner import RunRequest, run_program

pytestmark = [pytest.mark.needs("bubblewrap")]  # fails without it unless TUTOR_TEST_BWRAP=skip (conftest.py)
LIMITS = Limits(wall_s=30, output_kb=256)
LESSON = load_lessons().get("assign-the-model")

LOOK_AROUND = r"""
import ctypes, json, os, resource, socket
status = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
libc = ctypes.CDLL(None, use_errno=True)
def fds():
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            found.append(os.readlink(f"/proc/self/fd/{fd}").split(":")[0])
        except OSError:
            pass  # the listing's own, closed by now
    return sorted(found)
try:
    init_fds = os.listdir("/proc/1/fd")  # init holds the run's pipes: not the program's to take
except OSError as exc:
    init_fds = type(exc).__name__
try:
    socket.create_connection(("1.1.1.1", 80), timeout=2)
    network = "reached"
except OSError as exc:
    network = type(exc).__name__
print(json.dumps({
    "uid": os.getuid(), "pid": os.getpid(), "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
    "cap_eff": status["CapEff"].strip(), "cap_bnd": status["CapBnd"].strip(),
    "no_new_privs": status["NoNewPrivs"].strip(), "seccomp": status["Seccomp"].strip(),
    "data": resource.getrlimit(resource.RLIMIT_DATA)[0], "nproc": resource.getrlimit(resource.RLIMIT_NPROC)[0],
    "nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
    "cases": os.listdir("/run/tutor/cases"), "case": sorted(os.listdir("/run/tutor/case")), "home": os.getcwd(),
    "mount": libc.mount(b"tmpfs", b"/tmp", b"tmpfs", 0, None), "unshare": libc.unshare(0x10000000),
    "network": network, "hostname": socket.gethostname(), "fds": fds(),
    "root_files": os.path.exists("/etc/shadow"), "init_fds": init_fds,
    "self_owner": os.stat("/proc/self").st_uid, "project": os.path.exists(%r),
}))
"""


def run_forked(pool: ForkServerPool, source: str, **kwargs):
    result = run_program(RunRequest(source, limits=LIMITS, level="strict", **kwargs), pool=pool)
    assert result.warm, (result.termination, result.detail)  # forked from the server, not a fresh sandbox
    return result


def test_a_forked_run_is_a_sandbox_of_its_own(fork_server):
    project = os.path.dirname(os.path.abspath(__file__))  # the tests folder: none of the server's files
    result = run_forked(fork_server, LOOK_AROUND % project, files={"data.csv": b"1,2\n"})
    assert result.termination is Termination.FINISHED, (result.detail, result.stderr)
    seen = json.loads(result.stdout)
    assert 61000 <= seen["uid"] < 62000  # a uid of its own, never root
    assert seen["pids"] == [1, 2] and seen["pid"] == 2  # its own pid namespace and /proc: init and itself
    assert int(seen["cap_eff"], 16) == 0 and int(seen["cap_bnd"], 16) == 0
    assert seen["no_new_privs"] == "1" and seen["seccomp"] == "2"  # the filter is on
    assert seen["data"] == LIMITS.memory_mb * 1024 * 1024 and seen["nproc"] == LIMITS.processes
    assert seen["nofile"] == LIMITS.open_files
    assert seen["cases"] == []  # the other runs' staged programs are covered
    assert seen["case"] == ["data.csv", "main.py"] and seen["home"] == "/home/learner"
    assert seen["mount"] == -1 and seen["unshare"] == -1  # no way to remount or make namespaces
    assert seen["network"] != "reached" and seen["hostname"] == "sandbox"
    # stdin (empty), stdout, stderr and the run's own channel: no socket or file of the server's
    assert seen["fds"] == ["/dev/null", "pipe", "pipe", "pipe"]
    assert not seen["root_files"] and not seen["project"]
    assert seen["init_fds"] == "PermissionError" and seen["self_owner"] == seen["uid"]
    assert nothing_left_running(), sandbox_processes()


def test_nothing_carries_over_from_one_forked_run_to_the_next(fork_server):
    first = run_forked(
        fork_server,
        "import os, sys, keras\nkeras.LEFT_BEHIND = 'a'\nos.environ['LEFT_BEHIND'] = 'a'\n"
        "open('/tmp/left-behind', 'w').write('a')\nopen('left-behind', 'w').write('a')\n"
        "open('/dev/shm/left-behind', 'w').write('a')\nsys.modules['left_behind'] = keras\nprint(os.getuid())\n",
    )
    second = run_forked(
        fork_server,
        "import os, sys, keras\nprint(hasattr(keras, 'LEFT_BEHIND'), 'LEFT_BEHIND' in os.environ,\n"
        "      os.path.exists('/tmp/left-behind'), os.path.exists('left-behind'),\n"
        "      os.path.exists('/dev/shm/left-behind'), 'left_behind' in sys.modules, os.getuid())\n",
    )
    assert first.termination is Termination.FINISHED and second.termination is Termination.FINISHED
    *flags, uid = second.stdout.split()
    assert flags == ["False"] * 6
    assert uid != first.stdout.strip()  # each run its own uid


def test_each_forked_run_draws_its_own_random_numbers(fork_server):
    """As fresh interpreters would: NumPy's global generator, Python's and the OS's differ between runs."""
    program = "import os, random\nimport numpy as np\nprint(np.random.rand(), random.random(), os.urandom(4).hex())\n"
    first, second = (run_forked(fork_server, program).stdout.split() for _ in range(2))
    assert len(first) == 3 and all(a != b for a, b in zip(first, second, strict=True)), (first, second)


def test_two_forked_runs_at_once_cannot_see_each_other(fork_server):
    writer = (
        "import time\nopen('secret-of-a.txt', 'w').write('a')\nopen('/tmp/secret-of-a.txt', 'w').write('a')\n"
        "print('written', flush=True)\ntime.sleep(600)\n"
    )
    reader = (
        "import os\nprint(sorted(os.listdir('.')), sorted(os.listdir('/tmp')), os.listdir('/run/tutor/cases'))\n"
        "print(sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))\n"
    )
    written, stop_writer, results = threading.Event(), threading.Event(), {}

    def on_writer_event(event: dict) -> None:
        if event["type"] == "output" and "written" in event["text"]:
            written.set()

    request = RunRequest(writer, limits=Limits(wall_s=300), level="strict")
    writing = threading.Thread(
        target=lambda: results.update(a=run_program(request, on_writer_event, stop_writer, pool=fork_server))
    )
    writing.start()
    try:
        assert written.wait(60), "the writer never wrote"
        results["b"] = run_forked(fork_server, reader)
    finally:
        stop_writer.set()
        writing.join(60)
    assert results["a"].warm and results["a"].termination is Termination.CANCELLED
    listing, pids = results["b"].stdout.splitlines()
    home, tmp, cases = listing.split("] [")
    assert home == "['main.py'" and cases == "]"  # not a's home, nor a's staged folder
    assert "secret-of-a" not in tmp  # nor a's /tmp (a venv under /tmp shows up there, read-only)
    assert pids == "[1, 2]"


def test_what_the_server_binds_under_tmp_stays_reachable(fork_server):
    """A checkout or venv under /tmp (CI's clean clone may be one) is bound inside the sandbox's /tmp; each
    run covers /tmp with its own tmpfs and binds those again, read-only. Without that, anything the server
    had not imported yet (`from tensorflow.keras import layers`) was missing in a forked run."""
    from tutor.sandbox.isolation import python_roots

    roots = python_roots()
    program = (
        f"import os\nroots = {roots!r}\n"
        "print([os.path.isdir(r) for r in roots])\nprint([os.access(r, os.W_OK) for r in roots])\n"
        "from tensorflow.keras import layers\nprint(layers.Dense.__name__)\n"
    )
    result = run_forked(fork_server, program)
    readable, writable, dense = result.stdout.splitlines()
    assert readable == str([True] * len(roots)) and writable == str([False] * len(roots)), result.stdout
    assert dense == "Dense", result.stderr


@pytest.mark.tf
def test_the_lessons_starter_and_solution_are_graded_the_same_when_forked(fork_server):
    starter = grade_source(LESSON, LESSON.starter, pool=fork_server)
    assert starter.cases[0].result.warm and starter.first_error["type"] == "NameError"
    assert starter.first_error["name"] == "model"
    solution = grade_source(LESSON, (settings.solutions_dir() / "assign-the-model.py").read_text(), pool=fork_server)
    assert solution.cases[0].result.warm
    assert solution.passed, [check.message for check in solution.checks]
    assert [fit.epochs_run for fit in solution.cases[0].result.fits] == [5]


def test_a_run_whose_server_dies_ends_in_words_and_a_new_server_takes_over(fork_server):
    started = threading.Event()

    def on_event(event: dict) -> None:
        if event["type"] == "output":
            started.set()

    results = {}
    request = RunRequest("import time\nprint('up', flush=True)\ntime.sleep(600)\n", limits=LIMITS, level="strict")
    running = threading.Thread(target=lambda: results.update(r=run_program(request, on_event, pool=fork_server)))
    running.start()
    assert started.wait(60)
    server = fork_server._server
    os.killpg(server.process.pid, signal.SIGKILL)
    running.join(30)
    assert not running.is_alive(), "the run outlived its server"
    result = results["r"]
    assert result.termination is Termination.CRASHED and "SIGKILL" in (result.signal or ""), result
    assert result.detail  # in words
    assert nothing_left_running(), sandbox_processes()
    assert wait_for(lambda: fork_server._server is not None and fork_server._server is not server, 180)
    assert fork_server.wait_until_ready(timeout_s=180)
    assert run_forked(fork_server, "print('fine')\n").stdout == "fine\n"


def test_a_notebook_kernel_runs_in_a_forked_sandbox(fork_server):
    from tutor.kernels.process import KernelProcess

    kernel = KernelProcess.start(Level.STRICT, Limits(wall_s=10, output_kb=64), ensure_dataset(), pool=fork_server)
    try:
        assert kernel.sandbox.warm
        kernel.execute("a", "x = 41", Limits(wall_s=10))
        answer = kernel.execute("b", "import os\nprint(x + 1, os.getuid() != 0, os.listdir('/run/tutor/cases'))",
                                Limits(wall_s=10))  # fmt: skip
        assert answer.stream_text() == "42 True []\n"
    finally:
        kernel.close()
    assert nothing_left_running(), sandbox_processes()


def test_the_settings_pick_the_fork_server_where_it_can_run(monkeypatch):
    monkeypatch.setenv("TUTOR_POOL_SIZE", "1")
    monkeypatch.setenv("TUTOR_SANDBOX", "strict")
    pool = start_pool_from_settings()
    try:
        assert isinstance(pool, ForkServerPool)  # root, strict, cgroups: as on our machines and CI
        assert "Fork server" in pool.describe()
    finally:
        pool.close()
    monkeypatch.setenv("TUTOR_FORK_SERVER", "off")
    pool = start_pool_from_settings()
    try:
        assert isinstance(pool, WarmPool)
    finally:
        pool.close()
    monkeypatch.setenv("TUTOR_FORK_SERVER", "sometimes")
    with pytest.raises(ValueError, match="TUTOR_FORK_SERVER"):
        start_pool_from_settings()


def test_runs_forked_ahead_touch_their_memory_and_wait_for_a_program():
    """size runs are kept forked ahead with memory touched for the program's arrays (as warm sandboxes did);
    a run with other limits is forked on the spot; both are sandboxes of their own."""
    pool = ForkServerPool(ensure_dataset(), Level.STRICT, limits=LIMITS, size=2, prefault_mb=256)
    try:
        assert pool.wait_until_ready(timeout_s=180)
        stats = pool.stats()
        assert (stats.ready, stats.size) == (2, 2) and "2 of 2 runs forked ahead" in pool.describe()
        ahead = pool.take(Level.STRICT, LIMITS, ensure_dataset())
        assert ahead is not None and ahead.rss_mb >= 256  # its own READY said so, after touching the memory
        ahead.close()
        other = Limits(wall_s=30, memory_mb=2048)  # not the pool's limits: forked now, with these
        result = run_program(RunRequest(LOOK_AROUND % "/nowhere", limits=other, level="strict"), pool=pool)
        assert result.warm and json.loads(result.stdout)["data"] == 2048 * 1024 * 1024
        result = run_forked(pool, "import os\nprint(os.getuid())\n")
        assert 61000 <= int(result.stdout) < 62000
        # With its memory touched ahead and big blocks from the heap, a memory bomb still meets the limit.
        assert pool.wait_until_ready(timeout_s=60)
        bomb = grade_source(LESSON, HOSTILE["memory-bomb"][0], pool=pool, limits=LIMITS)
        assert bomb.cases[0].result.warm and bomb.grader_error is None and not bomb.passed
        assert "memory" in verdict_words(bomb).lower(), verdict_words(bomb)
    finally:
        pool.close()
    assert nothing_left_running(), sandbox_processes()


def test_a_forked_run_s_last_output_is_all_there(fork_server):
    """The verdict of a forked run does not wait for its teardown (Sandbox.close does that meanwhile), but
    everything it printed up to its end is kept: stdout and stderr, a traceback included."""
    program = (
        "import sys\nfor i in range(2000):\n    print(i, 'x' * 60)\nprint('last words', file=sys.stderr)\nmodel.fit()\n"
    )
    for _ in range(3):
        result = run_forked(fork_server, program)
        lines = result.stdout.splitlines()
        assert len(lines) == 2000 and lines[-1].startswith("1999 "), len(lines)
        assert "last words" in result.stderr
        assert result.error is not None and result.error.name == "model"
    assert nothing_left_running(), sandbox_processes()

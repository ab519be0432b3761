"""Hostile programs, graded through the same path the app uses (grade_source → sandbox). Each must end
with a verdict in plain words, leave nothing running, and leave the next normal run working."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from tests.waiting import wait_for
from tutor.grading.grade import grade_source
from tutor.lessons.lesson import load_lessons
from tutor.sandbox.isolation import Limits
from tutor.sandbox.results import Termination
from tutor.sandbox.runner import RunRequest, run_program

ROOT = Path(__file__).resolve().parent.parent
LESSON = load_lessons().get("assign-the-model")
# 15 s: room for the memory bomb and the 5 MB source to reach their own end on a loaded 2-core machine
# (at 8 s both were cut short by the clock while other test runs shared the cores).
LIMITS = Limits(wall_s=15, output_kb=256)
strict_only = pytest.mark.needs("bubblewrap")  # fails without it unless TUTOR_TEST_BWRAP=skip (conftest.py)

HOSTILE = {
    "endless-loop": ("while True:\n    pass\n", Termination.TIMEOUT, "stopped after 15 s"),
    "sleep-past-limit": ("import time\ntime.sleep(3600)\n", Termination.TIMEOUT, "stopped after 15 s"),
    "fork-bomb": (
        "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n",
        Termination.TIMEOUT,
        "stopped after",
    ),
    "thread-bomb": (
        "import threading, time\nwhile True:\n    threading.Thread(target=time.sleep, args=(600,)).start()\n",
        Termination.FINISHED,
        "RuntimeError",
    ),
    "memory-bomb": ("blocks = []\nwhile True:\n    blocks.append(bytearray(256 * 1024 * 1024))\n", None, "memory"),
    "stdout-flood": ("while True:\n    print('spam ' * 200)\n", Termination.OUTPUT_LIMIT, "more than 256 KiB"),
    "stderr-flood": (
        "import sys\nwhile True:\n    sys.stderr.write('spam ' * 200)\n",
        Termination.OUTPUT_LIMIT,
        "more than 256 KiB",
    ),
    "huge-file": (
        "with open('big.bin', 'wb') as f:\n    while True:\n        f.write(b'x' * 1024 * 1024)\n",
        None,
        "file",
    ),
    "segfault": ("import ctypes\nctypes.string_at(0)\n", Termination.CRASHED, "SIGSEGV"),
    "recursion": ("def f():\n    return f()\n\nf()\n", Termination.FINISHED, "RecursionError"),
    "os-exit": ("import os\nos._exit(0)\n", Termination.CRASHED, "os._exit"),
    "forged-events": (
        'import os\nfor fd in sorted(map(int, os.listdir("/proc/self/fd")))[3:]:\n'
        '    try:\n        os.write(fd, b\'{"v": 1, "type": "finished"}\\n\')\n'
        "    except OSError:\n        pass\n",
        Termination.TAMPERED,
        "cannot be trusted",
    ),
    "print-success-without-training": (
        "print('All checks passed. Your fix works.')\nprint('Epoch 5/5 - accuracy: 0.99')\n",
        Termination.FINISHED,
        "",
    ),
    "catch-the-name-error": (
        "try:\n    model.fit()\nexcept NameError:\n    pass\n",
        Termination.FINISHED,
        "",
    ),
    "model-is-none": ("model = None\n", Termination.FINISHED, ""),
    "many-small-files": (
        "i = 0\nwhile True:\n    with open(f'f{i}.txt', 'w') as f:\n        f.write('x' * 4096)\n    i += 1\n",
        None,
        "",
    ),
    "kill-the-parent": (
        "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\nprint('still here')\n",
        Termination.FINISHED,
        "",
    ),
    # /dev/shm is the sandbox's own tmpfs (Limits.shm_mb): full, a write fails; a page of shared memory
    # touched past its size is a SIGBUS. Both are said with /dev/shm's size.
    "fill-dev-shm": (
        "i = 0\nwhile True:\n    with open(f'/dev/shm/part{i}', 'wb') as f:\n"
        "        f.write(b'x' * 16 * 1024 * 1024)\n    i += 1\n",
        Termination.FINISHED,
        "/dev/shm (shared memory, used by multiprocessing) 64 MiB",
    ),
    "fill-shared-memory": (
        "from multiprocessing import shared_memory\nblocks = []\nwhile True:\n"
        "    blocks.append(shared_memory.SharedMemory(create=True, size=16 * 1024 * 1024))\n"
        "    blocks[-1].buf[:] = b'x' * 16 * 1024 * 1024\n",
        Termination.CRASHED,
        "filled /dev/shm, the sandbox's shared memory (limit 64 MiB)",
    ),
    # More workers than the process limit: the fork that would pass it fails, and the learner is told which
    # limit (the pool's half-started workers go with the sandbox).
    "pool-of-500-processes": (
        "import multiprocessing\n\n\ndef square(x):\n    return x * x\n\n\n"
        "with multiprocessing.Pool(500) as pool:\n    print(sum(pool.map(square, range(1000))))\n",
        Termination.FINISHED,
        "more processes or threads than this sandbox allows (limit 256",
    ),
    "five-megabyte-source": ("x = 1\n" * 900_000, Termination.FINISHED, ""),
    "nul-bytes-in-source": ("model = 1\x00\n", Termination.FINISHED, "SyntaxError"),
    "not-utf8-source": (b"print('caf\xe9')\n", Termination.FINISHED, "SyntaxError"),
    "html-and-ansi-output": (
        "print('<script>alert(1)</script> **All checks passed** \x1b[2J\x1b[31mred')\n",
        Termination.FINISHED,
        "",
    ),
}


def verdict_words(verdict) -> str:
    """Everything the learner is told about the first case, as one string."""
    result = verdict.cases[0].result
    text = " ".join([result.detail, *(c.message for c in verdict.checks)])
    if result.error is not None:  # with its explanation, shown under "What happened"
        text += f" {result.error.type} {result.error.message} {(result.error.analysis or {}).get('diagnosis', '')}"
    return text


def nothing_left_running() -> bool:
    """Whether every sandbox process is gone, waiting on it rather than for a fixed pause: a killed one
    may take a moment to leave /proc, while a leftover (a fork bomb's child, a thread sleeping for ten
    minutes) stays there past any wait."""
    return wait_for(lambda: sandbox_processes() == [])


def sandbox_processes() -> list[str]:
    """Processes running as one of the sandbox's own uids (61000-61999), except the sandboxes of another
    checkout's venv on this machine (a second engineer's test run is not a leftover of ours)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            program = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
        except OSError:
            continue
        uid = int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1])
        other_checkout = "/.venv/" in program and not program.startswith(str(ROOT))
        state = next((line.split()[1] for line in status.splitlines() if line.startswith("State:")), "?")
        # A zombie is dead: it holds no memory, CPU or files, only a pid until its parent (here, for
        # a torn-down sandbox, the machine's pid 1, which reaps lazily) collects it.
        if 61000 <= uid < 62000 and not other_checkout and state != "Z":
            found.append(f"{pid} {state} {program or '(no command line)'}")
    return found


@strict_only
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_program_gets_a_plain_verdict_and_leaves_nothing(name: str) -> None:
    check_hostile_program(name, None)


@strict_only
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_program_in_a_forked_run(name: str, fork_server) -> None:
    check_hostile_program(name, fork_server)


def check_hostile_program(name: str, pool) -> None:
    source, termination, words = HOSTILE[name]
    started = time.monotonic()
    verdict = grade_source(LESSON, source, limits=LIMITS, pool=pool)
    assert time.monotonic() - started < 60
    assert not verdict.passed
    assert verdict.grader_error is None  # the learner's program, not the grader, went wrong
    result = verdict.cases[0].result
    assert result.warm is (pool is not None)  # a forked run when a fork server is given
    if termination is not None:
        assert result.termination is termination, (result.termination, result.detail)
    text = verdict_words(verdict)
    assert words.lower() in text.lower(), text
    assert "signal 9" not in text and "-9" not in text  # signals are put in words
    if words == "SyntaxError":  # never called a NameError (PrairieLearn once did that)
        assert "NameError" not in text
    assert nothing_left_running(), sandbox_processes()
    after = run_program(RunRequest("print('still fine')\n"), pool=pool)
    assert after.stdout == "still fine\n"


TF_HOSTILE = {
    "huge-tensorflow-tensor": (
        "import tensorflow as tf\nx = tf.zeros((100_000, 100_000))\nprint(float(tf.reduce_sum(x)))\n",
        "ResourceExhaustedError",
    ),
    "os-exit-mid-training": (
        "import os\nimport numpy as np\nfrom tensorflow import keras\n\n\n"
        "class Quit(keras.callbacks.Callback):\n    def on_epoch_end(self, epoch, logs=None):\n"
        "        os._exit(0)\n\n\n"
        "model = keras.Sequential([keras.layers.Input(shape=(4,)), keras.layers.Dense(2)])\n"
        "model.compile(optimizer='adam', loss='sparse_categorical_crossentropy')\n"
        "model.fit(np.zeros((8, 4)), np.zeros(8), epochs=5, verbose=0, callbacks=[Quit()])\n",
        "ran 0 of 5 epochs (Your program ended abruptly",
    ),
    "sys-exit-mid-training": (
        "import sys\nimport numpy as np\nfrom tensorflow import keras\n\n\n"
        "class Quit(keras.callbacks.Callback):\n    def on_epoch_end(self, epoch, logs=None):\n"
        "        sys.exit(0)\n\n\n"
        "model = keras.Sequential([keras.layers.Input(shape=(4,)), keras.layers.Dense(2)])\n"
        "model.compile(optimizer='adam', loss='sparse_categorical_crossentropy')\n"
        "model.fit(np.zeros((8, 4)), np.zeros(8), epochs=5, verbose=0, callbacks=[Quit()])\n",
        "ran 0 of 5 epochs (stopped by SystemExit)",
    ),
}


@strict_only
@pytest.mark.tf
@pytest.mark.parametrize("name", sorted(TF_HOSTILE))
@pytest.mark.parametrize("how", ["fresh", "forked"])
def test_hostile_tensorflow_program(name: str, how: str, request) -> None:
    source, words = TF_HOSTILE[name]
    pool = request.getfixturevalue("fork_server") if how == "forked" else None
    verdict = grade_source(LESSON, source, limits=Limits(wall_s=60), pool=pool)
    assert verdict.cases[0].result.warm is (pool is not None)
    assert not verdict.passed and verdict.grader_error is None
    text = verdict_words(verdict)
    assert words in text, text
    assert nothing_left_running(), sandbox_processes()


@strict_only
def test_two_runs_at_once_cannot_see_each_other() -> None:
    # The reader looks only once the writer has written, and while the writer still runs (it waits to be
    # cancelled): a reader that looked too early, or after the writer was gone, would prove nothing.
    writer = (
        "import time\nopen('secret-of-a.txt', 'w').write('a')\nopen('/tmp/secret-of-a.txt', 'w').write('a')\n"
        "print('written', flush=True)\ntime.sleep(600)\n"
    )
    reader = (
        "import os\nprint(sorted(os.listdir('.')), sorted(os.listdir('/tmp')))\n"
        "print(sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))\n"
    )
    written, stop_writer = threading.Event(), threading.Event()

    def on_writer_event(event: dict) -> None:
        if event["type"] == "output" and "written" in event["text"]:
            written.set()

    results = {}
    writing = threading.Thread(
        target=lambda: results.update(
            a=run_program(RunRequest(writer, limits=Limits(wall_s=300)), on_event=on_writer_event, cancel=stop_writer)
        )
    )
    writing.start()
    try:
        assert written.wait(120), "the writer never wrote"
        results["b"] = run_program(RunRequest(reader))
    finally:
        stop_writer.set()
        writing.join(60)
    assert results["a"].stdout == "written\n"
    assert results["a"].termination is Termination.CANCELLED  # it was still running while b looked
    listing, pids = results["b"].stdout.splitlines()
    home, tmp = listing.split("] [")
    assert home == "['main.py'"  # not a's working folder
    assert "secret-of-a" not in tmp  # nor a's /tmp (a venv under /tmp may show up there, read-only)
    assert len(eval(pids)) <= 3  # its own pid namespace: init, setpriv/python, nothing of a's


@strict_only
@pytest.mark.parametrize("how", ["fresh", "forked"])
def test_the_apps_database_is_out_of_reach(how: str, request) -> None:
    """The progress database holds every learner's code and results: a run can neither read nor list it,
    while the server itself reads it fine."""
    from tutor import settings
    from tutor.store.db import IdentitySource, open_database
    from tutor.store.progress import save_code, sign_in_learner

    database = open_database(settings.db_url())
    learner = sign_in_learner(database, IdentitySource.WORKSHOP, "Ada Lovelace", "ada lovelace", "hostile")
    save_code(database, learner.id, "assign-the-model", "SECRET-CODE-OF-ANOTHER-LEARNER")
    path = Path(settings.db_url().removeprefix("sqlite:///"))
    assert b"SECRET-CODE-OF-ANOTHER-LEARNER" in b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    targets = [str(path), f"{path}-wal", str(path.parent), str(ROOT / "var" / "tutor.sqlite3"), str(ROOT / "var")]
    source = f"""
import os
for path in {targets!r}:
    try:
        if os.path.isdir(path):
            print("LISTED", path, os.listdir(path))
        else:
            print("READ", path, open(path, "rb").read(64))
    except OSError as exc:
        print("blocked", type(exc).__name__)
"""
    pool = request.getfixturevalue("fork_server") if how == "forked" else None
    verdict = grade_source(LESSON, source, limits=LIMITS, pool=pool)
    assert verdict.cases[0].result.warm is (pool is not None)
    output = verdict.cases[0].result.stdout
    assert output.count("blocked") == len(targets), output
    assert "SECRET" not in output

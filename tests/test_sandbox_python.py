"""What plain Python allows, the sandbox allows: multiprocessing (it needs /dev/shm), files written and read
back in the working folder, scikit-learn and pandas. What it does not offer, it says in words: a module it
lacks is named, with the list of what it offers (tutor.sandbox.packages), and a limit met inside the program
is named with its size. Real sandboxes, no TensorFlow unless marked."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tutor.doctor import check_sandbox_packages, format_findings
from tutor.grading.diagnosis import diagnose_result
from tutor.grading.limit_error import explain_limit_error
from tutor.grading.module_error import explain_module_error
from tutor.sandbox.isolation import Limits
from tutor.sandbox.packages import OFFERED, describe_offered
from tutor.sandbox.results import ErrorInfo, RunResult
from tutor.sandbox.runner import RunRequest, run_program

strict_only = pytest.mark.needs("bubblewrap")  # fails without it unless TUTOR_TEST_BWRAP=skip (conftest.py)
LEVELS = [pytest.param("strict", marks=strict_only, id="strict"), pytest.param("basic", id="basic")]

MULTIPROCESSING = """
import multiprocessing
from multiprocessing.pool import ThreadPool


def square(x):
    return x * x


with ThreadPool(processes=2) as pool:
    print("threads", pool.map(square, [1, 2, 3]))
with multiprocessing.Pool(2) as pool:
    print("processes", pool.map(square, [4, 5]))
queue = multiprocessing.Queue()
queue.put("hello")
print("queue", queue.get(timeout=10))
"""


def run(source: str, level: str = "strict", **limits: float) -> RunResult:
    run_limits = Limits(wall_s=limits.pop("wall_s", 60), **limits)
    result = run_program(RunRequest(source, limits=run_limits, level=level))
    diagnose_result(result, source, run_limits)  # what grading adds: the explanations of the error
    return result


def diagnosis(result: RunResult) -> str:
    assert result.error is not None, (result.termination, result.detail, result.stdout, result.stderr)
    return (result.error.analysis or {}).get("diagnosis", "")


@pytest.mark.parametrize("level", LEVELS)
def test_thread_pool_process_pool_and_queue_work(level: str) -> None:
    result = run(MULTIPROCESSING, level)
    assert result.error is None, result.error
    assert result.stdout == "threads [1, 4, 9]\nprocesses [16, 25]\nqueue hello\n"


@strict_only
def test_dev_shm_is_private_and_has_its_own_size() -> None:
    # A file in the server's /dev/shm must not be visible inside, and the sandbox's is the size Limits says.
    marker = Path("/dev/shm") / f"tutor-test-{os.getpid()}"
    marker.write_text("the server's")
    try:
        source = (
            "import os\nprint(os.listdir('/dev/shm'))\ns = os.statvfs('/dev/shm')\nprint(s.f_blocks * s.f_frsize)\n"
        )
        result = run(source, shm_mb=16)
    finally:
        marker.unlink()
    assert result.stdout == f"[]\n{16 * 1024 * 1024}\n", (result.stdout, result.error)


@pytest.mark.parametrize("level", LEVELS)
def test_files_written_in_the_working_folder_read_back(level: str) -> None:
    source = (
        "import numpy as np\n"
        "np.save('array.npy', np.arange(10))\n"
        "print(int(np.load('array.npy').sum()))\n"
        "with open('notes.txt', 'w') as f:\n    f.write('-'.join(['written'] * 3))\n"
        "print(open('notes.txt').read())\n"
    )
    result = run(source, level)
    assert result.error is None, result.error
    assert result.stdout == "45\nwritten-written-written\n"


@strict_only
@pytest.mark.tf
def test_a_keras_model_saved_in_the_working_folder_loads_back() -> None:
    source = (
        "from tensorflow import keras\n"
        "model = keras.Sequential([keras.layers.Input(shape=(4,)), keras.layers.Dense(2)])\n"
        "model.compile(optimizer='adam', loss='mse')\n"
        "model.save('m.keras')\n"
        "again = keras.models.load_model('m.keras')\n"
        "print('loaded', again.count_params())\n"
    )
    result = run(source, wall_s=120)
    assert result.error is None, result.error
    assert "loaded 10" in result.stdout


@strict_only
def test_filling_the_working_folder_names_the_limit() -> None:
    source = (
        "i = 0\nwhile True:\n    with open(f'part{i}.bin', 'wb') as f:\n"
        "        f.write(b'x' * 8 * 1024 * 1024)\n    i += 1\n"
    )
    result = run(source, disk_mb=32, file_size_mb=16)
    assert result.error is not None and "No space left" in result.error.message
    assert "your working folder holds 32 MiB" in diagnosis(result)


@strict_only
def test_scikit_learn_and_pandas_work_under_strict_isolation() -> None:
    source = (
        "import numpy as np\nimport pandas as pd\n"
        "from sklearn.linear_model import LogisticRegression\n"
        "from sklearn.model_selection import train_test_split\n"
        "x = np.arange(40).reshape(20, 2)\ny = np.arange(20) % 2\n"
        "x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0)\n"
        "print(x_train.shape, x_test.shape)\n"
        "print(0 <= LogisticRegression().fit(x_train, y_train).score(x_test, y_test) <= 1)\n"
        "frame = pd.DataFrame({'a': [1, 2, 3]})\nprint(int(frame['a'].sum()))\n"
        "import matplotlib, PIL, scipy\nprint('imported')\n"
    )
    result = run(source)
    assert result.error is None, result.error
    assert result.stdout == "(15, 2) (5, 2)\nTrue\n6\nimported\n"


@strict_only
def test_a_module_the_sandbox_lacks_is_named_with_what_it_offers() -> None:
    result = run("import cv2\n")
    assert result.error is not None and result.error.type == "ModuleNotFoundError"
    words = diagnosis(result)
    assert words.startswith("`cv2` is not installed in this sandbox. It offers: tensorflow, keras, numpy, pandas")
    assert "scikit-learn (import sklearn)" in words and "standard library" in words


def test_module_explanations_tell_a_misspelling_and_a_missing_submodule() -> None:
    misspelt = explain_module_error("No module named 'tensorflw'")
    assert misspelt is not None and "Did you mean `tensorflow`?" in misspelt.fix
    submodule = explain_module_error("No module named 'sklearn.nothing'")
    assert submodule is not None and submodule.diagnosis.startswith("`sklearn` is available in this sandbox")
    assert explain_module_error("cannot import name 'x'") is None


def test_limit_explanations_name_the_limit_and_its_size() -> None:
    limits = Limits(processes=100, shm_mb=32, file_size_mb=8)

    def explained(message: str, traceback: str = "", kind: str = "OSError", isolation: str = "strict") -> str:
        error = ErrorInfo(kind, message, 1, traceback=traceback)
        found = explain_limit_error(error, limits, isolation)
        return found.diagnosis if found else ""

    fork = 'File "multiprocessing/popen_fork.py", line 66, in _launch\n    self.pid = os.fork()\n'
    assert "(limit 100, threads included)" in explained("[Errno 11] Resource temporarily unavailable", fork)
    assert explained("[Errno 11] Resource temporarily unavailable") == ""  # not a process start
    assert "limit 100" in explained("can't start new thread", kind="RuntimeError")
    shm = 'File "multiprocessing/queues.py", line 1\n'
    assert "/dev/shm, the sandbox's shared memory (32 MiB)" in explained("[Errno 28] No space left on device", shm)
    assert "/dev/shm (shared memory, used by multiprocessing) 32 MiB" in explained("[Errno 28] No space left")
    assert explained("[Errno 28] No space left", isolation="basic") == "The disk your program writes to is full."
    assert "larger than 8 MiB" in explained("[Errno 27] File too large")
    assert explained("[Errno 2] No such file or directory: 'm.keras'") == ""


def test_doctor_lists_the_sandbox_packages_with_versions() -> None:
    finding = check_sandbox_packages()
    assert finding.ok and not finding.warning, finding.detail
    line = format_findings([finding])
    for package in OFFERED:
        assert f"{package.name} {package.installed_version()}" in line
    assert "scikit-learn 1." in line and "pandas " in line
    assert describe_offered().endswith("and Python's standard library")

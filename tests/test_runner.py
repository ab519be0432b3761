"""The sandbox runner: streaming, cancelling, cleaning up, and what a run can and cannot reach."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.waiting import wait_for
from tutor.sandbox import isolation
from tutor.sandbox.isolation import Limits
from tutor.sandbox.results import Termination
from tutor.sandbox.runner import RunRequest, run_program

ROOT = Path(__file__).resolve().parent.parent
strict_only = pytest.mark.needs("bubblewrap")  # fails without it unless TUTOR_TEST_BWRAP=skip (conftest.py)


def run(source: str, **request) -> tuple:
    events: list[dict] = []
    result = run_program(RunRequest(source, **request), on_event=events.append)
    return result, events


def test_events_stream_in_order() -> None:
    result, events = run("import sys\nprint('out')\nprint('err', file=sys.stderr)\n")
    kinds = [event["type"] for event in events]
    assert kinds[0] == "started"
    assert kinds[-1] == "result"
    assert kinds.index("finished") < kinds.index("result")
    streams: dict[str, str] = {}
    for event in events:
        if event["type"] == "output":  # a print may arrive in several chunks
            streams[event["stream"]] = streams.get(event["stream"], "") + event["text"]
    assert streams == {"stdout": "out\n", "stderr": "err\n"}
    assert all("token" not in event for event in events)
    assert result.termination is Termination.FINISHED


def test_cancel_stops_the_run() -> None:
    cancel = threading.Event()
    cancelled_at: list[float] = []

    def press_stop_once_running(event: dict) -> None:  # Stop is pressed while the loop runs, not before
        if event["type"] == "output" and "looping" in event["text"] and not cancel.is_set():
            cancelled_at.append(time.monotonic())
            cancel.set()

    source = "print('looping', flush=True)\nwhile True:\n    pass\n"
    result = run_program(RunRequest(source), on_event=press_stop_once_running, cancel=cancel)
    assert result.termination is Termination.CANCELLED
    assert cancelled_at and time.monotonic() - cancelled_at[0] < 10


def test_case_files_and_program_are_in_the_working_folder() -> None:
    source = "import os\nprint(sorted(os.listdir('.')))\nprint(open('data.txt').read())\n"
    result, _ = run(source, files={"data.txt": b"hello"})
    assert result.stdout.splitlines() == ["['data.txt', 'main.py']", "hello"]


# A double-forked `sleep MARKER` in a session of its own: the program waits until the escapee is really
# running (seen in its /proc) before it ends, so a run that leaves it behind is caught. MARKER is over
# 1000 (seconds), so an escapee that lived would outlast any wait for it to be gone.
ESCAPEE = """
import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv("/bin/sleep", ["sleep", "{marker}"])
    os._exit(0)


def escapee_running():
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if open(f"/proc/{{pid}}/cmdline", "rb").read() == b"sleep\\x00{marker}\\x00":
                return True
        except OSError:
            pass
    return False


deadline = time.monotonic() + 30
while not escapee_running() and time.monotonic() < deadline:
    time.sleep(0.02)
print("parent done" if escapee_running() else "the escapee never started")
"""


def escapee_marker() -> str:
    return f"{1000 + time.time() % 1000:.6f}"


def processes_with(marker: str) -> list[int]:
    """The pids whose command line holds ``marker`` (the escapee's, if it lived)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if marker.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(int(pid))
        except OSError:
            continue
    return found


def test_nothing_survives_a_run() -> None:
    marker = escapee_marker()
    result, _ = run(ESCAPEE.format(marker=marker))
    assert result.stdout.strip() == "parent done"
    gone = wait_for(lambda: not processes_with(marker))  # a killed process may take a moment to leave /proc
    survivors = processes_with(marker)
    for pid in survivors:  # clean up before failing
        os.kill(pid, 9)
    assert gone and survivors == []


def test_run_folders_are_removed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tutor import settings

    # A folder of its own: the default one is shared with every other server and test run on this machine.
    monkeypatch.setenv("TUTOR_RUNS_DIR", str(tmp_path / "runs"))
    result, _ = run("open('left-behind.txt', 'w').write('x')\nprint('wrote')\n")
    assert result.stdout == "wrote\n"  # the run really used the folder
    assert os.listdir(settings.runs_dir()) == []


@strict_only
def test_no_network_not_even_the_apps_own_port() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    try:
        source = f"""
import socket
s = socket.socket()
s.settimeout(2)
try:
    s.connect(("127.0.0.1", {port}))
    print("connected")
except OSError as exc:
    print("refused", type(exc).__name__)
"""
        result, _ = run(source)
    finally:
        server.close()
    assert result.stdout.startswith("refused"), result.stdout


@strict_only
def test_host_files_are_out_of_reach() -> None:
    from tutor import settings

    runner_file = str(ROOT / "tutor" / "sandbox" / "runner.py")
    targets = [str(ROOT / "README.md"), runner_file, "/etc/shadow", str(settings.runs_dir())]
    source = f"""
import os
for path in {targets!r}:
    try:
        if os.path.isdir(path):
            print("LISTED", path, os.listdir(path))
        else:
            open(path, "rb").read(1)
            print("READ", path)
    except OSError as exc:
        print("blocked", type(exc).__name__)
print("uid", os.getuid())
"""
    result, _ = run(source)
    assert "READ" not in result.stdout and "LISTED" not in result.stdout, result.stdout
    if os.geteuid() == 0:
        assert "uid 0" not in result.stdout


def test_environment_is_clean(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUTOR_TEST_SECRET", "hunter2")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    result, _ = run("import os\nprint(sorted(os.environ))\n")
    assert "TUTOR_TEST_SECRET" not in result.stdout
    assert "HTTPS_PROXY" not in result.stdout
    assert "KERAS_HOME" in result.stdout


def test_basic_level_runs_too() -> None:
    result, _ = run("print('basic ok')\n", level="basic")
    assert result.isolation == "basic"
    assert result.stdout == "basic ok\n"


def test_strict_without_bubblewrap_is_a_clear_grader_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(isolation, "bubblewrap_works", lambda: False)
    result, _ = run("print('x')\n", level="strict")
    assert result.termination is Termination.SANDBOX_ERROR
    assert result.termination.is_infrastructure
    assert "apt-get install bubblewrap" in result.detail


def test_timeout_is_reported_in_words() -> None:
    result, _ = run("import time\ntime.sleep(30)\n", limits=Limits(wall_s=1.5))
    assert result.termination is Termination.TIMEOUT
    assert "stopped after 1.5 s" in result.detail


def test_server_side_never_imports_tensorflow() -> None:
    code = (
        "import sys; from tutor.lessons.lesson import load_lessons; from tutor.grading.grade import grade_source; "
        "import tutor.cli, tutor.authoring.proofs, tutor.grading.report; "
        "lesson = load_lessons().get('assign-the-model'); "
        "v = grade_source(lesson, 'model.fit()\\n'); assert not v.passed; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'streamlit')]; "
        "print(bad)"
    )
    completed = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "[]"


GAP_PROBE = r"""
import ctypes, errno, socket
libc = ctypes.CDLL(None, use_errno=True)
def show(name, result):
    print(name, "blocked" if result == -1 else "allowed")
try:
    socket.socket(40, socket.SOCK_STREAM)  # AF_VSOCK
    print("vsock allowed")
except OSError:
    print("vsock blocked")
show("keyctl", libc.syscall(250, 0, 0, 0, 0, 0))  # keyctl(KEYCTL_GET_KEYRING_ID, 0) on x86_64
show("unshare-user", libc.unshare(0x10000000))
import threading
thread = threading.Thread(target=print, args=("threads work",))
thread.start()
thread.join()
"""


@strict_only
@pytest.mark.skipif(os.uname().machine != "x86_64", reason="the probe uses x86_64 syscall numbers")
def test_seccomp_closes_the_gaps_bubblewrap_leaves(monkeypatch: pytest.MonkeyPatch) -> None:
    from tutor.sandbox import runner
    from tutor.sandbox.seccomp import compiled_filter

    if compiled_filter() is None:
        pytest.skip("libseccomp is not usable here")
    result, _ = run(GAP_PROBE)
    assert result.stdout.splitlines() == [
        "vsock blocked", "keyctl blocked", "unshare-user blocked", "threads work"
    ]  # fmt: skip
    monkeypatch.setattr(runner, "compiled_filter", lambda: None)  # the control: without the filter
    unfiltered, _ = run(GAP_PROBE)
    assert "vsock allowed" in unfiltered.stdout and "unshare-user allowed" in unfiltered.stdout


def test_results_cross_as_versioned_json() -> None:
    import json

    from tutor.sandbox.results import RunResult

    result, _ = run("def f():\n    return modle\n\nf()\n")
    data = json.loads(json.dumps(result.to_dict()))
    assert data["version"] == 1
    again = RunResult.from_dict(data)
    assert again == result
    with pytest.raises(ValueError, match="version"):
        RunResult.from_dict({**data, "version": 99})


SYMLINK_PROBE = """
import json
from tutor.sandbox.runner import RunRequest, run_program
result = run_program(RunRequest("print('hello from the sandbox')"))
print(json.dumps({"termination": str(result.termination), "stdout": result.stdout, "detail": result.detail,
                  "isolation": result.isolation}))
"""


def run_probe(python: Path, cwd: Path) -> dict:
    import json

    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [str(python), "-c", SYMLINK_PROBE], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_project_reached_through_a_symlink_runs(tmp_path: Path) -> None:
    """Deployments link `current -> releases/N`; the server then runs from the link's paths."""
    current = tmp_path / "current"
    current.symlink_to(ROOT, target_is_directory=True)
    venv_bin = os.path.realpath(os.path.dirname(sys.executable))
    # The venv the tests use, reached through the link when it lives in the project (as setup.sh makes it).
    python = (
        current / os.path.relpath(venv_bin, ROOT) / os.path.basename(sys.executable)
        if venv_bin.startswith(str(ROOT) + os.sep)
        else Path(sys.executable)
    )
    outcome = run_probe(python, current)
    assert outcome == {
        "termination": "finished",
        "stdout": "hello from the sandbox\n",
        "detail": "",
        "isolation": "strict" if isolation.bubblewrap_works() else "basic",
    }


def test_a_venv_reached_through_a_symlink_runs(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    venv.symlink_to(os.path.realpath(sys.prefix), target_is_directory=True)
    outcome = run_probe(venv / "bin" / os.path.basename(sys.executable), ROOT)
    assert outcome["termination"] == "finished", outcome["detail"]
    assert outcome["stdout"] == "hello from the sandbox\n"


@pytest.mark.parametrize("level", [pytest.param("strict", marks=strict_only), "basic"])
def test_a_sandbox_that_cannot_start_python_is_the_graders_error(monkeypatch: pytest.MonkeyPatch, level: str) -> None:
    monkeypatch.setattr(isolation, "python_argv", lambda harness, executable=None: ["/nonexistent/python3", harness])
    result, events = run("print('never runs')\n", level=level)
    assert result.termination is Termination.SANDBOX_ERROR
    assert result.termination.is_infrastructure
    assert "could not start Python" in result.detail
    assert "not with your code" in result.detail
    assert "os._exit" not in result.detail
    assert "/nonexistent/python3" in result.detail  # what the sandbox said, for the teacher
    assert "started" not in [event["type"] for event in events]
    assert events[-1]["type"] == "result"


def test_a_verdict_never_blames_the_learner_for_a_sandbox_that_cannot_start(monkeypatch: pytest.MonkeyPatch) -> None:
    from tutor.grading.grade import grade_source
    from tutor.lessons.lesson import load_lessons

    monkeypatch.setattr(isolation, "python_argv", lambda harness, executable=None: ["/nonexistent/python3", harness])
    lesson = load_lessons().get("assign-the-model")
    verdict = grade_source(lesson, lesson.starter)
    assert not verdict.passed
    assert verdict.grader_error is not None and "not with your code" in verdict.grader_error
    assert verdict.first_error is None  # no learner error was made up
    assert verdict.cases[0].result.termination is Termination.SANDBOX_ERROR

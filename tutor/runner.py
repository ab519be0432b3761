"""Runs learner code in a new sandboxed Python process and streams what happens.

The child runs ``tutor/harness.py``; its events arrive as JSON lines on a pipe of their own, stamped
with a token chosen here per run. stdout and stderr are read as they come, capped, and passed on as
"output" events so a UI can show them live. Whatever happens, the run's processes are gone when
``run_program`` returns.
"""

from __future__ import annotations

import codecs
import itertools
import json
import os
import secrets
import selectors
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tutor import settings
from tutor.analysis import analyze_name_error
from tutor.data import Dataset, ensure_dataset
from tutor.isolation import Level, Limits, build_launch, resolve_level, wait_for_uid_exit
from tutor.results import RunResult, Termination, apply_event
from tutor.seccomp import compiled_filter
from tutor.terminal import render_terminal

EventCallback = Callable[[dict[str, Any]], None]
MAX_EVENT_BYTES = 4 * 1024 * 1024  # the harness sends a few KiB; more is not the harness
KILL_GRACE_S = 0.5  # after the main process ends, how long stragglers may keep pipes open
_uids = itertools.cycle(range(61000, 62000))
_uid_lock = threading.Lock()


@dataclass
class RunRequest:
    source: str | bytes
    files: dict[str, bytes] = field(default_factory=dict)  # the case's files, by plain file name
    limits: Limits = field(default_factory=Limits)
    level: str | None = None  # strict / basic / auto; None: the setting
    model_name: str = "model"
    predict_samples: int = 0


def next_uid() -> int:
    with _uid_lock:
        return next(_uids)


def run_program(
    request: RunRequest,
    on_event: EventCallback | None = None,
    cancel: threading.Event | None = None,
    dataset: Dataset | None = None,
) -> RunResult:
    """Run one program to its end (or its limit) and return what happened."""
    started = time.monotonic()
    try:
        level = resolve_level(request.level or settings.sandbox_level())
        dataset = dataset or ensure_dataset()
    except Exception as exc:  # no sandbox or no data: the grader's problem, never the learner's
        return RunResult(Termination.SANDBOX_ERROR, 0.0, detail=f"The sandbox could not start: {exc}")
    root = Path(tempfile.mkdtemp(prefix="tutor-run-", dir=settings.runs_dir()))
    try:
        return _run_in(root, level, request, dataset, on_event, cancel, started)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _run_in(root, level, request, dataset, on_event, cancel, started) -> RunResult:
    stage = root / "stage"
    work = root / "work"
    stage.mkdir()
    work.mkdir()
    source = request.source.encode("utf-8") if isinstance(request.source, str) else request.source
    (stage / "main.py").write_bytes(source)
    for name, content in request.files.items():
        if "/" in name or name in ("", ".", "..", "main.py"):
            raise ValueError(f"case file name {name!r} must be a plain file name other than main.py")
        (stage / name).write_bytes(content)
    uid = next_uid()
    if os.geteuid() == 0 and level is Level.STRICT:
        # The run's own unprivileged uid must read the staged files through the read-only bind.
        os.chmod(root, 0o755)
        os.chmod(stage, 0o755)
        for path in stage.iterdir():
            os.chmod(path, 0o644)
    read_events, write_events = os.pipe()
    child_fds = [write_events]  # the child's copies; ours are closed once it has started
    seccomp_fd = None
    bpf = compiled_filter() if level is Level.STRICT else None
    if bpf is not None:  # bwrap reads the compiled filter from a file descriptor
        (root / "seccomp.bpf").write_bytes(bpf)
        seccomp_fd = os.open(root / "seccomp.bpf", os.O_RDONLY)
        child_fds.append(seccomp_fd)
    launch = build_launch(level, request.limits, stage, work, dataset.path, uid, seccomp_fd)
    token = secrets.token_hex(16)
    config = {
        "events_fd": write_events,
        "token": token,
        "learner_file": f"{launch.learner_dir}/main.py",
        "case_dir": launch.case_dir,
        "model_name": request.model_name,
        "predict_samples": request.predict_samples,
        "dataset": {"kind": str(dataset.kind), "path": launch.dataset_path, "description": dataset.description},
    }
    result = RunResult(Termination.CRASHED, 0.0, isolation=str(level))
    try:
        process = subprocess.Popen(
            launch.argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=launch.cwd,
            env=launch.env,
            pass_fds=tuple(child_fds),
            start_new_session=True,
        )
    except OSError as exc:
        os.close(read_events)
        return RunResult(Termination.SANDBOX_ERROR, 0.0, detail=f"The sandbox could not start: {exc}")
    finally:
        for fd in child_fds:
            os.close(fd)
    try:
        process.stdin.write(json.dumps(config).encode())
        process.stdin.close()
    except OSError:
        pass  # it died at once; the supervisor reports how
    supervisor = _Supervisor(process, read_events, token, request.limits, on_event, cancel, result)
    supervisor.watch()
    if level is Level.STRICT and os.geteuid() == 0:
        wait_for_uid_exit(uid)  # the run's own uid: nothing of it may outlive run_program
    result.duration_s = round(time.monotonic() - started, 3)
    _finish(result, supervisor, request)
    if on_event is not None:
        on_event({"type": "result", "result": result.to_dict()})
    return result


class _Supervisor:
    """Reads the three pipes, enforces the wall clock and the output cap, and cleans up."""

    def __init__(self, process, events_fd, token, limits: Limits, on_event, cancel, result: RunResult):
        self.process = process
        self.events_fd = events_fd
        self.token = token
        self.limits = limits
        self.on_event = on_event
        self.cancel = cancel
        self.result = result
        self.output = {"stdout": bytearray(), "stderr": bytearray()}
        self.output_bytes = 0
        self.event_buffer = bytearray()
        self.event_bytes = 0
        self.stopped: Termination | None = None
        self.tampered: str | None = None
        self.harness_error: str | None = None
        self.finished_event = False
        self.decoders = {name: codecs.getincrementaldecoder("utf-8")("replace") for name in self.output}

    def watch(self) -> None:
        selector = selectors.DefaultSelector()
        selector.register(self.process.stdout, selectors.EVENT_READ, "stdout")
        selector.register(self.process.stderr, selectors.EVENT_READ, "stderr")
        selector.register(self.events_fd, selectors.EVENT_READ, "events")
        deadline = time.monotonic() + self.limits.wall_s
        exited_at: float | None = None
        open_streams = 3
        try:
            while open_streams and self.stopped is None:
                now = time.monotonic()
                if now >= deadline:
                    self.stop(Termination.TIMEOUT)
                    break
                if self.cancel is not None and self.cancel.is_set():
                    self.stop(Termination.CANCELLED)
                    break
                if exited_at is None and self.process.poll() is not None:
                    exited_at = now
                if exited_at is not None and now - exited_at > KILL_GRACE_S:
                    break  # a straggler holds a pipe open; it is killed below
                for key, _ in selector.select(timeout=0.1):
                    chunk = os.read(key.fd, 65536)
                    if not chunk:
                        selector.unregister(key.fileobj)
                        open_streams -= 1
                    elif key.data == "events":
                        self.read_events(chunk)
                    else:
                        self.read_output(key.data, chunk)
        finally:
            selector.close()
            self.kill()
            os.close(self.events_fd)
            self.process.stdout.close()
            self.process.stderr.close()

    def stop(self, reason: Termination) -> None:
        if self.stopped is None:
            self.stopped = reason
        self.kill()

    def kill(self) -> None:
        """SIGKILL the whole group. Under bubblewrap that also ends its pid namespace."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def read_output(self, stream: str, chunk: bytes) -> None:
        cap = self.limits.output_kb * 1024
        room = cap - self.output_bytes
        kept = chunk[: max(room, 0)]
        self.output[stream] += kept
        self.output_bytes += len(kept)
        if kept and self.on_event is not None:
            self.on_event({"type": "output", "stream": stream, "text": self.decoders[stream].decode(kept)})
        if len(chunk) > room:
            self.result.output_truncated = True
            self.stop(Termination.OUTPUT_LIMIT)

    def read_events(self, chunk: bytes) -> None:
        self.event_bytes += len(chunk)
        if self.event_bytes > MAX_EVENT_BYTES:
            self.tampered = self.tampered or "far more data than the grader ever sends"
            self.stop(Termination.TAMPERED)
            return
        self.event_buffer += chunk
        *lines, rest = self.event_buffer.split(b"\n")
        self.event_buffer = bytearray(rest)
        for line in lines:
            self.handle_event_line(line)

    def handle_event_line(self, line: bytes) -> None:
        try:
            event = json.loads(line)
            valid = isinstance(event, dict) and event.pop("token", None) == self.token and event.get("v") == 1
        except ValueError:
            valid = False
        if not valid:
            self.tampered = self.tampered or line[:200].decode("utf-8", "replace")
            return
        if event.get("type") == "harness_error":
            self.harness_error = str(event.get("error"))
        if event.get("type") == "finished":
            self.finished_event = True
        apply_event(self.result, event)
        if self.on_event is not None:
            self.on_event(event)


def _finish(result: RunResult, supervisor: _Supervisor, request: RunRequest) -> None:
    limits = request.limits
    for stream, raw in supervisor.output.items():
        text = raw.decode("utf-8", "replace")
        if stream == "stdout" and result.output_truncated:
            text += f"\n[output cut: your program printed more than {limits.output_kb} KiB]"
        setattr(result, stream, render_terminal(text))
    returncode = supervisor.process.returncode
    if supervisor.tampered is not None:
        result.termination = Termination.TAMPERED
        result.detail = (
            "Something other than the grader wrote on the grader's private channel "
            f"({supervisor.tampered[:80]!r}), so this run cannot be trusted or graded."
        )
    elif supervisor.harness_error is not None:
        result.termination = Termination.HARNESS_ERROR
        result.detail = f"The grader itself failed (not your code): {supervisor.harness_error}"
    elif supervisor.stopped is Termination.TIMEOUT:
        result.termination = Termination.TIMEOUT
        result.detail = f"Your program was stopped after {limits.wall_s:g} s, the time limit for this run."
    elif supervisor.stopped is Termination.CANCELLED:
        result.termination = Termination.CANCELLED
        result.detail = "The run was stopped before it finished."
    elif supervisor.stopped is Termination.OUTPUT_LIMIT:
        result.termination = Termination.OUTPUT_LIMIT
        result.detail = f"Your program printed more than {limits.output_kb} KiB of output, so it was stopped."
    elif not supervisor.finished_event:
        result.termination = Termination.CRASHED
        result.signal, result.exit_code = _describe_returncode(returncode)
        result.detail = _crash_words(result.signal, result.exit_code, limits)
    if result.termination is Termination.EXITED:
        result.detail = f"Your program called sys.exit({result.exit_code}) before it finished."
    if result.error is not None and result.error.is_name_error and result.error.name:
        source = request.source if isinstance(request.source, str) else request.source.decode("utf-8", "replace")
        error = result.error
        analysis = analyze_name_error(source, error.name, error.line, error.function, error.type == "UnboundLocalError")
        error.analysis = analysis.to_dict()


def _describe_returncode(returncode: int | None) -> tuple[str | None, int | None]:
    """Popen gives -N for a signal; bubblewrap passes a child's death by signal on as 128 + N."""
    if returncode is None:
        return None, None
    number = -returncode if returncode < 0 else returncode - 128 if returncode > 128 else None
    if number is not None:
        try:
            return signal.Signals(number).name, None
        except ValueError:
            pass
    return None, returncode


def _crash_words(signal_name: str | None, exit_code: int | None, limits: Limits) -> str:
    if signal_name in ("SIGSEGV", "SIGABRT", "SIGBUS", "SIGKILL"):
        return (
            f"Your program crashed ({signal_name}). This often means it ran out of memory "
            f"(limit {limits.memory_mb / 1024:g} GiB) or crashed inside a native library."
        )
    if signal_name == "SIGXCPU":
        return "Your program used too much CPU time and was stopped."
    if signal_name == "SIGXFSZ":
        return f"Your program wrote a file larger than {limits.file_size_mb} MiB and was stopped."
    if signal_name is not None:
        return f"Your program was ended by the signal {signal_name}."
    return (
        f"Your program ended abruptly with exit status {exit_code} before it finished "
        "(for example through os._exit()), so nothing after that point could be checked."
    )

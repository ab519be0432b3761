"""Runs learner code in a new sandboxed Python process and streams what happens.

The child runs ``tutor/sandbox/harness.py``; its events arrive as JSON lines on a pipe of their own, stamped
with a token chosen here per run. stdout and stderr are read as they come, capped, and passed on as
"output" events so a UI can show them live. Whatever happens, the run's processes are gone when
``run_program`` returns (a run forked from a fork server: killed by then, and gone a moment later).
"""

from __future__ import annotations

import codecs
import json
import os
import secrets
import select
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
from typing import Any, Protocol

from tutor import settings
from tutor.sandbox import wording
from tutor.sandbox.cgroups import RunCgroup, cgroups_available
from tutor.sandbox.dataset import Dataset, ensure_dataset
from tutor.sandbox.fonts import font_cache
from tutor.sandbox.isolation import (
    Launch,
    Level,
    Limits,
    UidClaim,
    build_launch,
    claim_uid,
    resolve_level,
    wait_for_uid_exit,
)
from tutor.sandbox.protocol import MAX_FIGURES_BYTES, EventType, ProtocolError, TokenMismatch, decode_event
from tutor.sandbox.results import RunResult, Termination, apply_event
from tutor.sandbox.seccomp import compiled_filter
from tutor.sandbox.terminal import render_terminal

EventCallback = Callable[[dict[str, Any]], None]
# The harness sends a few KiB, and its figures (base64); more is not the harness
MAX_EVENT_BYTES = 4 * 1024 * 1024 + MAX_FIGURES_BYTES * 4 // 3
KILL_GRACE_S = 0.5  # after the main process ends, how long stragglers may keep pipes open
PROCESS_HEADROOM = 8  # the pids cgroup also counts the sandbox's own helpers (sh, bwrap, its init)


@dataclass
class RunRequest:
    source: str | bytes
    files: dict[str, bytes] = field(default_factory=dict)  # the case's files, by plain file name
    limits: Limits = field(default_factory=Limits)
    level: str | None = None  # strict / basic / auto; None: the setting
    model_name: str = "model"
    predict_samples: int = 0
    program_name: str = "main.py"  # the file the program runs as (a project's entry module: train.py)
    modules: tuple[str, ...] = ()  # a project's other modules, among ``files``: importable, errors placed in them


@dataclass
class Sandbox:
    """One started sandbox process. It serves exactly one program, then it is gone.

    A warm sandbox was started ahead of time and has imported TensorFlow and Keras (no op run) while it
    waits for its program; a cold one is started for the run. Both are the same bubblewrap sandbox with
    the same limits, uid, cgroup and folders of their own."""

    process: subprocess.Popen
    root: Path
    stage: Path
    level: Level
    dataset: Dataset
    launch: Launch
    token: str
    events_fd: int  # our read end of the harness's private channel
    uid: UidClaim
    cgroup: RunCgroup | None
    warm: bool
    pending: bytearray = field(default_factory=bytearray)  # events read before the run (started, ready)
    ready: bool = False
    rss_mb: float = 0.0  # reported by a warm sandbox once its imports are done
    last_words: bytearray = field(default_factory=bytearray)  # a kernel's last stdout/stderr (tutor.kernels)
    limits: Limits = field(default_factory=Limits)  # what it was started with (a run's own come with the run)
    closed: bool = False
    close_in_background: bool = False  # a forked run: run_program returns while its processes are torn down

    def alive(self) -> bool:
        return not self.closed and self.process.poll() is None

    @property
    def kernel_dir(self) -> Path:
        """Where a notebook kernel started in this sandbox puts its sockets (tutor.kernels)."""
        return self.root / "kernel"

    def wait_ready(self, timeout_s: float) -> bool:
        """Read the channel until the harness says its imports are done (warm sandboxes only)."""
        deadline = time.monotonic() + timeout_s
        while not self.ready and self.alive():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            readable, _, _ = select.select([self.events_fd], [], [], min(remaining, 0.5))
            if not readable:
                continue
            chunk = os.read(self.events_fd, 65536)
            if not chunk:
                return False
            self.pending += chunk
            for line in bytes(self.pending).split(b"\n")[:-1]:
                try:
                    event = decode_event(line, self.token)
                except ValueError:
                    continue  # the run's supervisor reads these lines again and reports them
                if event["type"] is EventType.READY:
                    self.ready = True
                    self.rss_mb = event["rss_mb"]
        return self.ready

    def kill(self) -> None:
        """End its processes now; close() still frees the rest (from the thread that owns the sandbox)."""
        _kill_group(self.process)

    def close(self) -> None:
        """Kill whatever is left, then free the uid, the cgroup and the folders."""
        if self.closed:
            return
        self.closed = True
        self.kill()
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None and not stream.closed:
                try:
                    stream.close()
                except OSError:
                    pass
        try:
            os.close(self.events_fd)
        except OSError:
            pass
        if self.level is Level.STRICT and os.geteuid() == 0:
            wait_for_uid_exit(self.uid.uid)  # the run's own uid: nothing of it may outlive the run
        if self.cgroup is not None:
            self.cgroup.kill_all()
            self.cgroup.remove()
        self.uid.release()
        release = getattr(self.process, "release", None)  # a forked run's socket (tutor.sandbox.forkserver)
        if release is not None:
            release()
        shutil.rmtree(self.root, ignore_errors=True)


def start_sandbox(level: Level, limits: Limits, dataset: Dataset, warm: bool, prefault_mb: int = 0) -> Sandbox:
    """Start a sandbox process; it waits on stdin for its program. Raises OSError if it cannot start. A
    warm one also touches ``prefault_mb`` of memory ahead for the program's arrays (harness.prefault_heap)."""
    root = Path(tempfile.mkdtemp(prefix="tutor-run-", dir=settings.runs_dir()))
    stage, work, kernel = root / "stage", root / "work", root / "kernel"
    stage.mkdir()
    work.mkdir()
    kernel.mkdir(mode=0o700)
    uid = claim_uid()
    cgroup = None
    child_fds: list[int] = []
    try:
        if os.geteuid() == 0 and level is Level.STRICT:
            # The run's own unprivileged uid must read the staged files through the read-only bind.
            os.chmod(root, 0o755)
            os.chmod(stage, 0o755)
            os.chown(kernel, uid.uid, uid.uid)  # the kernel's sockets: its uid's alone (and root's, the server)
        read_events, write_events = os.pipe()
        child_fds.append(write_events)
        seccomp_fd = None
        bpf = compiled_filter() if level is Level.STRICT else None
        if bpf is not None:  # bwrap reads the compiled filter from a file descriptor
            (root / "seccomp.bpf").write_bytes(bpf)
            seccomp_fd = os.open(root / "seccomp.bpf", os.O_RDONLY)
            child_fds.append(seccomp_fd)
        launch = build_launch(level, limits, stage, work, dataset.path, uid.uid, seccomp_fd, kernel)
        argv = launch.argv
        if cgroups_available():
            cgroup = RunCgroup(f"run-{uid.uid}", limits.memory_mb, limits.processes + PROCESS_HEADROOM)
            cgroup.create()
            argv = cgroup.wrap(argv)
        process = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=launch.cwd,
            env=launch.env,
            pass_fds=tuple(child_fds),
            start_new_session=True,
        )
    except BaseException:
        for fd in child_fds:
            os.close(fd)
        if cgroup is not None:
            cgroup.remove()
        uid.release()
        shutil.rmtree(root, ignore_errors=True)
        raise
    for fd in child_fds:  # the child's copies
        os.close(fd)
    token = secrets.token_hex(16)
    sandbox = Sandbox(
        process, root, stage, level, dataset, launch, token, read_events, uid, cgroup, warm, limits=limits
    )
    # First line: how to talk back, and whether to import TensorFlow now (warm) or not at all (cold).
    boot = {"events_fd": write_events, "token": token, "preload": warm, "prefault_mb": prefault_mb if warm else 0}
    try:
        process.stdin.write(json.dumps(boot).encode() + b"\n")
        process.stdin.flush()
    except OSError:
        pass  # it died at once; the supervisor reports how
    return sandbox


def run_program(
    request: RunRequest,
    on_event: EventCallback | None = None,
    cancel: threading.Event | None = None,
    dataset: Dataset | None = None,
    pool: WarmPoolLike | None = None,
) -> RunResult:
    """Run one program to its end (or its limit) and return what happened. With a pool, a warm sandbox
    is used when one matching this run is ready; otherwise a cold one is started."""
    started = time.monotonic()
    try:
        level = resolve_level(request.level or settings.sandbox_level())
        dataset = dataset or ensure_dataset()
    except Exception as exc:  # no sandbox or no data: the grader's problem, never the learner's
        return RunResult(Termination.SANDBOX_ERROR, 0.0, detail=wording.sandbox_unavailable(exc))
    sandbox = pool.take(level, request.limits, dataset) if pool is not None else None
    try:
        if sandbox is None:
            sandbox = start_sandbox(level, request.limits, dataset, warm=False)
    except Exception as exc:
        return RunResult(Termination.SANDBOX_ERROR, 0.0, detail=wording.sandbox_unavailable(exc))
    try:
        return run_in_sandbox(sandbox, request, on_event, cancel, started)
    finally:
        if sandbox.close_in_background:
            # Killed already; tearing a big process down (~0.1 s) and freeing its uid and cgroup need not
            # delay the verdict.
            threading.Thread(target=sandbox.close, name="tutor-close-sandbox", daemon=True).start()
        else:
            sandbox.close()


class WarmPoolLike(Protocol):
    def take(self, level: Level, limits: Limits, dataset: Dataset) -> Sandbox | None: ...


def run_in_sandbox(
    sandbox: Sandbox,
    request: RunRequest,
    on_event: EventCallback | None,
    cancel: threading.Event | None,
    started: float,
) -> RunResult:
    """Hand the program to a started sandbox and supervise it to the end."""
    source = request.source.encode("utf-8") if isinstance(request.source, str) else request.source
    program = request.program_name
    if "/" in program or not program.endswith(".py") or not program[:-3].isidentifier():
        raise ValueError(f"program name {program!r} must be a module file name")
    (sandbox.stage / program).write_bytes(source)
    for name, content in request.files.items():
        if "/" in name or name in ("", ".", "..", program):
            raise ValueError(f"case file name {name!r} must be a plain file name other than {program}")
        (sandbox.stage / name).write_bytes(content)
    for path in sandbox.stage.iterdir():
        os.chmod(path, 0o644)
    launch, dataset = sandbox.launch, sandbox.dataset
    config = {
        "learner_file": f"{launch.learner_dir}/{program}",
        "modules": [f"{launch.learner_dir}/{name}" for name in request.modules if name in request.files],
        "case_dir": launch.case_dir,
        "model_name": request.model_name,
        "predict_samples": request.predict_samples,
        "dataset": {"kind": str(dataset.kind), "path": launch.dataset_path, "description": dataset.description},
        "font_cache": font_cache(),  # matplotlib's font list, so that a plotting run does not build its own
    }
    result = RunResult(Termination.CRASHED, 0.0, isolation=str(sandbox.level), warm=sandbox.warm)
    try:
        sandbox.process.stdin.write(json.dumps(config).encode())
        sandbox.process.stdin.close()
    except OSError:
        pass  # it died; the supervisor reports how
    # An error's line may be in any of a project's modules: the longest bounds it.
    source_lines = max([len(source.splitlines())] + [len(request.files[m].splitlines()) for m in request.modules
                                                     if m in request.files])  # fmt: skip
    supervisor = _Supervisor(
        sandbox.process, sandbox.events_fd, sandbox.token, request.limits, on_event, cancel, result, source_lines
    )
    supervisor.read_events(bytes(sandbox.pending))  # "started" (and "ready") arrived before the run
    supervisor.watch()
    sandbox.events_fd = -1  # the supervisor closed it
    # Stragglers of the run's uid are waited for in Sandbox.close(), which the caller runs (run_program
    # does, in its finally): the verdict need not wait for the kernel to tear the pid namespace down.
    result.duration_s = round(time.monotonic() - started, 3)
    _finish(result, supervisor, request, sandbox.cgroup)
    if on_event is not None:
        on_event({"type": EventType.RESULT, "result": result.to_dict()})
    return result


def _kill_group(process: subprocess.Popen, wait: bool = True) -> None:
    """SIGKILL the whole group. Under bubblewrap that also ends its pid namespace."""
    if not isinstance(process, subprocess.Popen):  # a forked run: pid 1 of its namespace, by its pidfd
        process.kill()
        if wait:
            process.wait(timeout=10)
        return
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class _Supervisor:
    """Reads the three pipes, enforces the wall clock and the output cap, and cleans up."""

    def __init__(
        self, process, events_fd, token, limits: Limits, on_event, cancel, result: RunResult, source_lines: int
    ):
        self.process = process
        self.events_fd = events_fd
        self.token = token
        self.limits = limits
        self.on_event = on_event
        self.cancel = cancel
        self.result = result
        self.source_lines = source_lines
        self.malformed: str | None = None  # the first event out of shape (tutor.sandbox.protocol)
        self.output = {"stdout": bytearray(), "stderr": bytearray()}
        self.output_bytes = 0
        self.event_buffer = bytearray()
        self.event_bytes = 0
        self.stopped: Termination | None = None
        self.tampered: str | None = None
        self.harness_error: str | None = None
        self.finished_event = False
        self.harness_started = False  # the harness's first event: Python started inside the sandbox
        self.decoders = {name: codecs.getincrementaldecoder("utf-8")("replace") for name in self.output}
        self.forked = not isinstance(process, subprocess.Popen)  # from a fork server (tutor.sandbox.forkserver)

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
                    if not self.read_ready(selector, key):
                        open_streams -= 1
                if self.finished_event and exited_at is None:
                    # The harness has said all it will say; waiting for the interpreter and bwrap to wind
                    # down would only delay the verdict. What is already in the pipes is still read.
                    self.kill()
                    exited_at = time.monotonic()
                    if self.forked:  # its output is in the pipes now; its teardown is Sandbox.close's
                        self.drain(selector)
                        break
        finally:
            selector.close()
            self.kill()
            os.close(self.events_fd)
            self.process.stdout.close()
            self.process.stderr.close()

    def drain(self, selector: selectors.BaseSelector) -> None:
        """Read what is in the pipes now, without waiting for more."""
        while self.stopped is None:
            ready = selector.select(timeout=0)
            if not ready:
                return
            for key, _ in ready:
                self.read_ready(selector, key)

    def read_ready(self, selector: selectors.BaseSelector, key: selectors.SelectorKey) -> bool:
        """Read one ready pipe and pass on what came; False at its end (then no longer watched)."""
        chunk = os.read(key.fd, 65536)
        if not chunk:
            selector.unregister(key.fileobj)
            return False
        if key.data == "events":
            self.read_events(chunk)
        else:
            self.read_output(key.data, chunk)
        return True

    def stop(self, reason: Termination) -> None:
        if self.stopped is None:
            self.stopped = reason
        self.kill()

    def kill(self) -> None:
        # A forked run that said "finished" is not waited for: its exit status tells nothing more.
        _kill_group(self.process, wait=not (self.forked and self.finished_event))

    def read_output(self, stream: str, chunk: bytes) -> None:
        cap = self.limits.output_kb * 1024
        room = cap - self.output_bytes
        kept = chunk[: max(room, 0)]
        self.output[stream] += kept
        self.output_bytes += len(kept)
        if kept and self.on_event is not None:
            self.on_event({"type": EventType.OUTPUT, "stream": stream, "text": self.decoders[stream].decode(kept)})
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
        """Every event is validated (tutor.sandbox.protocol) before anything uses it: the learner's code shares the
        harness's process and can shape what it reports."""
        if self.malformed is not None:
            return
        try:
            event = decode_event(line, self.token, self.source_lines)
        except TokenMismatch:
            self.tampered = self.tampered or line[:200].decode("utf-8", "replace")
            return
        except ProtocolError as exc:
            self.malformed = str(exc)
            self.stop(Termination.HARNESS_ERROR)
            return
        if event["type"] is EventType.STARTED:
            self.harness_started = True
        if event["type"] is EventType.HARNESS_ERROR:
            self.harness_error = event["error"]
        if event["type"] is EventType.FINISHED:
            self.finished_event = True
        apply_event(self.result, event)
        if self.on_event is not None:
            self.on_event(event)


def _finish(result: RunResult, supervisor: _Supervisor, request: RunRequest, cgroup: RunCgroup | None) -> None:
    limits = request.limits
    oom_killed = cgroup is not None and cgroup.oom_kills() > 0
    refused_processes = cgroup.process_limit_hits() if cgroup is not None else 0
    for stream, raw in supervisor.output.items():
        text = raw.decode("utf-8", "replace")
        if stream == "stdout" and result.output_truncated:
            text += wording.output_cut_marker(limits)
        setattr(result, stream, render_terminal(text))
    returncode = supervisor.process.returncode
    if not supervisor.harness_started and supervisor.stopped is not Termination.CANCELLED:
        # Nothing of the learner's ran before the harness's first event: whatever ended the process
        # (bwrap could not find Python, a missing library, limits too tight to start) is the grader's.
        result.termination = Termination.SANDBOX_ERROR
        result.signal, result.exit_code = _describe_returncode(returncode)
        result.detail = _sandbox_words(supervisor, result.signal, result.exit_code)
    elif supervisor.tampered is not None:
        result.termination = Termination.TAMPERED
        result.detail = wording.tampered(supervisor.tampered)
    elif supervisor.malformed is not None:
        result.termination = Termination.HARNESS_ERROR
        result.detail = wording.malformed_report(supervisor.malformed)
    elif supervisor.harness_error is not None:
        result.termination = Termination.HARNESS_ERROR
        result.detail = wording.harness_failed(supervisor.harness_error)
    elif supervisor.stopped is Termination.TIMEOUT:
        result.termination = Termination.TIMEOUT
        result.detail = wording.timed_out(limits)
    elif supervisor.stopped is Termination.CANCELLED:
        result.termination = Termination.CANCELLED
        result.detail = wording.cancelled()
    elif supervisor.stopped is Termination.OUTPUT_LIMIT:
        result.termination = Termination.OUTPUT_LIMIT
        result.detail = wording.output_limit(limits)
    elif oom_killed and not supervisor.finished_event:
        result.termination = Termination.MEMORY_LIMIT
        result.detail = wording.out_of_memory(limits)
    elif not supervisor.finished_event:
        result.termination = Termination.CRASHED
        result.signal, result.exit_code = _describe_returncode(returncode)
        result.detail = wording.crashed(result.signal, result.exit_code, limits)
    if result.termination is Termination.EXITED:
        result.detail = wording.exited(result.exit_code)
    if refused_processes:
        result.detail = f"{result.detail} {wording.too_many_processes(limits)}".strip()


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


def _sandbox_words(supervisor: _Supervisor, signal_name: str | None, exit_code: int | None) -> str:
    how = {
        Termination.TIMEOUT: "did not start within the time limit",
        Termination.OUTPUT_LIMIT: "printed too much while starting",
    }.get(supervisor.stopped) or (f"ended by {signal_name}" if signal_name else f"exit status {exit_code}")
    said = [line.strip() for line in supervisor.output["stderr"].decode("utf-8", "replace").splitlines()]
    said = [line for line in said if line]
    return wording.sandbox_without_python(how, said[-1] if said else None)

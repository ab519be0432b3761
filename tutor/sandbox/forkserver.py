"""The fork server: one strict sandbox that imports TensorFlow once and forks every run into a sandbox of its own.

Why: a class pressing Run together waited a minute, because every run needed a fresh sandbox importing
TensorFlow (2-3 s of CPU each, on two cores). Forking a process that imported TensorFlow (no op run) works
and costs milliseconds (../shared/notes/sandbox.md, "Warm start"), as Chrome's zygote does for renderers.

What a forked run gets is what a fresh sandbox gets (tutor/sandbox/zygote.py does it inside): new mount,
pid, network, IPC and UTS namespaces; its own sized home, /tmp and /dev/shm; its staged files read-only
and nobody else's; its own uid (claimed here, host-wide), cgroups and rlimits; no capabilities, no new
privileges; the seccomp filter. Nothing is shared between runs but memory pages copied on write.

Only as root with strict isolation and cgroups (the per-run uid and memory limit need root); elsewhere
the warm pool (pool.py) serves as before. ``tutor.sandbox.forkpool.ForkServerPool`` gives a fork server
the warm pool's interface.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import select
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tutor import settings
from tutor.sandbox.cgroups import RunCgroup, cgroups_available
from tutor.sandbox.dataset import Dataset
from tutor.sandbox.isolation import (
    SANDBOX_CASE_DIR,
    SANDBOX_CASES_DIR,
    SANDBOX_DATA_DIR,
    SANDBOX_HOME,
    SANDBOX_KERNEL_DIR,
    Launch,
    Level,
    Limits,
    bubblewrap_works,
    build_launch,
    claim_uid,
    cpu_limit_s,
)
from tutor.sandbox.pool import PoolKey
from tutor.sandbox.protocol import EventType, decode_event
from tutor.sandbox.runner import PROCESS_HEADROOM, Sandbox
from tutor.sandbox.seccomp import compiled_filter

LOG = logging.getLogger("tutor")
READY_TIMEOUT_S = 120.0
FORK_TIMEOUT_S = 10.0  # a forked run says its pid within milliseconds; this long means the server is broken
SERVER_MEMORY_MB = 4096  # the server's own cgroup: TensorFlow imported holds ~600 MiB


def fork_server_possible(level: Level) -> bool:
    """Root, strict and cgroups: what a forked run needs for its own uid and memory limit."""
    return os.geteuid() == 0 and level is Level.STRICT and bubblewrap_works() and cgroups_available()


class ForkedProcess:
    """A forked run as the supervisor sees a process: its pid (pid 1 of the run's namespace, as this side
    numbers it), its pipes, and an exit status the server's A process reports on the run's socket."""

    def __init__(self, control: socket.socket, stdin, stdout, stderr) -> None:
        self.control = control
        self.stdin, self.stdout, self.stderr = stdin, stdout, stderr
        self.pid: int = 0
        self.pidfd: int = -1
        self.returncode: int | None = None

    def read_pid(self, timeout_s: float) -> bool:
        """The run's first message carries its pid in the credentials the kernel attaches."""
        ready, _, _ = select.select([self.control], [], [], timeout_s)
        if not ready:
            return False
        size = struct.calcsize("3i")
        message, ancillary, _, _ = self.control.recvmsg(64, socket.CMSG_SPACE(size))
        for level, kind, data in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS and message == b"pid":
                self.pid = struct.unpack("3i", data[:size])[0]
        if self.pid <= 0:
            return False
        self.pidfd = os.pidfd_open(self.pid)  # signals go to this very process, never a reused pid
        return True

    def poll(self) -> int | None:
        if self.returncode is None:
            ready, _, _ = select.select([self.control], [], [], 0)
            if ready:
                self._read_status()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise subprocess.TimeoutExpired("forked run", timeout)
            select.select([self.control], [], [], 0.5 if remaining is None else min(remaining, 0.5))
        return self.returncode

    def kill(self) -> None:
        """SIGKILL pid 1 of the run's namespace: the kernel then ends every process in it."""
        if self.pidfd >= 0 and self.returncode is None:
            try:
                signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
            except (ProcessLookupError, OSError):
                pass

    def release(self) -> None:
        if self.pidfd >= 0:
            os.close(self.pidfd)
            self.pidfd = -1
        self.control.close()

    def _read_status(self) -> None:
        try:
            message = self.control.recv(64)
        except OSError:
            message = b""
        if message.startswith(b"exit "):
            try:
                self.returncode = int(message[5:])
                return
            except ValueError:
                pass
        if not message:  # A itself is gone (the server was killed): the run died with it
            self.returncode = -signal.SIGKILL


@dataclass
class ForkServer:
    """The server sandbox's process and what a run needs to be forked from it."""

    process: subprocess.Popen
    root: Path
    key: PoolKey
    dataset: Dataset
    control: socket.socket
    events_fd: int
    token: str
    cgroup: RunCgroup | None
    ready: bool = False
    rss_mb: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)
    closed: bool = False

    @property
    def cases(self) -> Path:
        return self.root / "cases"

    def alive(self) -> bool:
        return not self.closed and self.process.poll() is None

    def wait_ready(self, timeout_s: float) -> bool:
        deadline, pending = time.monotonic() + timeout_s, bytearray()
        while not self.ready and self.alive():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            readable, _, _ = select.select([self.events_fd], [], [], min(remaining, 0.5))
            if readable:
                chunk = os.read(self.events_fd, 65536)
                if not chunk:
                    return False
                pending += chunk
                for line in bytes(pending).split(b"\n")[:-1]:
                    try:
                        event = decode_event(line, self.token)
                    except ValueError:
                        continue
                    if event["type"] is EventType.READY:
                        self.ready, self.rss_mb = True, event["rss_mb"]
        return self.ready

    def fork(self, limits: Limits, prefault_mb: int = 0) -> Sandbox:
        """A new run's sandbox, forked from the server. Raises OSError when the server cannot fork. With
        ``prefault_mb``, forked ahead of its run: it touches that much memory for the program's arrays and
        then says it is ready (Sandbox.wait_ready), as a warm sandbox does."""
        run_id = secrets.token_hex(8)
        root = self.cases / run_id
        stage, kernel = root / "stage", root / "kernel"
        root.mkdir(mode=0o755)
        stage.mkdir(mode=0o755)
        kernel.mkdir(mode=0o700)
        uid = claim_uid()
        os.chown(kernel, uid.uid, uid.uid)
        cgroup = RunCgroup(f"run-{uid.uid}", limits.memory_mb, limits.processes + PROCESS_HEADROOM)
        ours: list = []  # closed if the fork fails
        theirs: list[int] = []  # the server's copies, closed once sent
        try:
            cgroup.create()
            cgroup_fds = [os.open(path / "cgroup.procs", os.O_WRONLY) for path in (cgroup.memory_dir, cgroup.pids_dir)]
            theirs += cgroup_fds
            mine, their_control = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            mine.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
            ours.append(mine)
            theirs.insert(0, their_control.detach())
            pipes = [os.pipe() for _ in range(4)]  # stdin, stdout, stderr, events
            child_ends = [pipes[0][0], pipes[1][1], pipes[2][1], pipes[3][1]]
            our_ends = [pipes[0][1], pipes[1][0], pipes[2][0], pipes[3][0]]
            ours += our_ends
            theirs[1:1] = child_ends
            token = secrets.token_hex(16)
            request = {
                "id": run_id, "uid": uid.uid, "token": token, "limits": limits_for_request(limits),
                "prefault_mb": prefault_mb,
            }  # fmt: skip
            with self.lock:
                socket.send_fds(self.control, [json.dumps(request).encode()], theirs)
            for fd in theirs:
                os.close(fd)
            theirs = []
            process = ForkedProcess(
                mine, os.fdopen(our_ends[0], "wb"), os.fdopen(our_ends[1], "rb", 0), os.fdopen(our_ends[2], "rb", 0)
            )
            if not process.read_pid(FORK_TIMEOUT_S):
                process.stdin.close()
                process.stdout.close()
                process.stderr.close()
                os.close(our_ends[3])
                mine.close()
                ours = []
                raise OSError("the fork server did not start the run")
        except BaseException:
            for item in ours:
                item.close() if isinstance(item, socket.socket) else _close_quietly(item)
            for fd in theirs:
                _close_quietly(fd)
            cgroup.remove(timeout_s=1.0)
            uid.release()
            shutil.rmtree(root, ignore_errors=True)
            raise
        launch = Launch(
            argv=[],
            env={},
            cwd=str(root),
            level=Level.STRICT,
            learner_dir=SANDBOX_HOME,
            case_dir=SANDBOX_CASE_DIR,
            dataset_path=f"{SANDBOX_DATA_DIR}/{self.dataset.path.name}",
            kernel_dir=SANDBOX_KERNEL_DIR,
        )
        return Sandbox(
            process, root, stage, Level.STRICT, self.dataset, launch, token, our_ends[3], uid, cgroup,
            warm=True, ready=not prefault_mb, rss_mb=self.rss_mb, limits=limits, close_in_background=True,
        )  # fmt: skip

    def close(self) -> None:
        """Stop the server; its runs' A processes die with it (and their namespaces with them)."""
        if self.closed:
            return
        self.closed = True
        try:
            self.control.close()
        except OSError:
            pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.process.wait()
        _close_quietly(self.events_fd)
        if self.process.stdin is not None:
            self.process.stdin.close()
        if self.cgroup is not None:
            self.cgroup.kill_all()
            self.cgroup.remove()
        shutil.rmtree(self.root, ignore_errors=True)


def limits_for_request(limits: Limits) -> dict:
    return {
        "tmp_mb": limits.tmp_mb, "shm_mb": limits.shm_mb, "disk_mb": limits.disk_mb, "memory_mb": limits.memory_mb,
        "file_size_mb": limits.file_size_mb, "open_files": limits.open_files, "processes": limits.processes,
        "cpu_s": cpu_limit_s(limits),
    }  # fmt: skip


def _close_quietly(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


def start_fork_server(key: PoolKey, dataset: Dataset, limits: Limits) -> ForkServer:
    """Start the server sandbox; it imports TensorFlow and then waits for requests (wait_ready)."""
    root = Path(tempfile.mkdtemp(prefix="tutor-forkserver-", dir=settings.runs_dir()))
    os.chmod(root, 0o755)
    (root / "cases").mkdir(mode=0o755)
    (root / "stage").mkdir(mode=0o755)
    cgroup = RunCgroup(f"forkserver-{os.getpid()}-{root.name[-8:]}", SERVER_MEMORY_MB, 4096)
    child_fds: list[int] = []
    mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        read_events, write_events = os.pipe()
        child_fds += [write_events, theirs.fileno()]
        seccomp_fd = None
        bpf = compiled_filter()
        if bpf is not None:
            (root / "seccomp.bpf").write_bytes(bpf)
            seccomp_fd = os.open(root / "seccomp.bpf", os.O_RDONLY)
            child_fds.append(seccomp_fd)
        launch = build_launch(
            Level.STRICT, limits, root / "stage", root, dataset.path, 0, None, None, cases_dir=root / "cases"
        )
        cgroup.create()
        log = open(root / "server.log", "wb")  # noqa: SIM115 - the server's own complaints, kept with it
        try:
            process = subprocess.Popen(
                cgroup.wrap(launch.argv),
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=log,
                cwd=launch.cwd,
                env=launch.env,
                pass_fds=tuple(child_fds),
                start_new_session=True,
            )
        finally:
            log.close()
    except BaseException:
        mine.close()
        theirs.close()
        for fd in child_fds[:1] + child_fds[2:]:
            _close_quietly(fd)
        cgroup.remove(timeout_s=1.0)
        shutil.rmtree(root, ignore_errors=True)
        raise
    theirs.close()
    for fd in child_fds[:1] + child_fds[2:]:
        os.close(fd)
    token = secrets.token_hex(16)
    paths = {"home": SANDBOX_HOME, "case": SANDBOX_CASE_DIR, "kernel": SANDBOX_KERNEL_DIR, "cases": SANDBOX_CASES_DIR}
    boot = {
        "events_fd": write_events, "token": token, "preload": True, "prefault_mb": 0,
        "fork_server": {"control_fd": child_fds[1], "seccomp_fd": seccomp_fd, "paths": paths},
    }  # fmt: skip
    try:
        process.stdin.write(json.dumps(boot).encode() + b"\n")
        process.stdin.flush()
    except OSError:
        pass
    return ForkServer(process, root, key, dataset, mine, read_events, token, cgroup)

"""How a sandbox process is started: the command line around ``python harness.py``.

Two levels (README, "The sandbox", says what each holds back):
- ``strict``: bubblewrap — new namespaces (no network at all), only the Python install, the venv, the
  harness, the run's files and the dataset bound read-only, a size-capped tmpfs home and /tmp, and, when
  we are root, the learner's code runs as an unprivileged uid of its own.
- ``basic``: process limits only, for one learner on their own computer.
``auto`` picks strict when bubblewrap works here, else basic.
"""

from __future__ import annotations

import enum
import fcntl
import functools
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from tutor import settings

SANDBOX_HOME = "/home/learner"
SANDBOX_CASE_DIR = "/run/tutor/case"
SANDBOX_HARNESS = "/run/tutor/harness.py"
SANDBOX_DATA_DIR = "/run/tutor/data"
HARNESS_PATH = Path(__file__).with_name("harness.py")
PROTOCOL_PATH = Path(__file__).with_name("protocol.py")  # the harness loads it from beside itself
SANDBOX_PROTOCOL = "/run/tutor/protocol.py"
KERNEL_BOOT_PATH = Path(__file__).with_name("kernel_boot.py")  # what a sandbox runs to become a notebook kernel
SANDBOX_KERNEL_BOOT = "/run/tutor/kernel_boot.py"
ZYGOTE_PATH = Path(__file__).with_name("zygote.py")  # what a fork server runs (tutor/sandbox/forkserver.py)
SANDBOX_ZYGOTE = "/run/tutor/zygote.py"
# A fork server's folder of its runs' staged files; each run binds its own at SANDBOX_CASE_DIR and covers this.
SANDBOX_CASES_DIR = "/run/tutor/cases"
# The one folder a sandbox may write outside its home: a notebook kernel's sockets (ZeroMQ over IPC) live
# there, so the server can talk to the kernel without any network. Empty and unused by plain runs.
SANDBOX_KERNEL_DIR = "/run/tutor/kernel"


class Level(enum.StrEnum):
    STRICT = "strict"
    BASIC = "basic"


class IsolationError(RuntimeError):
    """The requested isolation level cannot be had on this machine."""


@dataclass(frozen=True)
class Limits:
    """Per-run limits. Sizes in MiB."""

    wall_s: float = 120.0
    memory_mb: int = 3072  # RLIMIT_DATA: TensorFlow trains under it, a runaway hits it
    processes: int = 256  # threads count too; TensorFlow uses a few dozen
    file_size_mb: int = 64
    disk_mb: int = 256  # the size of the home tmpfs (strict only)
    tmp_mb: int = 64
    shm_mb: int = 64  # the private /dev/shm (strict only): multiprocessing's locks, queues and pools live there
    # Plain Python's usual soft limit. At 256, Pool(500) ran out of these (one pipe per worker) before the
    # process limit, and the harness itself then failed to report the error.
    open_files: int = 1024
    output_kb: int = 1024  # stdout + stderr kept; more stops the run


@dataclass(frozen=True)
class Launch:
    """A ready command plus where, inside it, the harness finds its files."""

    argv: list[str]
    env: dict[str, str]
    cwd: str
    level: Level
    learner_dir: str  # the working folder as the harness sees it
    case_dir: str
    dataset_path: str | None
    kernel_dir: str | None = None  # where a notebook kernel's sockets go, as the harness sees it


@functools.cache
def bubblewrap_works() -> bool:
    """True when bwrap is installed and can create its namespaces here (a real try, cached)."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return False
    argv = [bwrap, *namespace_flags(), "--ro-bind", "/", "/", "--", "/bin/true"]
    try:
        return subprocess.run(argv, capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def resolve_level(requested: str) -> Level:
    requested = (requested or "auto").lower()
    if requested == "basic":
        return Level.BASIC
    if requested not in ("auto", "strict"):
        raise IsolationError(f"unknown sandbox level {requested!r}: use strict, basic or auto")
    if bubblewrap_works():
        return Level.STRICT
    if requested == "strict":
        raise IsolationError(
            "sandbox level 'strict' needs bubblewrap, which is missing or cannot create namespaces here. "
            "Install it (Debian/Ubuntu: `apt-get install bubblewrap`) or set TUTOR_SANDBOX=basic for "
            "single-learner use."
        )
    _warn_basic_once()
    return Level.BASIC


@functools.cache
def _warn_basic_once() -> None:
    logging.getLogger("tutor").warning(
        "sandbox level 'auto' fell back to 'basic' (process limits only): bubblewrap is missing or cannot "
        "create namespaces. Fine for one learner on their own computer, not for a shared server."
    )


def namespace_flags() -> list[str]:
    if os.geteuid() == 0:
        # As root, no user namespace: we drop to a plain uid inside instead (a root-made user namespace
        # would keep root's powers over what is bound).
        return ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
    return ["--unshare-all"]


def sandbox_env(home: str) -> dict[str, str]:
    """A clean environment: nothing of the server's (no secrets, no proxies)."""
    threads = str(settings.tf_threads())  # read by TensorFlow when its first op runs, in the run's process
    return {
        "TF_NUM_INTRAOP_THREADS": threads,
        "TF_NUM_INTEROP_THREADS": threads,
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": home,
        "KERAS_HOME": os.path.join(home, ".keras"),
        "KERAS_BACKEND": "tensorflow",
        "TMPDIR": "/tmp",
        "LANG": "C.UTF-8",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "TF_ENABLE_ONEDNN_OPTS": "0",  # silences the oneDNN notice and trims peak memory
        "CUDA_VISIBLE_DEVICES": "",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": os.path.join(home, ".config", "matplotlib"),  # the harness puts the font list there
    }


def cpu_limit_s(limits: Limits) -> int:
    """Processor seconds a sandbox may use over its life (RLIMIT_CPU, a backstop to the wall clock)."""
    return int(limits.wall_s * 8) + 30


def limit_prefix(limits: Limits) -> list[str]:
    """prlimit rather than preexec_fn: the server is threaded, and preexec_fn can deadlock there."""
    mib = 1024 * 1024
    return [
        shutil.which("prlimit") or "prlimit",
        f"--data={limits.memory_mb * mib}",
        f"--fsize={limits.file_size_mb * mib}",
        f"--nofile={limits.open_files}",
        f"--nproc={limits.processes}",
        "--core=0",
        # A loose backstop only: TensorFlow's threads burn CPU time faster than wall time.
        f"--cpu={cpu_limit_s(limits)}",
        "--",
    ]


def python_argv(harness: str, executable: str | None = None) -> list[str]:
    return [executable or sys.executable, "-I", "-u", "-B", harness]


def sandbox_python() -> str:
    """The interpreter's path with its folders resolved (``current -> releases/N``, a linked venv), so it
    lies under the folders python_roots() binds. Only the folders: the file itself stays the venv's
    ``bin/python`` link, because Python finds its venv (pyvenv.cfg) next to the path it was started as."""
    folder, name = os.path.split(os.path.abspath(sys.executable))
    return os.path.join(os.path.realpath(folder), name)


def build_launch(
    level: Level,
    limits: Limits,
    stage_dir: Path,
    work_dir: Path,
    dataset: Path | None,
    uid: int,
    seccomp_fd: int | None = None,
    kernel_dir: Path | None = None,
    cases_dir: Path | None = None,
) -> Launch:
    """The command for one run. stage_dir holds main.py and the case's files (read-only to the run).

    With ``cases_dir``, the command of a fork server (tutor/sandbox/forkserver.py): it stays root inside
    (each run it forks drops to its own uid), has no seccomp filter and no rlimits of its own (each run
    loads them), and sees the runs' folders under SANDBOX_CASES_DIR instead of one case folder."""
    if level is Level.BASIC:
        return Launch(
            argv=[*limit_prefix(limits), *python_argv(str(HARNESS_PATH))],
            env=sandbox_env(str(work_dir)),
            cwd=str(work_dir),
            level=level,
            learner_dir=str(work_dir),
            case_dir=str(stage_dir),
            dataset_path=str(dataset) if dataset else None,
            kernel_dir=str(kernel_dir) if kernel_dir else None,
        )
    binds: list[tuple[str, str]] = []
    for source in python_roots():
        binds.append((source, source))
    binds.append((str(HARNESS_PATH), SANDBOX_HARNESS))
    binds.append((str(PROTOCOL_PATH), SANDBOX_PROTOCOL))
    binds.append((str(KERNEL_BOOT_PATH), SANDBOX_KERNEL_BOOT))
    binds.append((str(ZYGOTE_PATH), SANDBOX_ZYGOTE))
    if cases_dir is None:
        binds.append((str(stage_dir), SANDBOX_CASE_DIR))
    dataset_path = None
    if dataset is not None:
        dataset_path = f"{SANDBOX_DATA_DIR}/{dataset.name}"
        binds.append((str(dataset.resolve()), dataset_path))
    mib = 1024 * 1024
    argv = [shutil.which("bwrap") or "bwrap", *namespace_flags(), "--die-with-parent", "--new-session"]
    argv += ["--hostname", "sandbox", "--ro-bind", "/usr", "/usr", "--proc", "/proc", "--dev", "/dev"]
    for top in ("/bin", "/lib", "/lib64", "/sbin"):
        if os.path.islink(top):
            argv += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            argv += ["--ro-bind", top, top]
    for etc_file in ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/localtime"):
        if os.path.exists(etc_file):
            argv += ["--ro-bind", etc_file, etc_file]
    # /tmp first: a checkout or venv that lives under /tmp is bound into it afterwards, not hidden by it.
    argv += ["--perms", "1777", "--size", str(limits.tmp_mb * mib), "--tmpfs", "/tmp"]
    # A private, sized /dev/shm (bwrap's --dev has none): multiprocessing's semaphores live there, so
    # ThreadPool, Pool and Queue need it; sized, so filling it cannot eat the server's memory.
    argv += ["--perms", "1777", "--size", str(limits.shm_mb * mib), "--tmpfs", "/dev/shm"]
    created: set[str] = {"/", "/usr", "/bin", "/lib", "/lib64", "/sbin", "/proc", "/dev", "/dev/shm", "/etc", "/tmp"}
    for source, dest in binds:
        argv += parent_dirs(dest, created)
        argv += ["--ro-bind", source, dest]
    if kernel_dir is not None:
        argv += parent_dirs(SANDBOX_KERNEL_DIR, created)
        argv += ["--bind", str(kernel_dir), SANDBOX_KERNEL_DIR]
    if cases_dir is not None:  # mount points a forked run binds its own folders onto
        for mount_point in (SANDBOX_CASE_DIR, SANDBOX_KERNEL_DIR):
            argv += parent_dirs(mount_point, created)
            argv += ["--perms", "0755", "--dir", mount_point]
        argv += parent_dirs(SANDBOX_CASES_DIR, created)
        argv += ["--bind", str(cases_dir), SANDBOX_CASES_DIR]
    argv += parent_dirs(SANDBOX_HOME, created)
    argv += ["--perms", "0777", "--size", str(limits.disk_mb * mib), "--tmpfs", SANDBOX_HOME, "--chdir", SANDBOX_HOME]
    if seccomp_fd is not None:
        argv += ["--seccomp", str(seccomp_fd)]
    argv.append("--")
    if os.geteuid() == 0 and cases_dir is None:
        argv += [
            shutil.which("setpriv") or "setpriv",
            f"--reuid={uid}",
            f"--regid={uid}",
            "--clear-groups",
            "--no-new-privs",
            "--bounding-set=-all",
            "--inh-caps=-all",
        ]
    argv += python_argv(SANDBOX_HARNESS, sandbox_python())
    return Launch(
        argv=argv if cases_dir is not None else [*limit_prefix(limits), *argv],
        env=sandbox_env(SANDBOX_HOME),
        cwd=str(work_dir),
        level=level,
        learner_dir=SANDBOX_HOME,
        case_dir=SANDBOX_CASE_DIR,
        dataset_path=dataset_path,
        kernel_dir=SANDBOX_KERNEL_DIR if kernel_dir is not None else None,
    )


def processes_of_uid(uid: int) -> list[int]:
    """Live (non-zombie) processes whose real uid is ``uid``."""
    return processes_by_uid(range(uid, uid + 1)).get(uid, [])


def processes_by_uid(uids: range) -> dict[int, list[int]]:
    """Live (non-zombie) processes whose real uid is in ``uids``, by uid (one pass over /proc)."""
    found: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status", encoding="ascii", errors="replace") as handle:
                fields = dict(line.split(":", 1) for line in handle if ":" in line)
        except OSError:
            continue
        uid = int(fields.get("Uid", "-1").split()[0])
        if uid in uids and not fields.get("State", "").strip().startswith("Z"):
            found.setdefault(uid, []).append(int(entry))
    return found


UID_RANGE = range(61000, 62000)
UID_LOCK_DIR = Path("/run/lock/tutor-uids") if os.path.isdir("/run/lock") else Path("/tmp/tutor-uids")
_uid_claim_lock = threading.Lock()
_next_uid = [UID_RANGE.start + os.getpid() % len(UID_RANGE)]


@dataclass
class UidClaim:
    """A sandbox uid held for one sandbox's lifetime. The lock is host-wide (a file lock), so two servers
    or a server and a test run on one machine never share a uid, and with it RLIMIT_NPROC and files."""

    uid: int
    handle: object | None

    def release(self) -> None:
        if self.handle is not None:
            self.handle.close()  # closing drops the flock
            self.handle = None


def claim_uid() -> UidClaim:
    """An unused uid from UID_RANGE: not locked by any process here, and with no live process."""
    if os.geteuid() != 0:
        return UidClaim(UID_RANGE.start, None)  # not used as non-root: the user namespace maps us
    UID_LOCK_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
    with _uid_claim_lock:
        for _ in range(len(UID_RANGE)):
            uid = _next_uid[0]
            _next_uid[0] = UID_RANGE.start + (uid + 1 - UID_RANGE.start) % len(UID_RANGE)
            handle = open(UID_LOCK_DIR / str(uid), "a")  # noqa: SIM115 - held open while the uid is in use
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()
                continue
            if processes_of_uid(uid):
                handle.close()  # a leftover of a killed server: let the kernel finish with it
                continue
            return UidClaim(uid, handle)
    raise IsolationError(f"all {len(UID_RANGE)} sandbox uids are in use")


def wait_for_uid_exit(uid: int, timeout_s: float = 10.0) -> bool:
    """After the sandbox's init is killed, the kernel tears the pid namespace down asynchronously: a fork
    bomb's hundreds of processes take a moment to go. Wait for that, so "the run is over" is true."""
    deadline = time.monotonic() + timeout_s
    while processes_of_uid(uid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def parent_dirs(dest: str, created: set[str]) -> list[str]:
    """bwrap makes missing parents mode 0700, which an unprivileged uid cannot enter: make them 0755."""
    args: list[str] = []
    for parent in reversed(PurePosixPath(dest).parents):
        name = str(parent)
        if name not in created:
            created.add(name)
            args += ["--perms", "0755", "--dir", name]
    return args


def python_roots() -> list[str]:
    """Folders the interpreter needs: its install and the venv (resolved, since the venv links into it)."""
    roots = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix)}
    for executable in (sandbox_python(), os.path.realpath(sys.executable)):
        if not any(executable.startswith(root + os.sep) for root in roots):
            roots.add(os.path.dirname(os.path.dirname(executable)))
    # Skip anything already under /usr (bound as a whole).
    return sorted(root for root in roots if not (root == "/usr" or root.startswith("/usr/")))

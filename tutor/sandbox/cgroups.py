"""A cgroup per run, when the server is root and cgroup v1 ``memory``/``pids`` controllers are writable
(as on our development and CI machines, which run as root with cgroup v1).

Why both this and prlimit: RLIMIT_DATA bounds one process's heap, but not the tmpfs pages a run writes,
nor the sum over its processes; RLIMIT_NPROC is per uid and not enforced for root. The memory cgroup
counts everything the run's processes charge (tmpfs included) and the OOM killer ends the run with
SIGKILL, which we then name "out of memory" by reading the cgroup's own counters.

The process enters its cgroups through a tiny ``sh`` wrapper before anything else runs, so every later
process (bwrap, the harness, the learner's children) is born inside it. No ``preexec_fn``: the server
is threaded.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from tutor import settings

GROUP = "tutor"  # our own subtree under each controller


def cgroups_available() -> bool:
    """True when we may create memory and pids cgroups (root, cgroup v1 controllers mounted)."""
    if os.geteuid() != 0:
        return False
    for controller in ("memory", "pids"):
        base = settings.cgroup_root() / controller
        if not (base / "cgroup.procs").exists():
            return False
        try:
            (base / GROUP).mkdir(exist_ok=True)
        except OSError:
            return False
    return True


@dataclass
class RunCgroup:
    """The memory and pids cgroups of one sandbox."""

    name: str
    memory_mb: int
    processes: int

    @property
    def memory_dir(self) -> Path:
        return settings.cgroup_root() / "memory" / GROUP / self.name

    @property
    def pids_dir(self) -> Path:
        return settings.cgroup_root() / "pids" / GROUP / self.name

    def create(self) -> None:
        # A leftover group from a crashed server would carry old counters: start from a fresh one.
        self.remove(timeout_s=1.0)
        for path in (self.memory_dir, self.pids_dir):
            path.mkdir(exist_ok=True)
        _write(self.memory_dir / "memory.limit_in_bytes", str(self.memory_mb * 1024 * 1024))
        _write(self.pids_dir / "pids.max", str(self.processes))

    def wrap(self, argv: list[str]) -> list[str]:
        """``argv`` run from inside both cgroups."""
        script = 'echo $$ > "$1" && echo $$ > "$2" && shift 2 && exec "$@"'
        return [
            "/bin/sh",
            "-c",
            script,
            "tutor-cgroup",
            str(self.memory_dir / "cgroup.procs"),
            str(self.pids_dir / "cgroup.procs"),
            *argv,
        ]

    def oom_kills(self) -> int:
        """How many processes the kernel killed for exceeding this group's memory limit."""
        return _counter(self.memory_dir / "memory.oom_control", "oom_kill")

    def process_limit_hits(self) -> int:
        """How many forks or thread starts the pids limit refused."""
        return _counter(self.pids_dir / "pids.events", "max")

    def peak_memory_mb(self) -> float:
        try:
            return round(int((self.memory_dir / "memory.max_usage_in_bytes").read_text()) / 1024 / 1024, 1)
        except (OSError, ValueError):
            return 0.0

    def kill_all(self, timeout_s: float = 5.0) -> bool:
        """SIGKILL every process still in the group, until none is left. This is what ends a double-forked
        escapee at level basic (no pid namespace there): it cannot leave the cgroup it was born in."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                pids = [int(p) for p in (self.pids_dir / "cgroup.procs").read_text().split()]
            except (OSError, ValueError):
                return True
            if not pids:
                return True
            if time.monotonic() > deadline:
                return False
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            time.sleep(0.01)

    def remove(self, timeout_s: float = 5.0) -> bool:
        """rmdir both groups once their processes are gone (the kernel frees them asynchronously)."""
        deadline = time.monotonic() + timeout_s
        pending = [self.memory_dir, self.pids_dir]
        while pending:
            for path in list(pending):
                try:
                    path.rmdir()
                    pending.remove(path)
                except FileNotFoundError:
                    pending.remove(path)
                except OSError:
                    pass
            if pending:
                if time.monotonic() > deadline:
                    return False
                time.sleep(0.02)
        return True


def _write(path: Path, value: str) -> None:
    with open(path, "w", encoding="ascii") as handle:
        handle.write(value)


def _counter(path: Path, key: str) -> int:
    try:
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    except (OSError, ValueError):
        pass
    return 0

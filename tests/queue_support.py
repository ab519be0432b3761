"""Helpers for the queue-mode tests: a fresh database on the throwaway PostgreSQL that scripts/test.sh
starts (TUTOR_TEST_POSTGRES_URL), and real `python -m tutor worker` processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parent.parent
HEARTBEAT_S = "0.5"  # workers taken for dead after 1.5 s without one: the tests wait less

# Programs that need no TensorFlow: a NameError after a while (the point of these tests is the queue).
QUICK_NAME_ERROR = "x = 1\nmodel.fit(x)\n"


def slow_program(seconds: float, marker: str = "") -> str:
    steps = max(1, int(seconds / 0.1))
    return (
        f"# {marker}\nimport time\nfor step in range({steps}):\n    print('step', step, flush=True)\n"
        "    time.sleep(0.1)\nmodel.fit(1)\n"
    )


def fresh_database_url(server: str) -> Iterator[str]:
    """A new database on ``server`` (the tests' ``postgres_url`` fixture), dropped afterwards."""
    name = f"tutor_queue_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"), {"name": name}
            )
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def queue_env(url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("TUTOR_DB_PATH",)}
    env.update(
        TUTOR_RUNS="queue", TUTOR_DB_URL=url, TUTOR_POOL_SIZE="0", TUTOR_MAX_RUNS="1",
        TUTOR_WORKER_HEARTBEAT_S=HEARTBEAT_S, TUTOR_QUEUE_SWEEP_S="0.5", PYTHONUNBUFFERED="1",
    )  # fmt: skip
    env.update(extra)
    return env


class WorkerProcess:
    """A real worker subprocess; its output goes to a file the test can read."""

    def __init__(self, url: str, name: str, log_dir: Path, **env: str) -> None:
        self.name = name
        self.log = log_dir / f"{name}.log"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tutor", "worker"],
            cwd=ROOT,
            env=queue_env(url, TUTOR_WORKER_NAME=name, **env),
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
        )
        wait_until(lambda: "up to" in self.output() or self.process.poll() is not None, 60)
        assert self.process.poll() is None, self.output()

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def descendants(self) -> set[int]:
        return descendants_of(self.process.pid)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


def descendants_of(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pids: set[int]) -> set[int]:
    """Those of ``pids`` still running (a zombie is not running)."""
    running = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            running.add(pid)
    return running


def wait_until(predicate: Callable[[], object], timeout: float, interval: float = 0.05) -> None:
    """tests/waiting.py's wait_for under the name the queue tests use: AssertionError when predicate() is
    still false after ``timeout`` seconds."""
    if not wait_for(predicate, timeout_s=timeout, interval_s=interval):
        raise AssertionError(f"condition not reached within {timeout} s")


def printed_runs(workers, count: int, timeout: float = 10) -> list[str]:
    """The workers' one line per run, once ``count`` are there: a worker prints a run's line just after
    writing its record, so a test that saw the record finish waits a moment for the line."""

    def lines() -> list[str]:
        return [line for w in workers for line in w.output().splitlines() if line.startswith("run ")]

    wait_until(lambda: len(lines()) >= count, timeout)
    return lines()

"""A small pool of warm sandboxes: started ahead of time, TensorFlow and Keras already imported (no op
run), each handed to exactly one run and replaced in the background afterwards.

A warm sandbox is the same sandbox a cold run gets (its own namespaces, uid, cgroup, folders, limits);
it has only started earlier. So isolation does not change, and nothing is shared between runs. The
common case, a starter that still raises the NameError, then takes well under a second instead of the
seconds TensorFlow's import costs.

Only ready sandboxes are handed out: one still importing belongs to the refill thread, which reads its
channel. When none is ready the run starts cold, and its result says so (``RunResult.warm``).
"""

from __future__ import annotations

import atexit
import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from tutor.sandbox.dataset import Dataset
from tutor.sandbox.isolation import Level, Limits, resolve_level
from tutor.sandbox.runner import Sandbox, start_sandbox

LOG = logging.getLogger("tutor")
READY_TIMEOUT_S = 120.0  # TensorFlow's import takes 2-8 s here; a sandbox slower than this is broken
RETRY_AFTER_S = 10.0  # after a sandbox failed to start, before trying again
DEFAULT_ESTIMATE_MB = 700.0  # a sandbox with TensorFlow imported holds ~570-700 MiB here; until one reports


def estimate_sandbox_mb(prefault_mb: int) -> float:
    """What one warm sandbox is counted as holding until one reports: TensorFlow plus the memory it
    touches ahead (tutor.sandbox.harness.prefault_heap)."""
    return DEFAULT_ESTIMATE_MB + prefault_mb


def pop_alive(sandboxes: list[Sandbox], stale: list[Sandbox]) -> Sandbox | None:
    """The first live sandbox of ``sandboxes``, taken out; dead ones before it are moved to ``stale``."""
    while sandboxes:
        candidate = sandboxes.pop(0)
        if candidate.alive():
            return candidate
        stale.append(candidate)
    return None


@dataclass(frozen=True)
class PoolKey:
    """What a warm sandbox was prepared for; a run with anything else starts cold."""

    level: Level
    limits: Limits
    dataset_path: str
    dataset_mtime_ns: int

    @classmethod
    def of(cls, level: Level, limits: Limits, dataset: Dataset) -> PoolKey:
        # The wall clock and the output cap are the supervisor's, applied when the run is handed over;
        # so a lesson with its own time limit still gets a warm sandbox.
        limits = dataclasses.replace(limits, wall_s=0, output_kb=0)
        try:
            mtime = dataset.path.stat().st_mtime_ns
        except OSError:
            mtime = -1
        return cls(level, limits, str(dataset.path), mtime)


@dataclass
class PoolStats:
    size: int
    memory_mb: int
    ready: int
    warming: int
    held_mb: float  # what the ready sandboxes report, plus an estimate for those still importing
    handed_out: int
    cold_fallbacks: int


class WarmPool:
    def __init__(
        self,
        size: int,
        memory_mb: int,
        dataset: Dataset,
        level: Level | None = None,
        limits: Limits | None = None,
        prefault_mb: int | None = None,
    ) -> None:
        from tutor import settings

        self.size = size
        self.memory_mb = memory_mb
        # Memory each sandbox touches ahead for the program's arrays (tutor.sandbox.harness.prefault_heap).
        self.prefault_mb = settings.pool_prefault_mb() if prefault_mb is None else prefault_mb
        self._limits = limits or Limits()  # what sandboxes start with (the key holds a normalized copy)
        self._key = PoolKey.of(level or resolve_level("auto"), self._limits, dataset)
        self._dataset = dataset
        self._ready: list[Sandbox] = []
        self._warming = 0
        self._estimate_mb = estimate_sandbox_mb(self.prefault_mb)
        self._handed_out = 0
        self._cold = 0
        self._closing = False
        self._starting: Sandbox | None = None  # the one the refill thread is warming up now
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._also_held: list[Callable[[], float]] = []  # others that spend the same budget (notebook kernels)
        self._thread = threading.Thread(target=self._refill, name="tutor-warm-pool", daemon=True)
        self._thread.start()

    def take(self, level: Level, limits: Limits, dataset: Dataset) -> Sandbox | None:
        """A ready warm sandbox for this run, or None (the caller starts a cold one)."""
        key = PoolKey.of(level, limits, dataset)
        stale: list[Sandbox] = []
        taken = None
        with self._lock:
            if key.dataset_path != self._key.dataset_path or key.dataset_mtime_ns != self._key.dataset_mtime_ns:
                # The dataset was replaced (imported or fetched): sandboxes bound to the old file must go.
                stale, self._ready = self._ready, []
                self._key = PoolKey(self._key.level, self._key.limits, key.dataset_path, key.dataset_mtime_ns)
                self._dataset = dataset
            elif key == self._key:
                taken = pop_alive(self._ready, stale)
            if taken is not None:
                self._handed_out += 1
            else:
                self._cold += 1
            self._wake.notify_all()
        for sandbox in stale:
            sandbox.close()
        return taken

    def count_also(self, held_mb: Callable[[], float]) -> None:
        """Count what ``held_mb`` reports (e.g. the notebook kernels' memory) against this pool's budget:
        while they hold memory, fewer sandboxes are kept warm."""
        with self._lock:
            self._also_held.append(held_mb)

    def poke(self) -> None:
        """Memory came free elsewhere (a kernel shut down): look again whether to warm another sandbox."""
        with self._lock:
            self._wake.notify_all()

    def wait_until_ready(self, count: int | None = None, timeout_s: float = READY_TIMEOUT_S) -> bool:
        """Block until ``count`` (default: size) sandboxes are ready; for benchmarks, tests and start-up."""
        wanted = self.size if count is None else count
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while len(self._ready) < wanted:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._closing:
                    return False
                self._wake.wait(min(remaining, 0.5))
        return True

    def stats(self) -> PoolStats:
        with self._lock:
            return PoolStats(
                self.size, self.memory_mb, len(self._ready), self._warming, round(self._held_mb(), 1),
                self._handed_out, self._cold,
            )  # fmt: skip

    def describe(self) -> str:
        """One sentence for the "Data and sandbox" page."""
        stats = self.stats()
        return (
            f"Warm sandboxes (TensorFlow already imported, one run each): {stats.ready} of {stats.size} ready, "
            f"{stats.warming} starting, holding about {stats.held_mb:.0f} of at most {stats.memory_mb} MiB; "
            f"{stats.handed_out} runs served warm, {stats.cold_fallbacks} started fresh. Each has "
            f"{self.prefault_mb} MiB touched ahead for the program's arrays."
        )

    def close(self) -> None:
        """Stop every warm sandbox; when this returns, none of their processes is left."""
        with self._lock:
            self._closing = True
            members, self._ready = self._ready, []
            starting = self._starting
            self._wake.notify_all()
        for sandbox in members:
            sandbox.close()
        if starting is not None:
            starting.kill()  # its import ends at once; the refill thread then closes it and returns
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=READY_TIMEOUT_S)

    def _held_mb(self) -> float:
        """Under the lock."""
        held = sum(s.rss_mb or self._estimate_mb for s in self._ready) + self._warming * self._estimate_mb
        for others in self._also_held:
            try:
                held += others()
            except Exception:  # noqa: BLE001 - a holder that cannot say counts as nothing this time
                pass
        return held

    def _wants_another(self) -> bool:
        """Under the lock: below size, and one more would stay within the memory budget."""
        if len(self._ready) + self._warming >= self.size:
            return False
        return self._held_mb() + self._estimate_mb <= self.memory_mb

    def _refill(self) -> None:
        while True:
            with self._lock:
                while not self._closing and not self._wants_another():
                    self._wake.wait()
                if self._closing:
                    return
                self._warming += 1
                key, dataset = self._key, self._dataset
            sandbox = None
            try:
                sandbox = start_sandbox(key.level, self._limits, dataset, warm=True, prefault_mb=self.prefault_mb)
                with self._lock:
                    self._starting = sandbox
                    closing = self._closing
                ok = not closing and sandbox.wait_ready(READY_TIMEOUT_S)
            except Exception as exc:  # noqa: BLE001 - logged; runs fall back to cold starts meanwhile
                LOG.warning("warm sandbox could not start: %s", exc)
                ok = False
            keep = False
            with self._lock:
                self._warming -= 1
                self._starting = None
                if ok and not self._closing and key == self._key:
                    self._estimate_mb = max(sandbox.rss_mb, 1.0)
                    self._ready.append(sandbox)
                    keep = True
                self._wake.notify_all()
            if not keep:
                if sandbox is not None:
                    sandbox.close()
                if not ok and not self._closing:
                    LOG.warning("warm sandbox did not become ready; retrying in %s s", RETRY_AFTER_S)
                    time.sleep(RETRY_AFTER_S)


def start_pool_from_settings() -> WarmPool | None:
    """The pool the settings ask for, or None when it is off or the sandbox cannot start at all: a fork
    server where it can run (tutor.sandbox.forkserver, the same interface), else warm sandboxes."""
    from tutor import settings
    from tutor.sandbox.dataset import ensure_dataset

    if settings.pool_size() == 0:
        return None
    try:
        level = resolve_level(settings.sandbox_level())
        dataset = ensure_dataset()
    except Exception as exc:  # noqa: BLE001 - the runs themselves will report this in words
        LOG.warning("warm pool not started: %s", exc)
        return None
    if settings.fork_server() == "auto":
        from tutor.sandbox.forkpool import start_fork_server_pool

        forking = start_fork_server_pool(
            dataset, level, settings.pool_memory_mb(), settings.pool_size(), settings.pool_prefault_mb()
        )
        if forking is not None:
            return forking  # type: ignore[return-value] - the warm pool's interface
    pool = WarmPool(settings.pool_size(), settings.pool_memory_mb(), dataset, level)
    atexit.register(pool.close)  # the server's own folders and cgroups go with it on a clean stop
    return pool

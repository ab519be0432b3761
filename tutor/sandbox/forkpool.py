"""The warm pool's interface (tutor.sandbox.pool.WarmPool) over one fork server (tutor.sandbox.forkserver).

A background thread starts the server (and starts it again if it dies or the dataset changes), then keeps
``size`` runs forked ahead of time with the pool's limits, each with ``prefault_mb`` of memory touched for
the program's arrays (harness.prefault_heap): on a virtual machine whose host takes free memory back, the
starter's float32 copy of MNIST took ~1 s of fresh memory and 0.1 s in memory touched ahead. ``take``
hands out one of those when the run's limits match, else forks a run on the spot (milliseconds). So a
single learner gets a sandbox that is ready to the last page, and a class pressing Run together gets a
fork each instead of thirty TensorFlow imports. Until the server is ready, runs start cold.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time

from tutor.sandbox.dataset import Dataset
from tutor.sandbox.forkserver import READY_TIMEOUT_S, SERVER_MEMORY_MB, ForkServer, fork_server_possible
from tutor.sandbox.forkserver import start_fork_server as start_server
from tutor.sandbox.isolation import Level, Limits
from tutor.sandbox.pool import PoolKey, PoolStats, pop_alive
from tutor.sandbox.runner import Sandbox

LOG = logging.getLogger("tutor")
RETRY_AFTER_S = 10.0
AHEAD_READY_S = 60.0  # a run forked ahead says it is ready within a second or two; longer: something is wrong


class ForkServerPool:
    def __init__(
        self,
        dataset: Dataset,
        level: Level,
        limits: Limits | None = None,
        memory_mb: int = 0,
        size: int = 1,
        prefault_mb: int = 0,
    ) -> None:
        self.size = size  # runs kept forked ahead
        self.prefault_mb = prefault_mb
        self.memory_mb = memory_mb or SERVER_MEMORY_MB
        self._limits = limits or Limits()
        self._key = PoolKey.of(level, self._limits, dataset)
        self._dataset = dataset
        self._server: ForkServer | None = None
        self._ahead: list[Sandbox] = []
        self._out: list[Sandbox] = []  # handed out and maybe still running: no forking ahead meanwhile
        self._handed_out = 0
        self._cold = 0
        self._closing = False
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._thread = threading.Thread(target=self._keep_serving, name="tutor-fork-server", daemon=True)
        self._thread.start()

    def take(self, level: Level, limits: Limits, dataset: Dataset) -> Sandbox | None:
        """A run forked ahead when the limits match, else one forked now; None (start cold) without a server."""
        key = PoolKey.of(level, limits, dataset)
        stale: list[Sandbox] = []
        sandbox = None
        with self._lock:
            if (key.dataset_path, key.dataset_mtime_ns) != (self._key.dataset_path, self._key.dataset_mtime_ns):
                self._key = PoolKey(self._key.level, self._key.limits, key.dataset_path, key.dataset_mtime_ns)
                self._dataset = dataset
                stale, self._ahead = self._ahead, []  # the server bound to the old file is replaced
            server = self._server if self._current(self._server) and key.level is self._key.level else None
            if server is not None and key == self._key:
                sandbox = pop_alive(self._ahead, stale)
            self._wake.notify_all()
        for old in stale:
            old.close()
        if sandbox is None and server is not None:
            try:
                sandbox = server.fork(limits)
            except OSError as exc:
                LOG.warning("fork server could not start a run: %s", exc)
        with self._lock:
            if sandbox is not None:
                self._handed_out += 1
                self._out.append(sandbox)
            else:
                self._cold += 1
        return sandbox

    def count_also(self, held_mb) -> None:
        """Kernels' memory: the server holds one TensorFlow whatever they hold, so nothing changes here."""

    def poke(self) -> None:
        with self._lock:
            self._wake.notify_all()

    def wait_until_ready(self, count: int | None = None, timeout_s: float = READY_TIMEOUT_S) -> bool:
        """Block until the server is ready and ``count`` (default: size) runs are forked ahead."""
        wanted = self.size if count is None else count
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while not (self._current(self._server) and self._server.ready and len(self._ahead) >= wanted):
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._closing:
                    return False
                self._wake.wait(min(remaining, 0.5))
        return True

    def stats(self) -> PoolStats:
        """``ready``: runs that would start warm now (forked ahead, or the server, which forks in milliseconds)."""
        with self._lock:
            server = self._server if self._current(self._server) and self._server.ready else None
            ahead = len(self._ahead)
            ready = min(self.size, ahead + (server is not None)) if self.size else int(server is not None)
            held = (server.rss_mb if server is not None else 0.0) + ahead * self.prefault_mb
            return PoolStats(self.size, self.memory_mb, ready, 0 if server else 1, round(held, 1),
                             self._handed_out, self._cold)  # fmt: skip

    def describe(self) -> str:
        """One sentence for the "Data and sandbox" page."""
        stats = self.stats()
        state = "ready" if stats.ready else "starting"
        return (
            f"Fork server (TensorFlow imported once; each run forked into a sandbox of its own in milliseconds): "
            f"{state}, {len(self._ahead)} of {self.size} runs forked ahead with {self.prefault_mb} MiB touched for "
            f"the program's arrays; {stats.handed_out} runs forked, {stats.cold_fallbacks} started fresh while it "
            f"was not ready."
        )

    def close(self) -> None:
        """Stop the runs forked ahead and the server; when this returns, none of their processes is left."""
        with self._lock:
            self._closing = True
            server, self._server = self._server, None
            ahead, self._ahead = self._ahead, []
            self._wake.notify_all()
        for sandbox in ahead:
            sandbox.close()
        if server is not None:
            server.close()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=READY_TIMEOUT_S)

    def _current(self, server: ForkServer | None) -> bool:
        """Under the lock: the server is alive and bound to the dataset runs now use."""
        return (
            server is not None
            and server.alive()
            and (server.key.dataset_path, server.key.dataset_mtime_ns)
            == (self._key.dataset_path, self._key.dataset_mtime_ns)
        )

    def _wants_ahead(self) -> bool:
        """Under the lock: fewer than size forked ahead, and no run of ours still going. Touching memory ahead
        costs a core for a moment: while a class's burst runs, runs are forked on the spot instead (measured:
        refilling during a burst of thirty took its p95 from 7.9 s to 11.0 s)."""
        self._out = [sandbox for sandbox in self._out if not sandbox.closed]
        return len(self._ahead) < self.size and not self._out

    def _keep_serving(self) -> None:
        while True:
            with self._lock:
                while not self._closing and self._current(self._server) and not self._wants_ahead():
                    self._wake.wait(0.5)  # also notices a server that died on its own, and runs that ended
                if self._closing:
                    return
                server = self._server if self._current(self._server) else None
                if server is None:
                    old, self._server = self._server, None
                    stale, self._ahead = self._ahead, []
                key, dataset = self._key, self._dataset
            if server is None:
                for sandbox in stale:
                    sandbox.close()
                if old is not None:
                    old.close()
                self._start_server(key, dataset)
            else:
                self._fork_ahead(server, key)

    def _start_server(self, key: PoolKey, dataset: Dataset) -> None:
        server = None
        try:
            server = start_server(key, dataset, self._limits)
            ok = server.wait_ready(READY_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 - logged; runs start cold meanwhile
            LOG.warning("fork server could not start: %s", exc)
            ok = False
        with self._lock:
            if ok and not self._closing:
                self._server, server = server, None
            self._wake.notify_all()
        if server is not None:
            server.close()
        if not ok and not self._closing:
            LOG.warning("fork server did not become ready; retrying in %s s", RETRY_AFTER_S)
            time.sleep(RETRY_AFTER_S)

    def _fork_ahead(self, server: ForkServer, key: PoolKey) -> None:
        sandbox = None
        try:
            sandbox = server.fork(self._limits, prefault_mb=self.prefault_mb)
            ok = sandbox.wait_ready(AHEAD_READY_S)
        except OSError as exc:
            if not self._closing:  # (closing, the server goes away mid-fork: nothing to say)
                LOG.warning("fork server could not fork a run ahead: %s", exc)
            ok = False
        with self._lock:
            if ok and not self._closing and key == self._key and server is self._server:
                self._ahead.append(sandbox)
                sandbox = None
            self._wake.notify_all()
        if sandbox is not None:
            sandbox.close()
        if not ok and not self._closing:
            time.sleep(1.0)  # a server that cannot fork is noticed dead by _current, or tried again


def start_fork_server_pool(dataset: Dataset, level: Level, memory_mb: int, size: int, prefault_mb: int):
    """A fork server pool where one can run here (root, strict, cgroups), else None."""
    if not fork_server_possible(level):
        return None
    pool = ForkServerPool(dataset, level, memory_mb=memory_mb, size=size, prefault_mb=prefault_mb)
    atexit.register(pool.close)
    return pool

"""The kernels of one host: one per learner and notebook lesson, kept between runs as Jupyter keeps them.

- A learner's cells run in the background, one batch at a time per kernel (a cell, or Run all); the page
  polls the batch (``CellBatch.snapshot``) and shows outputs as they come.
- At most ``kernels_max`` kernels live here; starting one more shuts down the kernel idle the longest (its
  learner is told why). When every kernel is busy, the new one waits for none: the learner is asked to try
  again in a moment.
- A kernel idle for ``kernel_idle_s`` is shut down (Colab does the same) and its memory freed; the page
  says so, and the next Run starts a fresh kernel.
- Kernels count against the warm pool's memory budget: the pool keeps fewer sandboxes warm while kernels
  hold memory (tutor.sandbox.pool.WarmPool.count_also).
"""

from __future__ import annotations

import concurrent.futures
import itertools
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from tutor import settings
from tutor.kernels.contract import CellOutput, CellRun, CellStatus, KernelInfo, KernelState
from tutor.kernels.process import KernelProcess, KernelStartError, died_words, kernel_limits
from tutor.sandbox.dataset import Dataset, ensure_dataset
from tutor.sandbox.isolation import Level, Limits, resolve_level
from tutor.sandbox.pool import WarmPool

LOG = logging.getLogger("tutor")
CULL_EVERY_S = 5.0
KernelKey = tuple[str, str]  # (owner, lesson id)


@dataclass
class CellBatch:
    """Cells sent together (one cell, or Run all): they run in order, and the first error stops the rest,
    as Jupyter's Run All does."""

    id: int
    cells: list[tuple[str, str]]  # (cell id, code)
    runs: list[CellRun] = field(default_factory=list)
    done: bool = False
    stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def snapshot(self) -> tuple[list[CellRun], bool]:
        """Copies of the runs so far (the last one may still be running) and whether the batch is done."""
        with self._lock:
            return [replace(run, outputs=list(run.outputs)) for run in self.runs], self.done

    def wait(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.done:
                return True
            time.sleep(0.01)
        return self.done


@dataclass
class _Entry:
    kernel: KernelProcess | None = None
    state: KernelState = KernelState.NONE
    message: str = ""
    last_used: float = field(default_factory=time.monotonic)
    batch: CellBatch | None = None


class KernelHub:
    def __init__(
        self,
        pool: WarmPool | None = None,
        level: Level | None = None,
        dataset: Dataset | None = None,
        max_kernels: int | None = None,
        idle_s: float | None = None,
    ) -> None:
        self.pool = pool
        self.level = level or resolve_level(settings.sandbox_level())
        self._dataset = dataset
        self.max_kernels = max_kernels or settings.kernels_max()
        self.idle_s = idle_s or settings.kernel_idle_s()
        self._entries: dict[KernelKey, _Entry] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._starter = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="tutor-kernel-start")
        if pool is not None:
            pool.count_also(self.memory_mb)
        self._culler = threading.Thread(target=self._cull_loop, name="tutor-kernel-cull", daemon=True)
        self._culler.start()

    # --- what the pages call ---------------------------------------------------------------------

    def info(self, owner: str, lesson_id: str) -> KernelInfo:
        with self._lock:
            entry = self._entries.get((owner, lesson_id))
            if entry is None:
                return KernelInfo(KernelState.NONE, shutdown_after_s=self.idle_s)
            kernel = entry.kernel
            state = entry.state
            if kernel is not None and state in (KernelState.IDLE, KernelState.BUSY) and not kernel.alive():
                state = KernelState.DEAD
                entry.state, entry.message = state, died_words(kernel)
            return KernelInfo(
                state,
                entry.message,
                kernel.execution_count if kernel is not None else 0,
                round(time.monotonic() - entry.last_used, 1),
                self.idle_s,
                bool(kernel and kernel.warm),
            )

    def run_cells(
        self,
        owner: str,
        lesson_id: str,
        cells: Sequence[tuple[str, str]],
        limits: Limits | None = None,
        files: dict[str, bytes] | None = None,
    ) -> CellBatch:
        """Run cells in the learner's kernel (starting one when there is none), in the background."""
        batch = CellBatch(next(self._ids), list(cells))
        limits = limits or kernel_limits()
        key = (owner, lesson_id)
        with self._lock:
            entry = self._entries.setdefault(key, _Entry())
            if entry.batch is not None and not entry.batch.done:
                busy = CellRun(
                    cells[0][0] if cells else "",
                    CellStatus.NOT_RUN,
                    note="This kernel is still running a cell: wait for it, or press Stop.",
                )
                batch.runs.append(busy)
                batch.done = True
                return batch
            entry.batch = batch
            entry.last_used = time.monotonic()
        threading.Thread(
            target=self._run, args=(key, entry, batch, limits, files or {}), daemon=True, name="tutor-kernel-cells"
        ).start()
        return batch

    def stop(self, owner: str, lesson_id: str) -> None:
        """Interrupt the running cell (KeyboardInterrupt there); the kernel and its variables stay."""
        with self._lock:
            entry = self._entries.get((owner, lesson_id))
            batch = entry.batch if entry else None
        if batch is not None:
            batch.stop.set()

    def restart(self, owner: str, lesson_id: str) -> None:
        """Jupyter's Restart: the kernel and every variable in it go; the next cell starts a fresh one."""
        self._end((owner, lesson_id), KernelState.NONE, "")

    def shutdown(self, owner: str, lesson_id: str, message: str = "") -> None:
        self._end((owner, lesson_id), KernelState.SHUT_DOWN, message)

    def memory_mb(self) -> float:
        with self._lock:
            kernels = [entry.kernel for entry in self._entries.values() if entry.kernel is not None]
        return sum(kernel.resident_mb() for kernel in kernels)

    def count(self) -> int:
        with self._lock:
            return sum(entry.kernel is not None for entry in self._entries.values())

    def cull(self) -> int:
        """Shut down the kernels idle longer than idle_s; returns how many."""
        now = time.monotonic()
        with self._lock:
            idle = [
                key
                for key, entry in self._entries.items()
                if entry.kernel is not None
                and (entry.batch is None or entry.batch.done)
                and now - entry.last_used > self.idle_s
            ]
        minutes = self.idle_s / 60
        words = f"{minutes:g} minutes" if minutes >= 1 else f"{self.idle_s:g} s"
        for key in idle:
            self._end(
                key,
                KernelState.SHUT_DOWN,
                f"Your kernel was shut down after {words} without a run, to free its memory for others; its "
                "variables are gone. Run a cell to start a fresh kernel (Run all brings everything back).",
            )
        return len(idle)

    def close(self) -> None:
        self._closing.set()
        with self._lock:
            keys = list(self._entries)
        for key in keys:
            self._end(key, KernelState.SHUT_DOWN, "The server stopped.")
        self._starter.shutdown(wait=False)

    # --- inside ------------------------------------------------------------------------------------

    def _run(self, key: KernelKey, entry: _Entry, batch: CellBatch, limits: Limits, files: dict[str, bytes]) -> None:
        try:
            kernel = self._kernel_for(key, entry, files)
            for cell_id, code in batch.cells:
                if isinstance(kernel, str):  # could not start: every cell says why
                    run = CellRun(cell_id, CellStatus.NOT_RUN, note=kernel)
                    with batch._lock:
                        batch.runs.append(run)
                    continue
                run = CellRun(cell_id)
                with batch._lock:
                    batch.runs.append(run)
                with self._lock:
                    entry.state = KernelState.BUSY

                def show(output: CellOutput, run: CellRun = run) -> None:
                    with batch._lock:
                        run.outputs.append(output)

                done = kernel.execute(cell_id, code, limits, show, batch.stop)
                with batch._lock:
                    run.status, run.execution_count, run.note, run.duration_s = (
                        done.status, done.execution_count, done.note, done.duration_s,
                    )  # fmt: skip
                    run.outputs[:] = done.outputs
                with self._lock:
                    entry.last_used = time.monotonic()
                    entry.state = KernelState.IDLE
                    if done.status is CellStatus.DIED:
                        entry.state, entry.message = KernelState.DEAD, done.note
                if done.status is not CellStatus.OK:
                    for rest_id, _ in batch.cells[len(batch.runs) :]:
                        with batch._lock:
                            batch.runs.append(
                                CellRun(
                                    rest_id, CellStatus.NOT_RUN, note="Not run: a cell above stopped with an error."
                                )
                            )
                    break
        except Exception as exc:  # noqa: BLE001 - the learner's page gets words, the log the details
            LOG.exception("kernel batch failed")
            with batch._lock:
                batch.runs.append(
                    CellRun("", CellStatus.NOT_RUN, note=f"The kernel service failed (not your code): {exc}")
                )
        finally:
            with batch._lock:
                batch.done = True
            with self._lock:
                entry.last_used = time.monotonic()

    def _kernel_for(self, key: KernelKey, entry: _Entry, files: dict[str, bytes]) -> KernelProcess | str:
        """The learner's live kernel, or a new one (making room first); words when none can start."""
        with self._lock:
            if entry.kernel is not None and entry.kernel.alive() and entry.state is not KernelState.DEAD:
                return entry.kernel
            if entry.state is KernelState.DEAD and entry.kernel is not None:
                return entry.message or died_words(entry.kernel)
        old = entry.kernel
        if old is not None:
            old.close()
        evict = self._make_room(key)
        if evict is None:
            return (
                f"All {self.max_kernels} notebook kernels on this server are busy running cells. Try again in a moment."
            )
        with self._lock:
            entry.kernel, entry.state, entry.message = None, KernelState.STARTING, ""
        try:
            # Started on a thread that lives as long as the hub: bubblewrap's --die-with-parent kills the
            # sandbox when the *thread* that spawned it ends, and this batch's thread ends with the batch.
            future = self._starter.submit(
                KernelProcess.start, self.level, kernel_limits(), self._get_dataset(), self.pool, files
            )
            kernel = future.result()
        except (KernelStartError, OSError) as exc:
            with self._lock:
                entry.state, entry.message = KernelState.NONE, f"The kernel could not start: {exc}"
            return entry.message
        with self._lock:
            entry.kernel, entry.state = kernel, KernelState.IDLE
        return kernel

    def _make_room(self, key: KernelKey) -> bool | None:
        """Under the cap, or after shutting down the kernel idle the longest: True. All busy: None."""
        with self._lock:
            live = [(k, e) for k, e in self._entries.items() if e.kernel is not None and k != key]
            if len(live) < self.max_kernels:
                return True
            idle = [(e.last_used, k) for k, e in live if e.batch is None or e.batch.done]
        if not idle:
            return None
        _, oldest = min(idle)
        self._end(
            oldest,
            KernelState.SHUT_DOWN,
            f"Your kernel was shut down to make room for another learner's (this server keeps {self.max_kernels} "
            "at once, the one idle longest goes first); its variables are gone. Run a cell to start a fresh one.",
        )
        return True

    def _end(self, key: KernelKey, state: KernelState, message: str) -> None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return
            kernel, entry.kernel = entry.kernel, None
            batch = entry.batch
            entry.state, entry.message = state, message
        if batch is not None and not batch.done:
            batch.stop.set()
        if kernel is not None:
            kernel.close()
        if self.pool is not None:
            self.pool.poke()  # memory came free: the pool may warm another sandbox

    def _get_dataset(self) -> Dataset:
        if self._dataset is None:
            self._dataset = ensure_dataset()
        return self._dataset

    def _cull_loop(self) -> None:
        while not self._closing.wait(min(CULL_EVERY_S, self.idle_s / 2)):
            try:
                self.cull()
            except Exception:  # noqa: BLE001 - the next round tries again
                LOG.exception("kernel cull failed")

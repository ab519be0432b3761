"""Queue mode's notebook kernels, a worker's side: the kernels that live on this worker.

Jobs come on the worker's own queue (tutor.runs.queue.kernels.kernel_queue): a batch of cells, or a
restart / shutdown. The cells run on this worker's own KernelHub (sharing its warm pool, as local mode
does); the batch's row gets the runs as outputs come (at most every WRITE_EVERY_S, and at the end), Stop is
read from the row, and the kernel's row is kept current (state, message, In [n]) at each batch's end and
every SYNC_EVERY_S, so an idle kernel the hub shut down says so on the page.

Each kernel row carries a kernel id, new for each fresh kernel: a batch for another id than the kernel this
hub holds for the learner means the app restarted it (or gave the learner a new one) in between, so the
old one goes first; a late restart for an old id changes nothing. A kernel whose row is gone or names
another kernel is shut down at the next sync.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from datetime import timedelta
from typing import Any

from sqlalchemy import text

from tutor.kernels.contract import CellRun, KernelState
from tutor.kernels.hub import CellBatch, KernelHub
from tutor.kernels.process import INTERRUPT_GRACE_S
from tutor.runs.queue.kernels import (
    LIVE_STATES,
    UNREADABLE,
    WORKER_DIED,
    cells_from_json,
    end_batch,
    files_from_job,
    limits_from_job,
)
from tutor.sandbox.pool import WarmPool
from tutor.store.db import Database, utc_now

log = logging.getLogger("tutor.runs.queue.worker")
WRITE_EVERY_S = 0.2  # a running batch's runs are written at most this often (outputs stream)
SYNC_EVERY_S = 2.0  # the kernels' rows are brought up to date this often
KEEP_BATCHES_S = 3600.0  # a finished batch's row is deleted after this long (its page has long read it)
Key = tuple[str, str]


class WorkerKernels:
    """The kernels of one worker process. Thread-safe: each batch runs on a thread of its own."""

    def __init__(self, db: Database, name: str, pool: WarmPool | None) -> None:
        self.db = db
        self.name = name
        self.pool = pool
        self._hub: KernelHub | None = None
        self._kernel_ids: dict[Key, int] = {}  # the kernel id the hub's kernel for a learner was started for
        self._batches: dict[Key, CellBatch] = {}
        self._closed = False
        self._lock = threading.Lock()

    def hub(self) -> KernelHub | None:
        """This worker's hub, started on first use; None once the worker stops."""
        with self._lock:
            if self._hub is None and not self._closed:
                self._hub = KernelHub(pool=self.pool)
            return self._hub if not self._closed else None

    # --- the tasks (procrastinate runs them on this worker's own queue) ----------------------------------

    async def batch_task(self, **job: Any) -> str:
        """On a thread of its own: a batch may last minutes, and procrastinate's sync tasks would hold
        the event loop's shared threads (the heartbeat's too) that long."""
        return await on_own_thread(self.run_batch, **job)

    async def control_task(self, **job: Any) -> str:
        return await on_own_thread(self.control, **job)

    def run_batch(
        self,
        batch_id: int,
        kernel_id: int,
        owner: str,
        lesson_id: str,
        limits: Any = None,
        files: Any = None,
    ) -> str:
        with self.db.engine.connect() as connection:
            row = connection.execute(
                text("SELECT cells, done FROM tutor_kernel_batches WHERE id = :id"), {"id": batch_id}
            ).first()
        if row is None or row[1]:
            return "batch ended before it started"  # restarted (or the learner's kernel replaced) meanwhile
        key = (owner, lesson_id)
        try:
            cells = cells_from_json(row[0])
            sent = files_from_job(files)
        except ValueError as exc:
            write_runs(self.db, batch_id, [CellRun("", note=f"{UNREADABLE} ({exc})")], done=True)
            return "unreadable batch"
        hub = self.hub()
        if hub is None:
            write_runs(self.db, batch_id, [CellRun(cell_id, note=WORKER_DIED) for cell_id, _ in cells], done=True)
            return "the worker is stopping"
        with self._lock:
            held, old = self._kernel_ids.get(key), self._batches.get(key)
            self._kernel_ids[key] = kernel_id
        if held is not None and held != kernel_id:  # the app replaced the kernel: the old one goes first
            hub.restart(owner, lesson_id)
            if old is not None:
                old.wait(INTERRUPT_GRACE_S + 5)
        self._set_row(key, kernel_id, KernelState.BUSY)
        batch = hub.run_cells(owner, lesson_id, cells, limits_from_job(limits), sent)
        with self._lock:
            self._batches[key] = batch
        self._follow(batch_id, batch, hub, key)
        self.sync_one(key)
        runs, _ = batch.snapshot()
        return f"{len(runs)} cell(s): " + ", ".join(str(run.status) for run in runs)

    def control(self, kernel_id: int, owner: str, lesson_id: str, action: str, message: str = "") -> str:
        """Restart or shut down the learner's kernel, if it is still the one the app meant."""
        key = (owner, lesson_id)
        with self._lock:
            hub = self._hub
            if self._kernel_ids.get(key) != kernel_id or hub is None:
                return "not this worker's kernel any more"
            del self._kernel_ids[key]
        if action == "shutdown":
            hub.shutdown(owner, lesson_id, message)
        else:
            hub.restart(owner, lesson_id)
        return action

    # --- keeping the rows current ------------------------------------------------------------------------

    def sync(self) -> None:
        """Every kernel's row from the hub (an idle kernel it shut down says so); a kernel whose row is gone
        or names another kernel (restarted, replaced) is shut down. Old finished batches are deleted."""
        with self._lock:
            keys = list(self._kernel_ids)
        for key in keys:
            self.sync_one(key)
        with self.db.sessions.begin() as session:
            session.execute(
                text("DELETE FROM tutor_kernel_batches WHERE done AND updated < :before"),
                {"before": utc_now() - _seconds(KEEP_BATCHES_S)},
            )

    def sync_one(self, key: Key) -> None:
        with self._lock:
            kernel_id, hub = self._kernel_ids.get(key), self._hub
        if kernel_id is None or hub is None:
            return
        info = hub.info(*key)
        state = KernelState.STARTING if info.state is KernelState.NONE else info.state
        if not self._set_row(key, kernel_id, state, info.message, info.execution_count, info.warm, info.idle_s,
                             info.shutdown_after_s):  # fmt: skip
            with self._lock:
                if self._kernel_ids.get(key) != kernel_id:
                    return  # a batch for a new kernel took the key meanwhile
                del self._kernel_ids[key]
            hub.shutdown(*key, "")
        elif info.state is KernelState.SHUT_DOWN:
            with self._lock:
                if self._kernel_ids.get(key) == kernel_id:
                    del self._kernel_ids[key]  # its row says so; the next run starts a fresh kernel

    def _set_row(
        self,
        key: Key,
        kernel_id: int,
        state: KernelState,
        message: str = "",
        execution_count: int | None = None,
        warm: bool | None = None,
        idle_s: float = 0.0,
        idle_after_s: float | None = None,
    ) -> bool:
        """The kernel's row, when it is still this kernel's on this worker (False: it is not)."""
        now = utc_now()
        try:
            with self.db.sessions.begin() as session:
                return bool(
                    session.execute(
                        text(
                            "UPDATE tutor_kernels SET state = :state, message = :message, "
                            "execution_count = coalesce(:count, execution_count), warm = coalesce(:warm, warm), "
                            "idle_after_s = coalesce(:idle_after, idle_after_s), last_used = :last_used, "
                            "updated = :now WHERE owner = :owner AND lesson_id = :lesson AND kernel_id = :kernel_id "
                            "AND worker = :me"
                        ),
                        {"state": state.value, "message": message, "count": execution_count, "warm": warm,
                         "idle_after": idle_after_s, "last_used": now - _seconds(idle_s), "now": now,
                         "owner": key[0], "lesson": key[1], "kernel_id": kernel_id, "me": self.name},
                    ).rowcount
                )  # fmt: skip
        except Exception as exc:  # the database blinked: the next sync writes it
            log.warning("kernel row of %s not written (%s)", key, exc)
            return True

    def _follow(self, batch_id: int, batch: CellBatch, hub: KernelHub, key: Key) -> None:
        """Write the batch's runs as they come; pass a Stop (or a batch ended by the app) to the hub."""
        written: Any = None
        stopped = False
        give_up = None
        while True:
            finished = batch.wait(WRITE_EVERY_S)
            runs, done = batch.snapshot()
            shape = [(run.status, len(run.outputs), run.execution_count) for run in runs]
            try:
                if done or shape != written:
                    wanted = write_runs(self.db, batch_id, runs, done)
                    written = shape
                else:
                    wanted = read_stop(self.db, batch_id)
            except Exception as exc:  # the database blinked: the next round writes everything again
                log.warning("kernel batch %s not written (%s)", batch_id, exc)
                if done:  # the end must be written: the page waits for it (for a minute; then the app's
                    give_up = give_up or time.monotonic() + 60  # restart or a new worker settles it)
                    if time.monotonic() > give_up:
                        return
                    time.sleep(0.5)
                    continue
                wanted = False
            if wanted and not stopped and not done:
                stopped = True
                hub.stop(*key)
            if finished and done:
                return

    def close(self) -> None:
        """The worker stops: its kernels end (their rows say so: a stopped worker's kernel is dead)."""
        with self._lock:
            hub, self._closed = self._hub, True
        if hub is not None:
            hub.close()


def write_runs(db: Database, batch_id: int, runs: list[CellRun], done: bool) -> bool:
    """The batch's runs so far, in its row; True when the app asks it to stop (Stop, or it ended the batch
    itself: a restart) — then nothing is written."""
    with db.sessions.begin() as session:
        row = session.execute(
            text(
                "UPDATE tutor_kernel_batches SET runs = CAST(:runs AS jsonb), version = version + 1, done = :done, "
                "updated = :now WHERE id = :id AND NOT done RETURNING stop_requested"
            ),
            {"runs": json.dumps([run.to_dict() for run in runs]), "done": done, "now": utc_now(), "id": batch_id},
        ).first()
    return row is None or bool(row[0])


def read_stop(db: Database, batch_id: int) -> bool:
    with db.engine.connect() as connection:
        row = connection.execute(
            text("SELECT stop_requested OR done FROM tutor_kernel_batches WHERE id = :id"), {"id": batch_id}
        ).first()
    return row is None or bool(row[0])


def forget_previous_kernels(db: Database, worker: str) -> int:
    """At a worker's start: the kernels a previous process of the same name held are gone with it (its
    learners are told, as after any dead worker), and its batches not done end so. Returns how many."""
    with db.sessions.begin() as session:
        count = session.execute(
            text(
                "UPDATE tutor_kernels SET state = 'dead', message = :words, updated = :now "
                f"WHERE worker = :me AND state IN ({', '.join(repr(s.value) for s in LIVE_STATES)})"
            ),
            {"words": WORKER_DIED, "now": utc_now(), "me": worker},
        ).rowcount
        rows = session.execute(
            text("SELECT id, cells, runs::text FROM tutor_kernel_batches WHERE worker = :me AND NOT done"),
            {"me": worker},
        ).all()
        for batch_id, cells, raw in rows:
            end_batch(session, batch_id, cells, raw, WORKER_DIED)
    return count


async def keep_kernels(kernels: WorkerKernels) -> None:
    """The worker's side task: the kernels' rows every SYNC_EVERY_S."""
    while True:
        await asyncio.sleep(SYNC_EVERY_S)
        try:
            await asyncio.to_thread(kernels.sync)
        except Exception as exc:
            log.warning("kernel rows not synced (%s)", exc)


async def on_own_thread(function: Any, **kwargs: Any) -> Any:
    loop = asyncio.get_running_loop()
    future = loop.create_future()

    def settle(outcome: Any, failed: bool) -> None:
        if not future.done():
            (future.set_exception if failed else future.set_result)(outcome)

    def target() -> None:
        try:
            result = function(**kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed to the task, which procrastinate records
            outcome, failed = exc, True
        else:
            outcome, failed = result, False
        try:
            loop.call_soon_threadsafe(settle, outcome, failed)
        except RuntimeError:  # the worker's loop ended meanwhile (it stopped)
            pass

    threading.Thread(target=target, daemon=True, name="tutor-kernel-job").start()
    return await future


def _seconds(value: float) -> timedelta:
    return timedelta(seconds=value)

"""Queue mode, the app's side (``TUTOR_RUNS=queue``): the run service the pages use when runs go through
the PostgreSQL job queue (procrastinate) to ``python -m tutor worker`` processes on any host.

The server starts no sandbox and no warm pool: it records and defers (one transaction), reads each run's
row, and cancels through procrastinate's abort. One LISTEN thread per server process hears which runs
changed (NOTIFY ``tutor_runs``) so a page reads a run's row only when it changed; it never calls
Streamlit. A listener that reconnects forgets what it knew and reads rows afresh (NOTIFY is not replayed).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

import psycopg

from tutor import settings
from tutor.grading.name_error import predict_early_name_error
from tutor.lessons.lesson import Lesson
from tutor.runs.contract import IN_FLIGHT, RunCounts, RunSnapshot, WorkerInfo
from tutor.runs.pipeline import snapshot_of
from tutor.runs.queue.kernels import QueueKernels
from tutor.runs.queue.schema import apply_queue_schema
from tutor.runs.queue.store import (
    NOTIFY_CHANNEL,
    conninfo,
    find_active_run,
    list_workers,
    make_queue_app,
    queue_counts,
    read_snapshot,
    request_cancel,
    submit_run,
)
from tutor.store.db import Database
from tutor.store.progress import latest_run

if TYPE_CHECKING:  # (the pool module is never imported in queue mode: the app starts no sandbox)
    from tutor.sandbox.pool import PoolStats

log = logging.getLogger(__name__)
STALE_AFTER_S = 2.0  # a cached run is read again after this long even without a NOTIFY (belt and braces)
UNHEARD_STALE_S = 0.3  # ... and this long while the listener is not connected


class SubmittedRun:
    def __init__(self, run_id: int) -> None:
        self.id = run_id


class QueueRunService:
    """tutor.runs.contract.RunService over the queue. Thread-safe: every Streamlit session of the server
    shares it."""

    runs_here = False  # the workers run the sandboxes (each with its own warm pool)

    def __init__(self, database: Database, server: str) -> None:
        self.db = database
        self.server = server
        apply_queue_schema(database)
        self.app = make_queue_app(settings.queue_db_url())
        self._cache: dict[int, tuple[RunSnapshot, float]] = {}
        self._lock = threading.Lock()
        self._kernels: QueueKernels | None = None
        self._listening = threading.Event()
        self._stopping = threading.Event()
        self._listener = threading.Thread(target=self._listen, name="tutor-queue-listen", daemon=True)
        self._listener.start()

    def submit(self, owner: str, lesson: Lesson, source: str) -> SubmittedRun:
        express = predict_early_name_error(source)
        return SubmittedRun(submit_run(self.db, self.app, owner, lesson, source, self.server, express=express))

    def snapshot(self, run_id: int) -> RunSnapshot | None:
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(run_id)
        fresh_for = STALE_AFTER_S if self._listening.is_set() else UNHEARD_STALE_S
        if cached is not None and now - cached[1] < fresh_for:
            return cached[0]
        snapshot = read_snapshot(self.db, run_id)
        if snapshot is not None:
            with self._lock:
                self._cache[run_id] = (snapshot, now)
                if len(self._cache) > 5000:  # a long workshop: forget the oldest
                    for old in sorted(self._cache, key=lambda key: self._cache[key][1])[:1000]:
                        del self._cache[old]
        return snapshot

    def find_active(self, owner: str, lesson_id: str) -> int | None:
        return find_active_run(self.db, owner, lesson_id)

    def last_run(self, owner: str, lesson_id: str) -> RunSnapshot | None:
        run = latest_run(self.db, owner, lesson_id)
        if run is None:
            return None
        return self.snapshot(run.id) if run.status in IN_FLIGHT else snapshot_of(run)

    def pool_stats(self) -> PoolStats | None:
        return None  # the workers own the warm sandboxes

    def kernels(self) -> QueueKernels:
        """Notebook kernels live on the workers, each on one (a kernel keeps its state between cells, so its
        cells cannot take the queue's any-worker route): tutor.runs.queue.kernels routes them."""
        with self._lock:
            if self._kernels is None:
                self._kernels = QueueKernels(self.db, self.app, settings.worker_heartbeat_s())
            return self._kernels

    def where_runs_happen(self) -> str:
        alive = sum(worker.alive for worker in self.workers())
        return (
            f"Runs go through a queue to the workers ({alive} alive now), each with its own warm sandboxes; the "
            "teacher page lists them. Start one with `scripts/worker.sh`."
        )

    def release(self) -> None:
        """Dropped from the server's cache (a restarted test server, "Clear caches"): stop listening, so no
        thread goes on talking to a database nobody reads."""
        self.shutdown()

    def cancel(self, run_id: int) -> None:
        request_cancel(self.db, self.app, run_id)
        self._forget(run_id)

    def counts(self) -> RunCounts:
        return queue_counts(self.db, settings.worker_heartbeat_s())

    def workers(self) -> list[WorkerInfo]:
        return list_workers(self.db, settings.worker_heartbeat_s())

    def shutdown(self) -> None:
        if self._kernels is not None:
            self._kernels.close()
        self._stopping.set()
        self._listener.join(timeout=3)

    def _forget(self, run_id: int | None = None) -> None:
        with self._lock:
            if run_id is None:
                self._cache.clear()
            else:
                self._cache.pop(run_id, None)

    def _listen(self) -> None:
        """LISTEN for changed runs; reconnects after the database went away (e.g. a PostgreSQL restart)."""
        while not self._stopping.is_set():
            try:
                with psycopg.connect(conninfo(self.db.engine.url.render_as_string(False)), autocommit=True) as conn:
                    conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    self._forget()  # whatever changed while not listening is read afresh
                    self._listening.set()
                    while not self._stopping.is_set():
                        for notify in conn.notifies(timeout=1.0):
                            if notify.payload.isdigit():
                                self._forget(int(notify.payload))
            except psycopg.Error as exc:
                log.warning("queue listener lost the database (%s); reconnecting", exc)
            finally:
                self._listening.clear()
            self._stopping.wait(1.0)

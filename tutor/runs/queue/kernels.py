"""Queue mode's notebook kernels, the app's side: each kernel lives on ONE worker, and its cells go there.

A kernel keeps its variables between cells, so its cells cannot take the queue's any-worker route. The
kernel's row (``tutor_kernels``, one per learner and lesson) names its worker; ``run_cells`` writes a batch
row (``tutor_kernel_batches``: the cells, then their runs as the worker writes them) and defers a job to that
worker's own queue (``kernel_queue``), in one transaction. The worker (tutor.runs.queue.kernel_worker) runs
the cells on its own KernelHub, writes the runs as outputs come, and keeps the kernel's row current.

- No row (or the last kernel was shut down): the live worker with the fewest kernels gets the new one.
- The row's worker stopped sending heartbeats (killed, host lost): the kernel is DEAD, "Your kernel died:
  the worker it ran on stopped…", as Jupyter says, and cells are NOT_RUN with those words until the
  learner restarts; Restart forgets the row, so the next run may go to any live worker.
- The page polls a batch with ``snapshot()``: one SELECT, which carries the runs only when they changed.

Everything read back from the database is untrusted: runs go through ``CellRun.from_dict`` (types and
sizes checked); a row that fails is said in words, never shown.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, replace
from datetime import timedelta
from typing import Any

from procrastinate import App
from sqlalchemy import text

from tutor import settings
from tutor.kernels.contract import MAX_NOTE_CHARS, CellRun, CellStatus, KernelInfo, KernelState
from tutor.runs.contract import dead_after_s
from tutor.sandbox.isolation import Limits
from tutor.store.db import Database, utc_now

log = logging.getLogger(__name__)

BATCH_TASK = "tutor.kernel_batch"
CONTROL_TASK = "tutor.kernel_control"
LIVE_STATES = (KernelState.STARTING, KernelState.IDLE, KernelState.BUSY)  # a kernel holding variables
MAX_RUNS_JSON_CHARS = 64 * 1024 * 1024  # a batch's runs as read back: more is refused, not parsed
MAX_FILES_BYTES = 16 * 1024 * 1024  # a lesson case's files sent along with a batch
WORKER_DIED = (
    "Your kernel died: the worker it ran on stopped. Restart the kernel (its variables are gone), then run the "
    "cells again."
)
NO_WORKER = (
    "No worker is running, so there is no kernel for your cells: ask your teacher to start one "
    "(`scripts/worker.sh`), then run the cells again."
)
BUSY = "This kernel is still running a cell: wait for it, or press Stop."  # the hub's words (the page looks)
RESTARTED = "The kernel was restarted while this cell ran."
UNREADABLE = "The kernel service sent back something this page cannot read (not your code). Run the cell again."


def kernel_queue(worker: str) -> str:
    """The queue only ``worker`` takes jobs from. Short: procrastinate NOTIFYs on a channel named after the
    queue, and PostgreSQL channel names end at 63 bytes (23 of them procrastinate's prefix)."""
    if len(worker.encode()) <= 24 and worker.isprintable():
        return f"kernels:{worker}"
    return f"kernels#{hashlib.sha256(worker.encode()).hexdigest()[:24]}"


def limits_to_job(limits: Limits | None) -> dict[str, Any] | None:
    return asdict(limits) if limits is not None else None


def limits_from_job(data: Any) -> Limits | None:
    """The limits a job carries; fields of the wrong type or unknown are left at their defaults."""
    if not isinstance(data, dict):
        return None
    values = {}
    for spec in fields(Limits):
        value = data.get(spec.name)
        if type(value) in (int, float) and value > 0:
            values[spec.name] = type(getattr(Limits(), spec.name))(value)
    return Limits(**values)


def files_to_job(files: dict[str, bytes] | None) -> dict[str, str] | None:
    if not files:
        return None
    if sum(len(content) for content in files.values()) > MAX_FILES_BYTES:
        raise ValueError(f"the files sent with the cells exceed {MAX_FILES_BYTES // 1024 // 1024} MiB")
    return {name: base64.b64encode(content).decode("ascii") for name, content in files.items()}


def files_from_job(data: Any) -> dict[str, bytes]:
    """A lesson case's files as a job carries them: plain names only (they land in the kernel's home)."""
    files: dict[str, bytes] = {}
    if not isinstance(data, dict):
        return files
    for name, encoded in data.items():
        if not isinstance(name, str) or not isinstance(encoded, str) or "/" in name or name in ("", ".", ".."):
            raise ValueError(f"a file sent with the cells has an unusable name: {name!r}")
        files[name] = base64.b64decode(encoded, validate=True)
    return files


def runs_from_json(raw: str | None) -> list[CellRun]:
    """A batch's runs from its row (text): checked at the boundary, ValueError when anything is wrong."""
    if raw is None:
        return []
    if len(raw) > MAX_RUNS_JSON_CHARS:
        raise ValueError("the runs are larger than a batch may be")
    data = json.loads(raw)
    if not isinstance(data, list):
        raise ValueError("the runs are not a list")
    return [CellRun.from_dict(item) for item in data]


def cells_from_json(data: Any) -> list[tuple[str, str]]:
    if not isinstance(data, list) or not all(
        isinstance(cell, list) and len(cell) == 2 and all(isinstance(part, str) for part in cell) for cell in data
    ):
        raise ValueError("the cells are not a list of [cell id, code]")
    return [(cell_id, code) for cell_id, code in data]


def ended_early(
    runs: list[CellRun], cells: Sequence[tuple[str, str]], words: str, running: CellStatus = CellStatus.DIED
) -> list[CellRun]:
    """A batch ended from outside (its worker is gone, or its kernel restarted): the cell that was running
    ends as ``running`` (a running cell is the one NOT_RUN without a note), the cells after it did not run."""
    runs = list(runs)
    if runs and runs[-1].status is CellStatus.NOT_RUN and not runs[-1].note:
        runs[-1] = replace(runs[-1], status=running, note=words)
    for cell_id, _ in cells[len(runs) :]:
        runs.append(CellRun(cell_id, CellStatus.NOT_RUN, note=words))
    return runs


def end_batch(
    session: Any, batch_id: int, cells: Any, raw: str, words: str, running: CellStatus = CellStatus.DIED
) -> None:
    """Write a batch that will not finish as done (ended_early, in ``words``), and ask its worker to stop."""
    try:
        runs = ended_early(runs_from_json(raw), cells_from_json(cells), words, running)
    except ValueError:
        runs = [CellRun("", CellStatus.NOT_RUN, note=UNREADABLE)]
    session.execute(
        text(
            "UPDATE tutor_kernel_batches SET runs = CAST(:runs AS jsonb), version = version + 1, done = true, "
            "stop_requested = true, updated = :now WHERE id = :id"
        ),
        {"runs": json.dumps([run.to_dict() for run in runs]), "now": utc_now(), "id": batch_id},
    )


def fresh_since(heartbeat_s: float) -> Any:
    """A heartbeat at or after this is a live worker's (tutor.runs.contract.dead_after_s)."""
    return utc_now() - timedelta(seconds=dead_after_s(heartbeat_s))


# The batches the page polls -----------------------------------------------------------------------------


class DoneBatch:
    """A batch answered at once, without a worker (no worker, a dead kernel, a kernel still busy)."""

    def __init__(self, cells: Sequence[tuple[str, str]], runs: list[CellRun]) -> None:
        self.id = 0
        self.cells = list(cells)
        self._runs = runs

    def snapshot(self) -> tuple[list[CellRun], bool]:
        return [replace(run, outputs=list(run.outputs)) for run in self._runs], True

    def wait(self, timeout_s: float) -> bool:
        return True


def not_run(cells: Sequence[tuple[str, str]], words: str) -> DoneBatch:
    return DoneBatch(
        cells,
        [CellRun(cell_id, CellStatus.NOT_RUN, note=words) for cell_id, _ in cells]
        or [CellRun("", CellStatus.NOT_RUN, note=words)],
    )


class QueueBatch:
    """A batch on a worker, as its row says: ``snapshot`` is one SELECT, which carries the runs only when
    the worker wrote new ones since the last look. Thread-safe."""

    def __init__(self, db: Database, batch_id: int, cells: Sequence[tuple[str, str]], heartbeat_s: float) -> None:
        self.db = db
        self.id = batch_id
        self.cells = list(cells)
        self.heartbeat_s = heartbeat_s
        self._version = -1
        self._runs: list[CellRun] = []
        self._done = False
        self._lock = threading.Lock()

    def snapshot(self) -> tuple[list[CellRun], bool]:
        with self._lock:
            if not self._done:
                self._read()
            return [replace(run, outputs=list(run.outputs)) for run in self._runs], self._done

    def wait(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while True:
            if self.snapshot()[1]:
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)

    def _read(self) -> None:
        with self.db.engine.connect() as connection:
            row = connection.execute(
                text(
                    "SELECT b.version, b.done, CASE WHEN b.version <> :seen THEN b.runs::text END AS runs, "
                    "coalesce(w.heartbeat_at >= :fresh, false) AS alive FROM tutor_kernel_batches b "
                    "LEFT JOIN tutor_workers w ON w.name = b.worker WHERE b.id = :id"
                ),
                {"seen": self._version, "fresh": fresh_since(self.heartbeat_s), "id": self.id},
            ).first()
        if row is None:  # pruned long after it ended (or never there): what was seen is all there is
            self._runs, self._done = ended_early(self._runs, self.cells, UNREADABLE), True
            return
        version, done, raw, alive = row
        if raw is not None:
            try:
                self._runs = runs_from_json(raw)
            except ValueError as exc:
                log.warning("kernel batch %s: unreadable runs (%s)", self.id, exc)
                self._runs, self._done = [CellRun("", CellStatus.NOT_RUN, note=UNREADABLE)], True
                return
            self._version = version
        if not done and not alive:
            self._runs, done = ended_early(self._runs, self.cells, WORKER_DIED), True
        self._done = bool(done)


# The service the pages use ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _KernelRow:
    kernel_id: int
    worker: str
    state: KernelState
    message: str
    alive: bool


class QueueKernels:
    """tutor.kernels.contract.KernelService over the queue: the kernels live on the workers. Thread-safe
    (every session of the server shares it); it holds no kernel itself."""

    def __init__(self, db: Database, app: App, heartbeat_s: float | None = None) -> None:
        self.db = db
        self.app = app
        self.heartbeat_s = heartbeat_s or settings.worker_heartbeat_s()

    def info(self, owner: str, lesson_id: str) -> KernelInfo:
        with self.db.engine.connect() as connection:
            row = connection.execute(
                text(
                    "SELECT k.state, k.message, k.execution_count, k.warm, k.idle_after_s, k.last_used, "
                    "coalesce(w.heartbeat_at >= :fresh, false) FROM tutor_kernels k "
                    "LEFT JOIN tutor_workers w ON w.name = k.worker WHERE k.owner = :owner AND k.lesson_id = :lesson"
                ),
                {"fresh": fresh_since(self.heartbeat_s), "owner": owner, "lesson": lesson_id},
            ).first()
        idle_after = settings.kernel_idle_s()
        if row is None:
            return KernelInfo(KernelState.NONE, shutdown_after_s=idle_after)
        state_text, message, count, warm, idle_after_s, last_used, alive = row
        try:
            state = KernelState(state_text)
        except ValueError:
            state, message = KernelState.DEAD, UNREADABLE
        if state in LIVE_STATES and not alive:
            state, message = KernelState.DEAD, WORKER_DIED
        count = count if type(count) is int and count >= 0 else 0
        idle = 0.0 if state is KernelState.BUSY else max(0.0, (utc_now() - last_used).total_seconds())
        return KernelInfo(
            state,
            str(message or "")[:MAX_NOTE_CHARS],
            count,
            round(idle, 1),
            float(idle_after_s) if isinstance(idle_after_s, float) and idle_after_s > 0 else idle_after,
            bool(warm),
        )

    def run_cells(
        self,
        owner: str,
        lesson_id: str,
        cells: Sequence[tuple[str, str]],
        limits: Limits | None = None,
        files: dict[str, bytes] | None = None,
    ) -> DoneBatch | QueueBatch:
        """The cells go to the worker of the learner's kernel (a new kernel goes to the live worker with
        the fewest); the batch row and its job are written in one transaction."""
        cells = [(str(cell_id), str(code)) for cell_id, code in cells]
        now = utc_now()
        fresh = fresh_since(self.heartbeat_s)
        with self.db.sessions.begin() as session:
            self._lock(session, owner, lesson_id)
            if self._settle_open_batches(session, owner, lesson_id, fresh, WORKER_DIED):
                return not_run(cells[:1], BUSY)
            row = self._row(session, owner, lesson_id, fresh)
            lost = row is not None and (
                (row.state in LIVE_STATES and not row.alive)
                or (row.state is KernelState.DEAD and row.message == WORKER_DIED)
            )
            if row is not None and lost:
                session.execute(
                    text(
                        "UPDATE tutor_kernels SET state = :state, message = :message, updated = :now "
                        "WHERE owner = :owner AND lesson_id = :lesson"
                    ),
                    {"state": KernelState.DEAD.value, "message": WORKER_DIED, "now": now, "owner": owner,
                     "lesson": lesson_id},
                )  # fmt: skip
                return not_run(cells, WORKER_DIED)
            if row is not None and (row.state in LIVE_STATES or row.state is KernelState.DEAD):
                kernel_id, worker = row.kernel_id, row.worker  # (a kernel dead on a live worker: it says why)
            else:
                worker = self._pick_worker(session, fresh)
                if worker is None:
                    return not_run(cells, NO_WORKER)
                kernel_id = session.scalar(text("SELECT nextval('tutor_kernel_ids')"))
                session.execute(
                    text(
                        "INSERT INTO tutor_kernels (owner, lesson_id, kernel_id, worker, state, message, "
                        "execution_count, last_used, updated) VALUES (:owner, :lesson, :kernel_id, :worker, "
                        ":state, '', 0, :now, :now) ON CONFLICT (owner, lesson_id) DO UPDATE SET "
                        "kernel_id = excluded.kernel_id, worker = excluded.worker, state = excluded.state, "
                        "message = '', execution_count = 0, warm = false, last_used = :now, updated = :now"
                    ),
                    {"owner": owner, "lesson": lesson_id, "kernel_id": kernel_id, "worker": worker,
                     "state": KernelState.STARTING.value, "now": now},
                )  # fmt: skip
            batch_id = session.scalar(
                text(
                    "INSERT INTO tutor_kernel_batches (owner, lesson_id, kernel_id, worker, cells, created, "
                    "updated) VALUES (:owner, :lesson, :kernel_id, :worker, CAST(:cells AS jsonb), :now, :now) "
                    "RETURNING id"
                ),
                {"owner": owner, "lesson": lesson_id, "kernel_id": kernel_id, "worker": worker,
                 "cells": json.dumps(cells), "now": now},
            )  # fmt: skip
            raw = session.connection().connection.driver_connection
            self.app.configure_task(BATCH_TASK, queue=kernel_queue(worker), connection=raw).defer(
                batch_id=batch_id, kernel_id=kernel_id, owner=owner, lesson_id=lesson_id,
                limits=limits_to_job(limits), files=files_to_job(files),
            )  # fmt: skip
        return QueueBatch(self.db, batch_id, cells, self.heartbeat_s)

    def stop(self, owner: str, lesson_id: str) -> None:
        """The worker sees the request within a moment and interrupts the cell (the kernel stays)."""
        with self.db.sessions.begin() as session:
            session.execute(
                text(
                    "UPDATE tutor_kernel_batches SET stop_requested = true, updated = :now "
                    "WHERE owner = :owner AND lesson_id = :lesson AND NOT done"
                ),
                {"owner": owner, "lesson": lesson_id, "now": utc_now()},
            )

    def restart(self, owner: str, lesson_id: str) -> None:
        """The kernel goes (its worker is told); the row goes too, so the next run may go to any worker."""
        self._end(owner, lesson_id, "restart", "")

    def shutdown(self, owner: str, lesson_id: str, message: str = "") -> None:
        self._end(owner, lesson_id, "shutdown", message)

    def close(self) -> None:
        """Nothing to close here: the kernels are the workers', and other servers' learners use them."""

    # --- inside --------------------------------------------------------------------------------------

    def _end(self, owner: str, lesson_id: str, action: str, message: str) -> None:
        fresh = fresh_since(self.heartbeat_s)
        with self.db.sessions.begin() as session:
            self._lock(session, owner, lesson_id)
            self._settle_open_batches(session, owner, lesson_id, fresh, WORKER_DIED, close_all=RESTARTED)
            row = self._row(session, owner, lesson_id, fresh)
            if row is None:
                return
            if action == "restart":
                session.execute(
                    text("DELETE FROM tutor_kernels WHERE owner = :owner AND lesson_id = :lesson"),
                    {"owner": owner, "lesson": lesson_id},
                )
            else:
                session.execute(
                    text(
                        "UPDATE tutor_kernels SET state = :state, message = :message, updated = :now "
                        "WHERE owner = :owner AND lesson_id = :lesson"
                    ),
                    {"state": KernelState.SHUT_DOWN.value, "message": message, "now": utc_now(), "owner": owner,
                     "lesson": lesson_id},
                )  # fmt: skip
            if row.alive:
                raw = session.connection().connection.driver_connection
                self.app.configure_task(CONTROL_TASK, queue=kernel_queue(row.worker), connection=raw).defer(
                    kernel_id=row.kernel_id, owner=owner, lesson_id=lesson_id, action=action, message=message
                )

    @staticmethod
    def _lock(session: Any, owner: str, lesson_id: str) -> None:
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"kernel:{owner}/{lesson_id}"})

    @staticmethod
    def _row(session: Any, owner: str, lesson_id: str, fresh: Any) -> _KernelRow | None:
        row = session.execute(
            text(
                "SELECT k.kernel_id, k.worker, k.state, k.message, coalesce(w.heartbeat_at >= :fresh, false) "
                "FROM tutor_kernels k LEFT JOIN tutor_workers w ON w.name = k.worker "
                "WHERE k.owner = :owner AND k.lesson_id = :lesson FOR UPDATE OF k"
            ),
            {"fresh": fresh, "owner": owner, "lesson": lesson_id},
        ).first()
        if row is None:
            return None
        try:
            state = KernelState(row[2])
        except ValueError:
            state = KernelState.SHUT_DOWN  # unreadable: taken for gone, a fresh kernel replaces it
        return _KernelRow(int(row[0]), str(row[1]), state, str(row[3] or ""), bool(row[4]))

    @staticmethod
    def _settle_open_batches(
        session: Any, owner: str, lesson_id: str, fresh: Any, lost_words: str, close_all: str | None = None
    ) -> bool:
        """The learner's batches not done: those of a dead worker (or, with ``close_all``, every one) are
        ended here, as the page would show them. True when one still runs on a live worker."""
        rows = session.execute(
            text(
                "SELECT b.id, b.cells, b.runs::text, coalesce(w.heartbeat_at >= :fresh, false) "
                "FROM tutor_kernel_batches b LEFT JOIN tutor_workers w ON w.name = b.worker "
                "WHERE b.owner = :owner AND b.lesson_id = :lesson AND NOT b.done FOR UPDATE OF b"
            ),
            {"fresh": fresh, "owner": owner, "lesson": lesson_id},
        ).all()
        running = False
        for batch_id, cells, raw, alive in rows:
            if alive and close_all is None:
                running = True
                continue
            if alive:  # restarted while it ran: the cell is interrupted (its worker ends the kernel)
                end_batch(session, batch_id, cells, raw, close_all or "", CellStatus.INTERRUPTED)
            else:
                end_batch(session, batch_id, cells, raw, lost_words)
        return running

    @staticmethod
    def _pick_worker(session: Any, fresh: Any) -> str | None:
        """The live worker with the fewest kernels holding variables (ties: any of them)."""
        return session.scalar(
            text(
                "SELECT w.name FROM tutor_workers w LEFT JOIN tutor_kernels k ON k.worker = w.name "
                "AND k.state IN ('starting', 'idle', 'busy') WHERE w.heartbeat_at >= :fresh "
                "GROUP BY w.name ORDER BY count(k.owner), random() LIMIT 1"
            ),
            {"fresh": fresh},
        )

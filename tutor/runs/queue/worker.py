"""``python -m tutor worker``: runs queued runs (``TUTOR_RUNS=queue``) on this host.

A procrastinate worker process whose task grades through the same ``grading.grade_source`` the local run
manager calls, with this worker's own warm pool. Up to ``TUTOR_MAX_RUNS`` runs at once, plus the express
lane: a slot of its own that gives runs which look like they stop on an early NameError a quick try in a
warm sandbox (longer ones go back to the regular queue). Prints one line per run. SIGTERM (or Ctrl-C)
drains: running runs finish, no new ones start. A sweeper looks for runs of workers that stopped sending
heartbeats (killed, host gone): each such run is retried once on another worker, then marked interrupted
(tutor.runs.queue.sweeper).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import shutil
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

import procrastinate
from procrastinate import exceptions, retry, utils
from procrastinate.job_context import JobContext
from procrastinate.worker import Worker

from tutor import settings
from tutor.grading.verdict import Verdict
from tutor.lessons.files import content_hash
from tutor.lessons.lesson import Lesson, LessonError, LessonSet, load_lesson, load_lessons
from tutor.runs.contract import RunStatus, dead_after_s
from tutor.runs.pipeline import (
    EXPRESS_BUDGET_S,
    REQUEUE_NOTE,
    ExpressTry,
    LiveProgress,
    describe_outcome,
    grade_job,
)
from tutor.runs.queue.kernel_worker import WorkerKernels, forget_previous_kernels, keep_kernels
from tutor.runs.queue.kernels import BATCH_TASK, CONTROL_TASK, kernel_queue
from tutor.runs.queue.schema import apply_queue_schema
from tutor.runs.queue.store import (
    EXPRESS_QUEUE,
    RUNS_QUEUE,
    TASK_NAME,
    Claim,
    claim_run,
    conninfo,
    finish_run,
    learner_names,
    remove_worker,
    report_progress,
    requeue_run,
    upsert_worker,
)
from tutor.runs.queue.sweeper import reclaim_orphaned_sandboxes, sweep_forever
from tutor.sandbox.pool import WarmPool
from tutor.sandbox.protocol import EventType
from tutor.store.db import Database, open_database

log = logging.getLogger("tutor.runs.queue.worker")
PROGRESS_EVERY_S = 0.25  # at most this often a run's row is written while it streams output


class ExpressRequeue(Exception):
    """The express lane hands a run back to the regular queue."""


class ExpressRetry(retry.BaseRetryStrategy):
    """procrastinate's retry decision for the express lane: back to the regular queue, at once."""

    def get_retry_decision(self, *, exception: BaseException, job: Any) -> retry.RetryDecision | None:
        if isinstance(exception, ExpressRequeue):
            return retry.RetryDecision(retry_at=utils.utcnow(), queue=RUNS_QUEUE)
        return None


class AbortRequested:
    """The learner's Stop as the grader polls it: procrastinate's abort of this job."""

    def __init__(self, context: JobContext) -> None:
        self.context = context

    def is_set(self) -> bool:
        return self.context.should_abort()


class RunWorker:
    """What one worker process knows: its database, lessons, warm pool and runs in progress."""

    def __init__(self, db: Database, name: str, capacity: int, pool: WarmPool | None) -> None:
        self.db = db
        self.name = name
        self.capacity = capacity
        self.pool = pool
        self.running = 0
        self.kernels = WorkerKernels(db, name, pool)  # notebook kernels that live here (their own queue)
        self._lock = threading.Lock()
        self._lessons: tuple[float, LessonSet] | None = None
        self._sent: dict[str, Lesson] = {}  # lesson versions the app sent, by hash

    def lessons(self) -> LessonSet:
        # Reloaded at most every 2 s: a teacher's edit on this host is seen by the next run.
        now = time.monotonic()
        if self._lessons is None or now - self._lessons[0] > 2.0:
            self._lessons = (now, load_lessons())
        return self._lessons[1]

    def warm_ready(self) -> int:
        return self.pool.stats().ready if self.pool is not None else 0

    def wait_for_warm(self, timeout_s: float) -> bool:
        """A warm sandbox ready now, or within ``timeout_s`` (the pool refills one in a few seconds)."""
        deadline = time.monotonic() + timeout_s
        while self.warm_ready() == 0:
            if self.pool is None or time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return True

    def lesson_from_job(self, lesson_id: str, expected: str, files: dict[str, str]) -> Lesson:
        """The lesson the app sent with the job, written once per version under var/queue-lessons (its
        fixtures are read from there at grading time) and checked against the hash it came with."""
        cached = self._sent.get(expected)
        if cached is not None:
            return cached
        folder = settings.var_dir() / "queue-lessons" / expected[:32]
        if not (folder / "complete").is_file():
            staging = folder.with_name(f".{folder.name}.{os.getpid()}.{threading.get_ident()}")
            for name, data in files.items():
                parts = Path(name).parts
                if parts[0] not in ("lessons", "solutions") or ".." in parts or Path(name).is_absolute():
                    raise LessonError(Path(name), "file", "a lesson file outside lessons/ or solutions/")
                target = staging / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(base64.b64decode(data))
            (staging / "complete").touch()
            try:
                staging.rename(folder)
            except OSError:  # another run of this worker (or host) wrote it first
                shutil.rmtree(staging, ignore_errors=True)
        lesson = load_lesson(folder / "lessons" / f"{lesson_id}.toml", folder / "solutions")
        if content_hash(lesson) != expected:
            raise LessonError(folder / "lessons" / f"{lesson_id}.toml", "content", "differs from the app's (hash)")
        self._sent[expected] = lesson
        return lesson

    def grade_run(
        self,
        context: JobContext,
        run_id: int,
        lesson: str,
        lesson_hash: str,
        lesson_files: dict[str, str] | None = None,
    ) -> str:
        """The task (a thread of the worker): grade one run and write its verdict."""
        express = bool(context.additional_context.get("express"))
        if express and not self.wait_for_warm(EXPRESS_BUDGET_S):
            raise ExpressRequeue  # a quick try needs a warm sandbox; the regular slots run it in full
        claim = claim_run(self.db, run_id, self.name)
        if claim is None:
            return "not queued any more"
        with self._lock:
            self.running += 1
        try:
            return self._grade_claimed(context, claim, lesson_hash, express, lesson_files)
        except (ExpressRequeue, exceptions.JobAborted):
            raise
        except Exception as exc:  # a bug of ours: the run ends as the grader's failure, never stays running
            log.exception("run %s failed in the worker", run_id)
            finish_run(self.db, claim, RunStatus.FAILED, None, f"the worker failed: {type(exc).__name__}: {exc}")
            raise
        finally:
            with self._lock:
                self.running -= 1

    def _grade_claimed(
        self, context: JobContext, claim: Claim, expected_hash: str, express: bool, files: dict[str, str] | None
    ) -> str:
        if files:  # the app sent the lesson's content: grade exactly that version
            try:
                lesson: Lesson | None = self.lesson_from_job(claim.lesson_id, expected_hash, files)
                problem = None
            except (LessonError, OSError, ValueError) as exc:
                lesson, problem = None, f"the lesson sent with the run cannot be used here ({exc})"
        else:  # an app that sends only the hash: this worker's own lesson files must match it
            lesson = self.lessons().get(claim.lesson_id)
            problem = None
            if lesson is None or content_hash(lesson) != expected_hash:
                found = "is missing" if lesson is None else "differs from the app's"
                problem = f"its lesson {claim.lesson_id!r} {found}"
                lesson = None
        if lesson is None:
            error = (
                f"worker {self.name}: {problem}. Give every worker the same lesson files as the app (deploy them "
                "together), then run again."
            )
            finish_run(self.db, claim, RunStatus.FAILED, None, error)
            self._print(claim, "grader error: lesson files differ", claim.started)
            return "lesson mismatch"
        live = LiveProgress()
        reporter = ProgressReporter(self.db, claim, live)

        def on_event(event: dict[str, Any]) -> None:
            live.handle_event(event)
            reporter.changed(urgent=event.get("type") not in (EventType.OUTPUT, EventType.BATCH))

        stop = AbortRequested(context)
        with ExpressTry() if express else contextlib.nullcontext() as quick:
            graded = grade_job(lesson, claim.code, stop, on_event, self.pool, quick)
        if graded.requeue:
            requeue_run(self.db, claim, REQUEUE_NOTE)
            raise ExpressRequeue
        written = self._finish(claim, graded.status, graded.verdict, graded.error, live)
        outcome = describe_outcome(graded.status, graded.verdict, graded.error)
        outcome += "" if written else " (not recorded: run taken over)"
        self._print(claim, outcome, claim.started)
        if stop.is_set():
            raise exceptions.JobAborted
        return outcome

    def _finish(
        self, claim: Claim, status: RunStatus, verdict: Verdict | None, error: str | None, live: LiveProgress
    ) -> bool:
        """The verdict outlives a database restart: written as soon as the database is back (for a while;
        after that the sweeper ends the run as interrupted, never leaving it running)."""
        for wait in (0, 0.5, 1, 2, 3, 5, 5, 5, 10, 10):
            time.sleep(wait)
            try:
                return finish_run(self.db, claim, status, verdict, error, live.read()[0])
            except Exception as exc:
                log.warning("run %s: verdict not written yet (%s)", claim.run_id, exc)
        return False

    def _print(self, claim: Claim, outcome: str, started: float) -> None:
        try:
            learner = learner_names(self.db, {claim.learner_id}).get(claim.learner_id, claim.learner_id)
        except Exception:
            learner = claim.learner_id
        seconds = time.time() - started
        print(
            f"run {claim.run_id}  learner {learner!r}  lesson {claim.lesson_id}  {outcome}  {seconds:.1f} s  "
            f"attempt {claim.attempt}  worker {self.name}",
            flush=True,
        )


class ProgressReporter:
    """Writes a run's latest progress to its row: at once for a new phase or epoch, else at most every
    PROGRESS_EVERY_S (output can stream thousands of lines). A failed write (the database restarting)
    loses only that update: the next one carries the whole state."""

    def __init__(self, db: Database, claim: Claim, live: LiveProgress) -> None:
        self.db, self.claim, self.live = db, claim, live
        self.last = 0.0

    def changed(self, urgent: bool) -> None:
        now = time.monotonic()
        if not urgent and now - self.last < PROGRESS_EVERY_S:
            return
        self.last = now
        progress, output = self.live.read()
        try:
            report_progress(self.db, self.claim, progress, output)
        except Exception as exc:
            log.warning("run %s: progress not written (%s)", self.claim.run_id, exc)


# The process ------------------------------------------------------------------------------------------


def run_worker() -> int:
    """The worker's main: returns the exit status."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    url = settings.queue_db_url()
    db = open_database(url)
    change = apply_queue_schema(db)
    if change.migrated:
        print(f"queue schema: applied procrastinate migrations {', '.join(change.migrated)}", flush=True)
    from tutor.sandbox.pool import start_pool_from_settings

    name = settings.worker_name() or f"{socket.gethostname()}:{os.getpid()}"
    reclaim_orphaned_sandboxes()  # what a killed worker of this host left behind
    forget_previous_kernels(db, name)  # a previous process of this name took its kernels with it
    state = RunWorker(db, name, settings.max_runs(), start_pool_from_settings())
    print(f"worker {name}: up to {state.capacity} runs at once, express lane {'on' if state.pool else 'off'}, "
          f"database {db.url}", flush=True)  # fmt: skip
    try:
        asyncio.run(serve(state, url))
    finally:
        state.kernels.close()
        if state.pool is not None:
            state.pool.close()
        try:
            remove_worker(db, name)
        except Exception:
            pass
        db.dispose()
    print(f"worker {name}: stopped", flush=True)
    return 0


async def serve(state: RunWorker, url: str) -> None:
    """Run the procrastinate workers until SIGTERM/SIGINT; after the database went away (their listener
    fails), start them again, keeping the warm pool."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    heartbeat = settings.worker_heartbeat_s()
    while not stop.is_set():
        app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=conninfo(url)))
        app.task(name=TASK_NAME, pass_context=True, retry=ExpressRetry())(state.grade_run)
        app.task(name=BATCH_TASK)(state.kernels.batch_task)
        app.task(name=CONTROL_TASK)(state.kernels.control_task)
        try:
            async with app.open_async():
                await run_workers(app, state, stop, heartbeat)
        except Exception as exc:  # the database went away: keep the process (and its warm pool), retry
            print(f"worker {state.name}: queue connection lost ({type(exc).__name__}: {exc}); retrying", flush=True)
        if not stop.is_set():
            await asyncio.wait([asyncio.ensure_future(stop.wait())], timeout=2.0)


async def run_workers(app: procrastinate.App, state: RunWorker, stop: asyncio.Event, heartbeat: float) -> None:
    common = dict(
        install_signal_handlers=False, update_heartbeat_interval=heartbeat,
        stalled_worker_timeout=dead_after_s(heartbeat), abort_job_polling_interval=1.0,
        fetch_job_polling_interval=2.0, shutdown_graceful_timeout=None,
    )  # fmt: skip
    workers = [
        Worker(app, queues=[RUNS_QUEUE, EXPRESS_QUEUE], concurrency=state.capacity, name=f"{state.name}/runs",
               additional_context={"express": False}, **common),
    ]  # fmt: skip
    if state.pool is not None:
        workers.append(
            Worker(app, queues=[EXPRESS_QUEUE], concurrency=1, name=f"{state.name}/express",
                   additional_context={"express": True}, **common)
        )  # fmt: skip
    # The notebook kernels that live here: their cells (and restarts) come on this worker's own queue. A
    # batch waits on a thread of its own, so the slots cost little; the hub caps the kernels.
    workers.append(
        Worker(app, queues=[kernel_queue(state.name)], concurrency=2 * settings.kernels_max() + 4,
               name=f"{state.name}/kernels", **common)
    )  # fmt: skip
    runners = [asyncio.create_task(worker.run()) for worker in workers]
    sides = [
        asyncio.create_task(keep_heartbeat(state, heartbeat)),
        asyncio.create_task(sweep_forever(app, state.db, state.name, heartbeat)),
        asyncio.create_task(keep_kernels(state.kernels)),
    ]
    stopper = asyncio.create_task(stop.wait())
    try:
        done, _ = await asyncio.wait([*runners, *sides, stopper], return_when=asyncio.FIRST_COMPLETED)
    finally:
        for worker in workers:
            worker.stop()  # drain: running runs finish, nothing new is taken
        if stop.is_set():
            print(f"worker {state.name}: draining ({state.running} running)", flush=True)
            await asyncio.to_thread(state.kernels.close)  # its kernels end (their cells stop): not drained
        results = await asyncio.gather(*runners, return_exceptions=True)
        for side in sides:
            side.cancel()
        await asyncio.gather(*sides, return_exceptions=True)
        stopper.cancel()
    failed = [r for r in [*results, *(t.exception() for t in done if t in sides and not t.cancelled())] if r]
    if failed and not stop.is_set():
        raise RuntimeError(f"worker stopped: {failed[0]!r}")


async def keep_heartbeat(state: RunWorker, heartbeat: float) -> None:
    """The row the teacher page shows (host, running, warm, last heartbeat)."""
    host, pid = socket.gethostname(), os.getpid()
    while True:
        try:
            await asyncio.to_thread(
                upsert_worker, state.db, state.name, host, pid, state.capacity, state.running, state.warm_ready()
            )
        except Exception as exc:
            log.warning("worker row not written (%s)", exc)
        await asyncio.sleep(heartbeat)


if __name__ == "__main__":
    sys.exit(run_worker())

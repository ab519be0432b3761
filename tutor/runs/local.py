"""Local mode (``TUTOR_RUNS=local``): one process-wide run manager shared by every learner: a fair queue, a
bounded number of runs at a time, live progress per run, cancel, the express lane. It implements
tutor.runs.contract.RunService; every run is graded and recorded by tutor.runs.pipeline, as in queue mode.
It never calls Streamlit; the UI polls ``snapshot()``."""

from __future__ import annotations

import collections
import itertools
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from tutor import settings
from tutor.grading.grade import grade_source, is_real_attempt
from tutor.grading.name_error import predict_early_name_error
from tutor.grading.verdict import Verdict
from tutor.kernels.hub import KernelHub
from tutor.lessons.lesson import Lesson
from tutor.runs.contract import RunCounts, RunInFlight, RunSnapshot, RunStatus, WorkerInfo
from tutor.runs.pipeline import REQUEUE_NOTE, ExpressTry, GradedRun, LiveProgress, grade_job, run_columns, snapshot_of
from tutor.sandbox.protocol import Phase
from tutor.store.db import Database, utc_now
from tutor.store.progress import latest_run, new_server_id, record_finished, record_started, record_submitted

if TYPE_CHECKING:  # the manager asks its pool for take (through the runner), stats and close
    from tutor.sandbox.pool import PoolStats, WarmPool

log = logging.getLogger(__name__)


class Job:
    """One submitted run in local mode.

    Locking: ``live`` guards progress and output, which the grading thread writes (handle_event) while
    page reruns read them (snapshot). ``state``, ``verdict``, ``error``, ``started``, ``finished`` and
    ``queue_position`` are written only under the RunManager's lock; ``done`` and ``cancel_event`` are
    events, safe from any thread. Pages read a Job only through ``snapshot()``."""

    def __init__(self, job_id: int, owner: str, lesson: Lesson, source: str) -> None:
        self.id = job_id
        self.owner = owner
        self.lesson = lesson
        self.source = source
        self.state = RunStatus.QUEUED
        self.live = LiveProgress()  # progress and output, under a lock of their own
        self.verdict: Verdict | None = None
        self.error: str | None = None
        self.cancel_event = threading.Event()
        self.created = time.time()
        self.started: float | None = None
        self.finished: float | None = None
        self.queue_position: int | None = None
        self._lock = threading.Lock()
        self.done = threading.Event()
        self.record_id: int | None = None  # set by a recorder (tutor.store.progress): the run's database row
        self.probed = False  # the express lane tried it already
        self.quick = False  # its code looks like it stops on an early NameError (set at submit)

    def handle_event(self, event: dict[str, Any]) -> None:
        """Called from the grading thread for every runner event."""
        self.live.handle_event(event)

    def snapshot(self) -> RunSnapshot:
        with self._lock:
            progress, output = self.live.read()
            return RunSnapshot(
                self.id, self.owner, self.lesson.id, self.source, self.state, progress, output,
                self.verdict, self.error, self.queue_position, self.created, self.started, self.finished,
            )  # fmt: skip


GradeFunction = Callable[..., Verdict]


class RunRecorder(Protocol):
    """Told about every job: at submit, when a worker starts it, and once when it finishes (before
    ``job.done`` is set). ``record_submitted``/``record_finished`` run under the manager's lock, so the
    order is always submitted < started < finished. A recorder that raises never stops a run."""

    def record_submitted(self, job: Job) -> None: ...
    def record_started(self, job: Job) -> None: ...
    def record_finished(self, job: Job) -> None: ...


class RunManager:
    """Runs jobs on ``max_running`` worker threads, first come first served; one job per owner."""

    runs_here = True  # tutor.runs.contract.RunService: runs happen in this process

    def __init__(
        self,
        max_running: int | None = None,
        grade: GradeFunction = grade_source,
        recorder: RunRecorder | None = None,
        pool: WarmPool | None = None,
        express: bool = True,
    ) -> None:
        self.max_running = max_running or default_max_running()
        self._grade = grade
        self._recorder = recorder
        self.db: Database | None = getattr(recorder, "db", None)  # where last_run looks (None: nowhere)
        self.pool = pool  # warm sandboxes; the manager closes it on shutdown
        self._kernels: KernelHub | None = None
        self._queue: collections.deque[Job] = collections.deque()
        self._jobs: dict[int, Job] = {}
        self._active: dict[str, Job] = {}  # owner -> queued or running job
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._wakeup = threading.Condition(self._lock)
        self._stopping = False
        self._busy = 0  # regular workers running a job now
        self._workers = [
            threading.Thread(target=self._work, name=f"tutor-run-{i}", daemon=True) for i in range(self.max_running)
        ]
        self._express_on = pool is not None and express  # without warm sandboxes a try cannot be quick
        if self._express_on:
            self._workers.append(threading.Thread(target=self._express, name="tutor-run-express", daemon=True))
        for worker in self._workers:
            worker.start()

    def submit(self, owner: str, lesson: Lesson, source: str) -> Job:
        # Only code that looks like it stops on an early NameError gets a try in the express lane (parsed
        # before taking the lock: a 5 MB source takes a while).
        quick = self._express_on and predict_early_name_error(source)
        with self._lock:
            if owner in self._active:
                raise RunInFlight(f"a run is already {self._active[owner].state} for this learner")
            job = Job(next(self._ids), owner, lesson, source)
            job.quick = quick
            self._record("record_submitted", job)
            self._jobs[job.id] = job
            self._active[owner] = job
            self._queue.append(job)
            self._renumber()
            self._wakeup.notify_all()  # the express lane waits on it too: wake a worker for sure
        return job

    def get(self, job_id: int) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def snapshot(self, job_id: int) -> RunSnapshot | None:
        """The run service interface (tutor.runs.service.RunService): the pages read runs through it."""
        job = self.get(job_id)
        return job.snapshot() if job is not None else None

    def find_active(self, owner: str, lesson_id: str) -> int | None:
        job = self.active_job(owner)
        return job.id if job is not None and job.lesson.id == lesson_id else None

    def active_job(self, owner: str) -> Job | None:
        with self._lock:
            return self._active.get(owner)

    def cancel(self, job_id: int) -> None:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.state.finished:
                return
            job.cancel_event.set()
            if job.state is RunStatus.QUEUED:
                self._queue.remove(job)
                self._finish(job, RunStatus.CANCELLED)
                self._renumber()

    def last_run(self, owner: str, lesson_id: str) -> RunSnapshot | None:
        if self.db is None:
            return None
        run = latest_run(self.db, owner, lesson_id)
        if run is None:
            return None
        job = self.get(run.job_id) if self._recorder is not None and run.server == self._recorder.server else None
        return job.snapshot() if job is not None and job.record_id == run.id else snapshot_of(run)

    def counts(self) -> RunCounts:
        with self._lock:
            running = sum(1 for job in self._active.values() if job.state is RunStatus.RUNNING)
            return RunCounts(len(self._queue), running, self.max_running)

    def workers(self) -> list[WorkerInfo]:
        return []  # local mode: this server process runs every run (see counts)

    def pool_stats(self) -> PoolStats | None:
        return self.pool.stats() if self.pool is not None else None

    def kernels(self) -> KernelHub:
        """Notebook kernels in this process, from the same warm pool and within its memory budget."""
        with self._lock:
            if self._kernels is None:
                self._kernels = KernelHub(pool=self.pool)
            return self._kernels

    def where_runs_happen(self) -> str:
        if self.pool is None:
            return "Warm sandboxes: off; every run starts a fresh sandbox and imports TensorFlow itself."
        return self.pool.describe()

    def release(self) -> None:
        """Dropped from a server's cache: its runs finish and are recorded as usual (the threads are
        daemons; the warm pool closes at exit)."""

    def shutdown(self, cancel_running: bool = True) -> None:
        with self._lock:
            self._stopping = True
            for job in list(self._active.values()):
                if cancel_running:
                    job.cancel_event.set()
            self._wakeup.notify_all()
        for worker in self._workers:
            worker.join(timeout=15)
        if self._kernels is not None:
            self._kernels.close()
        if self.pool is not None:
            self.pool.close()

    def _renumber(self) -> None:
        for position, job in enumerate(self._queue, start=1):
            job.queue_position = position

    def _finish(self, job: Job, state: RunStatus) -> None:
        """Under self._lock."""
        job.state = state
        job.finished = time.time()
        job.queue_position = None
        job.live.set_phase(Phase.FINISHED)
        if self._active.get(job.owner) is job:
            del self._active[job.owner]
        # Old finished jobs are dropped so a long workshop does not grow memory without bound.
        if len(self._jobs) > 2000:
            for old_id in [i for i, j in self._jobs.items() if j.state.finished][:500]:
                del self._jobs[old_id]
        self._record("record_finished", job)
        job.done.set()

    def _record(self, event: str, job: Job) -> None:
        if self._recorder is None:
            return
        try:
            getattr(self._recorder, event)(job)
        except Exception:  # losing a record must not lose the learner's run
            log.exception("recording %s of job %s failed", event, job.id)

    def _work(self) -> None:
        while True:
            with self._lock:
                while not self._queue and not self._stopping:
                    self._wakeup.wait()
                if self._stopping:
                    return
                job = self._queue.popleft()
                self._start(job)
                self._busy += 1
                # While runs wait for the express lane, its warm sandboxes are worth more there (a quick
                # verdict instead of a long wait) than here (a few seconds off a longer run).
                use_pool = not (self._express_on and any(self._wants_express(queued) for queued in self._queue))
            self._record("record_started", job)
            pool = self.pool if use_pool else None
            graded = grade_job(job.lesson, job.source, job.cancel_event, job.handle_event, pool, grade=self._grade)
            with self._lock:
                self._busy -= 1
                self._settle(job, graded)
                self._finish(job, graded.status)

    def _express(self) -> None:
        """The express lane: while every worker is busy (say, with 20-second trainings), the oldest queued
        run whose code looks like it stops on an early NameError gets a quick try in a warm sandbox. Most
        runs in this app are a starter that still raises it: its verdict comes in about a second instead of
        after the trainings ahead of it. A run that needs longer than EXPRESS_BUDGET_S (the guess was
        wrong) is stopped and goes back to its place in the queue, to run again from the start; at most
        that much work is repeated, once per run."""
        while True:
            with self._lock:
                job = None
                while not self._stopping and (job := self._express_candidate()) is None:
                    self._wakeup.wait(0.25)  # also re-checks whether a warm sandbox is ready now
                if self._stopping:
                    return
                self._queue.remove(job)
                job.probed = True
                self._start(job)
            self._record("record_started", job)
            with ExpressTry() as express:
                graded = grade_job(job.lesson, job.source, job.cancel_event, job.handle_event, self.pool, express,
                                   grade=self._grade)  # fmt: skip
            with self._lock:
                if graded.requeue:
                    self._requeue(job)
                else:
                    self._settle(job, graded)
                    self._finish(job, graded.status)

    def _express_candidate(self) -> Job | None:
        """Under the lock: the oldest queued run not tried yet, when every worker is busy (else a worker
        takes it at once) and a warm sandbox is ready for it."""
        if self._busy < self.max_running:
            return None
        job = next((job for job in self._queue if self._wants_express(job)), None)
        if job is None or self.pool is None or self.pool.stats().ready == 0:
            return None
        return job

    @staticmethod
    def _wants_express(job: Job) -> bool:
        return job.quick and not job.probed

    def _start(self, job: Job) -> None:
        """Under the lock."""
        job.state = RunStatus.RUNNING
        job.started = time.time()
        job.queue_position = None
        job.live.set_phase(Phase.STARTING)
        self._renumber()

    def _requeue(self, job: Job) -> None:
        """Under the lock: back to its place by arrival, with what the try showed cleared."""
        with job._lock:
            job.state = RunStatus.QUEUED
            job.verdict = job.error = None
            job.live.reset(note=REQUEUE_NOTE)
        position = next((i for i, queued in enumerate(self._queue) if queued.id > job.id), len(self._queue))
        self._queue.insert(position, job)
        self._renumber()
        self._wakeup.notify_all()

    @staticmethod
    def _settle(job: Job, graded: GradedRun) -> None:
        """Under the lock: what grading said, on the job."""
        job.verdict, job.error = graded.verdict, graded.error


def default_max_running() -> int:
    return settings.max_runs()


class DatabaseRecorder:
    """Plugs the database into RunManager: every job recorded at submit, start and finish, with the columns
    tutor.runs.pipeline gives (as a queue worker writes them)."""

    def __init__(self, db: Database, server: str | None = None) -> None:
        self.db = db
        self.server = server or new_server_id()

    def record_submitted(self, job: Job) -> None:
        job.record_id = record_submitted(
            self.db, job.owner, job.lesson.id, job.source, self.server, job.id, job.created,
            is_real_attempt(job.lesson, job.source),
        )  # fmt: skip

    def record_started(self, job: Job) -> None:
        if job.record_id is not None:
            record_started(self.db, job.record_id, job.started or job.created)

    def record_finished(self, job: Job) -> None:
        if job.record_id is not None:
            columns = run_columns(job.state, job.verdict, job.error)
            record_finished(self.db, job.record_id, columns, job.finished or utc_now().timestamp(), job.started)

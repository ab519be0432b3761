"""Queue mode's rows: each run's record, its procrastinate job and its live progress, in PostgreSQL.

Shared by the app (submit, read, cancel) and the workers (claim, report progress, finish, sweep). Every
write that changes a run goes through a conditional UPDATE, so a verdict is written exactly once: a late
or duplicate report (an attempt a sweeper already gave to another worker) changes nothing. Every write
also sends NOTIFY ``tutor_runs`` with the run id ("changed"); the row holds the latest progress, since
NOTIFY is not replayed to a listener that reconnects.
"""

from __future__ import annotations

import base64
import time
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from procrastinate import App, SyncPsycopgConnector, exceptions
from sqlalchemy import func, select, text, update
from sqlalchemy.engine import make_url

from tutor.grading.grade import is_real_attempt
from tutor.lessons.files import content_hash, draft_of
from tutor.runs.contract import (
    IN_FLIGHT,
    Progress,
    RunCounts,
    RunInFlight,
    RunSnapshot,
    RunStatus,
    WorkerInfo,
    dead_after_s,
)
from tutor.runs.pipeline import run_columns, snapshot_of
from tutor.sandbox.protocol import Phase
from tutor.store.db import Database, Learner, Run, WorkerRow, utc_now
from tutor.store.progress import save_code

if TYPE_CHECKING:
    from tutor.grading.verdict import Verdict
    from tutor.lessons.lesson import Lesson

TASK_NAME = "tutor.grade_run"
RUNS_QUEUE = "runs"
EXPRESS_QUEUE = "express"  # runs whose code looks like it stops on an early NameError (tutor.grading.name_error)
NOTIFY_CHANNEL = "tutor_runs"
PROGRESS_OUTPUT_CHARS = 16 * 1024  # the live output kept in the row (the page shows the last 30 lines)
MAX_ATTEMPTS = 2  # a run whose worker died is retried once on another worker, then marked interrupted
RETRY_NOTE = "The worker running your code stopped. It runs again from the start on another worker."


def conninfo(url: str) -> str:
    """A libpq connection string from the app's SQLAlchemy URL (postgresql+psycopg://...)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def make_queue_app(url: str) -> App:
    """The procrastinate app of the server side: it only defers and cancels, always on a connection the
    caller holds (so the run row and its job share one transaction); its own pool is never opened."""
    return App(connector=SyncPsycopgConnector(conninfo=conninfo(url)))


# Lessons ----------------------------------------------------------------------------------------------


def lesson_files_for_job(lesson: Lesson) -> dict[str, str] | None:
    """The lesson's content as the app serves it (TOML, starter, solution, fixture files; base64 by path
    under lessons/ or solutions/), to travel with the job: a worker grades exactly this version, whatever
    its own lesson folder holds. None for a lesson without a file (built in code)."""
    if lesson.path is None:
        return None
    files = draft_of(lesson).files()
    return {name: base64.b64encode(data).decode("ascii") for name, data in files.items()}


# The app's side ---------------------------------------------------------------------------------------


def submit_run(
    db: Database, app: App, owner: str, lesson: Lesson, source: str, server: str, express: bool = False
) -> int:
    """Record the run and defer its job in ONE transaction: a failure leaves neither. One run in flight
    per learner and lesson: an advisory lock orders two submits of the same pair, the run rows say
    whether one is queued or running, and the job's queueing lock backs it up in the queue itself."""
    lock_key = f"{owner}/{lesson.id}"
    with db.sessions.begin() as session:
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": lock_key})
        busy = session.scalar(
            select(Run.status).where(Run.learner_id == owner, Run.lesson_id == lesson.id, Run.status.in_(IN_FLIGHT))
        )
        if busy is not None:
            raise RunInFlight(f"a run is already {busy} for this learner and lesson")
        run = Run(
            learner_id=owner, lesson_id=lesson.id, code=source, server=server, job_id=0,
            status=RunStatus.QUEUED.value, submitted_at=utc_now(), lesson_hash=content_hash(lesson),
            attempts=0, progress=asdict(Progress()), updated_at=utc_now(),
            real_attempt=is_real_attempt(lesson, source),  # the starter as given is no attempt (issue 11)
        )  # fmt: skip
        session.add(run)
        session.flush()
        raw = session.connection().connection.driver_connection
        try:
            job_id = app.configure_task(
                TASK_NAME,
                queue=EXPRESS_QUEUE if express else RUNS_QUEUE,
                queueing_lock=f"run:{lock_key}",
                connection=raw,
            ).defer(
                run_id=run.id, lesson=lesson.id, lesson_hash=run.lesson_hash, lesson_files=lesson_files_for_job(lesson)
            )
        except exceptions.AlreadyEnqueued as exc:
            raise RunInFlight("a run is already queued for this learner and lesson") from exc
        run.job_id = job_id
        _notify(session, run.id)
        run_id = run.id
    save_code(db, owner, lesson.id, source)
    return run_id


def request_cancel(db: Database, app: App, run_id: int) -> None:
    """Stop: a queued job is cancelled here and now; a running one is asked to abort (its worker ends the
    sandbox and writes the verdict). A run whose job has already ended is reconciled to cancelled."""
    with db.sessions.begin() as session:
        run = session.get(Run, run_id, with_for_update=True)
        if run is None or run.status not in IN_FLIGHT:
            return
        raw = session.connection().connection.driver_connection
        app.job_manager.cancel_job_by_id(run.job_id, abort=True, connection=raw)
        status = app.job_manager.get_job_status(run.job_id, connection=raw)
        if str(status.value) != "doing":  # cancelled while queued, or its job ended without a verdict
            _finish_values(run, RunStatus.CANCELLED, None, None)
            _notify(session, run_id)


def read_snapshot(db: Database, run_id: int) -> RunSnapshot | None:
    """A run as the pages show it, from its row (whichever replica or worker wrote it)."""
    with db.sessions() as session:
        run = session.get(Run, run_id)
        if run is None:
            return None
        position = None
        if run.status == RunStatus.QUEUED.value:
            position = session.scalar(
                select(func.count(Run.id)).where(Run.status == RunStatus.QUEUED.value, Run.id <= run_id)
            )
    return snapshot_of(run, position)


def find_active_run(db: Database, owner: str, lesson_id: str) -> int | None:
    with db.sessions() as session:
        return session.scalar(
            select(Run.id).where(Run.learner_id == owner, Run.lesson_id == lesson_id, Run.status.in_(IN_FLIGHT))
        )


def queue_counts(db: Database, heartbeat_s: float) -> RunCounts:
    with db.sessions() as session:
        rows = dict(
            session.execute(
                select(Run.status, func.count(Run.id)).where(Run.status.in_(IN_FLIGHT)).group_by(Run.status)
            ).all()
        )
        capacity = session.scalar(
            select(func.coalesce(func.sum(WorkerRow.capacity), 0)).where(
                WorkerRow.heartbeat_at >= utc_now() - timedelta(seconds=dead_after_s(heartbeat_s))
            )
        )
    return RunCounts(rows.get(RunStatus.QUEUED.value, 0), rows.get(RunStatus.RUNNING.value, 0), int(capacity or 0))


def list_workers(db: Database, heartbeat_s: float) -> list[WorkerInfo]:
    now = utc_now()
    with db.sessions() as session:
        rows = session.scalars(select(WorkerRow).order_by(WorkerRow.host, WorkerRow.name)).all()
    infos = []
    for row in rows:
        age = max(0.0, (now - row.heartbeat_at).total_seconds())
        alive = age < dead_after_s(heartbeat_s)
        infos.append(WorkerInfo(row.name, row.host, row.capacity, row.running, row.warm, age, alive))
    return infos


def learner_names(db: Database, learner_ids: set[str]) -> dict[str, str]:
    with db.sessions() as session:
        rows = session.execute(select(Learner.id, Learner.display_name).where(Learner.id.in_(learner_ids))).all()
    return dict(rows)


# The worker's side ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    run_id: int
    attempt: int
    learner_id: str
    lesson_id: str
    code: str
    lesson_hash: str | None
    started: float


def claim_run(db: Database, run_id: int, worker: str) -> Claim | None:
    """queued -> running for this worker, one more attempt. None: the run is not queued any more (it was
    cancelled before a worker took it, or finished)."""
    now = utc_now()
    with db.sessions.begin() as session:
        run = session.get(Run, run_id, with_for_update=True)
        if run is None or run.status != RunStatus.QUEUED.value:
            return None
        run.status, run.worker, run.started_at, run.updated_at = RunStatus.RUNNING.value, worker, now, now
        run.attempts = (run.attempts or 0) + 1
        note = (run.progress or {}).get("note") if run.attempts > 1 else None
        run.progress = {**asdict(Progress(phase=Phase.STARTING, note=note)), "output": ""}
        _notify(session, run_id)
        return Claim(run.id, run.attempts, run.learner_id, run.lesson_id, run.code, run.lesson_hash, time.time())


def report_progress(db: Database, claim: Claim, progress: Progress, output: str) -> bool:
    """The latest progress of this attempt, in the row (False: the attempt is not current any more)."""
    data = {**asdict(progress), "output": output[-PROGRESS_OUTPUT_CHARS:]}
    with db.sessions.begin() as session:
        changed = session.execute(
            update(Run)
            .where(Run.id == claim.run_id, Run.attempts == claim.attempt, Run.status == RunStatus.RUNNING.value)
            .values(progress=data, updated_at=utc_now())
        ).rowcount
        if changed:
            _notify(session, claim.run_id)
    return changed == 1


def finish_run(
    db: Database,
    claim: Claim,
    status: RunStatus,
    verdict: Verdict | None,
    error: str | None,
    progress: Progress | None = None,
) -> bool:
    """Write the verdict of this attempt, once: only while the run is running this very attempt."""
    with db.sessions.begin() as session:
        run = session.get(Run, claim.run_id, with_for_update=True)
        if run is None or run.status != RunStatus.RUNNING.value or run.attempts != claim.attempt:
            return False  # a late or duplicate report: another attempt owns the run, or it has ended
        _finish_values(run, status, verdict, error, started=claim.started)
        if progress is not None:
            run.progress = {**asdict(progress), "output": (run.progress or {}).get("output", "")}
        _notify(session, claim.run_id)
    return True


def requeue_run(db: Database, claim: Claim, note: str) -> bool:
    """The express lane's try took too long: back to queued, the try not counted as an attempt."""
    with db.sessions.begin() as session:
        changed = session.execute(
            update(Run)
            .where(Run.id == claim.run_id, Run.attempts == claim.attempt, Run.status == RunStatus.RUNNING.value)
            .values(status=RunStatus.QUEUED.value, attempts=claim.attempt - 1, started_at=None,
                    progress=asdict(Progress(note=note)), updated_at=utc_now())
        ).rowcount  # fmt: skip
        if changed:
            _notify(session, claim.run_id)
    return changed == 1


def settle_stalled_run(db: Database, run_id: int, retried: bool, aborted: bool) -> str:
    """A sweeper found this run's job stalled (its worker stopped sending heartbeats). ``retried``: the
    job went back to the queue (the run waits for another worker); else the run ends here: cancelled when
    the learner had pressed Stop, interrupted otherwise. Returns what happened to the row."""
    with db.sessions.begin() as session:
        run = session.get(Run, run_id, with_for_update=True)
        if run is None or run.status not in IN_FLIGHT:
            return "already finished"
        if retried:
            run.status, run.updated_at = RunStatus.QUEUED.value, utc_now()
            run.progress = {**asdict(Progress(note=RETRY_NOTE)), "output": ""}
            outcome = "retried"
        else:
            _finish_values(run, RunStatus.CANCELLED if aborted else RunStatus.INTERRUPTED, None, None)
            outcome = run.status
        _notify(session, run_id)
    return outcome


@dataclass(frozen=True)
class RunOwner:
    status: str
    attempts: int
    worker_alive: bool  # the worker of its latest attempt still beats (its own heartbeat row)


def run_owner(db: Database, run_id: int, heartbeat_s: float) -> RunOwner | None:
    """A stalled job's run, and whether its worker is in fact alive: procrastinate's heartbeat of a worker
    that reconnected after a database restart is stale, while the process still runs the sandbox. Only a
    run whose worker is silent in both is taken for orphaned."""
    fresh = utc_now() - timedelta(seconds=dead_after_s(heartbeat_s))
    with db.sessions() as session:
        row = session.execute(select(Run.status, Run.attempts, Run.worker).where(Run.id == run_id)).first()
        if row is None:
            return None
        beating = row[2] is not None and session.scalar(
            select(func.count(WorkerRow.name)).where(WorkerRow.name == row[2], WorkerRow.heartbeat_at >= fresh)
        )
    return RunOwner(row[0], row[1] or 0, bool(beating))


def upsert_worker(db: Database, name: str, host: str, pid: int, capacity: int, running: int, warm: int) -> None:
    with db.sessions.begin() as session:
        row = session.get(WorkerRow, name)
        if row is None:
            row = WorkerRow(name=name, host=host, pid=pid, capacity=capacity, started_at=utc_now())
            session.add(row)
        row.running, row.warm, row.heartbeat_at, row.capacity = running, warm, utc_now(), capacity


def forget_silent_workers(db: Database, silent_for_s: float = 3600.0) -> int:
    """Rows of workers silent this long (killed, host gone) leave the teacher page; returns how many."""
    with db.sessions.begin() as session:
        return session.execute(
            WorkerRow.__table__.delete().where(WorkerRow.heartbeat_at < utc_now() - timedelta(seconds=silent_for_s))
        ).rowcount


def remove_worker(db: Database, name: str) -> None:
    with db.sessions.begin() as session:
        row = session.get(WorkerRow, name)
        if row is not None:
            session.delete(row)


# Helpers ----------------------------------------------------------------------------------------------


def _finish_values(
    run: Run, status: RunStatus, verdict: Verdict | None, error: str | None, started: float | None = None
) -> None:
    """The columns tutor.runs.pipeline.run_columns gives (local mode writes the same ones)."""
    now = utc_now()
    for column, value in run_columns(status, verdict, error).items():
        setattr(run, column, value)
    run.finished_at, run.updated_at = now, now
    if started is not None:
        run.duration_s = round(time.time() - started, 3)


def _notify(session: Any, run_id: int) -> None:
    # Sent at commit; only the id ("changed"): the row holds the state, so the payload stays tiny.
    session.execute(text("SELECT pg_notify(:channel, :payload)"), {"channel": NOTIFY_CHANNEL, "payload": str(run_id)})

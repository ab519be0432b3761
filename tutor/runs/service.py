"""The one run service the pages use: submit, snapshot, cancel, counts. Two implementations, chosen by
``TUTOR_RUNS``: ``local`` (tutor.runs.local.RunManager: runs in this process, today's behaviour) and ``queue``
(tutor.runs.queue.service.QueueRunService: a PostgreSQL job queue that ``python -m tutor worker`` processes on any
number of hosts). The pages never know which."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from tutor import settings
from tutor.runs.local import JobSnapshot

if TYPE_CHECKING:
    from tutor.lessons.lesson import Lesson
    from tutor.store.db import Database


@dataclass(frozen=True)
class WorkerInfo:
    """A process that runs sandboxes for this class, as the teacher page lists it."""

    name: str
    host: str
    capacity: int  # runs at once
    running: int
    warm: int  # warm sandboxes ready
    heartbeat_age_s: float
    alive: bool


class SubmittedRun(Protocol):
    id: int


class RunService(Protocol):
    mode: str  # "local" or "queue" (TUTOR_RUNS), for pages that explain where runs happen
    pool: Any  # the warm pool runs use in this process (None in queue mode: the workers own theirs)

    def submit(self, owner: str, lesson: Lesson, source: str) -> SubmittedRun:
        """Queue a run; raises tutor.runs.local.RunInFlight when this learner has one queued or running."""
        ...

    def snapshot(self, run_id: int) -> JobSnapshot | None: ...
    def find_active(self, owner: str, lesson_id: str) -> int | None:
        """The learner's run of this lesson that is queued or running (a page opened on another tab or
        server picks it up), else None."""
        ...

    def cancel(self, run_id: int) -> None: ...
    def counts(self) -> dict[str, int]: ...
    def workers(self) -> list[WorkerInfo]:
        """The worker processes of the queue (queue mode); empty in local mode (this server runs them)."""
        ...

    def shutdown(self) -> None: ...


def open_run_service(database: Database, server: str) -> RunService:
    """The run service ``TUTOR_RUNS`` asks for, recording every run in ``database``."""
    if settings.runs_mode() == "queue":
        settings.queue_db_url()  # a clear error naming both settings, before anything starts
        from tutor.runs.queue.service import QueueRunService

        return QueueRunService(database, server)
    from tutor.runs.local import RunManager
    from tutor.sandbox.pool import start_pool_from_settings
    from tutor.store.progress import DatabaseRecorder

    return RunManager(recorder=DatabaseRecorder(database, server), pool=start_pool_from_settings())

"""Opening the run service the pages use (tutor.runs.contract.RunService). Two implementations, chosen by
``TUTOR_RUNS``: ``local`` (tutor.runs.local.RunManager: runs in this process) and ``queue``
(tutor.runs.queue.service.QueueRunService: a PostgreSQL job queue that ``python -m tutor worker`` processes
on any number of hosts). The pages never know which: what differs is answered here or by the service."""

from __future__ import annotations

from tutor import settings
from tutor.runs.contract import RunService
from tutor.store.db import Database
from tutor.store.progress import mark_interrupted_runs


def open_run_service(database: Database, server: str) -> RunService:
    """The run service ``TUTOR_RUNS`` asks for, recording every run in ``database``."""
    if settings.runs_mode() == "queue":
        settings.queue_db_url()  # a clear error naming both settings, before anything starts
        from tutor.runs.queue.service import QueueRunService  # (psycopg, procrastinate: queue mode only)

        return QueueRunService(database, server)
    from tutor.runs.local import DatabaseRecorder, RunManager
    from tutor.sandbox.pool import start_pool_from_settings

    return RunManager(recorder=DatabaseRecorder(database, server), pool=start_pool_from_settings())


def recover_runs(database: Database, server: str) -> int:
    """At a server's start, before any page reads a run: in local mode the runs an earlier process of this
    server left queued or running can never finish, so they are marked interrupted (kept, and the learner's
    page says so). In queue mode they belong to the queue (other servers, workers): none is touched.
    Returns how many were marked."""
    if settings.runs_mode() == "queue":
        return 0
    return mark_interrupted_runs(database, except_server=server)

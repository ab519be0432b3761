"""``python -m tutor submit FILE --lesson ID --learner NAME``: a run through the queue, by the very path
the app's lesson page takes (the run service), then its verdict as ``grade`` prints it, plus the run id,
the worker and the number of attempts. For instructors, CI of lesson repositories, and the tests."""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

from tutor import settings
from tutor.runs.contract import RunInFlight, RunSnapshot, RunStatus

EXIT_OK, EXIT_USAGE, EXIT_GRADER = 0, 2, 3  # as tutor.cli


def submit_and_wait(path: Path, lesson_id: str, learner_name: str, as_json: bool, timeout_s: float) -> int:
    def fail(message: str, code: int, **extra: Any) -> int:
        if as_json:
            print(json.dumps({"passed": False, "graded": False, "grader_error": message, **extra}))
        else:
            print(f"error: {message}", file=sys.stderr)
        return code

    try:
        if settings.runs_mode() != "queue":
            return fail("submit goes through the run queue: set TUTOR_RUNS=queue and a PostgreSQL TUTOR_DB_URL "
                        "(python -m tutor grade runs a file here, without a queue)", EXIT_USAGE)  # fmt: skip
        settings.queue_db_url()
    except settings.SettingsError as exc:
        return fail(str(exc), EXIT_USAGE)
    from tutor.lessons.lesson import load_lessons
    from tutor.runs.service import open_run_service
    from tutor.store.db import IdentitySource, open_database
    from tutor.store.progress import sign_in_learner
    from tutor.store.text import name_key

    lesson_set = load_lessons()
    lesson = lesson_set.get(lesson_id)
    if lesson is None:
        known = ", ".join(item.id for item in lesson_set.lessons)
        return fail(f"no lesson {lesson_id!r} (known: {known})", EXIT_USAGE)
    try:
        source = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return fail(f"cannot read {path}: {exc.strerror}", EXIT_USAGE)
    db = open_database(settings.db_url())
    code = settings.workshop_code() or ""
    source_kind = IdentitySource.WORKSHOP if code else IdentitySource.LOCAL
    learner = sign_in_learner(db, source_kind, learner_name, name_key(learner_name), code)
    service = open_run_service(db, f"cli:{socket.gethostname()}:{os.getpid()}")
    try:
        run = service.submit(learner.id, lesson, source)
    except RunInFlight as exc:
        return fail(f"{learner_name}: {exc}", EXIT_USAGE)
    snapshot = wait_for_run(service, run.id, timeout_s)
    service.shutdown()
    extra = {"run_id": run.id, "worker": snapshot.worker if snapshot else None,
             "attempts": snapshot.attempts if snapshot else 0,
             "status": str(snapshot.state) if snapshot else "unknown"}  # fmt: skip
    if snapshot is None or not snapshot.state.finished:
        return fail(f"no verdict within {timeout_s:g} s (run {run.id} stopped)", EXIT_GRADER, **extra)
    if snapshot.verdict is None:
        words = "stopped" if snapshot.state is RunStatus.CANCELLED else snapshot.error or "no verdict"
        return fail(words, EXIT_GRADER, **extra)
    if as_json:
        print(json.dumps({**snapshot.verdict.to_dict(), **extra}))
    else:
        from tutor.grading.report import format_verdict

        print(format_verdict(snapshot.verdict))
        print(f"run {run.id} on {snapshot.worker} ({snapshot.attempts} attempt{'s' * (snapshot.attempts != 1)})")
    return EXIT_GRADER if snapshot.verdict.grader_error else EXIT_OK


def wait_for_run(service: Any, run_id: int, timeout_s: float) -> RunSnapshot | None:
    """Until the run ends; Ctrl-C or the timeout stops it (through the queue, like the page's Stop)."""
    deadline = time.monotonic() + timeout_s
    snapshot = None
    try:
        while time.monotonic() < deadline:
            snapshot = service.snapshot(run_id)
            if snapshot is not None and snapshot.state.finished:
                return snapshot
            time.sleep(0.1)
    except KeyboardInterrupt:
        pass
    service.cancel(run_id)
    return service.snapshot(run_id) or snapshot

"""Progress that lasts: learners, every run's record, the latest code, and where each learner stands in each
lesson. Plain functions over ``tutor.store.db``; no Streamlit, no grading (a run's columns come ready-made
from tutor.runs.pipeline)."""

from __future__ import annotations

import enum
import os
import secrets
import socket
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, or_, select, update
from sqlalchemy import case as sql_case
from sqlalchemy.exc import IntegrityError

from tutor.store.db import (
    IN_FLIGHT,
    Database,
    IdentitySource,
    LatestCode,
    Learner,
    Run,
    RunStatus,
    utc_from_timestamp,
    utc_now,
)
from tutor.store.text import clean_display_name

PASSED = "passed"  # a run's outcome label when it passed (tutor.runs.pipeline.describe_outcome)


class ProgressStatus(enum.StrEnum):
    """Where a learner stands in one lesson: the words every page and the teacher's grid use."""

    NOT_STARTED = "not started"
    ATTEMPTED = "attempted"
    PASSED = "passed"


@dataclass(frozen=True)
class LearnerInfo:
    id: str
    display_name: str
    identity_source: str
    token: str
    workshop_code: str = ""
    returning: bool = False  # signed in before: their progress was restored


@dataclass
class LessonProgress:
    attempts: int = 0
    passed: bool = False

    @property
    def status(self) -> ProgressStatus:
        if not self.attempts:
            return ProgressStatus.NOT_STARTED
        return ProgressStatus.PASSED if self.passed else ProgressStatus.ATTEMPTED

    @property
    def label(self) -> str:
        """One wording for every cell: "passed (2 attempts)", "attempted (1 attempt)", "not started"."""
        if not self.attempts:
            return str(self.status)
        tries = f"{self.attempts} {'attempt' if self.attempts == 1 else 'attempts'}"
        return f"{self.status} ({tries})"


def new_server_id() -> str:
    """Names this server process in every run it records (who may still be running it)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


# Learners ---------------------------------------------------------------------------------------------


def sign_in_learner(
    db: Database, source: IdentitySource, display_name: str, identity_key: str, workshop_code: str = ""
) -> LearnerInfo:
    """The learner with this identity, created on first sign-in; signing in again returns the same one."""
    display_name = clean_display_name(display_name)
    key = identity_key[:255]
    with db.sessions.begin() as session:
        learner = session.scalar(
            select(Learner).filter_by(identity_source=str(source), workshop_code=workshop_code, identity_key=key)
        )
        returning = learner is not None
        if learner is None:
            learner = Learner(
                id=uuid.uuid4().hex, display_name=display_name, identity_source=str(source),
                workshop_code=workshop_code, identity_key=key, token=secrets.token_urlsafe(24),
            )  # fmt: skip
            session.add(learner)
        else:  # keeps the name as first typed: the teacher's grid does not change under them
            learner.last_seen_at = utc_now()
        info = _learner_info(learner, returning)
    return info


LEGACY_LOCAL_KEY = "local"  # the one self-paced learner of versions before one learner per browser


def claim_or_create_browser_learner(db: Database) -> LearnerInfo:
    """Self-paced: a learner for a browser that has none. The first browser takes over the single local
    learner an older version kept (so one person on their own computer keeps their progress); every other
    browser gets a new, anonymous one. The takeover is one UPDATE: two browsers cannot both win it."""
    key = f"browser:{uuid.uuid4().hex}"
    with db.sessions.begin() as session:
        claimed = session.execute(
            update(Learner)
            .where(Learner.identity_source == str(IdentitySource.LOCAL), Learner.identity_key == LEGACY_LOCAL_KEY)
            .values(identity_key=key)
        )
    if claimed.rowcount == 1:
        with db.sessions() as session:
            return _learner_info(session.scalar(select(Learner).filter_by(identity_key=key)), True)
    return sign_in_learner(db, IdentitySource.LOCAL, f"Browser {key[8:12]}", key)


def find_learner_by_token(db: Database, token: str) -> LearnerInfo | None:
    with db.sessions() as session:
        learner = session.scalar(select(Learner).filter_by(token=token))
        return _learner_info(learner, True) if learner else None


def list_learners(db: Database) -> list[LearnerInfo]:
    with db.sessions() as session:
        learners = session.scalars(select(Learner).order_by(Learner.display_name, Learner.created_at))
        return [_learner_info(learner) for learner in learners]


def _learner_info(learner: Learner, returning: bool = False) -> LearnerInfo:
    return LearnerInfo(  # cleaned again: rows stored by older versions kept names as typed
        learner.id,
        clean_display_name(learner.display_name),
        learner.identity_source,
        learner.token,
        learner.workshop_code,
        returning,
    )


# Runs -------------------------------------------------------------------------------------------------


def record_submitted(
    db: Database,
    learner_id: str,
    lesson_id: str,
    code: str,
    server: str,
    job_id: int,
    submitted: float,
    attempt: bool = True,
) -> int:
    """A run entered the queue; returns its record id. Also keeps the code as the learner's latest.
    ``attempt``: False when the code is the unchanged starter (shown, but not counted as trying)."""
    with db.sessions.begin() as session:
        run = Run(
            learner_id=learner_id, lesson_id=lesson_id, code=code, server=server, job_id=job_id,
            status=RunStatus.QUEUED.value, submitted_at=utc_from_timestamp(submitted), real_attempt=attempt,
        )  # fmt: skip
        session.add(run)
    save_code(db, learner_id, lesson_id, code)
    return run.id


def record_started(db: Database, run_id: int, started: float) -> bool:
    """queued -> running; False if the run was not queued (already finished or interrupted)."""
    with db.sessions.begin() as session:
        changed = session.execute(
            update(Run)
            .where(Run.id == run_id, Run.status == RunStatus.QUEUED.value)
            .values(status=RunStatus.RUNNING.value, started_at=utc_from_timestamp(started))
        )
        return changed.rowcount == 1


def record_finished(
    db: Database, run_id: int, columns: dict[str, Any], finished: float, started: float | None = None
) -> bool:
    """Write the outcome (``columns``: tutor.runs.pipeline.run_columns, the same in both modes). Only a run
    still queued or running changes, so a run is finished exactly once, and a late report never overwrites
    "interrupted". Returns whether this call finished it."""
    values: dict[str, Any] = {**columns, "finished_at": utc_from_timestamp(finished)}
    if started is not None:
        values["duration_s"] = round(finished - started, 3)
    with db.sessions.begin() as session:
        changed = session.execute(update(Run).where(Run.id == run_id, Run.status.in_(IN_FLIGHT)).values(**values))
        return changed.rowcount == 1


def latest_run(db: Database, learner_id: str, lesson_id: str) -> Run | None:
    """The learner's newest run of this lesson (any status), detached from its session."""
    with db.sessions() as session:
        return session.scalar(
            select(Run).where(Run.learner_id == learner_id, Run.lesson_id == lesson_id).order_by(Run.id.desc()).limit(1)
        )


def mark_interrupted_runs(db: Database, except_server: str | None = None) -> int:
    """At server start: runs a previous server process left queued or running can never finish; say so
    (they are kept, not deleted). Returns how many."""
    condition = [Run.status.in_(IN_FLIGHT)]
    if except_server is not None:
        condition.append(Run.server != except_server)
    with db.sessions.begin() as session:
        changed = session.execute(
            update(Run).where(*condition).values(status=RunStatus.INTERRUPTED.value, outcome="interrupted")
        )
        return changed.rowcount


# Latest code ------------------------------------------------------------------------------------------


def save_code(db: Database, learner_id: str, lesson_id: str, code: str) -> None:
    for attempt in range(2):
        try:
            with db.sessions.begin() as session:
                _upsert_code(session, learner_id, lesson_id, code)
            return
        except IntegrityError:  # two tabs inserted the first row at once: the row exists now, update it
            if attempt:
                raise


def load_code(db: Database, learner_id: str, lesson_id: str) -> str | None:
    with db.sessions() as session:
        return session.scalar(select(LatestCode.code).filter_by(learner_id=learner_id, lesson_id=lesson_id))


def _upsert_code(session: Any, learner_id: str, lesson_id: str, code: str) -> None:
    # Get-then-set, portable (no dialect-specific upsert); save_code retries the rare insert race.
    row = session.get(LatestCode, (learner_id, lesson_id))
    if row is None:
        session.add(LatestCode(learner_id=learner_id, lesson_id=lesson_id, code=code, updated_at=utc_now()))
    else:
        row.code, row.updated_at = code, utc_now()


# The class, for the teacher ---------------------------------------------------------------------------


def summarize_learner(db: Database, learner_id: str) -> dict[str, LessonProgress]:
    """lesson id -> runs and whether one passed, for one learner."""
    return {lesson: cell for (_, lesson), cell in progress_cells(db, learner_id).items()}


def progress_cells(db: Database, learner_id: str | None = None) -> dict[tuple[str, str], LessonProgress]:
    with db.sessions() as session:
        rows = session.execute(progress_query(learner_id)).all()
    return {(learner, lesson): LessonProgress(count, bool(passed)) for learner, lesson, count, passed in rows}


def counts_as_attempt() -> Any:
    """Runs that were attempts: not the unchanged starter (rows older than that column count)."""
    return or_(Run.real_attempt.is_(None), Run.real_attempt.is_(True))


def progress_query(learner_id: str | None = None) -> Select:
    """Attempts and passes per learner and lesson (portable: PostgreSQL has no max() of booleans). Runs of
    the unchanged starter are not attempts and are not counted."""
    passes = func.sum(sql_case((Run.passed.is_(True), 1), else_=0))
    query = (
        select(Run.learner_id, Run.lesson_id, func.count(Run.id), passes)
        .where(counts_as_attempt())
        .group_by(Run.learner_id, Run.lesson_id)
    )
    return query if learner_id is None else query.where(Run.learner_id == learner_id)

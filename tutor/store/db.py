"""The workshop database: learners, every run, the latest code per learner and lesson.

SQLAlchemy 2 ORM, so the same code runs on SQLite (default: one file, WAL) and on PostgreSQL
(``TUTOR_DB_URL``). The schema is created and migrated when the database is opened. Two layers, in order: ``MIGRATIONS``
(the hand-rolled list the first version shipped; ``schema_version`` holds how many were applied) is
frozen as the baseline, and every later change is an Alembic revision in ``tutor/store/migrations/versions``
(``alembic_version`` holds the newest applied). To change the schema, add an Alembic revision; never edit
one that has shipped.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Connection,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    false,
    insert,
    select,
)
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 10_000  # a writer waits this long for another before giving up


class RunStatus(enum.StrEnum):
    """A run's status: the column's vocabulary, and the run contract's (tutor.runs.contract re-exports it)."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"  # graded (passed or not)
    CANCELLED = "cancelled"
    FAILED = "failed"  # the grader broke
    INTERRUPTED = "interrupted"  # the server process ended while the run was queued or running

    @property
    def in_flight(self) -> bool:
        return self in (RunStatus.QUEUED, RunStatus.RUNNING)

    @property
    def finished(self) -> bool:
        return not self.in_flight


IN_FLIGHT = (RunStatus.QUEUED.value, RunStatus.RUNNING.value)


class IdentitySource(enum.StrEnum):
    LOCAL = "local"  # self-paced on one's own computer: one learner, no sign-in
    WORKSHOP = "workshop"  # display name + workshop code
    OIDC = "oidc"  # st.login


def utc_now() -> datetime:
    """Naive UTC: SQLite keeps no time zone, so every time in the database is UTC without one."""
    return datetime.now(UTC).replace(tzinfo=None)


def utc_from_timestamp(timestamp: float | None) -> datetime | None:
    return None if timestamp is None else datetime.fromtimestamp(timestamp, UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class SchemaVersion(Base):
    __tablename__ = "schema_version"
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    applied_at: Mapped[datetime] = mapped_column(DateTime, default=utc_now)


class Learner(Base):
    __tablename__ = "learners"
    # The same person signing in again (same name and code, same OIDC account) is the same row.
    __table_args__ = (UniqueConstraint("identity_source", "workshop_code", "identity_key"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(120))
    identity_source: Mapped[str] = mapped_column(String(16))
    workshop_code: Mapped[str] = mapped_column(String(120), default="")  # "" outside workshops
    identity_key: Mapped[str] = mapped_column(String(255))  # normalized name, OIDC subject/email, "local"
    token: Mapped[str] = mapped_column(String(64), unique=True)  # in the learner's URL; never shown to others
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utc_now)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime, default=utc_now)


class Run(Base):
    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    learner_id: Mapped[str] = mapped_column(ForeignKey("learners.id"), index=True)
    lesson_id: Mapped[str] = mapped_column(String(120), index=True)
    server: Mapped[str] = mapped_column(String(120))  # which server process ran it
    job_id: Mapped[int] = mapped_column(Integer)  # the run manager's id, unique within that process
    status: Mapped[str] = mapped_column(String(16), index=True)
    submitted_at: Mapped[datetime] = mapped_column(DateTime)
    started_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    code: Mapped[str] = mapped_column(Text)
    verdict: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)  # Verdict.to_dict(), slimmed
    passed: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(255), nullable=True)  # "passed", "NameError: model"...
    error_type: Mapped[str | None] = mapped_column(String(120), nullable=True)
    error_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    error_line: Mapped[int | None] = mapped_column(Integer, nullable=True)
    grader_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    duration_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    dataset: Mapped[str | None] = mapped_column(String(32), nullable=True)
    warm: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    # Added by Alembic revision 0001 (queue mode, issue 10); local mode leaves them at their defaults.
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # workers that started it
    worker: Mapped[str | None] = mapped_column(String(120), nullable=True)  # the worker of the latest attempt
    lesson_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)  # the lesson it was graded for
    progress: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)  # latest live progress
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)  # the whole verdict, for the page
    updated_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    # Alembic revision 0002 (issue 11): False when the unchanged starter was run (shown, but not an attempt:
    # neither "attempted" nor "stuck"); None on older rows, which count as attempts.
    real_attempt: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    # Alembic revision 0004: why the first error happened, for "where learners are stuck" — a NameError's
    # tutor.lessons.causes.NameCause value or an AttributeError's AttributeCause value; None when unknown.
    error_cause: Mapped[str | None] = mapped_column(String(64), nullable=True)


class WorkerRow(Base):
    """A queue worker process (queue mode): what the teacher page shows, refreshed every heartbeat."""

    __tablename__ = "tutor_workers"

    name: Mapped[str] = mapped_column(String(120), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    capacity: Mapped[int] = mapped_column(Integer)  # TUTOR_MAX_RUNS of that worker
    running: Mapped[int] = mapped_column(Integer, default=0)
    warm: Mapped[int] = mapped_column(Integer, default=0)  # warm sandboxes ready
    started_at: Mapped[datetime] = mapped_column(DateTime, default=utc_now)
    heartbeat_at: Mapped[datetime] = mapped_column(DateTime, default=utc_now)


class LatestCode(Base):
    __tablename__ = "latest_code"

    learner_id: Mapped[str] = mapped_column(ForeignKey("learners.id"), primary_key=True)
    lesson_id: Mapped[str] = mapped_column(String(120), primary_key=True)
    code: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utc_now)


class LessonReveal(Base):
    """What a learner revealed in a lesson (Alembic revision 0003): how many hints, and whether they asked
    for the solution and confirmed. A reload, a new tab or a restarted server shows them again
    (tutor.store.reveals)."""

    __tablename__ = "lesson_reveals"

    learner_id: Mapped[str] = mapped_column(ForeignKey("learners.id"), primary_key=True)
    lesson_id: Mapped[str] = mapped_column(String(120), primary_key=True)
    hints: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # hints shown, the first ones
    solution_shown: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utc_now)


class ExplanationRow(Base):
    """One use of the Explain page (Alembic revision 0004): the cause found and the kind of file, for the
    teacher's counts. Nothing else: the learner's own code, its file name and any text of it belong to the
    learner and are never stored (tutor.store.explanations)."""

    __tablename__ = "explanations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # None: nobody signed in. Scoped to a workshop through the learner, as runs are.
    learner_id: Mapped[str | None] = mapped_column(ForeignKey("learners.id"), nullable=True, index=True)
    cause: Mapped[str | None] = mapped_column(String(64), nullable=True)  # a NameCause value; None: no NameError
    kind: Mapped[str] = mapped_column(String(16))  # "script" or "notebook"
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utc_now)


def _create_first_tables(connection: Connection) -> None:
    # Creates the tables from today's models; Alembic's revisions then add only what is missing, so an
    # old database (made by version 1) and a new one end the same.
    Base.metadata.create_all(connection, tables=[Learner.__table__, Run.__table__, LatestCode.__table__])


# Applied in order, each once; the length of this list is the newest schema version. Frozen: later
# changes are Alembic revisions (tutor/store/migrations/versions).
MIGRATIONS: list[Callable[[Connection], None]] = [_create_first_tables]


@dataclass
class Database:
    engine: Engine
    sessions: sessionmaker

    @property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def dispose(self) -> None:
        self.engine.dispose()


def open_database(url: str) -> Database:
    """Connect, and create or migrate the schema. SQLite gets WAL (readers never block the writer) and a
    busy timeout (writers wait for each other instead of failing)."""
    is_sqlite = url.startswith("sqlite")
    if is_sqlite:
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
    else:  # a pooled connection that died with a database restart is replaced, not handed out
        engine = create_engine(url, pool_pre_ping=True)
    if is_sqlite:
        event.listen(engine, "connect", _configure_sqlite)
    migrate_database(engine)
    return Database(engine, sessionmaker(engine, expire_on_commit=False))


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")  # safe with WAL; a power cut may lose the last commit only
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def schema_version(engine: Engine) -> int:
    with engine.connect() as connection:
        SchemaVersion.__table__.create(connection, checkfirst=True)
        connection.commit()
        current = connection.scalar(select(SchemaVersion.version).order_by(SchemaVersion.version.desc()).limit(1))
    return current or 0


def migrate_database(engine: Engine, attempts: int = 5) -> int:
    """Apply the migrations this database lacks (the baseline, then Alembic's); returns the schema version.

    Processes starting at once on a new database take turns. PostgreSQL: one holds an advisory lock for the
    whole migration, the others wait for it and then find the schema done (without it, a loser's CREATE TABLE
    fails with DuplicateTable, a ProgrammingError). SQLite: its file lock serializes each step, and a loser
    whose CREATE TABLE or insert of the same version failed re-reads and goes on."""
    from tutor.store.migrations import migration_lock

    if engine.dialect.name == "postgresql":
        with migration_lock(engine):
            return _apply_migrations(engine)
    for attempt in range(attempts):
        try:
            return _apply_migrations(engine)
        except (IntegrityError, OperationalError):
            if attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


def _apply_migrations(engine: Engine) -> int:
    from tutor.store.migrations import upgrade_to_head  # Alembic, for every change after version 1

    current = schema_version(engine)
    for version in range(current + 1, len(MIGRATIONS) + 1):
        with engine.begin() as connection:
            MIGRATIONS[version - 1](connection)
            connection.execute(insert(SchemaVersion).values(version=version, applied_at=utc_now()))
    upgrade_to_head(engine)
    return schema_version(engine)

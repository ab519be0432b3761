"""procrastinate's schema in the queue database: created once, then kept up to date.

procrastinate ships its whole schema (``SchemaManager.get_schema``) and, for each change since, one SQL file
(``procrastinate/sql/migrations/NN.NN.NN_NN_*.sql``; the names sort in the order they apply). Applying
those is left to the project. ``tutor_queue_schema`` records the last migration file a database has, so a
worker or app that starts with a newer procrastinate (a bumped pin) applies the files after it, each in
its own transaction (some add enum values, which a later statement may only use once committed). An
advisory lock makes two processes starting at once wait for each other.

procrastinate splits a change into "pre" (before new code runs) and "post" (after old code stopped)
files; both are applied here at once, so an upgrade stops every worker and app first (README, "Upgrading").

The queue's own tables (``TUTOR_MIGRATIONS``: the notebook kernels on the workers, tutor.runs.queue.kernels)
are kept the same way, after procrastinate's: each named step is applied once, in its own transaction, and
recorded in ``tutor_queue_tables``; a later change is a new step at the end of the list, never an edit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import text

from tutor.store.db import Database

SCHEMA_LOCK = 7_310_002  # pg_advisory_lock key while creating or migrating procrastinate's schema
MIGRATION_NAME = re.compile(r"^\d{2}\.\d{2}\.\d{2}_\d{2}_\w+\.sql$")
# Databases made before the record existed were all made by procrastinate 3.10.0, the only version pinned
# then; this is the newest migration that version ships, so such a database counts as having it.
BASELINE_MIGRATION = "03.04.00_50_post_add_retry_failed_job_procedure.sql"
RECORD_TABLE = "tutor_queue_schema"
TABLES_RECORD = "tutor_queue_tables"  # the names of the TUTOR_MIGRATIONS applied

# The queue's own tables, in the order they were added (name, SQL). Times are naive UTC, as every time in
# the database (tutor.store.db.utc_now), written by the processes.
TUTOR_MIGRATIONS: list[tuple[str, str]] = [
    (
        "0001_kernels",
        """
        CREATE SEQUENCE tutor_kernel_ids;
        -- A learner's notebook kernel: on which worker it lives, and what the page shows of it.
        CREATE TABLE tutor_kernels (
            owner TEXT NOT NULL,
            lesson_id TEXT NOT NULL,
            kernel_id BIGINT NOT NULL,  -- a new one for each fresh kernel (tutor_kernel_ids)
            worker TEXT NOT NULL,
            state TEXT NOT NULL,
            message TEXT NOT NULL DEFAULT '',
            execution_count INTEGER NOT NULL DEFAULT 0,
            warm BOOLEAN NOT NULL DEFAULT false,
            idle_after_s DOUBLE PRECISION NOT NULL DEFAULT 0,
            last_used TIMESTAMP NOT NULL,
            updated TIMESTAMP NOT NULL,
            PRIMARY KEY (owner, lesson_id)
        );
        CREATE INDEX tutor_kernels_worker ON tutor_kernels (worker);
        -- Cells sent together to a kernel, and their runs as the worker writes them.
        CREATE TABLE tutor_kernel_batches (
            id BIGSERIAL PRIMARY KEY,
            owner TEXT NOT NULL,
            lesson_id TEXT NOT NULL,
            kernel_id BIGINT NOT NULL,
            worker TEXT NOT NULL,
            cells JSONB NOT NULL,
            runs JSONB NOT NULL DEFAULT '[]',
            version INTEGER NOT NULL DEFAULT 0,  -- one more at each write of runs: a page reads them only then
            done BOOLEAN NOT NULL DEFAULT false,
            stop_requested BOOLEAN NOT NULL DEFAULT false,
            created TIMESTAMP NOT NULL,
            updated TIMESTAMP NOT NULL
        );
        CREATE INDEX tutor_kernel_batches_open ON tutor_kernel_batches (owner, lesson_id) WHERE NOT done;
        CREATE INDEX tutor_kernel_batches_updated ON tutor_kernel_batches (updated);
        """,
    ),
]


class QueueSchemaError(RuntimeError):
    """A procrastinate migration failed; the message names the file and what the database still has."""


@dataclass(frozen=True)
class QueueSchemaState:
    """What the queue database has, against the installed procrastinate."""

    created: bool  # procrastinate's tables exist
    last: str | None  # the last migration applied (None when not created)
    pending: list[str] = field(default_factory=list)  # installed migrations the database lacks, in order
    ahead: bool = False  # the database has a migration this procrastinate does not know (a newer host)
    tables_pending: list[str] = field(default_factory=list)  # TUTOR_MIGRATIONS the database lacks


@dataclass(frozen=True)
class SchemaChange:
    created: bool = False  # the whole schema was created
    migrated: list[str] = field(default_factory=list)  # migration files applied, in order
    tables: list[str] = field(default_factory=list)  # TUTOR_MIGRATIONS applied, in order


def installed_migrations(directory: Path | None = None) -> list[str]:
    """The installed procrastinate's migration files, in the order they apply."""
    if directory is None:
        from procrastinate.schema import SchemaManager

        directory = Path(SchemaManager.get_migrations_path())
    return sorted(p.name for p in directory.iterdir() if MIGRATION_NAME.match(p.name))


def read_queue_schema(db: Database, directory: Path | None = None) -> QueueSchemaState:
    with db.engine.connect() as connection:
        return _state(connection, installed_migrations(directory))


def apply_queue_schema(db: Database, directory: Path | None = None) -> SchemaChange:
    """Create procrastinate's schema if missing, else apply the migrations the database lacks; then the
    queue's own tables (TUTOR_MIGRATIONS). Returns what this call did (nothing when another process did it
    first, or all was there)."""
    with db.engine.connect() as connection:
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": SCHEMA_LOCK})
        connection.commit()
        try:
            change = _apply_procrastinate(connection, directory)
            return SchemaChange(change.created, change.migrated, _apply_tables(connection))
        finally:
            connection.rollback()
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": SCHEMA_LOCK})
            connection.commit()


def _apply_procrastinate(connection, directory: Path | None) -> SchemaChange:
    from procrastinate.schema import SchemaManager

    files = installed_migrations(directory)
    source = Path(SchemaManager.get_migrations_path()) if directory is None else directory
    state = _state(connection, files)
    connection.rollback()  # end the read's implicit transaction; each step below has its own
    if not state.created:
        with connection.begin():
            connection.exec_driver_sql(SchemaManager.get_schema().replace("%", "%%"))
            _record(connection, files[-1] if files else "")
        return SchemaChange(created=True)
    if state.last is None:  # made before the record existed (see BASELINE_MIGRATION)
        with connection.begin():
            _record(connection, BASELINE_MIGRATION)
        state = _state(connection, files)
        connection.rollback()
    done = []
    for name in state.pending:
        try:
            with connection.begin():
                connection.exec_driver_sql((source / name).read_text().replace("%", "%%"))
                _record(connection, name)
        except Exception as exc:
            have = done[-1] if done else state.last
            raise QueueSchemaError(
                f"procrastinate migration {name} failed: {exc.__class__.__name__}: {exc}. "
                f"The queue database keeps the migrations up to {have}."
            ) from exc
        done.append(name)
    return SchemaChange(migrated=done)


def _apply_tables(connection) -> list[str]:
    """The TUTOR_MIGRATIONS the database lacks, each in its own transaction with its record."""
    with connection.begin():
        connection.execute(text(f"CREATE TABLE IF NOT EXISTS {TABLES_RECORD} (name TEXT PRIMARY KEY)"))
    applied = []
    for name in _tables_pending(connection):
        try:
            with connection.begin():
                connection.exec_driver_sql(dict(TUTOR_MIGRATIONS)[name].replace("%", "%%"))
                connection.execute(text(f"INSERT INTO {TABLES_RECORD} (name) VALUES (:name)"), {"name": name})
        except Exception as exc:
            raise QueueSchemaError(
                f"queue table step {name} failed: {exc.__class__.__name__}: {exc}. "
                f"The queue database keeps the steps before it."
            ) from exc
        applied.append(name)
    return applied


def _tables_pending(connection) -> list[str]:
    have: set[str] = set()
    if connection.scalar(text(f"SELECT to_regclass('{TABLES_RECORD}') IS NOT NULL")):
        have = set(connection.scalars(text(f"SELECT name FROM {TABLES_RECORD}")))
    connection.rollback()
    return [name for name, _ in TUTOR_MIGRATIONS if name not in have]


def describe_queue_schema(state: QueueSchemaState) -> tuple[bool, str]:
    """(ok, words) for doctor."""
    if not state.created:
        return False, "procrastinate schema missing: start a worker or app"
    if state.ahead:
        return False, (
            f"procrastinate schema is newer than this host's procrastinate (database at {state.last}): "
            "install this project's requirements.txt here"
        )
    if state.pending:
        return False, (
            f"procrastinate schema lacks {len(state.pending)} migration(s) ({state.pending[0]} …): "
            "stop every worker and app, then start one; it applies them"
        )
    if state.tables_pending:
        return False, (
            f"the queue's own tables lack {len(state.tables_pending)} step(s) ({state.tables_pending[0]} …): "
            "start a worker or app; it applies them"
        )
    return True, f"procrastinate schema applied, up to {state.last or BASELINE_MIGRATION}"


def _state(connection, files: list[str]) -> QueueSchemaState:
    if not connection.scalar(text("SELECT to_regclass('procrastinate_jobs') IS NOT NULL")):
        return QueueSchemaState(created=False, last=None, pending=[])
    last = None
    if connection.scalar(text(f"SELECT to_regclass('{RECORD_TABLE}') IS NOT NULL")):
        last = connection.scalar(text(f"SELECT last_migration FROM {RECORD_TABLE}"))
    known = last or BASELINE_MIGRATION
    pending = [name for name in files if name > known]
    ahead = bool(files) and known > files[-1]
    tables = _tables_pending(connection)
    return QueueSchemaState(created=True, last=last, pending=pending, ahead=ahead, tables_pending=tables)


def _record(connection, name: str) -> None:
    connection.execute(text(f"CREATE TABLE IF NOT EXISTS {RECORD_TABLE} (last_migration TEXT NOT NULL)"))
    connection.execute(text(f"DELETE FROM {RECORD_TABLE}"))
    connection.execute(text(f"INSERT INTO {RECORD_TABLE} (last_migration) VALUES (:name)"), {"name": name})

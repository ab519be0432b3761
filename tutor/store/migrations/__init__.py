"""Schema changes after the first version, by Alembic (SQLAlchemy's migration tool).

The hand-rolled ``tutor.store.db.MIGRATIONS`` list is the frozen baseline: it creates version 1's tables (or
finds them in an old database). Alembic then applies the revisions in ``versions/`` the database lacks;
each one adds only what is missing, so a database made by any earlier version upgrades in place with its
learners and runs. Run on every open (app, worker, CLI) by ``tutor.store.db.migrate_database``, which on
PostgreSQL holds ``migration_lock`` around the baseline and the upgrade together: processes starting at once
on a new database take turns, and the later ones find the schema done.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

HERE = Path(__file__).resolve().parent
MIGRATION_LOCK = 7_310_001  # pg_advisory_lock key: one process changes the schema at a time


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(HERE))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


@contextmanager
def migration_lock(engine: Engine) -> Iterator[None]:
    """On PostgreSQL, hold ``MIGRATION_LOCK`` while the body runs: a session-level advisory lock on a
    connection of its own (so the body may use any other), released when the body ends, however it ends. A
    second process waits here until the first is done. Other databases: nothing (SQLite's own file lock
    serializes writers)."""
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect() as connection:
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
        connection.commit()  # the lock is the session's, not the transaction's: it outlives this commit
        try:
            yield
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
            connection.commit()


def upgrade_to_head(engine: Engine) -> None:
    """Apply the Alembic revisions the database lacks. The caller serializes (``migrate_database`` holds
    ``migration_lock``); taking that lock again here, from another connection, would wait for itself."""
    if current_revision(engine) == head_revision():
        return  # the common case: nothing to do
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")

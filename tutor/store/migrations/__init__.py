"""Schema changes after the first version, by Alembic (SQLAlchemy's migration tool).

The hand-rolled ``tutor.store.db.MIGRATIONS`` list is the frozen baseline: it creates version 1's tables (or
finds them in an old database). Alembic then applies the revisions in ``versions/`` the database lacks;
each one adds only what is missing, so a database made by any earlier version upgrades in place with its
learners and runs. Run on every open (app, worker, CLI); on PostgreSQL an advisory lock keeps two
processes starting at once from applying the same revision twice.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

HERE = Path(__file__).resolve().parent
MIGRATION_LOCK = 7_310_001  # pg_advisory_lock key: one process migrates at a time


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


def upgrade_to_head(engine: Engine) -> None:
    if current_revision(engine) == head_revision():
        return  # the common case: nothing to do, no lock taken
    config = alembic_config()
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        config.attributes["connection"] = connection
        command.upgrade(config, "head")

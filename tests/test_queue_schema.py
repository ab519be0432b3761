"""procrastinate's schema in a real PostgreSQL database: created once, recorded, and brought up to date
when a newer procrastinate (a bumped pin) brings migration files the database lacks."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from tests.queue_support import fresh_database_url
from tutor.runs.queue.schema import (
    BASELINE_MIGRATION,
    RECORD_TABLE,
    QueueSchemaError,
    apply_queue_schema,
    describe_queue_schema,
    installed_migrations,
    read_queue_schema,
)
from tutor.store.db import open_database

# A change a newer procrastinate might bring: a new enum value, then a use of it. The use fails if both
# run in one transaction ("unsafe use of new value"), so this also proves each file gets its own.
PRE = "ALTER TYPE procrastinate_job_event_type ADD VALUE 'tutor_probe';\n"
POST = "CREATE TABLE tutor_probe AS SELECT 'tutor_probe'::procrastinate_job_event_type AS kind;\n"
NEW_PRE, NEW_POST = "99.00.00_01_pre_add_probe.sql", "99.00.00_50_post_use_probe.sql"


@pytest.fixture
def db(postgres_url: str):
    for url in fresh_database_url(postgres_url):
        database = open_database(url)
        yield database
        database.dispose()


def newer_procrastinate(tmp_path: Path, extra: dict[str, str]) -> Path:
    """The installed migration files plus ``extra``: what a later procrastinate's folder would hold."""
    folder = tmp_path / "migrations"
    shutil.copytree(Path(installed_migrations_folder()), folder)
    for name, sql in extra.items():
        (folder / name).write_text(sql)
    return folder


def installed_migrations_folder() -> str:
    from procrastinate.schema import SchemaManager

    return SchemaManager.get_migrations_path()


def recorded(db) -> str:
    with db.engine.connect() as connection:
        return connection.scalar(text(f"SELECT last_migration FROM {RECORD_TABLE}"))


def test_a_new_database_gets_the_whole_schema_once_and_records_it(db) -> None:
    assert not read_queue_schema(db).created
    missing = (False, "procrastinate schema missing: start a worker or app")
    assert describe_queue_schema(read_queue_schema(db)) == missing
    change = apply_queue_schema(db)
    assert change.created and change.migrated == []
    assert inspect(db.engine).has_table("procrastinate_jobs")
    assert recorded(db) == installed_migrations()[-1]
    state = read_queue_schema(db)
    assert state.created and state.pending == [] and not state.ahead
    assert describe_queue_schema(state)[0]
    again = apply_queue_schema(db)
    assert not again.created and again.migrated == []


def test_a_database_made_before_the_record_counts_as_procrastinate_3_10(db) -> None:
    assert BASELINE_MIGRATION in installed_migrations()  # a name the installed procrastinate ships
    apply_queue_schema(db)
    with db.engine.begin() as connection:
        connection.execute(text(f"DROP TABLE {RECORD_TABLE}"))
    state = read_queue_schema(db)
    assert state.created and state.last is None
    assert state.pending == [name for name in installed_migrations() if name > BASELINE_MIGRATION]
    change = apply_queue_schema(db)
    assert not change.created
    assert recorded(db) == installed_migrations()[-1]


def test_a_newer_procrastinate_s_migrations_are_applied_in_order_once(db, tmp_path: Path) -> None:
    apply_queue_schema(db)
    folder = newer_procrastinate(tmp_path, {NEW_POST: POST, NEW_PRE: PRE})
    state = read_queue_schema(db, folder)
    assert state.pending == [NEW_PRE, NEW_POST]
    ok, words = describe_queue_schema(state)
    assert not ok and "lacks 2 migration(s) (99.00.00_01_pre_add_probe.sql" in words
    results = []
    starts = [threading.Thread(target=lambda: results.append(apply_queue_schema(db, folder))) for _ in range(2)]
    for thread in starts:
        thread.start()
    for thread in starts:
        thread.join(60)
    # Two processes starting at once: one applies both files, the other waits for it and finds nothing left.
    assert sorted(len(change.migrated) for change in results) == [0, 2]
    assert [change.migrated for change in results if change.migrated] == [[NEW_PRE, NEW_POST]]
    with db.engine.connect() as connection:
        assert connection.scalar(text("SELECT kind::text FROM tutor_probe")) == "tutor_probe"
    assert recorded(db) == NEW_POST
    assert read_queue_schema(db, folder).pending == []
    assert apply_queue_schema(db, folder).migrated == []


def test_a_failing_migration_is_named_and_what_came_before_it_stays(db, tmp_path: Path) -> None:
    apply_queue_schema(db)
    broken = "99.01.00_01_pre_broken.sql"
    folder = newer_procrastinate(tmp_path, {NEW_PRE: PRE, broken: "ALTER TABLE no_such_table ADD COLUMN x int;\n"})
    with pytest.raises(QueueSchemaError) as caught:
        apply_queue_schema(db, folder)
    message = str(caught.value)
    assert message.startswith(f"procrastinate migration {broken} failed: ProgrammingError")
    assert 'relation "no_such_table" does not exist' in message
    assert message.endswith(f"The queue database keeps the migrations up to {NEW_PRE}.")
    assert recorded(db) == NEW_PRE
    (folder / broken).write_text("CREATE TABLE tutor_fixed (x int);\n")
    assert apply_queue_schema(db, folder).migrated == [broken]
    assert inspect(db.engine).has_table("tutor_fixed")


def test_a_database_migrated_by_a_newer_host_is_reported_and_left_alone(db) -> None:
    apply_queue_schema(db)
    with db.engine.begin() as connection:
        connection.execute(text(f"UPDATE {RECORD_TABLE} SET last_migration = '99.99.99_01_pre_future.sql'"))
    state = read_queue_schema(db)
    assert state.ahead and state.pending == []
    ok, words = describe_queue_schema(state)
    assert not ok and "newer than this host's procrastinate" in words and "requirements.txt" in words
    assert apply_queue_schema(db).migrated == []
    assert recorded(db) == "99.99.99_01_pre_future.sql"

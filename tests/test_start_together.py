"""Starting together: an app and three workers started at the same moment on a new PostgreSQL database all
come up, and the schema (the baseline, Alembic's revisions, procrastinate's) is made exactly once.

Each process is a plain subprocess doing what the app and ``python -m tutor worker`` do at start
(``open_database``, then ``apply_queue_schema``). They import everything first, say they are ready, then all
block on one shared pipe; closing its write end releases them at the same instant."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from tests.queue_support import ROOT, fresh_database_url
from tests.waiting import wait_for
from tutor.runs.queue.schema import RECORD_TABLE, installed_migrations
from tutor.store.db import MIGRATIONS, open_database
from tutor.store.migrations import MIGRATION_LOCK, head_revision

ROLES = ("app", "worker-1", "worker-2", "worker-3")
ROUNDS = 4  # fresh databases in a row: a race lost once in a few tries still shows

STARTER = """
import json, os, sys
from pathlib import Path

from tutor.runs.queue.schema import apply_queue_schema
from tutor.store.db import open_database

Path(os.environ["START_READY"]).write_text("ready")
sys.stdin.buffer.read()  # returns when the test closes the shared pipe: every process at once
db = open_database(os.environ["TUTOR_DB_URL"])
change = apply_queue_schema(db)
db.dispose()
print(json.dumps({"created": change.created, "migrated": change.migrated}), flush=True)
"""


def start_together(url: str, folder: Path) -> dict[str, subprocess.CompletedProcess]:
    """Start one process per role, release them all at once, and return how each ended."""
    gate_read, gate_write = os.pipe()
    processes: dict[str, subprocess.Popen] = {}
    ready = {role: folder / f"{role}.ready" for role in ROLES}
    try:
        for role in ROLES:
            env = {k: v for k, v in os.environ.items() if k != "TUTOR_DB_PATH"}
            env.update(TUTOR_DB_URL=url, START_READY=str(ready[role]), PYTHONUNBUFFERED="1")
            processes[role] = subprocess.Popen(
                [sys.executable, "-c", STARTER], cwd=ROOT, env=env, stdin=gate_read,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )  # fmt: skip
        wait_for(
            lambda: (
                all(path.exists() for path in ready.values())
                or any(process.poll() is not None for process in processes.values())
            ),
            timeout_s=120,
        )
        if not all(path.exists() for path in ready.values()):
            for process in processes.values():
                process.kill()
            died = {role: last_words(p.communicate()[1]) for role, p in processes.items() if p.returncode}
            raise AssertionError(f"not every process got ready to start: {died}")
    finally:
        os.close(gate_read)
        os.close(gate_write)  # the start: every process's read of the pipe returns now
    ended = {}
    for role, process in processes.items():
        try:
            stdout, stderr = process.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate()
        ended[role] = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    return ended


def test_an_app_and_three_workers_started_at_once_on_a_new_database(postgres_url: str, tmp_path: Path) -> None:
    for round_number in range(ROUNDS):
        folder = tmp_path / f"round-{round_number}"
        folder.mkdir()
        with contextmanager(fresh_database_url)(postgres_url) as url:
            ended = start_together(url, folder)
            failed = {role: f"exit {e.returncode}: {last_words(e.stderr)}" for role, e in ended.items() if e.returncode}
            assert not failed, f"round {round_number}: {failed}"
            changes = [json.loads(e.stdout.strip().splitlines()[-1]) for e in ended.values()]
            # procrastinate's schema was created by exactly one of them; the others found it done.
            assert sorted(change["created"] for change in changes) == [False, False, False, True]
            assert all(change["migrated"] == [] for change in changes)
            assert_schema_complete(url)


def last_words(stderr: str) -> str:
    """The end of a traceback: the exception, without the SQL that follows it."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if "Error" in line and not line.startswith(" ")]
    return errors[-1] if errors else "\n".join(lines[-5:])


def assert_schema_complete(url: str) -> None:
    engine = create_engine(url)
    try:
        tables = set(inspect(engine).get_table_names())
        assert {"learners", "runs", "latest_code", "tutor_workers", "schema_version", "alembic_version"} <= tables
        assert {"procrastinate_jobs", "procrastinate_events", "procrastinate_periodic_defers"} <= tables
        assert RECORD_TABLE in tables
        with engine.connect() as connection:
            versions = connection.scalars(text("SELECT version FROM schema_version ORDER BY version")).all()
            assert versions == list(range(1, len(MIGRATIONS) + 1))
            assert connection.scalars(text("SELECT version_num FROM alembic_version")).all() == [head_revision()]
            recorded = connection.scalars(text(f"SELECT last_migration FROM {RECORD_TABLE}")).all()
            assert recorded == [installed_migrations()[-1]]
    finally:
        engine.dispose()


def test_a_failed_migration_lets_go_of_the_lock(postgres_url: str, monkeypatch) -> None:
    def broken(connection) -> None:
        raise RuntimeError("broken migration")

    with contextmanager(fresh_database_url)(postgres_url) as url:
        monkeypatch.setattr("tutor.store.db.MIGRATIONS", [*MIGRATIONS, broken])
        with pytest.raises(RuntimeError, match="broken migration"):
            open_database(url)
        monkeypatch.undo()
        engine = create_engine(url)
        try:
            with engine.connect() as connection:
                held = connection.scalar(
                    # pg_locks shows every database's; advisory keys are per database, and other tests'
                    # databases on this server may be migrating right now.
                    text(
                        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = :key"
                        " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                    ),
                    {"key": MIGRATION_LOCK},
                )
            assert held == 0
        finally:
            engine.dispose()
        open_database(url).dispose()  # the next start takes the lock and finishes the schema
        assert_schema_complete_before_the_queue(url)


def assert_schema_complete_before_the_queue(url: str) -> None:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            versions = connection.scalars(text("SELECT version FROM schema_version ORDER BY version")).all()
            assert versions == list(range(1, len(MIGRATIONS) + 1))
            assert connection.scalars(text("SELECT version_num FROM alembic_version")).all() == [head_revision()]
    finally:
        engine.dispose()

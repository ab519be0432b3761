"""The PostgreSQL half of the suite never disappears quietly: the script that starts the throwaway server
fails loudly, and a test that needs PostgreSQL fails without it unless the run opted out."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
A_POSTGRES_TEST = "tests/test_progress.py::test_sign_in_again_is_the_same_learner[postgresql]"


def test_the_start_script_fails_loudly_without_postgresql(tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    env = {**os.environ, "TUTOR_TEST_PG_BIN": str(empty)}
    completed = subprocess.run(
        ["scripts/test-postgres.sh", "start", str(tmp_path / "pg")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 1
    assert completed.stdout == ""  # no URL
    assert "no PostgreSQL server found" in completed.stderr


def run_postgres_test(**env_changes: str | None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    for name, value in env_changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", A_POSTGRES_TEST],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_postgres_test_fails_without_a_server() -> None:
    completed = run_postgres_test(TUTOR_TEST_POSTGRES_URL=None, TUTOR_TEST_POSTGRES=None)
    assert completed.returncode == 1, completed.stdout
    assert "1 error" in completed.stdout  # a fixture that fails is reported as an error
    assert "needs PostgreSQL and TUTOR_TEST_POSTGRES_URL is not set" in completed.stdout


def test_the_opt_out_skips_and_says_so() -> None:
    completed = run_postgres_test(TUTOR_TEST_POSTGRES_URL=None, TUTOR_TEST_POSTGRES="skip")
    assert completed.returncode == 0, completed.stdout
    assert "1 skipped" in completed.stdout
    assert "1 PostgreSQL test(s) SKIPPED because TUTOR_TEST_POSTGRES=skip" in completed.stdout

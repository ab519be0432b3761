"""Shared test setup: every test gets its own data/var folders only where it asks; the sandbox tests
use the project's dataset (built once, offline) so they do not rebuild it."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

# No warm pool unless a test builds one: warm sandboxes of an app started inside a test (AppTest caches
# its run manager for the whole session) would outlive that test and show up in the others' checks.
os.environ.setdefault("TUTOR_POOL_SIZE", "0")

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Tests never write to the project's var/tutor.sqlite3: one throwaway progress database for the session
# (tests that need their own point TUTOR_DB_PATH at tmp_path).
if "TUTOR_DB_URL" not in os.environ:
    os.environ["TUTOR_DB_PATH"] = str(Path(tempfile.mkdtemp(prefix="tutor-test-db-")) / "tutor.sqlite3")
# Lesson proof results likewise; an app started by a test proves nothing in the background (a test that
# changes lesson files records the proofs it means, or proves in the studio).
os.environ.setdefault("TUTOR_PROOFS_PATH", str(Path(tempfile.mkdtemp(prefix="tutor-test-proofs-")) / "proofs.json"))
os.environ.setdefault("TUTOR_BACKGROUND_PROOFS", "0")
for _name in ("TUTOR_WORKSHOP_CODE", "TUTOR_TEACHER_PASSPHRASE", "TUTOR_TEACHERS"):
    os.environ.pop(_name, None)  # the developer's workshop settings must not change what tests see


# PostgreSQL for the tests: scripts/test.sh starts a throwaway server and names it in TUTOR_TEST_POSTGRES_URL.
# A test that needs it takes the `postgres_url` fixture, which fails (never skips quietly) when there is no
# server, unless the run opted out with TUTOR_TEST_POSTGRES=skip.
POSTGRES_OPT_OUT = os.environ.get("TUTOR_TEST_POSTGRES") == "skip"
POSTGRES_SKIP_REASON = "PostgreSQL tests skipped on request (TUTOR_TEST_POSTGRES=skip)"


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The SQLAlchemy URL of a PostgreSQL server the tests may create databases in."""
    url = os.environ.get("TUTOR_TEST_POSTGRES_URL")
    if url:
        return url
    if POSTGRES_OPT_OUT:
        pytest.skip(POSTGRES_SKIP_REASON)
    pytest.fail(
        "this test needs PostgreSQL and TUTOR_TEST_POSTGRES_URL is not set: run it through scripts/test.sh "
        "(which starts one), or start one with `scripts/test-postgres.sh start DIR` and export the URL it "
        "prints, or set TUTOR_TEST_POSTGRES=skip to skip the PostgreSQL tests",
        pytrace=False,
    )


def pytest_report_header(config: pytest.Config) -> str:
    url = os.environ.get("TUTOR_TEST_POSTGRES_URL")
    if url:
        return f"postgresql: {url}"
    if POSTGRES_OPT_OUT:
        return "postgresql: SKIPPED on request (TUTOR_TEST_POSTGRES=skip)"
    return "postgresql: none (the tests that need it fail; scripts/test.sh starts one)"


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    skipped = [
        report
        for report in terminalreporter.stats.get("skipped", [])
        if POSTGRES_SKIP_REASON in str(getattr(report, "longrepr", ""))
    ]
    if skipped:
        terminalreporter.write_line(
            f"{len(skipped)} PostgreSQL test(s) SKIPPED because TUTOR_TEST_POSTGRES=skip", yellow=True, bold=True
        )


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        help="tests/test_golden.py writes each case's expected.json from this run (review the diff)",
    )

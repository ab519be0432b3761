"""Shared test setup: every test gets its own data/var folders only where it asks; the sandbox tests
use the project's dataset (built once, offline) so they do not rebuild it.

It also holds what the README promises a test run has: PostgreSQL (the ``postgres_url`` fixture) and the
capabilities of ``CAPABILITIES`` (bubblewrap, the root-only limits, Chromium; a test asks with
``@pytest.mark.needs("bubblewrap")`` or ``require_capability("bubblewrap")``). Without one, the tests that
need it FAIL, saying what is missing; only its opt-out variable (``TUTOR_TEST_BWRAP=skip`` ...) skips them,
and the run's header and summary say so."""

from __future__ import annotations

import functools
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
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


@pytest.fixture(scope="module")
def fork_server():
    """A fork server (tutor.sandbox.forkpool) forking each run on the spot, for one test module."""
    from tutor.sandbox.dataset import ensure_dataset
    from tutor.sandbox.forkpool import ForkServerPool
    from tutor.sandbox.isolation import Level, Limits

    pool = ForkServerPool(ensure_dataset(), Level.STRICT, limits=Limits(wall_s=30), size=0)
    assert pool.wait_until_ready(timeout_s=180), "the fork server never became ready"
    yield pool
    pool.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path):
    """Every test that takes `db` runs on SQLite and on PostgreSQL (in a database of its own, on the server
    scripts/test.sh starts: see postgres_url above)."""
    from tutor.store.db import open_database

    if request.param == "sqlite":
        database = open_database(f"sqlite:///{tmp_path / 'tutor.sqlite3'}")
        yield database
        database.dispose()
        return
    postgres_url = request.getfixturevalue("postgres_url")
    from sqlalchemy import create_engine, make_url, text

    name = f"tutor_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    database = open_database(make_url(postgres_url).set(database=name).render_as_string(hide_password=False))
    try:
        yield database
    finally:
        database.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE "{name}"'))
        admin.dispose()


# The Chromium the browser tests drive (Debian's `chromium`, which scripts/setup.sh --dev installs).
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def _bubblewrap() -> bool:
    from tutor.sandbox import isolation

    return isolation.bubblewrap_works()


def _cgroups() -> bool:
    from tutor.sandbox import cgroups

    return cgroups.cgroups_available()


@dataclass(frozen=True)
class Capability:
    """Something the README promises the tests have. ``name`` is the argument of the ``needs`` marker."""

    name: str
    what: str  # what the tests need, in words
    fix: str  # how to get it
    variable: str  # `<variable>=skip` skips the tests that need it
    probe: Callable[[], bool]

    @property
    def opted_out(self) -> bool:
        return os.environ.get(self.variable) == "skip"

    @property
    def skip_reason(self) -> str:
        return f"{self.name} tests skipped on request ({self.variable}=skip)"

    @property
    def missing_words(self) -> str:
        """The start of a missing capability's failure (the summary counts them by it)."""
        return f"{self.name} is missing: this test needs {self.what}"


CAPABILITIES = {
    capability.name: capability
    for capability in (
        Capability(
            "bubblewrap",
            "bubblewrap (bwrap) able to create its namespaces here, for the strict sandbox",
            "install Debian's bubblewrap (scripts/setup.sh --dev does, as root) on a host that allows "
            "unprivileged namespaces",
            "TUTOR_TEST_BWRAP",
            _bubblewrap,
        ),
        Capability(
            "cgroups",
            "root with the cgroup v1 memory and pids controllers mounted (TUTOR_CGROUP_ROOT, default "
            "/sys/fs/cgroup), for the per-run cgroups",
            "run the tests as root on a host with cgroup v1 memory and pids controllers",
            "TUTOR_TEST_CGROUPS",
            _cgroups,
        ),
        # The other root-only limit (sandbox uids): skipped with the cgroups, by the same variable.
        Capability(
            "root",
            "root, for the host-wide sandbox uids (only used as root) and the network namespace a test makes",
            "run the tests as root",
            "TUTOR_TEST_CGROUPS",
            lambda: os.geteuid() == 0,
        ),
        Capability(
            "chromium",
            f"Chromium at {CHROMIUM}, for the browser tests",
            "install Debian's chromium (scripts/setup.sh --dev does, as root)",
            "TUTOR_TEST_CHROMIUM",
            lambda: Path(CHROMIUM).exists(),
        ),
    )
}


@functools.cache
def capability_problem(name: str) -> str | None:
    """None when the capability is there; else why not (probed once per run)."""
    try:
        return None if CAPABILITIES[name].probe() else "not available here"
    except Exception as exc:  # a probe that cannot even run: the capability is as good as missing
        return f"the check raised {type(exc).__name__}: {exc}"


def require_capability(name: str) -> None:
    """Skip the calling test when the run opted out of capability ``name``; else fail it, saying what is
    missing and how to skip, unless the capability is there."""
    if name not in CAPABILITIES:
        pytest.fail(f"unknown capability {name!r}: one of {', '.join(CAPABILITIES)}", pytrace=False)
    capability = CAPABILITIES[name]
    if capability.opted_out:
        pytest.skip(capability.skip_reason)
    problem = capability_problem(name)
    if problem is not None:
        pytest.fail(
            f"{capability.missing_words} ({problem}): {capability.fix}, or set {capability.variable}=skip "
            "to skip the tests that need it",
            pytrace=False,
        )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"needs(capability): the test needs one of {', '.join(CAPABILITIES)}; it fails without it unless "
        "the run opts out with that capability's TUTOR_TEST_*=skip (see tests/conftest.py)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test needing a capability the run opted out of is skipped as a plain skip mark would (the summary
    then names the test's own file and line)."""
    for item in items:
        for marker in item.iter_markers("needs"):
            opted_out = [CAPABILITIES[n] for n in marker.args if n in CAPABILITIES and CAPABILITIES[n].opted_out]
            if opted_out:
                item.add_marker(pytest.mark.skip(reason=opted_out[0].skip_reason))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """A test needing a capability that is missing fails here, before its fixtures start anything."""
    names = [name for marker in item.iter_markers("needs") for name in marker.args]
    if any(name in CAPABILITIES and CAPABILITIES[name].opted_out for name in names):
        return  # its skip mark (pytest_collection_modifyitems) skips it
    for name in names:
        require_capability(name)


def pytest_report_header(config: pytest.Config) -> list[str]:
    url = os.environ.get("TUTOR_TEST_POSTGRES_URL")
    if url:
        lines = [f"postgresql: {url}"]
    elif POSTGRES_OPT_OUT:
        lines = ["postgresql: SKIPPED on request (TUTOR_TEST_POSTGRES=skip)"]
    else:
        lines = ["postgresql: none (the tests that need it fail; scripts/test.sh starts one)"]
    for capability in CAPABILITIES.values():
        if capability.opted_out:
            lines.append(f"{capability.name}: SKIPPED on request ({capability.variable}=skip)")
        elif (problem := capability_problem(capability.name)) is None:
            lines.append(f"{capability.name}: ok")
        else:
            lines.append(
                f"{capability.name}: MISSING ({problem}; the tests that need it fail; "
                f"{capability.variable}=skip skips them)"
            )
    return lines


def _reports_containing(terminalreporter, outcomes: tuple[str, ...], words: str) -> int:
    return sum(
        words in str(getattr(report, "longrepr", ""))
        for outcome in outcomes
        for report in terminalreporter.stats.get(outcome, [])
    )


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    if POSTGRES_OPT_OUT:
        skipped = _reports_containing(terminalreporter, ("skipped",), POSTGRES_SKIP_REASON)
        terminalreporter.write_line(
            f"{skipped} PostgreSQL test(s) SKIPPED because TUTOR_TEST_POSTGRES=skip", yellow=True, bold=True
        )
    variables: dict[str, list[Capability]] = {}
    for capability in CAPABILITIES.values():
        variables.setdefault(capability.variable, []).append(capability)
    for variable, capabilities in variables.items():
        names = " and ".join(capability.name for capability in capabilities)
        if capabilities[0].opted_out:
            skipped = sum(
                _reports_containing(terminalreporter, ("skipped",), capability.skip_reason)
                for capability in capabilities
            )
            terminalreporter.write_line(
                f"{skipped} {names} test(s) SKIPPED because {variable}=skip", yellow=True, bold=True
            )
    for capability in CAPABILITIES.values():
        failed = _reports_containing(terminalreporter, ("error", "failed"), capability.missing_words)
        if failed:
            terminalreporter.write_line(
                f"{failed} test(s) FAILED at setup because {capability.name} is missing "
                f"({capability.variable}=skip skips them)",
                red=True,
                bold=True,
            )


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        help="tests/test_golden.py writes each case's expected.json from this run (review the diff)",
    )

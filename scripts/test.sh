#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh --dev), then lints and runs every test, real TensorFlow, PostgreSQL
# and browser tests included. Extra arguments go to pytest, e.g. scripts/test.sh -m "not tf".
#
# PostgreSQL is required: a throwaway server is started on loopback (Debian's postgresql, installed by
# setup.sh --dev) and the tests that need it get its URL in TUTOR_TEST_POSTGRES_URL. If it cannot start,
# this fails. To use a server of your own, set TUTOR_TEST_POSTGRES_URL yourself (the tests create and drop
# databases of their own in it). Only TUTOR_TEST_POSTGRES=skip skips the PostgreSQL tests, and says so.
#
# The other capabilities the README promises are required too: a test that needs one fails when it is
# missing (saying what is missing), unless its variable is set to skip (the run's header and summary then
# name it; tests/conftest.py holds the checks):
#   TUTOR_TEST_BWRAP=skip     bubblewrap (the strict sandbox: hostile programs, isolation, the warm pool)
#   TUTOR_TEST_CGROUPS=skip   root with cgroup v1 memory and pids controllers (per-run cgroups, sandbox uids)
#   TUTOR_TEST_CHROMIUM=skip  Chromium (the browser tests)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --dev
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/lint-imports --no-cache  # the architecture: [tool.importlinter] in pyproject.toml
if [ "${TUTOR_TEST_POSTGRES:-}" = skip ]; then
  unset TUTOR_TEST_POSTGRES_URL
  echo "test: TUTOR_TEST_POSTGRES=skip: the PostgreSQL tests are SKIPPED (SQLite only)" >&2
elif [ -n "${TUTOR_TEST_POSTGRES_URL:-}" ]; then
  echo "test: PostgreSQL tests use the server in TUTOR_TEST_POSTGRES_URL" >&2
else
  pgdir=$(mktemp -d /tmp/tutor-test-pg.XXXXXX)
  trap 'scripts/test-postgres.sh stop "$pgdir"' EXIT
  if ! TUTOR_TEST_POSTGRES_URL=$(scripts/test-postgres.sh start "$pgdir"); then
    echo "test: FAILED: could not start PostgreSQL for the tests (see above)." >&2
    echo "test: install Debian's postgresql (scripts/setup.sh --dev does, as root), point" >&2
    echo "test: TUTOR_TEST_POSTGRES_URL at a server, or set TUTOR_TEST_POSTGRES=skip to skip those tests." >&2
    exit 1
  fi
  export TUTOR_TEST_POSTGRES_URL
  echo "test: PostgreSQL for the tests: $TUTOR_TEST_POSTGRES_URL" >&2
fi
say_skipped() {  # VARIABLE WHAT: when VARIABLE=skip, say which tests this run skips
  if [ "${!1:-}" = skip ]; then
    echo "test: $1=skip: the $2 tests are SKIPPED" >&2
  fi
}
say_skipped TUTOR_TEST_BWRAP "bubblewrap (strict sandbox)"
say_skipped TUTOR_TEST_CGROUPS "cgroup and sandbox uid (root)"
say_skipped TUTOR_TEST_CHROMIUM "browser (Chromium)"
.venv/bin/python -m pytest "$@"

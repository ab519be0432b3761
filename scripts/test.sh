#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh --dev), then lints and runs every test, real TensorFlow and
# browser tests included. Extra arguments go to pytest, e.g. scripts/test.sh -m "not tf".
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --dev
.venv/bin/ruff check .
.venv/bin/ruff format --check .
# A throwaway PostgreSQL on loopback (where it can be had), so the progress database is proved there too.
pgdir=$(mktemp -d /tmp/tutor-test-pg.XXXXXX)
trap 'scripts/test-postgres.sh stop "$pgdir"' EXIT
TUTOR_TEST_POSTGRES_URL=$(scripts/test-postgres.sh start "$pgdir")
export TUTOR_TEST_POSTGRES_URL
.venv/bin/python -m pytest "$@"

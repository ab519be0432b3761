#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh --dev), then lints and runs every test, real TensorFlow and
# browser tests included. Extra arguments go to pytest, e.g. scripts/test.sh -m "not tf".
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --dev
.venv/bin/ruff check .
.venv/bin/ruff format --check .
exec .venv/bin/python -m pytest "$@"

#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh), then starts the app on port ${PORT:-8501}.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/python -m streamlit run app.py --server.headless true --server.port "${PORT:-8501}" \
  --server.address "${ADDRESS:-0.0.0.0}" --browser.gatherUsageStats false "$@"

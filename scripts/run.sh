#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh), then starts the app on port ${PORT:-8501} (serve.py: `streamlit run app.py`,
# with the pages imported while the server starts). Streamlit's file watcher
# is off: a classroom server does not reload its own code (lesson files are reloaded by the app itself), and
# watching a checkout with its .venv flooded inotify and stalled the server.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/python serve.py --server.headless true --server.port "${PORT:-8501}" \
  --server.address "${ADDRESS:-0.0.0.0}" --browser.gatherUsageStats false --server.fileWatcherType none "$@"

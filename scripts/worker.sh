#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh), then runs a queue worker on this host: it takes runs from the
# PostgreSQL queue named by TUTOR_DB_URL and grades them here, up to TUTOR_MAX_RUNS at once.
#   TUTOR_DB_URL=postgresql+psycopg://tutor@db-host/tutor scripts/worker.sh
# SIGTERM or Ctrl-C drains (running runs finish, no new ones start). A worker that exits on its own (a
# crash) is started again after 2 s, like a service manager would.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export TUTOR_RUNS=queue
stop=0
child=
trap 'stop=1; [ -n "$child" ] && kill -TERM "$child" 2>/dev/null || true' TERM INT
while :; do
  .venv/bin/python -m tutor worker "$@" &
  child=$!
  rc=0
  wait "$child" || rc=$?
  # A trapped signal returns from wait early: wait again for the drain to end.
  while kill -0 "$child" 2>/dev/null; do wait "$child" || rc=$?; done
  child=
  [ $stop = 1 ] && exit 0
  [ $rc = 2 ] && exit 2  # a settings error: starting again would not help
  echo "worker.sh: the worker exited ($rc); starting it again in 2 s" >&2
  sleep 2
done

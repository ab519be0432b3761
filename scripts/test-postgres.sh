#!/usr/bin/env bash
# A throwaway PostgreSQL on loopback for the tests, so that the progress code is proved on PostgreSQL too
# (tests/test_progress.py runs every database test on both). Best effort: where it cannot start one (not
# root, no PostgreSQL installed), `start` prints nothing and those tests skip.
#   scripts/test-postgres.sh start DIR    prints the server's SQLAlchemy URL
#   scripts/test-postgres.sh stop DIR
set -u
action=${1:?start or stop}
dir=${2:?a folder of its own}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
{ [ -n "$bin" ] && [ "$(id -u)" = 0 ] && id postgres >/dev/null 2>&1; } || exit 0
case $action in
  start)
    mkdir -p "$dir" && chown postgres "$dir" || exit 0
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    su postgres -s /bin/sh -c "'$bin/initdb' -D '$dir/data' -A trust -U postgres >'$dir/initdb.log' 2>&1 &&
      '$bin/pg_ctl' -D '$dir/data' -w -o '-k $dir -h 127.0.0.1 -p $port' -l '$dir/server.log' start" \
      >/dev/null 2>&1 || { echo "test-postgres: could not start PostgreSQL (see $dir)" >&2; exit 0; }
    echo "postgresql+psycopg://postgres@127.0.0.1:$port/postgres"
    ;;
  stop)
    [ -d "$dir/data" ] && su postgres -s /bin/sh -c "'$bin/pg_ctl' -D '$dir/data' -m immediate stop" >/dev/null 2>&1
    rm -rf "$dir"
    ;;
esac
exit 0

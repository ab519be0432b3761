#!/usr/bin/env bash
# A throwaway PostgreSQL on loopback for the tests (scripts/test.sh starts one, so the progress database and
# the job queue are proved on PostgreSQL too). It fails loudly: where it cannot start a server, `start`
# prints why on stderr and exits 1; it never prints a URL it has not seen answer.
#   scripts/test-postgres.sh start DIR    prints the server's SQLAlchemy URL
#   scripts/test-postgres.sh stop DIR
# Debian's `postgresql` package provides the server (scripts/setup.sh --dev installs it). As root the server
# runs as the `postgres` user (initdb refuses root); otherwise as the current user.
# TUTOR_TEST_PG_BIN names the folder with initdb and pg_ctl (default: the newest /usr/lib/postgresql/*/bin).
set -u
action=${1:?start or stop}
dir=${2:?a folder of its own}
bin=${TUTOR_TEST_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}

fail() {
  echo "test-postgres: $*" >&2
  exit 1
}

as_server_user() {
  if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$1"; else sh -c "$1"; fi
}

case $action in
  start)
    [ -n "$bin" ] && [ -x "$bin/initdb" ] && [ -x "$bin/pg_ctl" ] ||
      fail "no PostgreSQL server found (${bin:-/usr/lib/postgresql/*/bin}): install Debian's postgresql (scripts/setup.sh --dev does, as root)"
    if [ "$(id -u)" = 0 ]; then
      id postgres >/dev/null 2>&1 || fail "there is no 'postgres' user to run the server as (reinstall Debian's postgresql)"
    fi
    mkdir -p "$dir" || fail "cannot create $dir"
    [ "$(id -u)" = 0 ] && { chown postgres "$dir" || fail "cannot hand $dir to the postgres user"; }
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])') ||
      fail "cannot pick a free port"
    as_server_user "'$bin/initdb' -D '$dir/data' -A trust -U postgres >'$dir/initdb.log' 2>&1" ||
      fail "initdb failed: $(tail -n 5 "$dir/initdb.log" 2>/dev/null)"
    as_server_user "'$bin/pg_ctl' -D '$dir/data' -w -t 60 -o '-k $dir -h 127.0.0.1 -p $port' -l '$dir/server.log' start" \
      >/dev/null 2>&1 || fail "the server did not start: $(tail -n 5 "$dir/server.log" 2>/dev/null)"
    # It answers before we say so: a query through the socket it listens on.
    if [ -x "$bin/psql" ]; then
      as_server_user "'$bin/psql' -h 127.0.0.1 -p $port -U postgres -d postgres -Atqc 'select 1'" >/dev/null 2>&1 ||
        fail "the server started but does not answer on 127.0.0.1:$port (see $dir/server.log)"
    fi
    echo "postgresql+psycopg://postgres@127.0.0.1:$port/postgres"
    ;;
  stop)
    if [ -d "$dir/data" ] && [ -n "$bin" ]; then
      as_server_user "'$bin/pg_ctl' -D '$dir/data' -m immediate stop" >/dev/null 2>&1
    fi
    rm -rf "$dir"
    ;;
  *)
    fail "unknown action $action: use start or stop"
    ;;
esac
exit 0

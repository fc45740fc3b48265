#!/usr/bin/env bash
# Runs the cloud test suite (`cargo test -p carillon-cloud`) against a throwaway PostgreSQL.
#
# For a fresh Debian 12 machine, as root: installs PostgreSQL from apt if it is missing, starts a
# private cluster in a temporary directory (owned by the postgres user, reachable only through a
# Unix socket in that directory: no TCP port is opened), creates a database, runs the suite with
# DATABASE_URL pointing at it (each test then creates its own database in that cluster), and
# stops and removes the cluster whatever happens. Extra arguments go to `cargo test`.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
port="${CARILLON_PG_PORT:-55432}" # names the socket file only (listen_addresses is empty)

find_pg_bin() {
    local d
    d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
    if [ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
        echo "$d"
    fi
}

pg_bin="$(find_pg_bin)"
if [ -z "$pg_bin" ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "postgres-test: PostgreSQL is not installed and we are not root to install it" >&2
        exit 1
    fi
    echo "postgres-test: installing PostgreSQL from apt"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q postgresql >/dev/null 2>&1 || {
        apt-get update -q >/dev/null
        apt-get install -y -q postgresql >/dev/null
    }
    pg_bin="$(find_pg_bin)"
    [ -n "$pg_bin" ] || { echo "postgres-test: no initdb after installing postgresql" >&2; exit 1; }
fi

# Run the server tools as the postgres user (initdb refuses root).
as_pg() {
    if [ "$(id -un)" = postgres ]; then
        "$@"
    elif [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

tmp="$(mktemp -d /tmp/carillon-pg.XXXXXX)"
if [ "$(id -u)" -eq 0 ]; then
    chown postgres:postgres "$tmp"
fi
chmod 755 "$tmp"
started=0

cleanup() {
    local rc=$?
    if [ "$started" -eq 1 ]; then
        as_pg "$pg_bin/pg_ctl" -D "$tmp/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$tmp"
    exit "$rc"
}
trap cleanup EXIT INT TERM

echo "postgres-test: cluster in $tmp ($("$pg_bin/postgres" --version))"
as_pg "$pg_bin/initdb" -D "$tmp/data" --auth=trust --username=postgres --encoding=UTF8 --no-locale --no-sync >"$tmp/initdb.log" 2>&1 || {
    cat "$tmp/initdb.log" >&2
    exit 1
}
as_pg "$pg_bin/pg_ctl" -D "$tmp/data" -l "$tmp/server.log" -w -t 60 \
    -o "-c listen_addresses='' -k $tmp -p $port -c fsync=off -c synchronous_commit=off -c max_connections=200" \
    start >/dev/null || {
    cat "$tmp/server.log" >&2
    exit 1
}
started=1
"$pg_bin/createdb" -h "$tmp" -p "$port" -U postgres carillon_test

export DATABASE_URL="postgres://postgres@localhost:${port}/carillon_test?host=${tmp}"
echo "postgres-test: running the cloud suite on PostgreSQL"
cd "$root"
cargo test -p carillon-cloud "$@"

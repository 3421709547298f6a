#!/bin/sh
# Make sure a PostgreSQL server answers on loopback for the tests that run on PostgreSQL, and that
# their database exists. Installs and starts Debian's server when it is missing (needs root).
# Prints the URL to use, e.g. postgresql+psycopg://postgres@127.0.0.1:5432/guichets_test
set -eu
HOST=${PGHOST_TEST:-127.0.0.1}
PORT=${PGPORT_TEST:-5432}
DB=${PGDATABASE_TEST:-guichets_test}
ready() { pg_isready -q -h "$HOST" -p "$PORT" >/dev/null 2>&1; }
if ! command -v pg_isready >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        echo "installing postgresql (Debian) ..." >&2
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    else
        echo "error: PostgreSQL is not installed; install it (Debian: apt-get install postgresql)" >&2
        exit 2
    fi
fi
if ! ready; then
    for version in $(ls /etc/postgresql 2>/dev/null); do
        pg_ctlcluster --skip-systemctl-redirect "$version" main start >&2 || true
    done
    i=0
    while ! ready && [ $i -lt 30 ]; do sleep 1; i=$((i + 1)); done
fi
if ! ready; then
    echo "error: no PostgreSQL server answers on $HOST:$PORT" >&2
    exit 2
fi
if ! psql -h "$HOST" -p "$PORT" -U postgres -tAc "select 1 from pg_database where datname='$DB'" | grep -q 1; then
    psql -h "$HOST" -p "$PORT" -U postgres -qc "create database $DB" >&2
fi
echo "postgresql+psycopg://postgres@$HOST:$PORT/$DB"

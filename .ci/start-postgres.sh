#!/usr/bin/env bash
# Start a throwaway PostgreSQL server (Debian's package) for the shared-state tests.
#
#   eval "$(bash .ci/start-postgres.sh)"     # exports RECONCILER_TEST_PG_DSN and RECONCILER_TEST_PG_DIR
#   bash .ci/stop-postgres.sh "$RECONCILER_TEST_PG_DIR"
#
# Installs `postgresql` with apt-get if no server binaries are under /usr/lib/postgresql/*/bin,
# makes a new cluster in a temp dir (owned by the `postgres` user when run as root: initdb refuses
# root), listens on 127.0.0.1 only, on a free port, with its unix socket inside the temp dir, and
# creates a password-protected role and database. Only the export lines go to stdout; progress and
# errors go to stderr. The password is random per run and never printed by this script.
set -euo pipefail

find_bindir() {
    local dir best=""
    for dir in /usr/lib/postgresql/*/bin; do
        [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] && best="$dir"
    done
    printf '%s' "$best"
}

bindir=$(find_bindir)
if [ -z "$bindir" ]; then
    echo "postgresql: installing the Debian package" >&2
    t0=$SECONDS
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2
    apt-get install -y -q --no-install-recommends postgresql >&2
    bindir=$(find_bindir)
    [ -n "$bindir" ] || { echo "postgresql: installed, but no initdb under /usr/lib/postgresql" >&2; exit 1; }
    echo "postgresql: installed in $((SECONDS - t0))s" >&2
fi

dir=$(mktemp -d /tmp/reconciler-pg.XXXXXX)
chmod 755 "$dir"
run_as=()
owner=""
if [ "$(id -u)" = 0 ]; then
    owner=postgres
    id "$owner" >/dev/null 2>&1 || owner=nobody
    chown "$owner" "$dir"
    run_as=(runuser -u "$owner" --)
fi

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
password=$(python3 -c 'import secrets; print(secrets.token_urlsafe(18))')
superpw="$dir/superuser.pw"
python3 -c 'import secrets; print(secrets.token_urlsafe(18))' >"$superpw"
[ -z "$owner" ] || chown "$owner" "$superpw"
chmod 600 "$superpw"

"${run_as[@]}" "$bindir/initdb" -D "$dir/data" -U postgres --pwfile="$superpw" -E UTF8 --locale=C.UTF-8 \
    --auth-local=trust --auth-host=scram-sha-256 >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; exit 1; }
mkdir -p "$dir/socket"
[ -z "$owner" ] || chown "$owner" "$dir/socket"
# fsync off: a throwaway cluster; a killed *client* still loses nothing the server committed.
"${run_as[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $dir/socket -c fsync=off -c max_connections=100" \
    start >&2 || { cat "$dir/server.log" >&2; exit 1; }

"${run_as[@]}" "$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir/socket" -p "$port" -U postgres -d postgres \
    -c "CREATE ROLE reconciler LOGIN PASSWORD '$password'" \
    -c "CREATE DATABASE reconciler_test OWNER reconciler" >&2

echo "postgresql: $("$bindir/postgres" --version) on 127.0.0.1:$port, data in $dir" >&2
printf 'export RECONCILER_TEST_PG_DSN=%q\n' "postgresql://reconciler:$password@127.0.0.1:$port/reconciler_test"
printf 'export RECONCILER_TEST_PG_DIR=%q\n' "$dir"

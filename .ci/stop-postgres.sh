#!/usr/bin/env bash
# Stop the server .ci/start-postgres.sh started and remove its temp dir: bash .ci/stop-postgres.sh DIR
set -uo pipefail
dir=${1:-${RECONCILER_TEST_PG_DIR:-}}
case "$dir" in
    /tmp/reconciler-pg.*) ;;
    *) echo "stop-postgres: not a directory made by start-postgres.sh: '$dir'" >&2; exit 1 ;;
esac
[ -d "$dir" ] || exit 0
bindir=""
for candidate in /usr/lib/postgresql/*/bin; do [ -x "$candidate/pg_ctl" ] && bindir="$candidate"; done
if [ -n "$bindir" ] && [ -f "$dir/data/postmaster.pid" ]; then
    run_as=()
    [ "$(id -u)" = 0 ] && run_as=(runuser -u "$(stat -c %U "$dir/data")" --)
    "${run_as[@]}" "$bindir/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >&2 \
        || echo "stop-postgres: pg_ctl stop failed; see $dir/server.log" >&2
fi
rm -rf "$dir"

#!/usr/bin/env bash
# Run the test suite again on a second Python, in its own virtualenv (.venv-py<X.Y>, git-ignored).
#
#   bash .ci/run-python.sh [PYTHON]      # default: $RECONCILER_CI_PYTHON, else the newest pyenv 3.x
#
# .ci/run starts this alongside its main run on the oldest supported Python, so CI covers both ends
# of `requires-python` in about the time of one run (the suite mostly waits: on subprocesses, kills,
# servers). The hub and Steamship client installed by .ci/run are reused; PostgreSQL is not shared:
# when the caller has a server from .ci/start-postgres.sh, this run starts its own, so the two runs'
# tables and locks never meet. When no such interpreter exists, it prints a loud SKIP and exits 0:
# the machine lacks it, the code is not at fault. Extra pytest arguments: $PYTEST_ARGS.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
started=$SECONDS

newest_pyenv_python() {
    local root="${PYENV_ROOT:-$HOME/.pyenv}" dir best=""
    # Final releases only (3.13.0, not 3.14.0a1), highest version last.
    for dir in $(ls -1d "$root"/versions/3.* 2>/dev/null | grep -E '/3\.[0-9]+\.[0-9]+$' | sort -V); do
        [ -x "$dir/bin/python3" ] && best="$dir/bin/python3"
    done
    printf '%s' "$best"
}

python="${1:-${RECONCILER_CI_PYTHON:-$(newest_pyenv_python)}}"
if [ -z "$python" ] || ! command -v "$python" >/dev/null 2>&1; then
    echo "######################################################################" >&2
    echo "## SKIP: no second Python to test on (looked for '${python:-a pyenv 3.x}')." >&2
    echo "## The suite ran on one Python only. Install one with pyenv, or set" >&2
    echo "## RECONCILER_CI_PYTHON=/path/to/python3.13." >&2
    echo "######################################################################" >&2
    exit 0
fi
version=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
main_version=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true)
if [ -z "${1:-}${RECONCILER_CI_PYTHON:-}" ] && [ "$version" = "$main_version" ]; then
    echo "## SKIP: the newest Python here ($version) is the one the main run uses: nothing to add." >&2
    exit 0
fi
venv=".venv-py$version"

echo "== python $version ($python): virtualenv $venv"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e '.[test]'

if [ -n "${RECONCILER_TEST_PG_DIR:-}" ]; then
    echo "== python $version: its own PostgreSQL server"
    eval "$(bash .ci/start-postgres.sh)"
    trap 'bash .ci/stop-postgres.sh "$RECONCILER_TEST_PG_DIR"' EXIT
    trap 'exit 143' TERM INT  # stopped by .ci/run: still stop that server
fi

echo "== tests on python $version, installs took $((SECONDS - started))s"
set +e
# No cache plugin: .pytest_cache belongs to the main run going on at the same time.
# shellcheck disable=SC2086  # PYTEST_ARGS is a list of words on purpose
PATH="$PWD/$venv/bin:$PATH" "$venv/bin/python" -m pytest -p no:cacheprovider ${PYTEST_ARGS:-}
code=$?
set -e
if [ "$code" = 5 ]; then
    echo "pytest collected no tests on python $version: that is a failure here" >&2
    exit 1
fi
echo "== python $version done in $((SECONDS - started))s"
exit "$code"

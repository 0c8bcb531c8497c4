#!/usr/bin/env bash
# Install the official Steamship client (steamship==2.17.34) into its own virtualenv.
#
# The client pins pydantic 1 and cannot share the project venv (pydantic 2), so the
# conformance test (tests/integration/test_steamship_conformance.py) runs it as a
# subprocess with this venv's interpreter. Idempotent: does nothing when the client is
# already importable at the pinned version. Exits non-zero on any failure.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${STEAMSHIP_CLIENT_VENV:-$ROOT/.tools/steamship-client-venv}"
VERSION="2.17.34"
PY="$VENV/bin/python"

installed_version() {
    "$PY" -c 'import importlib.metadata as m, steamship; print(m.version("steamship"))' 2>/dev/null
}

if [[ -x "$PY" ]] && [[ "$(installed_version || true)" == "$VERSION" ]]; then
    echo "steamship client $VERSION already installed in $VENV"
    exit 0
fi

start=$SECONDS
echo "installing steamship==$VERSION into $VENV"
mkdir -p "$(dirname "$VENV")"
python3 -m venv "$VENV"
"$PY" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$PY" -m pip install --quiet --disable-pip-version-check "steamship==$VERSION"

got="$(installed_version)" || { echo "steamship client is not importable after install" >&2; exit 1; }
if [[ "$got" != "$VERSION" ]]; then
    echo "expected steamship $VERSION, found $got" >&2
    exit 1
fi
echo "steamship client $VERSION installed in $VENV in $((SECONDS - start))s"

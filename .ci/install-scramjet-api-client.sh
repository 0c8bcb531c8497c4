#!/usr/bin/env bash
# Install Scramjet's official Node client, npm @scramjet/api-client 0.18.7, into .tools/scramjet-api-client/
# (git-ignored), for the differential test (tests/integration/test_scramjet_differential.py): the same
# client calls go to the real hub and to the emulator's hub-0.18.7 profile, and the answers are compared.
# Idempotent; exits non-zero, saying why, when node/npm are missing or the install fails.
set -euo pipefail

CLIENT_VERSION="0.18.7"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="${SCRAMJET_API_CLIENT_DIR:-$ROOT/.tools/scramjet-api-client}"

fail() { echo "install-scramjet-api-client: $*" >&2; exit 1; }

command -v node >/dev/null 2>&1 || fail "node is not installed (needed to run @scramjet/api-client)"
command -v npm >/dev/null 2>&1 || fail "npm is not installed (needed to install @scramjet/api-client)"

installed="$(node -p "require('$DEST/node_modules/@scramjet/api-client/package.json').version" 2>/dev/null || true)"
if [[ "$installed" == "$CLIENT_VERSION" ]]; then
    echo "install-scramjet-api-client: @scramjet/api-client@$CLIENT_VERSION already installed in $DEST"
    exit 0
fi

mkdir -p "$DEST"
if [[ ! -f "$DEST/package.json" ]]; then
    printf '{\n  "name": "reconciler-scramjet-api-client",\n  "private": true\n}\n' > "$DEST/package.json"
fi
started=$(date +%s)
npm install --prefix "$DEST" --ignore-scripts --no-audit --no-fund --save-exact \
    "@scramjet/api-client@$CLIENT_VERSION" \
    || fail "npm install of @scramjet/api-client@$CLIENT_VERSION failed (is the npm registry reachable?)"
installed="$(node -p "require('$DEST/node_modules/@scramjet/api-client/package.json').version" 2>/dev/null || true)"
[[ "$installed" == "$CLIENT_VERSION" ]] \
    || fail "npm finished but @scramjet/api-client@$CLIENT_VERSION is not in $DEST/node_modules"
echo "install-scramjet-api-client: installed @scramjet/api-client@$CLIENT_VERSION in $DEST" \
     "in $(( $(date +%s) - started ))s ($(du -sh "$DEST" | cut -f1))"

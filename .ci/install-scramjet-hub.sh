#!/usr/bin/env bash
# Install the real Scramjet Transform Hub 0.18.7 from npm into .tools/scramjet-hub/ (git-ignored).
#
# The `sth` binary's own package is not on the registry, so we install the two libraries it is made of
# (@scramjet/host and @scramjet/sth-config) and start the hub with tests/support/start_hub.js.
# Idempotent: does nothing when the pinned versions are already installed. Exits non-zero, saying why,
# when node/npm are missing or the install fails (e.g. the registry is unreachable).
set -euo pipefail

HUB_VERSION="0.18.7"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="${SCRAMJET_HUB_DIR:-$ROOT/.tools/scramjet-hub}"

fail() { echo "install-scramjet-hub: $*" >&2; exit 1; }

command -v node >/dev/null 2>&1 || fail "node is not installed (needed to run the Transform Hub)"
command -v npm >/dev/null 2>&1 || fail "npm is not installed (needed to install the Transform Hub)"

installed_version() {
    node -p "require('$DEST/node_modules/$1/package.json').version" 2>/dev/null || true
}

if [[ "$(installed_version @scramjet/host)" == "$HUB_VERSION" \
      && "$(installed_version @scramjet/sth-config)" == "$HUB_VERSION" ]]; then
    echo "install-scramjet-hub: @scramjet/host@$HUB_VERSION already installed in $DEST"
    exit 0
fi

mkdir -p "$DEST"
# A package.json of its own keeps npm from walking up into the project and pins what we installed.
if [[ ! -f "$DEST/package.json" ]]; then
    printf '{\n  "name": "reconciler-scramjet-hub",\n  "private": true\n}\n' > "$DEST/package.json"
fi

started=$(date +%s)
# --ignore-scripts: the hub needs no native build steps and we do not run third-party install hooks.
if ! npm install --prefix "$DEST" --ignore-scripts --no-audit --no-fund --save-exact \
        "@scramjet/host@$HUB_VERSION" "@scramjet/sth-config@$HUB_VERSION"; then
    fail "npm install of @scramjet/host@$HUB_VERSION failed (is the npm registry reachable?)"
fi

[[ "$(installed_version @scramjet/host)" == "$HUB_VERSION" ]] \
    || fail "npm finished but @scramjet/host@$HUB_VERSION is not in $DEST/node_modules"
echo "install-scramjet-hub: installed @scramjet/host@$HUB_VERSION in $DEST" \
     "in $(( $(date +%s) - started ))s ($(du -sh "$DEST" | cut -f1))"

#!/usr/bin/env bash
# Install Debian's headless-capable Chromium for the fleet HTML report check
# (tests/integration/test_fleet_html_chromium.py). Idempotent: does nothing when `chromium` runs.
# Needs root (or sudo) for apt-get; exits non-zero, saying why, when the install fails.
set -euo pipefail

fail() { echo "install-chromium: $*" >&2; exit 1; }

if command -v chromium >/dev/null 2>&1 && chromium --version >/dev/null 2>&1; then
    echo "install-chromium: $(chromium --version 2>/dev/null) already installed"
    exit 0
fi
command -v apt-get >/dev/null 2>&1 || fail "apt-get is not available: install Chromium by hand (package 'chromium')"
SUDO=""
if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || fail "not root and no sudo: cannot apt-get install chromium"
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq || fail "apt-get update failed"
$SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null || fail "apt-get install chromium failed"
chromium --version >/dev/null 2>&1 || fail "chromium was installed but does not run"
echo "install-chromium: $(chromium --version 2>/dev/null) installed"

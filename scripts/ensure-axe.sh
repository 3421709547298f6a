#!/bin/sh
# Make sure axe-core (the accessibility checker that tests/test_site_browser.py injects into the
# built site) is installed under tests/axe/node_modules, at the exact version its package-lock.json
# pins; print the path of axe.min.js. Does nothing when that version is already there. Needs node
# and npm (Debian: apt-get install nodejs npm); fetches from the npm registry only when missing.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR="$ROOT/tests/axe"
VERSION=4.14.1  # keep in step with tests/axe/package.json and package-lock.json
AXE="$DIR/node_modules/axe-core/axe.min.js"
INSTALLED="$DIR/node_modules/axe-core/package.json"

installed_version() {
    [ -f "$INSTALLED" ] || return 0
    sed -n 's/^  "version": "\([^"]*\)".*/\1/p' "$INSTALLED" | head -n 1
}

if [ -f "$AXE" ] && [ "$(installed_version)" = "$VERSION" ]; then
    echo "$AXE"
    exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
    echo "error: npm is missing; install Node.js and npm (apt-get install nodejs npm)" >&2
    exit 2
fi
echo "installing axe-core $VERSION into $DIR/node_modules ..." >&2
# npm ci installs exactly what the lock file pins, checking its integrity digest.
(cd "$DIR" && npm ci --no-audit --no-fund --loglevel=error >&2)
if [ ! -f "$AXE" ] || [ "$(installed_version)" != "$VERSION" ]; then
    echo "error: npm ran but axe-core $VERSION is not at $AXE" >&2
    exit 2
fi
echo "$AXE"

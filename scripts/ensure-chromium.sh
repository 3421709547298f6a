#!/bin/sh
# Make sure Debian's Chromium is at /usr/bin/chromium for the screenshot and dossier tests
# (Playwright drives it; `playwright install` is never run). Installs it when missing (needs root).
set -eu
CHROMIUM=${GUICHETS_CHROMIUM:-/usr/bin/chromium}
if [ -x "$CHROMIUM" ]; then
    exit 0
fi
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "installing chromium (Debian) ..." >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
else
    echo "error: Chromium is not at $CHROMIUM; install Debian's chromium (apt-get install chromium)" >&2
    exit 2
fi
if [ ! -x "$CHROMIUM" ]; then
    echo "error: chromium was installed but $CHROMIUM is missing" >&2
    exit 2
fi

#!/bin/sh
# The deployment test lints deploy/guichets.service with `systemd-analyze verify`: install
# Debian's systemd tools when they are missing (needs root). Nothing is started.
set -eu
if command -v systemd-analyze >/dev/null 2>&1; then
    exit 0
fi
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "installing systemd (for systemd-analyze) ..." >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd >/dev/null
    exit 0
fi
echo "error: systemd-analyze is missing; install systemd (Debian: apt-get install systemd)" >&2
exit 2

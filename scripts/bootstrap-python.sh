#!/bin/sh
# Make sure python3 (>= 3.11) can create a virtual environment; on Debian, install python3-venv
# when it is missing (needs root, reaches only Debian's package registry).
set -eu
PY=${PY:-python3}
if ! command -v "$PY" >/dev/null 2>&1; then
    echo "error: $PY not found; install Python 3.11 or newer (Debian: apt-get install python3)" >&2
    exit 2
fi
if ! "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
    echo "error: $PY is $("$PY" -V 2>&1); guichets needs Python 3.11 or newer" >&2
    exit 2
fi
if ! "$PY" -c 'import venv, ensurepip' >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        echo "installing python3-venv (Debian) ..."
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    else
        echo "error: $PY cannot create virtual environments; install python3-venv" >&2
        exit 2
    fi
fi

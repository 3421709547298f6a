"""The ``guichets`` command line: arguments in, a use case called, output.

One module per group of commands; each registers its commands on :data:`app` when imported, and
:data:`guichets.cli.commands.COMMANDS` says which module holds which command, so that a command's
dependencies are imported only when it runs (``guichets --version`` and ``--help`` stay fast).
"""

from __future__ import annotations

import sys

from guichets.cli.app import app

__all__ = ["app", "main"]


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)

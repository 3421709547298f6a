"""The ``guichets`` command line: arguments in, calls, output. The work lives in the modules.

One module per group of commands; each registers its commands on :data:`app`.
"""

from __future__ import annotations

import sys

from guichets.cli.app import app

# Importing a command module registers its commands.
from guichets.cli import demo, report, robot, simulate  # noqa: F401  isort: skip
from guichets.cli import export  # noqa: F401  isort: skip
from guichets.cli import evidence  # noqa: F401  isort: skip
from guichets.cli import site  # noqa: F401  isort: skip
from guichets.cli import alerts  # noqa: F401  isort: skip
from guichets.cli import workers  # noqa: F401  isort: skip
from guichets.cli import catalogue  # noqa: F401  isort: skip
from guichets.cli import assist  # noqa: F401  isort: skip

__all__ = ["app", "main"]


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)

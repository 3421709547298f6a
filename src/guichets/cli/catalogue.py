"""``guichets catalogue``: coverage, and (with the robot's session) ``add`` and ``verify``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from guichets.catalogue import load_catalogue
from guichets.cli.app import fail
from guichets.cli.robot import catalogue_app
from guichets.coverage import coverage_table
from guichets.tomlconfig import ConfigError


@catalogue_app.command("coverage")
def catalogue_coverage(
    file: Annotated[Path, typer.Argument(help="The catalogue TOML file.")],
) -> None:
    """Print the départements a catalogue covers, by platform, against the 101 (Markdown)."""
    try:
        catalogue = load_catalogue(file)
    except ConfigError as exc:
        raise fail(str(exc)) from exc
    typer.echo(coverage_table(catalogue.services), nl=False)

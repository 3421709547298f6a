"""The Typer application and what its commands share: errors, the data directory, the database."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from guichets import __version__

__all__ = ["DbOption", "HomeOption", "app", "console", "errors", "fail", "home_and_db"]

app = typer.Typer(
    name="guichets",
    help=(
        "Observatory of access to French prefecture counters through online booking.\n\n"
        "A robot walks a person's path on booking sites up to the page that shows availability, "
        "never books, never answers a captcha, never sends personal data, and records what it "
        "saw. Everything can be tried offline against the bundled simulator:\n\n"
        "  guichets demo --days 30 --out demo-data\n\n"
        "  GUICHETS_HOME=demo-data guichets report\n\n"
        "  guichets simulate --scenario france-demo --port 8765"
    ),
    no_args_is_help=True,
    rich_markup_mode="markdown",
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
console = Console()
errors = Console(stderr=True)

HomeOption = Annotated[
    Path | None,
    typer.Option(
        "--home",
        envvar="GUICHETS_HOME",
        help="Data directory: the SQLite database, the evidence, the built site "
        "[default: ./guichets-data].",
        show_default=False,
    ),
]
DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        envvar="GUICHETS_DB",
        help="Database URL, e.g. postgresql://user@host/db [default: SQLite in the data "
        "directory].",
        show_default=False,
    ),
]


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print a usage or input error on stderr; the caller raises what this returns."""
    # escaped: messages quote the user's input and TOML ("[[services]]"), not rich markup
    errors.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def home_and_db(home: Path | None, db: str | None) -> tuple[Path, str | None]:
    return (home or Path(os.environ.get("GUICHETS_HOME", "guichets-data"))), db


def _version(value: bool) -> None:
    if value:
        console.print(f"guichets {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Observatory of access to prefecture counters through online booking."""

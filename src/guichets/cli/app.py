"""The Typer application and what its commands share: errors, the data directory, the database."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

from guichets import __version__, datadir
from guichets.cli.commands import LazyGroup
from guichets.untrusted import terminal_text

__all__ = [
    "DbOption",
    "HomeOption",
    "app",
    "console",
    "duration",
    "errors",
    "fail",
    "home_and_db",
]

app = typer.Typer(
    name="guichets",
    cls=LazyGroup,
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
LazyGroup.source = app  # where the commands register when their module is imported


class SafeConsole(Console):
    """A console for text others wrote (pages, labels, file names): Rich markup, emoji codes and
    highlighting are off unless a call asks for them, and every string rendered (printed, in a
    table cell, a progress description) loses its escape sequences and control characters
    (``guichets.untrusted.terminal_text``). Style comes from ``Text`` objects, never from
    brackets in a string that may hold a scraped value."""

    def __init__(self, *, stderr: bool = False) -> None:
        super().__init__(stderr=stderr, markup=False, emoji=False, highlight=False)

    def render_str(self, text: str, **kwargs: Any) -> Text:
        return super().render_str(terminal_text(text), **kwargs)


console = SafeConsole()
errors = SafeConsole(stderr=True)

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
    errors.print(Text("error:", style="bold red"), message, soft_wrap=True)
    return typer.Exit(code)


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# ASCII digits only: ``str.isdigit`` also takes ``²`` (which ``float`` refuses: a traceback).
_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)([smhd])", re.ASCII)


def is_duration(text: str) -> bool:
    """Whether ``text`` is spelt as :func:`duration` reads it."""
    return _DURATION.fullmatch(text) is not None


def duration(text: str, option: str) -> float:
    """Seconds of a duration option such as ``90s``, ``30m``, ``12h`` or ``2d`` (zero allowed);
    a usage error otherwise."""
    if (found := _DURATION.fullmatch(text)) is not None:
        return float(found[1]) * _UNITS[found[2]]
    raise fail(f"{option} {text!r}: give a duration such as 90s, 30m, 12h or 2d")


def home_and_db(home: Path | None, db: str | None) -> tuple[Path, str | None]:
    return (home or Path(os.environ.get("GUICHETS_HOME", str(datadir.DEFAULT_HOME)))), db


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

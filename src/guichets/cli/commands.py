"""The commands, imported when they run: ``guichets --help`` and ``--version`` import none of them.

Each entry of :data:`COMMANDS` names a command (or a group of commands), the modules that define
it (they register it on :data:`guichets.cli.app.app` when imported) and the summary that
``guichets --help`` lists. ``tests/test_cli_lazy.py`` holds the summaries equal to the commands'
own help and checks that every command is listed here. To add a command: write its module, then
add it here.
"""

from __future__ import annotations

import importlib
from typing import Any, Final, NamedTuple

import typer
from typer import _click as click  # the click typer vendors: its groups are built on it
from typer.core import TyperCommand, TyperGroup

__all__ = ["COMMANDS", "LazyGroup", "load_all"]


class Entry(NamedTuple):
    modules: tuple[str, ...]
    summary: str


def _e(*modules: str, summary: str) -> Entry:
    return Entry(tuple(f"guichets.cli.{m}" for m in modules), summary)


COMMANDS: Final = {
    "report": _e(
        "report",
        summary="Figures of the stored probes: shares A-E with their denominators and 95 % "
        "intervals.",
    ),
    "serve": _e("site", summary="Serve the built website on loopback, to look at it before "
                "publishing."),
    "demo": _e("demo", summary="Run the robot over the france-demo scenario on a simulated "
               "clock."),
    "probe": _e("robot", summary="Probe one booking URL once, like a person, and say what was "
                "found."),
    "run": _e("robot", summary="Probe every service of a catalogue at its cadence and store each "
              "observation."),
    "simulate": _e("simulate", summary="Serve simulated prefecture booking sites on loopback, "
                   "with their ground truth."),
    "schedule": _e("workers", summary="Defer one job per service and period of a catalogue, for "
                   "the workers to take."),
    "worker": _e("workers", summary="Take the due jobs of the shared schedule and probe them, "
                 "until Ctrl-C (or SIGTERM)."),
    "site": _e("site", summary="The public website: static pages in French and English, map, "
               "charts, open data."),
    "catalogue": _e("robot", "catalogue", summary="Catalogues of services to probe: check, "
                    "coverage, add rows from a URL, verify rows live."),
    "export": _e("export", summary="Export the stored data as open data."),
    "evidence": _e("evidence", summary="The evidence of every probe: WARC archive, digests, "
                   "ledger, screenshots, dossiers."),
    "alerts": _e("alerts", summary="Alerts: a counter closed or reopened, the robot blind, a "
                 "platform changed, probes stopped."),
    "workers": _e("workers", summary="What the workers of the shared schedule did: periods, "
                  "vantage points."),
    "assist": _e("assist", summary="Assisted attempts: a person answers the captcha in a web "
                 "console; guichets reads the slot page with the robot's reader and keeps the "
                 "evidence (docs/human-assisted.md)."),
}  # fmt: skip


def load_all() -> None:
    """Import every command module (tests, and whatever needs the whole command line)."""
    for entry in COMMANDS.values():
        for module in entry.modules:
            importlib.import_module(module)


class LazyGroup(TyperGroup):
    """The root group: a command's modules are imported when it is resolved, that is when it
    runs (or its own ``--help`` is asked); until then it is listed from :data:`COMMANDS`."""

    source: typer.Typer  # the application the commands register on (set by ``cli/app.py``)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(dict.fromkeys([*COMMANDS, *self.commands]))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = self.commands.get(cmd_name)
        if found is not None or cmd_name not in COMMANDS:
            return found
        return TyperCommand(cmd_name, help=COMMANDS[cmd_name].summary)  # listed, not loaded

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else None
        if name in COMMANDS and name not in self.commands:
            self._load(name)
        return super().resolve_command(ctx, args)

    def _load(self, name: str) -> None:
        for module in COMMANDS[name].modules:
            importlib.import_module(module)
        built: Any = typer.main.get_command(self.source)  # registered on it by the imports
        command = built.commands.get(name)
        if command is not None:
            self.commands[name] = command

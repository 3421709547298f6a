"""``guichets report --unrecognized``: the pages the robot could not read, by platform, reason
and page shape, with their probes and the command that renders each archived page."""

from __future__ import annotations

from datetime import date, datetime, time

from rich.table import Table
from rich.text import Text

from guichets.cli.app import console
from guichets.model import PARIS
from guichets.stats.unreadable import unreadable_groups
from guichets.store import Store
from guichets.untrusted import json_dumps

__all__ = ["print_unreadable"]


def print_unreadable(
    store: Store,
    *,
    since: date | None,
    service: str | None,
    departement: str | None,
    as_json: bool,
) -> None:
    start = None if since is None else datetime.combine(since, time(0), tzinfo=PARIS)
    observations = store.observations(service=service, departement=departement, since=start)
    groups = unreadable_groups(observations, store.kept_page)
    if as_json:
        print(json_dumps([g.as_json() for g in groups], indent=2))
        return
    after = f" since {since.isoformat()}" if since else ""
    if not groups:
        console.print(f"Every stored probe{after} was read: no unrecognized page.")
        return
    total = sum(g.count for g in groups)
    table = Table(title=f"Pages the robot could not read{after}: {total} probe(s)")
    for column in ("platform", "reason", "page shape", "probes", "services", "last seen"):
        table.add_column(column, overflow="fold")
    for group in groups:
        shape = f"{group.shape} {group.hint}".strip()
        last = "" if group.last is None else f"{group.last.astimezone(PARIS):%Y-%m-%d %H:%M}"
        table.add_row(
            group.platform, group.detail, shape, str(group.count),
            ", ".join(sorted(group.services)), last,
        )  # fmt: skip
    console.print(table)
    for group in groups:
        console.print(  # markup is off on the CLI's consoles: style by Text, never brackets
            Text(f"\n{group.platform} / {group.detail} / {group.shape}", style="bold"),
            f"({group.count} probe(s)): {group.message}",
        )
        console.print(f"  page: {group.url}", highlight=False, soft_wrap=True)
        for probe in group.probes:
            console.print(f"  guichets evidence screenshot {probe}", highlight=False)

"""``guichets catalogue``: ``coverage``, ``add`` (rows from a URL), ``verify`` (rows checked live).

``add`` and ``verify`` send requests: through the robot's polite session only, with the same
politeness options as ``probe``. Both edit the catalogue with :mod:`guichets.catalogue_edit`, which
keeps the file's comments and layout.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated

import pydantic
import typer
from rich.table import Table

from guichets.catalogue import (
    MAX_TEXT,
    PLATFORMS,
    Catalogue,
    Service,
    host_problem,
    load_catalogue,
)
from guichets.catalogue_edit import (
    allows_local,
    append_services,
    implied_values,
    mark_verified,
    read_document,
)
from guichets.cli.app import console, fail
from guichets.cli.robot import (
    AgentOption,
    GapOption,
    IgnoreRobotsOption,
    TimeoutOption,
    _politeness,
    catalogue_app,
)
from guichets.clock import SystemClock
from guichets.coverage import coverage_table
from guichets.departements import DEPARTEMENTS
from guichets.discover import Found, NotRecognised, discover, slug
from guichets.http import HostGates
from guichets.model import PARIS, Detail, Extra, Observation, Outcome
from guichets.probe import run_probe
from guichets.runner import from_catalogue
from guichets.tomlconfig import ConfigError
from guichets.untrusted import clean_text, json_dumps

YesOption = Annotated[
    bool,
    typer.Option(
        "--yes", "-y", help="Ask nothing: fail, naming the option to give, when a value is unknown."
    ),
]


@catalogue_app.command("coverage")
def catalogue_coverage(
    file: Annotated[Path, typer.Argument(help="The catalogue TOML file.")],
) -> None:
    """Print the départements a catalogue covers, by platform, against the 101 (Markdown)."""
    typer.echo(coverage_table(_load(file).services), nl=False)


def _load(file: Path) -> Catalogue:
    try:
        return load_catalogue(file)
    except ConfigError as exc:
        raise fail(str(exc)) from exc


# --------------------------------------------------------------------------------------------
# add


@catalogue_app.command("add")
def catalogue_add(
    url: Annotated[str, typer.Argument(help="A booking URL: legacy form, démarche or office.")],
    catalogue: Annotated[
        Path, typer.Option(help="The catalogue TOML file to append to (created if missing).")
    ],
    platform: Annotated[
        str | None, typer.Option(help=f"Force the platform: {', '.join(PLATFORMS)}.")
    ] = None,
    departement: Annotated[
        str | None, typer.Option(help="The département code, when the page does not say it.")
    ] = None,
    site: Annotated[str | None, typer.Option(help="The site: préfecture, sous-préfecture.")] = None,
    procedure: Annotated[
        str | None, typer.Option(help="The procedure's slug (default: from the page's title).")
    ] = None,
    yes: YesOption = False,
    allow_local: Annotated[
        bool,
        typer.Option(
            "--allow-local",
            help="Accept a URL on this machine or a private network (simulated sites, tests): "
            "writes allow_local = true at the top of the file, which relaxes the host check for "
            "every row of it.",
        ),
    ] = False,
    gap: GapOption = 1.0,
    timeout: TimeoutOption = 20.0,
    user_agent: AgentOption = None,
    ignore_robots_for: IgnoreRobotsOption = [],  # noqa: B006
) -> None:
    """Probe a booking URL once and append one catalogue row per counter it offers.

    Recognises the platform (exit 2 when it cannot), reads the counters of a legacy form (their
    planning ids and labels), a démarche's title or an office's reasons, guesses the département
    and the site from the host and the page, asks for what it cannot guess (with --yes: fails and
    names the option to give). New rows are disabled, with source = the URL and source_date =
    today. The file keeps its comments and layout.

    Example: guichets catalogue add https://www.isere.gouv.fr/booking/create/4129 --catalogue c.toml
    """
    if platform is not None and platform not in PLATFORMS:
        raise fail(f"--platform {platform!r}: the robot reads {', '.join(PLATFORMS)}")
    if departement is not None and departement not in DEPARTEMENTS:
        raise fail(f"--departement {departement!r}: not a département code (e.g. 38, 2A, 974)")
    try:
        document = read_document(catalogue)
        existing = load_catalogue(catalogue).services if document.get("services") else ()
    except ConfigError as exc:
        raise fail(f"{catalogue} must be a sound catalogue before rows are added:\n{exc}") from exc
    refused = host_problem(url, allow_local=allows_local(document) or allow_local)
    if refused:
        # Checked before any request: a real catalogue never sends the robot to this machine.
        hint = "" if allow_local or host_problem(url, allow_local=True) else (
            " (a simulated or local site: give --allow-local)"
        )  # fmt: skip
        raise fail(f"{url}: {refused}{hint}")
    clock = SystemClock()
    gates = HostGates(clock, _politeness(gap, timeout, user_agent, ignore_robots_for))
    try:
        found = asyncio.run(discover(url, gates, platform))
    except NotRecognised as exc:
        raise fail(str(exc)) from exc

    code = (
        departement
        or found.departement
        or _ask(
            yes,
            "département code",
            "--departement",
            f"the host and page of {found.url} do not say it",
        )
    )
    if code not in DEPARTEMENTS:
        raise fail(f"{code!r} is not a département code (e.g. 38, 2A, 974)")
    where = (
        site
        or found.site
        or _ask(
            yes,
            "site (e.g. Préfecture de l'Isère)",
            "--site",
            "the page does not name its prefecture",
        )
    )
    per_choice = found.title is None and all(choice.label for choice in found.choices)
    what = procedure or (slug(found.title) if found.title else None)
    if what is None and not per_choice:
        what = _ask(
            yes, "procedure slug (e.g. renouvellement)", "--procedure", "the page shows no title"
        )
    what = (slug(what, words=8) or what) if what else None
    implied = implied_values(document)
    cadence = implied.get("cadence") or "1h"
    today = clock.now().astimezone(PARIS).date()
    rows = _rows(found, code, where, what, cadence, today, existing)
    if not rows:
        console.print(f"nothing to add: {catalogue} already has every counter of {found.url}")
        return
    try:
        local = append_services(catalogue, rows, allow_local=allow_local)
    except (ConfigError, ValueError) as exc:
        raise fail(f"{catalogue} was left unchanged: {exc}") from exc
    if local:
        console.print(
            f"warning: allow_local = true is now at the top of {catalogue} (--allow-local): "
            f"every row of it may now name this machine or a private network; keep it for "
            f"simulated and local sites only",
            highlight=False, markup=False, soft_wrap=True,
        )  # fmt: skip
    for row in rows:
        counter = f" (planning {row.planning})" if row.planning is not None else ""
        console.print(f"added {row.id}{counter}: {row.label or '-'}", highlight=False)
    console.print(
        f"{len(rows)} row(s) appended to {catalogue}, disabled until checked: "
        f"guichets catalogue verify {catalogue}",
        highlight=False,
    )


def _ask(yes: bool, what: str, option: str, why: str) -> str:
    if yes:
        raise fail(f"cannot guess the {what}: {why}; give {option}")
    answer: str = typer.prompt(f"{what} ({why})").strip()
    if not answer:
        raise fail(f"no {what} given")
    return answer


def _rows(
    found: Found,
    code: str,
    site: str,
    procedure: str | None,
    cadence: str,
    today: date,
    existing: tuple[Service, ...],
) -> list[Service]:
    """One row per choice the page offers, with unique ids, skipping rows already there.

    Without a procedure, each choice's label names its own (an eAppointment office's reasons).
    """
    taken = {service.id for service in existing}
    present = {(service.url, service.planning, service.platform) for service in existing}
    place = slug(site.replace("Sous-préfecture", "").replace("Préfecture", ""), words=3)
    several = len(found.choices) > 1
    rows: list[Service] = []
    for choice in found.choices:
        url, planning = found.url, None
        if found.platform == "ezbooking" and choice.counter is not None:
            planning = int(choice.counter)
        elif found.platform == "eappointment" and choice.counter is not None:
            url = f"{found.url}#motif={choice.counter}"
        if (url, planning, found.platform) in present:
            continue
        what = procedure or slug(choice.label or "") or "non-precise"
        base = "-".join(part for part in (code.lower(), place, what) if part)
        ident = f"{base}-{choice.counter}" if several and choice.counter else base
        number = 2
        unique = ident
        while unique in taken:
            unique, number = f"{ident}-{number}", number + 1
        taken.add(unique)
        parts = (found.title, choice.label if several else None)
        label = clean_text(" — ".join(part for part in parts if part), MAX_TEXT)
        try:
            rows.append(
                Service(
                    id=unique, departement=code, site=site, procedure=what,
                    platform=found.platform, url=url, planning=planning, cadence=cadence,
                    label=label or choice.label or None, enabled=False, source=found.url,
                    source_date=today,
                )
            )  # fmt: skip
        except pydantic.ValidationError as exc:
            raise fail(f"cannot make a valid row for {url}: {exc}") from exc
    return rows


# --------------------------------------------------------------------------------------------
# verify


@dataclass(frozen=True)
class Checked:
    """One row's live check."""

    service: Service
    observation: Observation

    @property
    def read(self) -> bool:
        """Read right: the platform's own answer, or its captcha recognised as such."""
        outcome = self.observation.outcome
        if outcome in (Outcome.AVAILABLE, Outcome.UNAVAILABLE):
            return True
        return outcome == Outcome.BARRIER and self.observation.detail == Detail.CAPTCHA

    def to_json(self) -> dict[str, object]:
        obs = self.observation
        offered = obs.extra.get(Extra.COUNTERS_OFFERED, "")
        return {
            "id": self.service.id,
            "platform": self.service.platform,
            "recognised": self.read,
            "outcome": str(obs.outcome),
            "detail": obs.detail,
            "counter": obs.counter,
            "counters_offered": offered.split(",") if offered else [],
            "message": obs.message,
            "written": self.read,
        }


@catalogue_app.command("verify")
def catalogue_verify(
    file: Annotated[Path, typer.Argument(help="The catalogue TOML file.")],
    service: Annotated[
        list[str], typer.Option(help="Only this service (repeatable); default: every row.")
    ] = [],  # noqa: B006
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON array.")] = False,
    gap: GapOption = 1.0,
    timeout: TimeoutOption = 20.0,
    user_agent: AgentOption = None,
    ignore_robots_for: IgnoreRobotsOption = [],  # noqa: B006
) -> None:
    """Probe each row once, politely, and record the rows read right.

    Prints what each probe found (platform recognised, outcome, counter read, counters offered).
    A row read right (available, unavailable, or a captcha recognised) gets verified = today and
    last_outcome; any other row is left untouched. Disabled rows are probed too: that is how
    they get checked. Exit 0 when every row asked was read, 1 otherwise, 2 for bad input.
    """
    loaded = _load(file)
    unknown = [ident for ident in service if ident not in loaded.by_id]
    if unknown:
        shown = ", ".join(list(loaded.by_id)[:8])
        raise fail(f"--service {', '.join(unknown)}: no such row in {file} (some: {shown})")
    chosen = [loaded.by_id[ident] for ident in service] if service else list(loaded.services)
    clock = SystemClock()
    gates = HostGates(clock, _politeness(gap, timeout, user_agent, ignore_robots_for))

    async def check_all() -> list[Checked]:
        results = []
        for row, scheduled in zip(chosen, from_catalogue(chosen), strict=True):
            observation = await run_probe(scheduled.spec, gates, clock)
            results.append(Checked(row, observation))
        return results

    checked = asyncio.run(check_all())
    read = {c.service.id: str(c.observation.outcome) for c in checked if c.read}
    if read:
        today = clock.now().astimezone(PARIS).date()
        try:
            mark_verified(file, read, today)
        except (ConfigError, ValueError) as exc:
            raise fail(f"{file} was left unchanged: {exc}") from exc
    if as_json:
        typer.echo(json_dumps([c.to_json() for c in checked]))
    else:
        _print_checked(checked, file)
    if len(read) < len(checked):
        raise typer.Exit(1)


def _print_checked(checked: list[Checked], file: Path) -> None:
    table = Table("service", "platform", "outcome", "detail", "counter", "offered", "written")
    for c in checked:
        obs = c.observation
        offered = obs.extra.get(Extra.COUNTERS_OFFERED, "").replace(",", " ")
        table.add_row(
            c.service.id,
            f"{c.service.platform} {'✓' if c.read else '?'}",
            str(obs.outcome),
            obs.detail,
            obs.counter or "-",
            offered or "-",
            "verified" if c.read else "unchanged",
        )
    console.print(table)
    done = sum(1 for c in checked if c.read)
    console.print(
        f"{done} of {len(checked)} rows read right and marked verified in {file}", highlight=False
    )

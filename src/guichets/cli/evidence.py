"""``guichets evidence``: verify the archive, screenshots, court dossiers, recovery, retention."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from guichets import datadir
from guichets.cli.app import DbOption, HomeOption, app, console, errors, fail, home_and_db
from guichets.evidence.dossier import DossierError, build_dossier
from guichets.evidence.person_dossier import build_person_dossier
from guichets.evidence.recovery import recover
from guichets.evidence.retention import Mode, cutoff, prune
from guichets.evidence.screenshot import ArchivedProbe, Renderer, ScreenshotError, load_probe
from guichets.evidence.verify import verify
from guichets.periods import DateRange, parse_day
from guichets.stats.indicators import barrier_rate, failure_rate
from guichets.store import Store, StoreError
from guichets.usecases.report import report_rows

evidence_app = typer.Typer(
    help="The evidence of every probe: WARC archive, digests, ledger, screenshots, dossiers.",
    no_args_is_help=True,
)
app.add_typer(evidence_app, name="evidence")


@contextmanager
def _store(home: Path | None, db: str | None) -> Iterator[tuple[Path, Store]]:
    folder, url = home_and_db(home, db)
    if url is None and not datadir.database(folder).exists():
        raise fail(
            f"no database in {folder}/; run `guichets demo --out {folder}` or `guichets run "
            "--home …` first, or give --home/--db"
        )
    try:
        store = Store.open(url, home=folder)
    except StoreError as exc:
        raise fail(str(exc)) from exc
    with store:
        yield folder, store


def _known_service(store: Store, service: str) -> None:
    services = {e.service for e in store.ledger()} | set(store.ledger_heads())
    if service not in services and not any(True for _ in store.observations(service=service)):
        shown = ", ".join(sorted(services)[:8]) or "none"
        raise fail(f"--service {service!r}: no such service in the store (some: {shown})")


@evidence_app.command("verify")
def verify_command(
    service: Annotated[str | None, typer.Option(help="Only this service's evidence.")] = None,
    home: HomeOption = None,
    db: DbOption = None,
) -> None:
    """Recompute every digest: exit 0 when the evidence is intact, else name what broke, exit 1.

    Checks each service's hash chain, each probe's row against its ledger entry, each probe's
    records, and each WARC file (its SHA-256, every record's). A changed byte, a deleted probe
    or a deleted record is named, with its file or probe.
    """
    with _store(home, db) as (folder, store):
        if service is not None:
            _known_service(store, service)
        result = verify(folder, store, service=service)
    for problem in result.problems:
        errors.print(f"BROKEN {problem}", highlight=False, soft_wrap=True, markup=False)
    for note in result.notes:
        console.print(f"note: {note}", highlight=False, soft_wrap=True, markup=False)
    if result.intact:
        console.print(f"intact: {result.summary()}", highlight=False)
        return
    errors.print(
        f"NOT INTACT: {len(result.problems)} problems; {result.summary()}", highlight=False
    )
    raise typer.Exit(1)


@evidence_app.command("recover")
def recover_command(
    home: HomeOption = None,
    db: DbOption = None,
    worker: Annotated[
        str | None,
        typer.Option(
            help="The files of this worker (HOME/evidence/warc/workers/NAME), not those of "
            "`guichets run`; only once that worker is stopped.",
        ),
    ] = None,
) -> None:
    """Move aside what a killed run left (records of unstored probes) and close its files.

    A run (or a worker) does this itself when it starts; this command does it without starting
    one.
    """
    if worker is not None and ("/" in worker or not worker or worker.startswith(".")):
        raise fail(f"--worker {worker!r}: give a worker's name, as given to `guichets worker`")
    with _store(home, db) as (folder, store):
        report = recover(folder, store, worker=worker)
    for line in report.lines():
        console.print(line, highlight=False, soft_wrap=True)
    for name in report.busy:
        console.print(f"{name} is being written by a live run: left alone", highlight=False)
    if not (report.lines() or report.busy):
        console.print("nothing to recover", highlight=False)
    if report.failed:
        raise typer.Exit(1)


@evidence_app.command("screenshot")
def screenshot_command(
    probe_id: Annotated[str, typer.Argument(help="The probe's id (in tentatives.csv, --json).")],
    out: Annotated[
        Path | None, typer.Option(help="PNG file to write [default: PROBE_ID.png].")
    ] = None,
    home: HomeOption = None,
    db: DbOption = None,
) -> None:
    """Render the probe's archived page (never a new visit) with URL, date, time and digest."""
    target = out or Path(f"{probe_id}.png")
    with _store(home, db) as (folder, store):
        try:
            probe = load_probe(folder, store, probe_id)
            png = asyncio.run(_render(probe))
        except ScreenshotError as exc:
            raise fail(str(exc)) from exc
    target.write_bytes(png)
    console.print(f"{target}: {probe.service}, probe {probe_id}", highlight=False)


async def _render(probe: ArchivedProbe) -> bytes:
    async with Renderer() as renderer:
        return await renderer.render(probe)


def _day(option: str, text: str) -> date:
    try:
        return parse_day(text)
    except ValueError as exc:
        raise fail(f"{option} {exc}") from exc


@evidence_app.command("dossier")
def dossier_command(
    first: Annotated[str, typer.Option("--from", help="First day (Paris), YYYY-MM-DD.")],
    last: Annotated[str, typer.Option("--to", help="Last day (Paris), included, YYYY-MM-DD.")],
    out: Annotated[Path, typer.Option(help="The ZIP file to write.")],
    service: Annotated[
        str | None,
        typer.Option(help="The service, e.g. 38-grenoble-renouvellement (optional with --person)."),
    ] = None,
    person: Annotated[
        str | None,
        typer.Option(help="One person's assisted attempts (their opaque id, e.g. p-3f2a…)."),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(help="With --person: a name to print on the cover (never stored)."),
    ] = None,
    unavailable_only: Annotated[
        bool,
        typer.Option("--unavailable-only", help="Screenshots of the attempts without slot only."),
    ] = False,
    home: HomeOption = None,
    db: DbOption = None,
) -> None:
    """A court dossier for one service and period, as a ZIP; or, with --person, the dossier of
    one person's assisted attempts (docs/human-assisted.md).

    Holds the list of attempts (CSV and HTML), a screenshot of each archived page with URL,
    date and time, the WARC records, their digests and ledger entries, a method note (or, for a
    person, a cover note checking the Conseil d'État's criteria) in French, and SHA256SUMS.
    Warns when the attempts do not span three different weeks.
    """
    start, end = _day("--from", first), _day("--to", last)
    if end < start:
        raise fail(f"--to {last} is before --from {first}")
    if out.suffix.lower() != ".zip":
        raise fail(f"--out {out}: give a file name ending in .zip")
    days = DateRange(start, end)
    if person is not None:
        _person_dossier(person, service, name, days, out, home, db)
        return
    if service is None:
        raise fail("give --service (the robot's dossier) or --person (a person's)")
    if name is not None:
        raise fail("--name goes with --person only")
    with _store(home, db) as (folder, store):
        _known_service(store, service)
        try:
            made = asyncio.run(
                build_dossier(
                    folder, store, service=service, days=days, out=out,
                    unavailable_only=unavailable_only,
                )
            )  # fmt: skip
        except DossierError as exc:
            if exc.verification is not None:
                for problem in exc.verification.problems[:20]:
                    errors.print(f"BROKEN {problem}", highlight=False, soft_wrap=True, markup=False)
                errors.print(Text("error:", style="bold red"), str(exc), soft_wrap=True)
                raise typer.Exit(1) from exc
            raise fail(str(exc)) from exc
        except ScreenshotError as exc:
            raise fail(str(exc)) from exc
    for warning in made.warnings:
        errors.print(f"warning: {warning}", highlight=False, soft_wrap=True, markup=False)
    console.print(
        f"{made.path}: {made.attempts} attempts over {made.weeks} weeks, {made.screenshots} "
        f"screenshots, {made.records} records",
        highlight=False,
    )


def robot_context(
    store: Store, services: Sequence[str], days: DateRange
) -> list[tuple[str, int, str, str]]:
    """The robot's figures for a person's démarches and period: the cover note's context."""

    def pct(value: float | None) -> str:
        return "–" if value is None else f"{100 * value:.0f} %"

    found = []
    for service in services:
        for row in report_rows(store, days, service=service):
            failure, barrier = failure_rate(row.tally), barrier_rate(row.tally)
            ci = "" if failure.interval is None else (
                f" ({pct(failure.interval[0])} – {pct(failure.interval[1])})"
            )  # fmt: skip
            found.append((service, row.tally.probes, pct(failure.value) + ci, pct(barrier.value)))
    return found


def _person_dossier(
    person: str,
    service: str | None,
    name: str | None,
    days: DateRange,
    out: Path,
    home: Path | None,
    db: str | None,
) -> None:
    with _store(home, db) as (folder, store):
        try:
            made = asyncio.run(
                build_person_dossier(
                    folder, store, person=person, days=days, out=out, service=service, name=name,
                    context=lambda services, period: robot_context(store, services, period),
                )
            )  # fmt: skip
        except DossierError as exc:
            raise fail(str(exc)) from exc
        except ScreenshotError as exc:
            raise fail(str(exc)) from exc
    for warning in made.warnings:
        errors.print(f"warning: {warning}", highlight=False, soft_wrap=True, markup=False)
    met = "met" if made.criteria.met else "not met: " + "; ".join(made.criteria.missing())
    console.print(
        f"{made.path}: {made.attempts} attempts, {made.reads} reads over {made.criteria.weeks} "
        f"weeks, {made.screenshots} screenshots, {made.records} records; criteria {met}",
        highlight=False,
    )


@evidence_app.command("prune")
def prune_command(
    older_than_months: Annotated[
        int,
        typer.Option(min=0, help="Drop raw records of probes older than this (months of 30 days)."),
    ],
    mode: Annotated[
        Mode,
        typer.Option(
            help="'thin': keep the page shown, its request and the outcome record; 'remove': keep "
            "no raw record. Digests, ledger and figures are always kept."
        ),
    ] = Mode.THIN,
    home: HomeOption = None,
    db: DbOption = None,
) -> None:
    """Retention: drop old raw records; every digest, the ledger and the figures stay verifiable."""
    now = datetime.now(UTC)
    before = cutoff(older_than_months, now)
    with _store(home, db) as (folder, store):
        done = prune(folder, store, before=before, mode=mode, now=now)
    for name in done.skipped_live:
        console.print(f"{name} is still being written: left for a later prune", highlight=False)
    console.print(
        f"probes started before {before:%Y-%m-%d %H:%M} UTC: {done.probes}; records dropped: "
        f"{done.records} ({done.bytes_freed / 1e6:.1f} MB); files rewritten: "
        f"{len(done.files_written)}, removed: {len(done.files_removed) - len(done.files_written)}",
        highlight=False,
    )


@evidence_app.command("heads")
def heads_command(
    check: Annotated[
        Path | None,
        typer.Option(
            help="A heads file published earlier: exit 1 unless every head in it is still an "
            "entry of today's chain (same service, number and SHA-256)."
        ),
    ] = None,
    home: HomeOption = None,
    db: DbOption = None,
) -> None:
    """Print each service's chain head (JSON), to publish where the robot cannot write.

    `evidence verify` finds any change the ledger does not agree with, but someone able to
    rewrite the database and the files consistently could recompute the chains too. A head
    published elsewhere (a mailing list, a public repository, a notary) before such a rewrite
    makes it visible: `guichets evidence heads --check published.json` compares.
    """
    with _store(home, db) as (_, store):
        heads = store.ledger_heads()
        if check is None:
            listing = {
                "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "heads": {
                    service: {"seq": seq, "entry_sha256": sha}
                    for service, (seq, sha) in sorted(heads.items())
                },
            }
            typer.echo(json.dumps(listing, indent=1, sort_keys=True))
            return
        try:
            published = json.loads(check.read_text("utf-8"))["heads"]
            wanted = {s: (int(h["seq"]), str(h["entry_sha256"])) for s, h in published.items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise fail(f"{check}: not a heads file of `guichets evidence heads` ({exc})") from exc
        broken = []
        for service, (seq, sha) in sorted(wanted.items()):
            found = {e.seq: e.entry_sha256 for e in store.ledger(service=service)}
            if found.get(seq) != sha:
                now = "missing" if seq not in found else f"{found[seq][:16]}…"
                broken.append(f"{service}: entry {seq} was {sha[:16]}… when published, now {now}")
    for line in broken:
        errors.print(f"BROKEN {line}", soft_wrap=True)
    if broken:
        errors.print(f"NOT INTACT: {len(broken)} of {len(wanted)} published heads differ")
        raise typer.Exit(1)
    console.print(f"intact: the {len(wanted)} published heads are entries of today's chains")

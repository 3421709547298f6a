"""``guichets site build`` and ``guichets serve``: the public website, built and looked at."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from aiohttp import web

from guichets import datadir
from guichets.cli.app import (
    DbOption,
    HomeOption,
    app,
    console,
    duration,
    errors,
    fail,
    home_and_db,
)
from guichets.cli.report import catalogue_of, open_store
from guichets.runlock import LockRefused
from guichets.site.build import BuildResult
from guichets.site.opendata_files import MonthsBusy
from guichets.site.publish import SiteBusy
from guichets.site.serve import check_loopback, site_app
from guichets.usecases.site import DEFAULT_CONTACT, build_site_of

site_app_cli = typer.Typer(
    help="The public website: static pages in French and English, map, charts, open data.",
    no_args_is_help=True,
)
app.add_typer(site_app_cli, name="site")

# How long a build waits for another build of the same site: under an hourly cron's period, so
# that builds waiting for a slow one never pile up (a full-scale first build takes minutes).
WAIT = "30m"


def _note(text: str) -> None:
    errors.print(text, highlight=False)


def _say(text: str) -> None:
    console.print(text, highlight=False)


def build_into(
    home: Path | None,
    db: str | None,
    out: Path | None,
    catalogue: Path | None,
    contact: str,
    *,
    screenshots: int = 0,
    wait: float = 0.0,
) -> BuildResult:
    """Build the site of a data directory, as ``guichets site build`` does."""
    with open_store(home, db) as (store, folder):
        return build_site_of(
            store,
            folder,
            catalogue=catalogue_of(catalogue, folder),
            out=out,
            contact=contact,
            screenshots=screenshots,
            status=console.status,
            say=_say,
            note=_note,
            wait=wait,
        )


@site_app_cli.command("build")
def build_command(
    out: Annotated[
        Path | None,
        typer.Option(
            help="Folder to write the site into [default: DATA/site].", show_default=False
        ),
    ] = None,
    catalogue: Annotated[
        Path | None,
        typer.Option(
            help="Catalogue naming the services [default: DATA/catalogue.toml if any].",
            show_default=False,
        ),
    ] = None,
    contact: Annotated[
        str, typer.Option(help="How people reach the robot's operators (URL or e-mail).")
    ] = DEFAULT_CONTACT,
    screenshots: Annotated[
        int,
        typer.Option(
            min=0,
            help="Render screenshots of each service's N latest probes from the evidence archive "
            "(headless Chromium), for the service pages to link to.",
        ),
    ] = 0,
    wait: Annotated[
        str,
        typer.Option(
            help="How long to wait for another build of the same --out to end (an hourly cron "
            "meeting a slow build) before failing: 90s, 30m, 0s to fail at once.",
        ),
    ] = WAIT,
    home: HomeOption = None,
    db: DbOption = None,
) -> None:
    """Build the public website from the stored probes: plain files any web server can host.

    French pages at the root, English under en/; a map of France coloured by each département's
    latest failure rate, a page per département and per service, the method, the robot, and the
    open data (CSV and JSON with a datapackage.json) under donnees/. No CDN, no external font or
    script: it works offline and without JavaScript. Rebuilding rewrites only what changed.

      guichets site build --home guichets-data --out public

      guichets serve public
    """
    if out is not None and out.exists() and not out.is_dir():
        raise fail(f"--out {out}: exists and is not a folder; give a folder")
    seconds = duration(wait, "--wait")
    try:
        result = build_into(
            home, db, out, catalogue, contact, screenshots=screenshots, wait=seconds
        )
    except (SiteBusy, MonthsBusy, LockRefused) as exc:
        raise fail(str(exc), 1) from exc
    if result.missing_shapes:
        errors.print(
            "note: no shape on the map for département(s) "
            + ", ".join(result.missing_shapes)
            + "; they are listed in the table under it",
            highlight=False,
        )
    console.print(
        f"{result.pages} pages in {result.out}/ ({result.written} files written, "
        f"{result.removed} removed, {result.screenshots} screenshots) in {result.seconds:.1f} s. "
        f"Look at it: guichets serve {result.out}"
    )


def serve_site(folder: Path, *, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve a built site until Ctrl-C (the demo ends with this)."""
    try:
        check_loopback(host)
    except ValueError as exc:
        raise fail(str(exc)) from exc
    if not (folder / "index.html").is_file():
        raise fail(
            f"{folder}/index.html not found: build the site first (guichets site build --out "
            f"{folder})"
        )
    asyncio.run(_serve(folder, host, port))


async def _serve(folder: Path, host: str, port: int) -> None:
    runner = web.AppRunner(site_app(folder), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            raise fail(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
        shown = f"[{host}]" if ":" in host else host
        console.print(f"Serving {folder}/ on http://{shown}:{port}/ (Ctrl-C to stop)")
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


@app.command()
def serve(
    folder: Annotated[
        Path | None,
        typer.Argument(help="The built site [default: DATA/site].", show_default=False),
    ] = None,
    host: Annotated[str, typer.Option(help="Loopback address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    home: HomeOption = None,
) -> None:
    """Serve the built website on loopback, to look at it before publishing.

    guichets serve guichets-data/site --port 8000
    """
    chosen = folder if folder is not None else datadir.site(home_and_db(home, None)[0])
    serve_site(chosen, host=host, port=port)

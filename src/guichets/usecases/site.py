"""Building the public website of a data directory: its figures read once, the latest probes'
archived pages rendered if asked, the pages written. ``guichets site build`` and the demo call
this; the CLI only says what happens (``status``, ``note``).

The builder (Jinja2, the charts, pyarrow for the open data) and the figures' readers are
imported when a site is built, not with this module: ``guichets report`` reads the data
directory's catalogue through :func:`data_catalogue` and pays for none of them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Final

from guichets import datadir
from guichets.catalogue import Catalogue, load_catalogue
from guichets.files import remove_stale_partials
from guichets.http.policy import DEFAULT_USER_AGENT

if TYPE_CHECKING:
    from guichets.site.build import BuildResult
    from guichets.site.figures import SiteFigures
    from guichets.site.publish import SiteLock
    from guichets.store import Store

__all__ = ["DEFAULT_CONTACT", "build_site_of", "data_catalogue"]

# How people reach the robot's operators: the contact URL of the robot's User-Agent.
DEFAULT_CONTACT: Final = DEFAULT_USER_AGENT.split("+", 1)[1].split(";", 1)[0].strip()

Status = Callable[[str], AbstractContextManager[object]]


def _quiet(_message: str) -> AbstractContextManager[object]:
    return nullcontext()


def _drop(_message: str) -> None:
    return None


def data_catalogue(path: Path | None, folder: Path) -> Catalogue | None:
    """The catalogue that names the services: the one given, or the data directory's own (None
    when it has none). Raises :class:`~guichets.tomlconfig.ConfigError` for a bad file."""
    chosen = path if path is not None else datadir.catalogue(folder)
    if path is None and not chosen.exists():
        return None
    return load_catalogue(chosen)


def build_site_of(
    store: Store,
    folder: Path,
    *,
    catalogue: Catalogue | None,
    out: Path | None = None,
    contact: str = DEFAULT_CONTACT,
    screenshots: int = 0,
    status: Status = _quiet,
    say: Callable[[str], None] = _drop,
    note: Callable[[str], None] = _drop,
    wait: float = 0.0,
) -> BuildResult:
    """Build the site of the data directory ``folder`` into ``out`` (default ``folder/site``);
    with ``screenshots``, each service's N latest probes rendered from the evidence first.
    ``status`` wraps each long step, ``say`` and ``note`` tell what happened (and what failed).

    The site's lock is held from the start (``publish.site_lock``): one build of a site at a
    time, the second waiting up to ``wait`` seconds, then SiteBusy. Then the data directory's
    month files' (``opendata_files.hold_months``): one writer of them at a time, whatever the
    site, the second waiting up to ``wait`` seconds as well, then MonthsBusy."""
    from guichets.site.publish import site_lock

    target = out if out is not None else datadir.site(folder)
    with site_lock(target, wait=wait, waiting=note) as held:
        return _build(
            store, folder, target, catalogue, contact, screenshots, status, say, note, held, wait
        )


def _build(
    store: Store,
    folder: Path,
    target: Path,
    catalogue: Catalogue | None,
    contact: str,
    screenshots: int,
    status: Status,
    say: Callable[[str], None],
    note: Callable[[str], None],
    held: SiteLock,
    wait: float,
) -> BuildResult:
    from guichets.site.build import build_site, start_open_data
    from guichets.usecases.figures import read_figures

    remove_stale_partials(datadir.cache(folder, "site"))  # left by a killed build
    # Beside reading the figures, in another process; one build of the data directory's month
    # files at a time, its lock taken after the site's (one order: no deadlock).
    months = start_open_data(store, folder, wait=wait, waiting=note)
    try:
        with status("Reading the figures…"):
            figures = read_figures(
                store,
                catalogue,
                generated_at=datetime.now(UTC),
                cache=datadir.cache(folder, "site"),
            )
        if screenshots:
            with status("Rendering the latest probes' archived pages…"):
                _screenshots(folder, store, figures, screenshots, say, note)
    except BaseException:
        if months is not None:
            months.stop()
        raise
    with status(f"Writing the site into {target}/…"):
        return build_site(
            store, figures, target, home=folder, contact=contact, months=months, held=held
        )


def _screenshots(
    folder: Path,
    store: Store,
    figures: SiteFigures,
    screenshots: int,
    say: Callable[[str], None],
    note: Callable[[str], None],
) -> None:
    from guichets.evidence.screenshot import ScreenshotError
    from guichets.site.build import render_screenshots

    try:
        taken, failed = asyncio.run(render_screenshots(folder, store, figures, screenshots))
    except ScreenshotError as exc:  # no Chromium: the site is still built, without captures
        note(f"note: no screenshots rendered: {exc}")
        return
    say(f"{taken} screenshots rendered from the archive")
    if failed:
        note(f"note: {len(failed)} probes could not be rendered (no archive?), e.g. {failed[0]}")

"""``guichets report``: figures from the stored probes."""

from __future__ import annotations

from collections.abc import Iterable

from rich import box
from rich.table import Table

from guichets.cli.app import DbOption, HomeOption, app, console, fail, home_and_db
from guichets.model import Observation, Outcome
from guichets.stats.summary import summarise
from guichets.store import Store, StoreError


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}"


def print_summary(observations: Iterable[Observation]) -> None:
    """Per service: probes, the five categories, and what is kept apart from them."""
    table = Table(
        title="Probes per service",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        padding=(0, 1, 0, 0),
    )
    table.add_column("service", overflow="ellipsis")
    for column in ("probes", "valid", "A", "B", "C", "D", "E", "error", "barr.", "unrec."):
        table.add_column(column, justify="right", no_wrap=True, min_width=max(3, len(column)))
    for row in summarise(observations):
        table.add_row(
            row.service,
            str(row.probes),
            str(row.valid),
            *(_pct(row.share(c)) for c in "ABCDE"),
            str(row.outcomes[Outcome.SITE_ERROR]),
            str(row.outcomes[Outcome.BARRIER]),
            str(row.outcomes[Outcome.UNRECOGNIZED]),
        )
    console.print(table)
    console.print(
        "A-E: % of valid probes (available + unavailable); E is the failure rate. "
        "Site errors, barriers and unrecognized pages are counted apart, never as E.",
        highlight=False,
    )


@app.command()
def report(home: HomeOption = None, db: DbOption = None) -> None:
    """Print, per service, the probes stored in the data directory and their categories A-E."""
    folder, url = home_and_db(home, db)
    if url is None and not (folder / "guichets.sqlite").exists():
        raise fail(f"no database in {folder}/; run `guichets demo --out {folder}` or "
                   "`guichets run --home …` first, or give --home/--db")  # fmt: skip
    try:
        with Store.open(url, home=folder) as store:
            print_summary(store.observations())
    except StoreError as exc:
        raise fail(str(exc)) from exc

"""``guichets report``: figures from the stored probes."""

from __future__ import annotations

from collections.abc import Iterable

from rich.table import Table

from guichets.cli.app import DbOption, HomeOption, app, console, fail, home_and_db
from guichets.model import Observation, Outcome
from guichets.stats.summary import summarise
from guichets.store import Store, StoreError


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def print_summary(observations: Iterable[Observation]) -> None:
    """Per service: probes, the five categories, failure rate, and what is kept apart from them."""
    table = Table(title="Probes per service (shares of valid probes; failure rate = E)")
    for column in ("service", "dept", "probes", "valid", "A", "B", "C", "D", "E", "failure",
                   "site errors", "barriers", "unrecognized"):  # fmt: skip
        table.add_column(column, justify="left" if column == "service" else "right")
    for row in summarise(observations):
        table.add_row(
            row.service,
            row.departement or "",
            str(row.probes),
            str(row.valid),
            *(_pct(row.share(c)) for c in "ABCDE"),
            _pct(row.failure_rate),
            str(row.outcomes[Outcome.SITE_ERROR]),
            str(row.outcomes[Outcome.BARRIER]),
            str(row.outcomes[Outcome.UNRECOGNIZED]),
        )
    console.print(table)


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

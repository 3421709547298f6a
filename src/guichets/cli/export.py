"""``guichets export observations``: every stored probe as open data, JSON Lines or CSV."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from enum import StrEnum
from pathlib import Path
from typing import IO, Annotated, Any

import typer

from guichets.cli.app import DbOption, HomeOption, app, errors, fail
from guichets.cli.report import (
    DepartementOption,
    FromOption,
    MonthOption,
    ServiceOption,
    ToOption,
    check_service,
    open_store,
    select,
)
from guichets.files import atomic_file
from guichets.store.export import export_rows, write_csv, write_jsonl

export_app = typer.Typer(help="Export the stored data as open data.", no_args_is_help=True)
app.add_typer(export_app, name="export")


class ExportFormat(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"


def _write(fmt: ExportFormat, rows: Iterable[Sequence[Any]], out: IO[str]) -> int:
    writer = write_csv if fmt is ExportFormat.CSV else write_jsonl
    return writer(rows, out)


@export_app.command("observations")
def observations(
    month: MonthOption = None,
    first: FromOption = None,
    last: ToOption = None,
    service: ServiceOption = None,
    departement: DepartementOption = None,
    fmt: Annotated[ExportFormat, typer.Option("--format", help="Output format.")] = (
        ExportFormat.JSONL
    ),
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="File to write [default: standard output].", show_default=False
        ),
    ] = None,
    home: HomeOption = None,
    db: DbOption = None,
) -> None:
    """One row per probe: service, departement, site, day, started_at, outcome, detail, category,
    first_slot, slots_count, slots and more (docs/method.md lists them).

      guichets export observations --month 2026-10 --format csv -o octobre.csv
    """
    chosen = select(month, first, last, service, departement)
    if output is not None and not output.parent.is_dir():
        raise fail(f"--output {output}: folder {output.parent} does not exist; create it first")
    with open_store(home, db) as (store, _):
        check_service(store, chosen.service)
        days = chosen.days(store)
        rows = (
            export_rows(
                store,
                service=chosen.service,
                departement=chosen.departement,
                since=days.start,
                until=days.end,
            )
            if days is not None
            else iter(())
        )
        if output is None:
            count = _write(fmt, rows, sys.stdout)
        else:
            # Written aside, then renamed: an interrupted export never leaves a half file.
            with atomic_file(output, "w") as out:
                count = _write(fmt, rows, out)
    errors.print(f"{count} observations exported", highlight=False)

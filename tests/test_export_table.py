"""The columnar export (``store/export_table.py``) against the export's own row code.

The site's month files are made from columns; ``guichets export observations`` prints rows one
at a time (``export_values`` and ``csv_writer``). On rows made to be awkward (hostile text:
formulas, quotes, separators, line breaks, full-width signs; empty and missing values; slots in
``isoformat``'s spelling and in others; instants as SQLite gives them and as PostgreSQL does;
both sides of the clock changes), the CSV bytes must be the same, and the typed table must hold
the same values.
"""

from __future__ import annotations

import io
import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from guichets.model import PARIS
from guichets.site.opendata import observation_types
from guichets.store.export import EXPORT_COLUMNS, RAW_COLUMNS, csv_writer, export_values
from guichets.store.export_read import table_of_rows
from guichets.store.export_table import KNOWN, columns_of

TEXTS = [
    "", "plain", "=1+2", "+33 1 23", "-5", "@SUM(A1)", "\tTab", "\rcr", "\nline", "a,b",
    'say "hi"', "multi\nline", "＝full", "－", "＠x", "é à ç", "' quoted", "trailing,",
]  # fmt: skip
OUTCOMES = ["available", "unavailable", "barrier", "site_error", "unrecognized"]
# Instants around the clock changes of 2026 (29 March, 25 October, 01:00 UTC).
ANCHORS = [
    datetime(2026, 3, 29, 0, 30, tzinfo=UTC),
    datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
    datetime(2026, 10, 31, 22, 50, tzinfo=UTC),
]


def _sqlite(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _slots(rng: random.Random, at: datetime, canonical: bool) -> str:
    count = rng.choice([0, 0, 1, 2, 2, 3])
    slots = []
    for _ in range(count):
        slot = at + timedelta(days=rng.choice([0.5, 10, 29.9, 30.1, 45, 61, 90]))
        slot = slot.replace(microsecond=rng.choice([0, 0, 120000]))
        slots.append(slot.astimezone(PARIS))
    slots.sort()
    if canonical:
        return json.dumps([s.isoformat() for s in slots])
    # Other spellings of the same instants: UTC with "Z", a space, ".000000".
    return json.dumps([s.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%fZ") for s in slots])


def _rows(seed: int, *, pg: bool, canonical: bool = True) -> list[tuple[Any, ...]]:
    rng = random.Random(seed)
    rows = []
    for n in range(300):
        at = rng.choice(ANCHORS) + timedelta(minutes=rng.randrange(0, 180), microseconds=n % 3)
        lasted = timedelta(seconds=rng.choice([0, 1, 2.5, 3, 0.0004, 0.0015, 12.3456789, 100]))
        horizon = None if rng.random() < 0.2 else at + timedelta(days=91)
        values = {
            "probe_id": f"{n:032x}",
            "service": rng.choice(["75-titres", "-svc", "=svc"]),
            "departement": rng.choice(["75", "2A", None, "971"]),
            "platform": rng.choice(["ezbooking", "rdvpref"]),
            "counter": rng.choice([None, "", "12", "=cmd"]),
            "url": rng.choice(["https://www.example.gouv.fr/booking/create/1", "https://a.b/c,d"]),
            "started_at": at if pg else _sqlite(at),
            "finished_at": at + lasted if pg else _sqlite(at + lasted),
            "outcome": rng.choice(OUTCOMES),
            "detail": rng.choice(TEXTS),
            "slots": _slots(rng, at, canonical),
            "horizon_end": horizon if pg or horizon is None else _sqlite(horizon),
            "requests": rng.randrange(0, 20),
            "http_status": rng.choice([None, 200, 503]),
            "message": rng.choice(TEXTS),
            "assisted": rng.choice([True, False]) if pg else rng.choice([0, 1]),
            "person": rng.choice([None, "p-1", "=p"]),
        }
        rows.append(tuple(values[name] for name in RAW_COLUMNS))
    return rows


def _reference(rows: list[tuple[Any, ...]]) -> tuple[bytes, list[tuple[Any, ...]]]:
    sites: dict[str, str] = {}
    values = [export_values(row, sites) for row in rows]
    out = io.StringIO()
    write = csv_writer(out, header=False)
    for row in values:
        write(row)
    return out.getvalue().encode("utf-8"), values


@pytest.mark.parametrize(
    ("pg", "canonical"), [(False, True), (True, True), (False, False)], ids=["sqlite", "pg", "odd"]
)
def test_columns_print_what_the_export_prints(pg: bool, canonical: bool) -> None:
    assert set(EXPORT_COLUMNS) <= KNOWN  # every column computed by columns, none by rows
    rows = _rows(7, pg=pg, canonical=canonical)
    text, values = _reference(rows)
    columns = columns_of(table_of_rows(rows), observation_types())
    assert columns.text.decode("utf-8").splitlines() == text.decode("utf-8").splitlines()
    assert columns.text == text
    assert b"'=1+2" in text and b"'\xef\xbc\x9dfull" in text  # the cases were met
    assert b'"multi\nline"' in text

    table = columns.table.to_pylist()
    for expected, typed in zip(values, table, strict=True):
        for name, value in zip(EXPORT_COLUMNS, expected, strict=True):
            got = typed[name]
            if name == "slots":
                assert got == " ".join(value)
            elif isinstance(got, datetime):
                assert got == datetime.fromisoformat(value), name
                if name == "horizon_end" or (name == "first_slot" and canonical):
                    assert got.isoformat() == value  # in Paris time, as the CSV
            elif name == "day":
                assert got.isoformat() == value
            else:
                assert got == value, name


def test_an_empty_page() -> None:
    columns = columns_of(table_of_rows([]), observation_types())
    assert columns.text == b""
    assert columns.table.num_rows == 0
    assert columns.table.column_names == list(EXPORT_COLUMNS)

"""Observations as open data: one row per probe, the same columns in JSON Lines and CSV.

The columns are the probe's own JSON (``Observation.to_json``, the ``guichets probe --json``
contract) without the trail and the platform's extra findings (evidence, not data), plus the site
and the Paris date the probe counts for, so that anyone can recompute every share of a report.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from typing import Any, Final, TextIO

from guichets.model import Observation
from guichets.stats.periods import local_day
from guichets.stats.tally import site_of

__all__ = ["EXPORT_COLUMNS", "export_row", "write_csv", "write_jsonl"]

EXPORT_COLUMNS: Final = (
    "probe_id",
    "service",
    "departement",
    "site",
    "platform",
    "counter",
    "url",
    "day",
    "started_at",
    "finished_at",
    "outcome",
    "detail",
    "category",
    "first_slot",
    "slots_count",
    "slots",
    "horizon_end",
    "requests",
    "http_status",
    "duration_seconds",
    "message",
)


def export_row(observation: Observation) -> dict[str, Any]:
    """One probe as a row of :data:`EXPORT_COLUMNS`."""
    data = observation.to_json()
    data["site"] = site_of(observation.url)
    data["day"] = local_day(observation.started_at).isoformat()
    return {column: data[column] for column in EXPORT_COLUMNS}


def write_jsonl(observations: Iterable[Observation], out: TextIO) -> int:
    """One JSON object per line; returns the number of rows."""
    count = 0
    for observation in observations:
        out.write(json.dumps(export_row(observation), ensure_ascii=False) + "\n")
        count += 1
    return count


def write_csv(observations: Iterable[Observation], out: TextIO) -> int:
    """A header, then one row per probe; slots space-separated. Returns the number of rows."""
    writer = csv.DictWriter(out, fieldnames=EXPORT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    count = 0
    for observation in observations:
        row = export_row(observation)
        row["slots"] = " ".join(row["slots"])
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
        count += 1
    return count

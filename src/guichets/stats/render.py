"""Report rows as people and programs read them: a terminal table, Markdown, CSV, JSON.

JSON is the contract (``ReportRow.to_json``); CSV is the same fields flattened (an interval as
``_low`` and ``_high`` columns, counts by kind as ``kind=n`` lists). The table and Markdown show
the headline figures; a share over fewer than 30 valid probes is marked with an asterisk.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from rich import box
from rich.table import Table

from guichets.periods import DateRange
from guichets.stats.leadtime import LeadQuantile
from guichets.stats.report import Level, ReportRow
from guichets.stats.wilson import FEW, Share
from guichets.untrusted import csv_writer, json_dumps, markdown_inline

__all__ = ["FOOTNOTE", "rows_csv", "rows_json", "rows_markdown", "rows_table"]

FOOTNOTE = (
    "A-E: % of valid probes (available + unavailable); E is the failure rate, with its 95 % "
    "Wilson interval. Errors, barriers and unrecognized pages: % of all probes, never counted "
    f"as E. * fewer than {FEW} valid probes. Lead: median days to the first date (> when more "
    "than half found none within the horizon)."
)


def _pct(share: Share, digits: int = 0) -> str:
    value = share.value
    return "-" if value is None else f"{value * 100:.{digits}f}"


def _ci(share: Share) -> str:
    interval = share.interval
    if interval is None:
        return "-"
    return f"{interval[0] * 100:.0f}-{interval[1] * 100:.0f}"


def _lead(q: LeadQuantile | None) -> str:
    if q is None:
        return "-"
    if q.days is None:
        return f">{q.beyond_days:.0f}" if q.beyond_days else ">"
    return f"{q.days:.1f}"


def _name(row: ReportRow) -> str:
    return row.key if row.level is not Level.FRANCE else "France"


def _cells(row: ReportRow, periods: bool) -> list[str]:
    t = row.tally
    failure = row.failure
    first = row.first_slot
    star = "*" if failure.few and t.valid else ""
    cells = [_name(row)]
    if periods:
        cells.append(row.period)
    cells += [
        str(t.probes),
        str(t.valid),
        *(_pct(Share(t.categories[c], t.valid)) for c in "ABCD"),
        _pct(failure) + star,
        _ci(failure),
        *(_pct(Share(t.outcomes[o], t.probes)) for o in ("site_error", "barrier", "unrecognized")),
        "-" if first is None else f"{first:%Y-%m-%d}",
        _lead(row.lead(0.5)),
    ]
    return cells


_HEADERS = (
    "probes",
    "valid",
    "A",
    "B",
    "C",
    "D",
    "E",
    "E 95% CI",
    "err",
    "barr",
    "unrec",
    "1st date",
    "lead",
)


def _headers(rows: Sequence[ReportRow]) -> tuple[list[str], bool]:
    level = rows[0].level if rows else Level.SERVICE
    periods = len({r.period for r in rows}) > 1
    head = [str(level) if level is not Level.FRANCE else "", *(["period"] if periods else [])]
    return head + list(_HEADERS), periods


OPTIONAL = ("lead", "1st date", "unrec")  # dropped, last first, when the terminal is narrow
NAME_WIDTH = 30  # room kept for service ids before optional columns are added


def rows_table(rows: Sequence[ReportRow], title: str, width: int | None = None) -> Table:
    """A rich table of the headline figures; within ``width`` columns when given (the service
    ids then fold, and the least needed columns go first)."""
    headers, periods = _headers(rows)
    cells = [_cells(row, periods) for row in rows]
    widths = [
        max(len(h), *(len(c[i]) for c in cells)) if cells else len(h) for i, h in enumerate(headers)
    ]
    keep = list(range(len(headers)))
    name_max = None
    if width is not None:
        name = min(widths[0], NAME_WIDTH)
        for column in OPTIONAL:  # columns are one space apart
            if name + sum(widths[i] + 1 for i in keep[1:]) <= width:
                break
            keep.remove(headers.index(column))
        name_max = max(8, width - sum(widths[i] + 1 for i in keep[1:]))
    table = Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, padding=0)
    table.add_column(headers[0], overflow="fold", max_width=name_max)
    for i in keep[1:]:
        table.add_column(headers[i], justify="right", no_wrap=True)
    for row in cells:
        table.add_row(*(row[i] for i in keep))
    return table


def rows_markdown(rows: Sequence[ReportRow], title: str) -> str:
    headers, periods = _headers(rows)
    lines = [
        f"## {title}",
        "",
        "| " + " | ".join(headers) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(headers) - 1)) + "|",
    ]
    for row in rows:
        cells = _cells(row, periods)
        named = len(headers) - len(_HEADERS)  # the name (and period) come from the data
        cells[:named] = [markdown_inline(c) for c in cells[:named]]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    lines += ["", FOOTNOTE, ""]
    return "\n".join(lines)


def rows_json(
    rows: Sequence[ReportRow], extra: Callable[[ReportRow], dict[str, Any]] | None = None
) -> str:
    """A JSON list, one row per line (compact rows: the C encoder, for thousands of rows).

    ``extra`` adds keys to a row (what the vantage points saw, ``guichets.workers.report``).
    """
    if not rows:
        return "[]"
    dumped = (r.to_json() | (extra(r) if extra else {}) for r in rows)
    return "[\n" + ",\n".join(json_dumps(d) for d in dumped) + "\n]"


def _flat(value: Any) -> Any:
    if isinstance(value, dict):
        return ";".join(f"{k}={v['count'] if isinstance(v, dict) else v}" for k, v in value.items())
    return "" if value is None else value


def _flat_row(row: ReportRow) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in row.to_json().items():
        if key.endswith("_ci"):
            low, high = value if value is not None else ("", "")
            flat[f"{key}_low"], flat[f"{key}_high"] = low, high
        else:
            flat[key] = _flat(value)
    return flat


def rows_csv(rows: Sequence[ReportRow]) -> str:
    """The JSON fields, one column each; ``x_ci`` becomes ``x_ci_low`` and ``x_ci_high``. The
    header is written even without rows."""
    empty = ReportRow(Level.SERVICE, "", "", DateRange(date(2000, 1, 1), date(2000, 1, 1)))
    out = io.StringIO()
    write = csv_writer(out)  # text cells made inert for spreadsheets (OWASP)
    fields = list(_flat_row(empty))
    write(fields)
    for row in rows:
        flat = _flat_row(row)
        write([flat[field] for field in fields])
    return out.getvalue()

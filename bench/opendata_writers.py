"""Writing the open data's month files: pyarrow against DuckDB, and the whole path, in rows/s.

Issue 18 asked to measure both engines before choosing one. The rows are one month of the data
directory made by ``bench/site.py`` (``--home``; by default the 100 services × 365 days one),
read as the site reads them (``export.raw_pages``) and turned into columns once
(``export_table.columns_of``: the CSV text and the typed Arrow table). Then, each timed alone
(wall and CPU of this process; best of ``--repeat``):

- **read**: ``raw_pages`` (SQLite through the driver's cursor, Python rows), ``raw_tables``
  (Arrow tables: through ADBC's SQLite driver, and through the cursor then converted), and
  **columns**: ``columns_of`` (from the ADBC tables);
- **pyarrow**: the typed table to Parquet (zstd) with ``pyarrow.parquet``; the CSV text to gzip
  with the standard library's ``gzip`` (level 1, as the site writes);
- **DuckDB**: the same Arrow table registered in an in-memory DuckDB, ``COPY … TO`` Parquet
  (zstd) and to gzip CSV. DuckDB prints CSV its own way (a boolean as ``true``, an instant as
  ``2026-10-05 12:34:56+00``, an empty text as ``""``), not as ``guichets export`` does, so its
  CSV is timed from a table of the export's printed cells (all text), which it writes quoted
  its own way: a measure of its speed, not a file the site could publish;
- **the site's path**: ``opendata_files.write_month`` (read, columns, gzip CSV and Parquet).

Figures only; nothing is asserted.

    .venv/bin/pip install -c constraints.txt duckdb     # the bench extra
    .venv/bin/python bench/opendata_writers.py --month 2024-03
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from isal import igzip

from guichets.periods import parse_month
from guichets.site.opendata import observation_types
from guichets.site.opendata_files import GZIP_LEVEL, PAGE_ROWS, write_month
from guichets.store import Store
from guichets.store.export import EXPORT_COLUMNS, raw_pages
from guichets.store.export_read import raw_tables
from guichets.store.export_table import Columns, arrow_schema, columns_of


def timed(repeat: int, work: Callable[[], Any]) -> tuple[float, float, Any]:
    """(best wall seconds, its CPU seconds, the result)."""
    best = (float("inf"), 0.0, None)
    for _ in range(repeat):
        cpu, wall = time.process_time(), time.perf_counter()
        result = work()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        if wall < best[0]:
            best = (wall, cpu, result)
    return best


def text_table(columns: Columns) -> pa.Table:
    """The export's printed cells as an all-text table (for DuckDB's CSV writer)."""
    lines = columns.text.decode("utf-8")
    import csv
    import io

    cells = list(csv.reader(io.StringIO(lines)))
    return pa.table({n: [row[i] for row in cells] for i, n in enumerate(EXPORT_COLUMNS)})


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--home", type=Path, default=Path("/tmp/guichets-bench-site-s100-d365-c1h"))
    parser.add_argument("--month", default="2024-03")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    month = parse_month(args.month)
    types = observation_types()
    schema = arrow_schema(types)
    figures: dict[str, Any] = {"month": args.month}
    with Store.open(None, home=args.home) as store, tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        wall, cpu, _ = timed(args.repeat, lambda: list(raw_pages(store, month.start, month.end)))
        results: dict[str, tuple[float, float]] = {"read (raw_pages, cursor)": (wall, cpu)}
        wall, cpu, pages = timed(
            args.repeat,
            lambda: list(raw_tables(store, month.start, month.end, rows=PAGE_ROWS, adbc=False)),
        )
        results["read (raw_tables, cursor to Arrow)"] = (wall, cpu)
        wall, cpu, pages = timed(
            args.repeat, lambda: list(raw_tables(store, month.start, month.end, rows=PAGE_ROWS))
        )
        results["read (raw_tables, ADBC)"] = (wall, cpu)
        rows = sum(p.num_rows for p in pages)
        figures["rows"] = rows
        wall, cpu, parts = timed(args.repeat, lambda: [columns_of(p, types) for p in pages])
        results["columns (columns_of)"] = (wall, cpu)
        table = pa.concat_tables([c.table for c in parts])
        text = b"".join(c.text for c in parts)
        figures["csv_bytes"] = len(text)

        def arrow_parquet() -> None:
            pq.write_table(table, folder / "a.parquet", compression="zstd")

        def python_gzip() -> None:
            with gzip.GzipFile(folder / "a.csv.gz", "wb", compresslevel=1, mtime=0) as f:
                f.write(text)

        def isal_gzip() -> None:
            with igzip.GzipFile(folder / "i.csv.gz", "wb", compresslevel=GZIP_LEVEL, mtime=0) as f:
                f.write(text)

        results["pyarrow: Parquet (zstd)"] = timed(args.repeat, arrow_parquet)[:2]
        results["gzip module (zlib): CSV (level 1)"] = timed(args.repeat, python_gzip)[:2]
        figures["zlib_csv_gz_bytes"] = (folder / "a.csv.gz").stat().st_size
        results[f"isal igzip: CSV (level {GZIP_LEVEL}, what the build uses)"] = timed(
            args.repeat, isal_gzip
        )[:2]
        figures["isal_csv_gz_bytes"] = (folder / "i.csv.gz").stat().st_size
        try:
            import duckdb
        except ImportError:
            print("duckdb is not installed: pip install -c constraints.txt duckdb", file=sys.stderr)
        else:
            figures["duckdb"] = duckdb.__version__
            db = duckdb.connect()
            db.register("typed", table)
            db.register("printed", text_table(parts[0]) if len(parts) == 1 else
                        pa.concat_tables([text_table(c) for c in parts]))  # fmt: skip
            parquet, packed = folder / "d.parquet", folder / "d.csv.gz"
            to_parquet = f"COPY typed TO '{parquet}' (FORMAT parquet, COMPRESSION zstd)"
            to_csv = f"COPY printed TO '{packed}' (FORMAT csv, HEADER, COMPRESSION gzip)"
            results["DuckDB: Parquet (zstd)"] = timed(args.repeat, lambda: db.execute(to_parquet))[
                :2
            ]
            results["DuckDB: CSV gzip (text cells)"] = timed(
                args.repeat, lambda: db.execute(to_csv)
            )[:2]
            figures["duckdb_parquet_bytes"] = parquet.stat().st_size
            figures["duckdb_csv_gz_bytes"] = packed.stat().st_size
        figures["pyarrow_parquet_bytes"] = (folder / "a.parquet").stat().st_size
        results["the site's path (write_month)"] = timed(
            args.repeat, lambda: write_month(store, folder, args.month, month, False, schema)
        )[:2]
    figures["rows_per_second"] = {
        name: {"wall": round(rows / wall), "cpu": round(rows / max(cpu, 1e-9))}
        for name, (wall, cpu) in results.items()
    }
    print(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""The same demo at two commits gives the same outputs: report JSON, open data, site pages.

    .venv/bin/python bench/identical.py BASE_REV [--head REV] [--days 3]

Each side is a ``git worktree`` of its commit in a temporary folder (``--head`` defaults to this
working tree as it is), run with this virtualenv's Python on ``PYTHONPATH=<side>/src``: a short
``guichets demo`` (simulated clock, the scenario's seed, evidence on, no server), then
``guichets report`` (JSON: per service, per département by day, batch releases) and ``guichets
export observations`` (JSON Lines and CSV). The outputs and every file of the built site are then
compared byte for byte after two substitutions, printed with the result:

- probe ids (random ``uuid4``, also the 8-character prefix in screenshot names) are replaced by
  ``service@started_at``, which the schedule makes unique and the same on both sides;
- wall-clock instants (the site's "generated at", file dates in ``datapackage.json``) falling in
  the hours of this comparison are replaced by ``<now>``;
- the simulator's port (chosen free at each start) in loopback URLs is replaced by ``<port>``;
- a SHA-256 that is the digest of a file of the site, or of its first N bytes (the open data's
  manifest and package list them) is replaced by ``<sha256 of FILE>``: the file is compared;
- the Atom feeds' entry ids (``urn:uuid:`` derived from the alerts' random ids) are replaced by
  ``<entry id>`` (the feed's own id, derived from its scope, is kept and compared).

Parquet files and gzipped CSV files are compared by content, not by bytes: a Parquet file as its
schema and its rows (one JSON line each), a ``.csv.gz`` as the CSV it holds, both with the probe
ids replaced as above. Their compressed bytes carry the random probe ids, so their sizes differ
between two builds of one commit: the size of such a file is replaced by ``<bytes>`` where the
site gives it (``"bytes"`` next to its digest in the open data's package and manifest, the size
column of the open-data page).

Screenshots (PNG) are compared by name only: they are renderings of archived pages by Chromium.
Exit status 0 when everything is identical, 1 otherwise (a figure, not an assertion of the suite).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEX32 = re.compile(r"\b[0-9a-f]{32}\b")
HEX64 = re.compile(r"\b[0-9a-f]{64}\b")
PREFIX = re.compile(r'"bytes": (\d+),\s*"sha256": "([0-9a-f]{64})"')
INSTANT = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?"
)
PORT = re.compile(r"\b(127\.\d+\.\d+\.\d+):\d+")
BINARY = {".png", ".ico", ".woff2", ".gz", ".pickle", ".sqlite"}
# Files compared by content (see the module): their bytes and sizes differ with the probe ids.
BY_CONTENT = (".parquet", ".csv.gz")
SIZED = re.compile(r'"bytes": (\d+)(,\s*"(?:sha256|hash)": "(?:sha256:)?([0-9a-f]{64})")')
SIZE_CELL = re.compile(
    r'(href="[^"]+(?:\.parquet|\.csv\.gz)">(?:(?!</tr>).)*?<td class="num">[^<]*</td>'
    r'<td class="num">)[^<]*(</td>)'
)
ENTRY_ID = re.compile(r"<id>urn:uuid:[0-9a-f-]{36}</id>")


def content(path: Path, data: bytes) -> bytes:
    """What of a file is compared: its bytes, or for a file of :data:`BY_CONTENT` what it holds
    (a Parquet file: its schema, then its rows as JSON lines; a ``.csv.gz``: the CSV)."""
    if path.name.endswith(".csv.gz"):
        return gzip.decompress(data)
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq  # this virtualenv's: the project's own dependency

        table = pq.read_table(path)
        lines = [table.schema.to_string(show_schema_metadata=True)]
        lines += [json.dumps(row, default=str, ensure_ascii=False) for row in table.to_pylist()]
        return "\n".join(lines).encode()
    return b"" if path.suffix in BINARY else data


def run(cmd: list[str], src: Path, cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUICHETS_")}
    env.update(PYTHONPATH=str(src), COLUMNS="200", NO_COLOR="1")
    done = subprocess.run(
        [sys.executable, "-m", "guichets", *cmd], cwd=cwd, env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed at {src}:\n{done.stderr[-2000:]}")
    return done.stdout


def side(name: str, src: Path, work: Path, days: int) -> dict[str, bytes]:
    """Every output of one side, by name."""
    home = work / name
    started = time.perf_counter()
    run(["demo", "--days", str(days), "--out", str(home), "--no-serve"], src, work)
    out: dict[str, bytes] = {}
    for label, args in {
        "report.json": ["report", "--format", "json"],
        "report-departements-by-day.json": [
            "report", "--format", "json", "--level", "departement", "--by", "day"],
        "releases.json": ["report", "--releases", "--format", "json"],
        "observations.jsonl": ["export", "observations", "--format", "jsonl"],
        "observations.csv": ["export", "observations", "--format", "csv"],
    }.items():  # fmt: skip
        out[label] = run([*args, "--home", str(home)], src, work).encode()
    raw: dict[str, bytes] = {}
    for path in sorted((home / "site").rglob("*")):
        if path.is_file():
            rel = "site/" + path.relative_to(home / "site").as_posix()
            raw[rel] = data = path.read_bytes()
            out[rel] = content(path, data)
            out[f"sha256:{hashlib.sha256(data).hexdigest()}"] = rel.encode()
    # A digest of a file's first N bytes (the open data's manifest keeps those of settled rows).
    for data in raw.values():
        for size, digest in PREFIX.findall(data.decode("utf-8", "replace")):
            if f"sha256:{digest}" in out:
                continue
            for rel, whole in raw.items():
                if (
                    len(whole) >= int(size)
                    and hashlib.sha256(whole[: int(size)]).hexdigest() == digest
                ):
                    out[f"sha256:{digest}"] = f"{rel}[:{size}]".encode()
                    break
    print(f"{name}: demo and outputs in {time.perf_counter() - started:.0f} s", flush=True)
    return out


def id_map(outputs: dict[str, bytes]) -> dict[str, str]:
    """probe id -> service@started_at, from the exported rows."""
    rows = csv.DictReader(io.StringIO(outputs["observations.csv"].decode()))
    found = {}
    for row in rows:
        found[row["probe_id"]] = f"{row['service']}@{row['started_at']}"
    return found


def normalise(
    text: str, ids: dict[str, str], window: tuple[datetime, datetime], hashes: dict[str, str]
) -> str:
    short = {k[:8]: v for k, v in ids.items()}

    def probe(m: re.Match[str]) -> str:
        return ids.get(m.group(0), m.group(0))

    def instant(m: re.Match[str]) -> str:
        try:
            at = datetime.fromisoformat(m.group(0).replace("Z", "+00:00"))
        except ValueError:
            return m.group(0)
        at = at if at.tzinfo else at.replace(tzinfo=UTC)
        return "<now>" if window[0] <= at <= window[1] else m.group(0)

    def sized(m: re.Match[str]) -> str:
        named = hashes.get(m.group(3), "")
        by_content = any(named.endswith(f"{end}>") for end in BY_CONTENT)
        return f'"bytes": "<bytes>"{m.group(2)}' if by_content else m.group(0)

    text = SIZED.sub(sized, text)
    text = SIZE_CELL.sub(r"\1<bytes>\2", text)
    text = HEX64.sub(lambda m: hashes.get(m.group(0), m.group(0)), text)
    text = PORT.sub(r"\1:<port>", HEX32.sub(probe, text))
    text = re.sub(
        r"_([0-9a-f]{8})\.png", lambda m: f"_{short.get(m.group(1), m.group(1))}.png", text
    )
    return INSTANT.sub(instant, text)


def normalised(outputs: dict[str, bytes], window: tuple[datetime, datetime]) -> dict[str, str]:
    ids = id_map(outputs)
    hashes = {k[7:]: f"<sha256 of {v.decode()}>" for k, v in outputs.items() if k[:7] == "sha256:"}
    found = {}
    for name, data in outputs.items():
        if name.startswith("sha256:"):
            continue
        key = normalise(name, ids, window, hashes)
        try:
            text = normalise(data.decode(), ids, window, hashes)
        except UnicodeDecodeError:
            text = f"<{len(data)} bytes>"
        if name.endswith(".atom"):  # the entries' ids, after the feed's own
            feed, entry, entries = text.partition("<entry>")
            text = feed + entry + ENTRY_ID.sub("<id>urn:uuid:<entry id></id>", entries)
        found[key] = text
    return found


def worktree(rev: str, into: Path) -> Path:
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(into), rev],
                   check=True, capture_output=True)  # fmt: skip
    return into


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base", help="the commit to compare with, e.g. ddb0cf9")
    parser.add_argument("--head", help="the other commit [default: this working tree]")
    parser.add_argument("--days", type=int, default=3, help="simulated days of the demo")
    args = parser.parse_args()
    window = (datetime.now(UTC) - timedelta(hours=2), datetime.now(UTC) + timedelta(hours=6))
    with tempfile.TemporaryDirectory(prefix="guichets-identical-") as tmp:
        work = Path(tmp)
        trees = []
        try:
            base = worktree(args.base, work / "base-tree")
            trees.append(base)
            head = ROOT
            if args.head is not None:
                head = worktree(args.head, work / "head-tree")
                trees.append(head)
            a = normalised(side("base", base / "src", work, args.days), window)
            b = normalised(side("head", head / "src", work, args.days), window)
        finally:
            for tree in trees:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
                               capture_output=True)  # fmt: skip
    differ = sorted(k for k in a.keys() & b.keys() if a[k] != b[k])
    only = sorted(a.keys() ^ b.keys())
    same = len(a.keys() & b.keys()) - len(differ)
    head_name = args.head or "working tree"
    print(f"{args.base} vs {head_name}, demo of {args.days} days: {same} outputs identical, "
          f"{len(differ)} differ, {len(only)} on one side only")  # fmt: skip
    for name in differ[:20]:
        lines_a, lines_b = a[name].splitlines(), b[name].splitlines()
        pairs = enumerate(zip(lines_a, lines_b, strict=False))
        first = next((i for i, (x, y) in pairs if x != y), min(len(lines_a), len(lines_b)))
        print(f"  differs: {name} (line {first + 1})")
        print(f"    base: {lines_a[first][:160] if first < len(lines_a) else '<end>'}")
        print(f"    head: {lines_b[first][:160] if first < len(lines_b) else '<end>'}")
    for name in only[:20]:
        print(f"  only in {'base' if name in a else 'head'}: {name}")
    print(json.dumps({"identical": same, "differ": len(differ), "one_side": len(only)}))
    return 0 if not differ and not only else 1


if __name__ == "__main__":
    sys.exit(main())

"""Where is a TOML key written? Candidates for ``guichets.tomlconfig``'s key positions, measured.

    .venv/bin/pip install -c constraints.txt -e '.[bench]'   # tree-sitter(-toml), tomlkit-extras
    .venv/bin/python bench/toml_positions.py [--runs 5] [--json]

pydantic says *what* is wrong (``services.37.url``); a person editing the file needs *where*
(``catalogue.toml:412``). tomli gives positions for syntax errors only, so something must map a
key path back to its line. The candidates:

- **scanner**: ``guichets.tomlconfig.LineIndex``, the project's own light tokenizer;
- **tree-sitter**: the syntax tree of ``tree-sitter-toml`` (a C parser behind the ``tree-sitter``
  binding), walked here to resolve key paths (array-of-tables indices, dotted keys, quoted keys);
  line and column of every key, header and array element;
- **tomlkit-extras**: ``TOMLDocumentDescriptor`` over tomlkit's style-preserving document (tomlkit
  keeps the source text of every item but no position; this library recounts the lines); asked for
  each annotated path it can express (one array-of-tables index at most, no array elements);
- **tomlkit** and **tomli**, parse only: what any tomlkit-based index costs at the least, and what
  every load pays anyway.

What is measured:

1. **correctness** on the corpus ``tests/fixtures/toml_positions/*.toml`` (annotated: the line, and
   often the column, of each key path), as written and with CRLF line ends, plus every service's
   ``url`` line in ``catalogues/france.toml`` and in a catalogue of about 8 MB (the loader's limit)
   made of it;
2. **time and memory on big and hostile files**, each in a child process limited to 60 s of CPU and
   1.5 GB of address space (as ``tests/faults/test_hostile_catalogues.py``): CPU seconds and peak
   RSS, and what happened (indexed, refused, crashed);
3. **import cost**: CPU time of ``import MODULE`` in a fresh interpreter, above the bare one;
4. **weight**: the installed size of each candidate's distributions.

Figures only, no assertion. The machine's load is printed with them: on a shared machine compare
the candidates of one run, not runs with each other.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.tomlcorpus import Loc, Position, annotations, corpus  # noqa: E402  (one corpus)

FRANCE = ROOT / "catalogues" / "france.toml"
CPU_SECONDS = 60
MEMORY = 1_500_000_000
MAX_DEPTH = 64  # as guichets.tomlconfig.MAX_DEPTH: deeper nesting is refused at its line


# --------------------------------------------------------------------------------------------
# The corpus (annotated by hand: tests/tomlcorpus.py) and catalogues


def catalogue_urls(text: str) -> dict[Loc, Position]:
    """Each ``[[services]]`` row's ``url = ...`` line, found by plain line matching (the
    catalogues have one key a line and no multi-line string)."""
    expected: dict[Loc, Position] = {}
    row = -1
    for number, line in enumerate(text.split("\n"), 1):
        stripped = line.lstrip()
        if stripped.startswith("[[services]]"):
            row += 1
        elif stripped.startswith("url =") and row >= 0:
            expected[("services", row, "url")] = (number, len(line) - len(stripped) + 1)
    return expected


def big_catalogue(limit: int = 8 * 1024 * 1024 - 4096) -> str:
    """``france.toml`` repeated to just under the loader's limit (ids repeat: positions only)."""
    text = FRANCE.read_text("utf-8")
    header, _, rows = text.partition("[[services]]")
    rows = "[[services]]" + rows
    parts = [header]
    size = len(header.encode())
    while size + len(rows.encode()) < limit:
        parts.append(rows)
        size += len(rows.encode())
    return "".join(parts)


# --------------------------------------------------------------------------------------------
# Candidates: each returns {path: (line, column or None)} for the paths written in the text


def index_scanner(text: str) -> dict[Loc, Position]:
    from guichets.tomlconfig import _Scanner

    scan = _Scanner(text).run()
    if scan.too_deep is not None:  # read_toml refuses the file at that line
        raise TooDeep
    return {loc: (line, scan.columns[loc]) for loc, line in scan.lines.items()}


class TooDeep(Exception):
    """Nesting beyond MAX_DEPTH: refused, as the scanner refuses it."""


def index_tree_sitter(text: str) -> dict[Loc, Position]:
    """Key paths from tree-sitter-toml's syntax tree, walked without recursion."""
    import tomli
    import tree_sitter
    import tree_sitter_toml

    data = text.encode("utf-8")
    parser = tree_sitter.Parser(tree_sitter.Language(tree_sitter_toml.language()))
    root = parser.parse(data).root_node
    found: dict[Loc, Position] = {}
    aot_counts: dict[Loc, int] = {}
    columns: dict[int, tuple[int, int]] = {}  # row -> (byte column, character column) seen last

    def position(node: Any) -> Position:
        row, byte_col = node.start_point
        start = node.start_byte - byte_col
        seen_bytes, seen_chars = columns.get(row, (0, 0))
        if byte_col < seen_bytes:
            seen_bytes, seen_chars = 0, 0
        chars = seen_chars + len(data[start + seen_bytes : start + byte_col].decode("utf-8"))
        columns[row] = (byte_col, chars)
        return row + 1, chars + 1

    def key_parts(node: Any) -> list[str]:
        parts: list[Any] = []
        while node.type == "dotted_key":
            children = node.children
            parts.append(children[-1])
            node = children[0]
            if len(parts) > MAX_DEPTH:
                raise TooDeep
        parts.append(node)
        return [key_text(part) for part in reversed(parts)]

    def key_text(node: Any) -> str:
        raw = node.text.decode("utf-8")
        if node.type == "bare_key":
            return str(raw)
        if raw.startswith("'"):
            return str(raw[1:-1])
        return str(next(iter(tomli.loads(f"{raw} = 0"))))  # a basic string's escapes

    def record(path: Loc, node: Any) -> None:
        if len(path) > MAX_DEPTH:
            raise TooDeep
        found.setdefault(path, position(node))

    work: list[tuple[Any, Loc, int]] = []  # (value node, its path, nesting depth)

    def pairs(parent: Any, base: Loc, depth: int) -> None:
        for child in parent.children:
            if child.type != "pair":
                continue
            named = [c for c in child.children if c.is_named and c.type != "comment"]
            key, value = named[0], named[-1]  # a trailing comment is the pair's last child
            path = (*base, *key_parts(key))
            record(path, key)
            work.append((value, path, depth))

    pairs(root, (), 0)  # top-level pairs come before any table header
    for child in root.children:
        if child.type in ("table", "table_array_element"):
            key = next(c for c in child.children if c.type.endswith("_key"))
            keys = key_parts(key)
            resolved: Loc = ()
            array = child.type == "table_array_element"
            for part in keys[:-1] if array else keys:
                resolved = (*resolved, part)
                if resolved in aot_counts:
                    resolved = (*resolved, aot_counts[resolved] - 1)
            if array:
                array_path = (*resolved, keys[-1])
                count = aot_counts.get(array_path, 0)
                aot_counts[array_path] = count + 1
                record(array_path, child)
                resolved = (*array_path, count)
            record(resolved, child)
            pairs(child, resolved, 0)
    while work:
        value, path, depth = work.pop()
        if value.type == "array":
            if depth + 1 > MAX_DEPTH:
                raise TooDeep
            elements = [c for c in value.children if c.is_named and c.type != "comment"]
            for number, element in enumerate(elements):
                record((*path, number), element)
                work.append((element, (*path, number), depth + 1))
        elif value.type == "inline_table":
            if depth + 1 > MAX_DEPTH:
                raise TooDeep
            pairs(value, path, depth + 1)
    return found


def index_tomlkit_extras(text: str, wanted: dict[Loc, Position]) -> dict[Loc, Position]:
    """Lines of the wanted paths that TOMLDocumentDescriptor can express."""
    import tomlkit
    import tomlkit_extras

    descriptor = tomlkit_extras.TOMLDocumentDescriptor(tomlkit.parse(text))
    found: dict[Loc, Position] = {}
    for loc in wanted:
        numbers = [s for s in loc if isinstance(s, int)]
        names = [s for s in loc if isinstance(s, str)]
        hierarchy = ".".join(names)
        try:
            if not numbers:
                try:
                    line = descriptor.get_field(hierarchy).line_no
                except Exception:
                    line = descriptor.get_table(hierarchy).line_no
            elif len(numbers) == 1 and isinstance(loc[-1], int):
                line = descriptor.get_aot(hierarchy)[0].tables[numbers[0]].line_no
            elif len(numbers) == 1 and loc.index(numbers[0]) < len(loc) - 1:
                try:
                    line = descriptor.get_field_from_aot(hierarchy)[numbers[0]].line_no
                except Exception:
                    line = descriptor.get_table_from_aot(hierarchy)[numbers[0]].line_no
            else:
                continue
        except Exception:
            continue
        found[loc] = (line, None)
    return found


def parse_tomlkit(text: str) -> dict[Loc, Position]:
    import tomlkit

    tomlkit.parse(text)
    return {}


def parse_tomli(text: str) -> dict[Loc, Position]:
    import tomli

    tomli.loads(text)
    return {}


CANDIDATES: dict[str, Callable[[str], dict[Loc, Position]]] = {
    "scanner": index_scanner,
    "tree-sitter": index_tree_sitter,
    "tomlkit-extras": lambda text: index_tomlkit_extras(text, annotations(text)[0]),
    "tomlkit (parse only)": parse_tomlkit,
    "tomli (parse only)": parse_tomli,
}
INDEXERS = ("scanner", "tree-sitter", "tomlkit-extras")


# --------------------------------------------------------------------------------------------
# 1. Correctness


def score(name: str, text: str, present: dict[Loc, Position], absent: set[Loc]) -> dict[str, Any]:
    try:
        if name == "tomlkit-extras":
            got = index_tomlkit_extras(text, present)
        else:
            got = CANDIDATES[name](text)
    except Exception as error:  # a candidate that fails on valid TOML: counted, not raised
        return {"error": f"{type(error).__name__}: {str(error)[:80]}", "paths": len(present)}
    lines_right = sum(1 for loc, (line, _) in present.items() if got.get(loc, (0,))[0] == line)
    with_column = {loc: pos for loc, pos in present.items() if pos[1] is not None}
    columns_right = sum(1 for loc, pos in with_column.items() if got.get(loc) == pos)
    wrong = [
        f"{loc}: {got.get(loc)} for {pos}"
        for loc, pos in present.items()
        if got.get(loc, (0,))[0] != pos[0]
    ]
    return {
        "paths": len(present),
        "lines_right": lines_right,
        "columns": len(with_column),
        "columns_right": columns_right,
        "absent_right": sum(1 for loc in absent if loc not in got),
        "absent": len(absent),
        "wrong": wrong[:6],
    }


def correctness() -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    cases = [(label, text, *annotations(text)) for label, text in corpus()]
    france = FRANCE.read_text("utf-8")
    cases.append(("france.toml, every url", france, catalogue_urls(france), set()))
    big = big_catalogue()
    # tomlkit-extras is left out there: one query walks its whole store, so 32,000 queries ran
    # for more than ten minutes before being stopped.
    cases.append(("8 MB catalogue, every url", big, catalogue_urls(big), set()))
    for label, text, present, absent in cases:
        names = [n for n in INDEXERS if not (n == "tomlkit-extras" and len(text) > 1_000_000)]
        results[label] = {name: score(name, text, present, absent) for name in names}
    return results


# --------------------------------------------------------------------------------------------
# 2. Time and memory, each case in a child process with limits


def hostile_cases() -> dict[str, str]:
    return {
        "france.toml (25 KB, 101 services)": FRANCE.read_text("utf-8"),
        "8 MB catalogue (about 32,000 services)": big_catalogue(),
        "deep table header, 50,000 dotted keys (100 KB)": "["
        + ".".join(["a"] * 50_000)
        + "]\nx = 1\n",
        "dotted key of 50,000 parts (100 KB)": ".".join(["a"] * 50_000) + " = 1\n",
        "arrays nested 500 deep": "x = " + "[" * 500 + "]" * 500 + "\n",
        "inline tables nested 500 deep": "x = " + "{ a = " * 500 + "1" + " }" * 500 + "\n",
        "200,000 keys, one a line (3 MB)": "".join(f"k{n} = {n}\n" for n in range(200_000)),
        "one array of 500,000 integers on one line (3.4 MB)": "x = ["
        + ",".join(str(n) for n in range(500_000))
        + "]\n",
        "50,000 [[services]] headers (700 KB)": "[[services]]\nx = 1\n" * 50_000,
        "a 5 MB multi-line string": 'x = """' + ("abc [[y]] z = 1\n" * 320_000) + '"""\n',
    }


CHILD = """
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
import toml_positions as bench
name = sys.argv[2]
text = open(sys.argv[3], encoding="utf-8").read()
fn = bench.CANDIDATES[name]
if name == "tomlkit-extras":
    fn = lambda t: bench.index_tomlkit_extras(t, {})
fn("a = 1\\n")  # imports and first-call costs out of the measure
before = resource.getrusage(resource.RUSAGE_SELF)
started = time.perf_counter()
try:
    found = fn(text)
    outcome = f"indexed {len(found)} paths" if found or name in bench.INDEXERS else "parsed"
except bench.TooDeep:
    outcome = "refused: too deep"
except RecursionError:
    outcome = "RecursionError"
except Exception as error:
    outcome = f"{type(error).__name__}"
wall = time.perf_counter() - started
after = resource.getrusage(resource.RUSAGE_SELF)
cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
print(json.dumps({"cpu": cpu, "wall": wall, "outcome": outcome}))
"""


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS))
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))


def run_limited(args: list[str], env: dict[str, str]) -> tuple[int, str, str, float, float]:
    """Exit status, stdout, stderr, CPU seconds and peak RSS (MB) of one child, from wait4."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        child = subprocess.Popen(args, stdout=out, stderr=err, env=env, preexec_fn=_limits)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        cpu = usage.ru_utime + usage.ru_stime
        return child.returncode, out.read(), err.read(), cpu, usage.ru_maxrss / 1024


def hostile() -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    with tempfile.TemporaryDirectory() as folder:
        for label, text in hostile_cases().items():
            path = Path(folder) / "case.toml"
            path.write_text(text, "utf-8")
            row: dict[str, Any] = {}
            for name in CANDIDATES:
                args = [sys.executable, "-c", CHILD, str(ROOT / "bench"), name, str(path)]
                code, out, err, cpu, peak = run_limited(args, env)
                if code == 0 and out.strip():
                    row[name] = json.loads(out.strip().splitlines()[-1])
                else:
                    tail = (err.strip().splitlines() or ["?"])[-1][:80]
                    killed = f"signal {-code}: CPU or memory limit" if code < 0 else tail
                    row[name] = {"outcome": f"died ({killed})", "cpu": None, "wall": None}
                row[name]["child_cpu"] = cpu
                row[name]["peak_mb"] = peak
            results[label] = row
    return results


# --------------------------------------------------------------------------------------------
# 3. Import cost, 4. weight


IMPORTS = {  # each on top of guichets.tomlconfig (the scanner, pydantic and tomli): the extra
    "scanner": "guichets.tomlconfig",
    "tree-sitter": "guichets.tomlconfig, tree_sitter, tree_sitter_toml",
    "tomlkit-extras": "guichets.tomlconfig, tomlkit_extras",
    "tomlkit (parse only)": "guichets.tomlconfig, tomlkit",
}
DISTRIBUTIONS = {
    "scanner": [],
    "tree-sitter": ["tree-sitter", "tree-sitter-toml"],
    "tomlkit-extras": ["tomlkit-extras", "pathvalidate", "pyrsistent"],
    "tomlkit (parse only)": ["tomlkit"],
    "tomli (parse only)": ["tomli"],
}


def import_cost(runs: int) -> dict[str, dict[str, float]]:
    """The fastest of ``runs`` fresh interpreters (the least disturbed by the machine's other
    load), in CPU ms: bare, and each candidate's modules with ``guichets.tomlconfig``."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}

    def cpu_of(code: str) -> float:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run([sys.executable, "-c", code], env=env, check=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)

    out = {"bare interpreter": {"cpu_ms": min(cpu_of("pass") for _ in range(runs)) * 1000}}
    for name, modules in IMPORTS.items():  # the scanner first: the others are compared with it
        fastest = min(cpu_of(f"import {modules}") for _ in range(runs)) * 1000
        base = out.get("scanner", {"cpu_ms": fastest})["cpu_ms"]
        out[name] = {"cpu_ms": fastest, "above_scanner_ms": fastest - base}
    return out


def weight() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, distributions in DISTRIBUTIONS.items():
        size = 0
        versions = []
        for dist_name in distributions:
            try:
                dist = importlib.metadata.distribution(dist_name)
            except importlib.metadata.PackageNotFoundError:
                versions.append(f"{dist_name} (not installed)")
                continue
            versions.append(f"{dist_name} {dist.version}")
            for file in dist.files or []:
                located = Path(str(dist.locate_file(file)))
                if located.is_file():
                    size += located.stat().st_size
        out[name] = {"distributions": versions, "installed_kb": size // 1024}
    return out


# --------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--skip-hostile", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    report: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.platform()}",
        "python": platform.python_version(),
        "load_before": os.getloadavg(),
        "correctness": correctness(),
        "hostile": {} if args.skip_hostile else hostile(),
        "import": import_cost(args.runs),
        "weight": weight(),
        "load_after": os.getloadavg(),
    }
    if args.json:
        print(json.dumps(report, indent=1, ensure_ascii=False))
        return
    print(f"{report['date']}  {report['machine']}  Python {report['python']}")
    print(f"load average before {report['load_before']}, after {report['load_after']}\n")
    print("1. Correctness: lines right / paths; columns right / annotated (tomlkit-extras: none)")
    for label, row in report["correctness"].items():
        cells = []
        for name, result in row.items():
            if "error" in result:
                cells.append(f"{name}: FAILS ({result['error']})")
                continue
            cell = f"{name}: {result['lines_right']}/{result['paths']}"
            if result["absent"]:
                cell += f", absent {result['absent_right']}/{result['absent']}"
            if name != "tomlkit-extras" and result["columns"]:
                cell += f", columns {result['columns_right']}/{result['columns']}"
            cells.append(cell)
        print(f"  {label}: " + "; ".join(cells))
        for name, result in row.items():
            for wrong in result.get("wrong", [])[:3]:
                print(f"      {name} wrong: {wrong}")
    print("\n2. Big and hostile files: CPU seconds of the index (child peak RSS in MB), outcome")
    for label, row in report["hostile"].items():
        print(f"  {label}")
        for name, result in row.items():
            cpu = "-" if result["cpu"] is None else f"{result['cpu']:.3f} s"
            print(f"      {name:22} {cpu:>9}  peak {result['peak_mb']:.0f} MB"
                  f"  (child {result['child_cpu']:.2f} s CPU)  {result['outcome']}")  # fmt: skip
    print("\n3. Import, CPU ms (fastest of runs); the extra above guichets.tomlconfig's own")
    for name, result in report["import"].items():
        extra = f", {result['above_scanner_ms']:+.0f}" if "above_scanner_ms" in result else ""
        print(f"  {name:22} {result['cpu_ms']:.0f}{extra}")
    print("\n4. Weight, installed")
    for name, result in report["weight"].items():
        print(f"  {name:22} {result['installed_kb']} KB  {', '.join(result['distributions'])}")


if __name__ == "__main__":
    main()

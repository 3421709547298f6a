"""The site and open data of the demo, built by this code and by an earlier commit, compared.

Issue 18 changed how the site is built (month files from columns, kept and linked; cached
figures' lines; pages rendered only when their inputs changed, in several processes) and added
formats (gzip CSV and Parquet instead of plain CSV and JSON Lines for closed months). What the
pages and files say must not change: this script runs the robot over the demo once (``guichets
demo --no-site --no-serve``), checks out the earlier commit (``--base``, default ``ddb0cf9``,
the commit before the issue) into a temporary git worktree, builds the site from two copies of
the same data directory with each code (``guichets site build``, the earlier code run from its
worktree's ``src`` with this virtualenv), then compares every file:

- every page, byte for byte, except the open-data page, which lists the new files;
- each month's CSV: the earlier plain CSV against this build's decompressed ``.csv.gz`` (and the
  current month's plain CSV); the monthly figures' CSV and JSON byte for byte;
- ``datapackage.json``: the same package, resource of the figures included, but for the
  observation resources (new names and formats) and ``created``.

Prints what differs, and a one-line verdict; exit status 1 when anything differs (it is a check
script, not a test: it needs git and minutes). Nothing else is asserted.

    .venv/bin/python bench/site_equivalence.py                 # --days 3 --base ddb0cf9
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
    subprocess.run(args, check=True, env=env, cwd=cwd, stdout=subprocess.DEVNULL)


def build(src: Path, home: Path, out: Path) -> None:
    """``guichets site build`` with the code in ``src`` (a package tree), this interpreter."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    run(sys.executable, "-m", "guichets", "site", "build", "--home", str(home), "--out", str(out),
        env=env)  # fmt: skip


def files(folder: Path) -> dict[str, Path]:
    return {
        str(p.relative_to(folder)): p
        for p in folder.rglob("*")
        if p.is_file() and not p.name.startswith(".")
    }


def compare(before: Path, after: Path) -> list[str]:
    """What differs between the earlier build and this one, once the new formats are set aside."""
    old, new = files(before), files(after)
    problems = []
    data = "donnees/v1.0/"
    for path, file in sorted(old.items()):
        if path in ("donnees.html", "en/donnees.html"):
            continue  # the list of files, which changed by design
        if path.startswith(data + "observations/"):
            name = path[len(data + "observations/") :]
            if name.endswith(".jsonl"):
                continue  # JSON Lines is no longer published (Parquet is the typed format)
            packed = new.get(path + ".gz")
            if packed is None:
                problems.append(f"{path}: no {name}.gz")
            elif gzip.decompress(packed.read_bytes()) != file.read_bytes():
                problems.append(f"{path}: differs from {name}.gz decompressed")
            if path in new and new[path].read_bytes() != file.read_bytes():
                problems.append(f"{path}: the plain CSV differs")
            continue
        if path == data + "datapackage.json":
            a, b = json.loads(file.read_text()), json.loads(new[path].read_text())
            for package in (a, b):
                package.pop("created")
                package["resources"] = [
                    r for r in package["resources"] if not r["path"].startswith("observations/")
                ]
            if a != b:
                problems.append(f"{path}: differs beyond the observation resources")
            continue
        if path not in new:
            problems.append(f"{path}: missing")
        elif new[path].read_bytes() != file.read_bytes():
            problems.append(f"{path}: differs")
    for path in sorted(set(new) - set(old)):
        if not (path.startswith(data + "observations/") and path.endswith((".gz", ".parquet"))):
            problems.append(f"{path}: new file")
    return problems


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", default="ddb0cf9", help="the earlier commit")
    parser.add_argument("--days", type=int, default=3, help="simulated days of the demo")
    parser.add_argument("--keep", type=Path, help="keep the folders here")
    args = parser.parse_args(argv)
    scratch = Path(args.keep or tempfile.mkdtemp(prefix="guichets-equivalence-"))
    scratch.mkdir(parents=True, exist_ok=True)
    worktree = scratch / "base"
    try:
        home = scratch / "demo"
        if not (home / "guichets.sqlite").exists():
            run(sys.executable, "-m", "guichets", "demo", "--days", str(args.days), "--out",
                str(home), "--no-site", "--no-serve")  # fmt: skip
        if not worktree.exists():
            run("git", "worktree", "add", "--detach", str(worktree), args.base, cwd=ROOT)
        sites = {}
        for name, src in (("base", worktree / "src"), ("head", ROOT / "src")):
            copy = scratch / f"home-{name}"
            shutil.rmtree(copy, ignore_errors=True)
            shutil.copytree(home, copy, ignore=shutil.ignore_patterns("site", "cache", "opendata"))
            sites[name] = scratch / f"site-{name}"
            shutil.rmtree(sites[name], ignore_errors=True)
            build(src, copy, sites[name])
        problems = compare(sites["base"], sites["head"])
        for line in problems:
            print(line)
        compared = len(files(sites["base"]))
        verdict = "the same" if not problems else f"{len(problems)} differences"
        print(f"{compared} files of the {args.base} build compared with this code's: {verdict}")
        return 1 if problems else 0
    finally:
        if worktree.exists():
            run("git", "worktree", "remove", "--force", str(worktree), cwd=ROOT)
        if args.keep is None:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""How long ``guichets --version`` and ``guichets --help`` take, at two commits side by side.

    .venv/bin/python bench/cli.py [BASE_REV] [--runs 15]

BASE_REV (default ``ddb0cf9``, before the commands were imported lazily) is checked out with
``git worktree`` into a temporary folder; the other side is this working tree. Both run with
this virtualenv's Python (``python -m guichets`` on ``PYTHONPATH=<side>/src``), so only the
package's own code differs. For each command and side:

- **cold**: the first run with an empty bytecode cache for the package's own modules
  (``PYTHONPYCACHEPREFIX`` pointing to a new empty folder, so every ``guichets`` module is compiled
  again, as after a fresh install); the installed libraries keep their bytecode, and the system's
  file cache is left alone (dropping it would slow down everyone else on the machine);
- **warm**: ``--runs`` further runs with that cache filled; the median and the fastest.

Wall time and CPU time (user + system, of the child process) are both printed: on a loaded
machine the wall time mostly measures the others' load, the CPU time much less so.

The bare interpreter (``python -c pass``) is measured the same way as the floor. The machine's
load average is printed with the figures: on a shared machine, compare sides of one run only.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def once(args: list[str], src: Path | None, cache: Path) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of one run."""
    # PYTHONDONTWRITEBYTECODE (set on some machines, this one included) would leave the cache empty
    # and make every "warm" run a cold one: bytecode is written here as on an installed machine.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("GUICHETS_") and k != "PYTHONDONTWRITEBYTECODE"
    }
    env.update(PYTHONPYCACHEPREFIX=str(cache), COLUMNS="100")
    if src is not None:
        env["PYTHONPATH"] = str(src)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run([sys.executable, *args], env=env, check=True, capture_output=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def measure(args: list[str], src: Path | None, runs: int, work: Path) -> dict[str, float]:
    cache = Path(tempfile.mkdtemp(dir=work, prefix="pycache-"))
    cold, cold_cpu = once(args, src, cache)
    warm = [once(args, src, cache) for _ in range(runs)]
    walls, cpus = [w for w, _ in warm], [c for _, c in warm]
    return {"cold": cold, "warm_median": statistics.median(walls), "warm_min": min(walls),
            "cold_cpu": cold_cpu, "warm_cpu_median": statistics.median(cpus)}  # fmt: skip


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base", nargs="?", default="ddb0cf9")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    results: dict[str, dict[str, dict[str, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="guichets-bench-cli-") as tmp:
        work = Path(tmp)
        base = work / "base"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(base),
                        args.base], check=True, capture_output=True)  # fmt: skip
        try:
            sides = {args.base: base / "src", f"{commit} (this tree)": ROOT / "src"}
            commands = {"python -c pass": ["-c", "pass"],
                        "guichets --version": ["-m", "guichets", "--version"],
                        "guichets --help": ["-m", "guichets", "--help"]}  # fmt: skip
            for label, argv in commands.items():
                for side, src in sides.items():
                    if label.startswith("python") and side != args.base:
                        continue
                    key = label if label.startswith("python") else f"{label} @ {side}"
                    results[key] = {label: measure(argv, src, args.runs, work)}
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)],
                           capture_output=True)  # fmt: skip
    load = os.getloadavg()
    header = (f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {_cpu()}, {os.cpu_count()} CPUs, "
              f"Python {platform.python_version()}, load average "
              f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}, {args.runs} warm runs")  # fmt: skip
    if args.json:
        print(json.dumps({"machine": header, "results": results}, indent=1))
        return
    print(header)
    print(f"{'command':<44} {'cold s':>7} {'warm med s':>10} {'warm min s':>10} "
          f"{'cold CPU s':>10} {'warm CPU s':>10}")  # fmt: skip
    for key, by in results.items():
        for f in by.values():
            print(f"{key:<44} {f['cold']:>7.3f} {f['warm_median']:>10.3f} {f['warm_min']:>10.3f} "
                  f"{f['cold_cpu']:>10.3f} {f['warm_cpu_median']:>10.3f}")  # fmt: skip


if __name__ == "__main__":
    main()

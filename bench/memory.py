"""The demo's memory as it runs: resident memory sampled every N probes, in-process simulator
forgetting the past (as ``guichets demo`` does) or remembering everything (as before issue 17).

Prints, for each mode, the resident set at a few probe counts and the growth per probe over the
second half of the run (the first half includes start-up and caches filling). Asserts nothing.

    .venv/bin/python bench/memory.py [--days 10] [--cadence 3h] [--evidence]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import tempfile
from pathlib import Path

import guichets.usecases.demo as demo
from guichets.model import Observation

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * PAGE


def measure(
    days: int, cadence: str, evidence: bool, forget: bool, every: int
) -> list[tuple[int, int]]:
    demo.DEMO_TRUTH_KEPT = demo.DEMO_TRUTH_KEPT if forget else None  # type: ignore[assignment]
    points: list[tuple[int, int]] = []
    seen = 0

    def on_observation(_: Observation) -> None:
        nonlocal seen
        seen += 1
        if seen % every == 0:
            gc.collect()
            points.append((seen, rss()))

    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(
            demo.run_demo(Path(folder), days=days, cadence=cadence, evidence=evidence,
                          on_observation=on_observation)
        )  # fmt: skip
    return points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--cadence", default="3h")
    parser.add_argument("--evidence", action="store_true")
    parser.add_argument("--every", type=int, default=250)
    parser.add_argument("--mode", choices=("forget", "remember", "both"), default="both")
    args = parser.parse_args()
    kept = demo.DEMO_TRUTH_KEPT
    modes = ("forget", "remember") if args.mode == "both" else (args.mode,)
    for mode in modes:
        demo.DEMO_TRUTH_KEPT = kept
        points = measure(args.days, args.cadence, args.evidence, mode == "forget", args.every)
        half = points[len(points) // 2 :]
        slope = (half[-1][1] - half[0][1]) / max(1, half[-1][0] - half[0][0]) if half else 0.0
        print(json.dumps({
            "mode": mode, "days": args.days, "cadence": args.cadence, "evidence": args.evidence,
            "probes": points[-1][0] if points else 0,
            "rss_mb": [(n, round(b / 1e6, 1)) for n, b in points[:: max(1, len(points) // 6)]],
            "bytes_per_probe_second_half": round(slope),
        }))  # fmt: skip


if __name__ == "__main__":
    main()

"""The demo's memory as it runs: resident memory sampled every N probes, in-process simulator
forgetting the past (as ``guichets demo`` does) or remembering everything (as before issue 17).

Prints, for each mode, the resident set at a few probe counts and the growth per probe once the
simulator's kept window is full: from two days after ``DEMO_TRUTH_KEPT`` (10 days) on, since until
then the truth it keeps grows by design (a run of 10 days measured only that filling: the 563
bytes per probe first reported). Asserts nothing.

    .venv/bin/python bench/memory.py [--days 30] [--cadence 3h] [--evidence]
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
from guichets.simulator import load_scenario

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * PAGE


def measure(
    days: int, cadence: str, evidence: bool, forget: bool, every: int
) -> list[tuple[int, int, float]]:
    """(probes, resident bytes, simulated days) every ``every`` probes."""
    demo.DEMO_TRUTH_KEPT = demo.DEMO_TRUTH_KEPT if forget else None  # type: ignore[assignment]
    points: list[tuple[int, int, float]] = []
    seen = 0
    start = load_scenario(demo.DEMO_SCENARIO).scenario.start

    def on_observation(observation: Observation) -> None:
        nonlocal seen
        seen += 1
        if seen % every == 0:
            gc.collect()
            day = (observation.started_at - start).total_seconds() / 86400
            points.append((seen, rss(), day))

    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(
            demo.run_demo(Path(folder), days=days, cadence=cadence, evidence=evidence,
                          on_observation=on_observation)
        )  # fmt: skip
    return points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=30)
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
        full = kept.days + 2 if kept is not None else args.days / 2
        settled = [p for p in points if p[2] >= full] or points[len(points) // 2 :]
        slope = (
            (settled[-1][1] - settled[0][1]) / max(1, settled[-1][0] - settled[0][0])
            if settled else 0.0
        )  # fmt: skip
        print(json.dumps({
            "mode": mode, "days": args.days, "cadence": args.cadence, "evidence": args.evidence,
            "probes": points[-1][0] if points else 0,
            "rss_mb": [(n, round(b / 1e6, 1), round(d, 1))
                       for n, b, d in points[:: max(1, len(points) // 8)]],
            "from_day": round(settled[0][2], 1) if settled else None,
            "bytes_per_probe_once_full": round(slope),
        }), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()

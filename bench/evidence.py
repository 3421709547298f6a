"""What the evidence costs: bytes and CPU per probe, with the WARC archive against without it.

Every probe's exchanges are archived (WARC records, gzip, fsync) before the probe is stored with
their digests and its ledger entry. This script measures what that adds to a probe, against the
simulator (``guichets simulate --clock frozen`` in its own process, as ``bench/probe.py`` does):
the same probes, in the same order, in alternating blocks with and without evidence, each mode
with its own SQLite store in a temporary folder.

    .venv/bin/python bench/evidence.py [--probes 600] [--block 50] [--json]
    .venv/bin/python bench/evidence.py --demo      # also: `guichets demo` with and without

It prints figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from guichets.clock import SimulatedClock, parse_instant
from guichets.evidence import layout
from guichets.evidence.archive import EvidenceArchive
from guichets.evidence.verify import verify
from guichets.http import DEFAULT_USER_AGENT, HostGates, Politeness
from guichets.platforms import Target
from guichets.probe import ProbeSpec, new_probe_id, run_probe
from guichets.store import Store
from probe import SCENARIO, counters, free_port, get_json, machine, simulator, summary_ms


@dataclass
class Mode:
    """One side of the comparison: its store, its archive (or none), what it measured."""

    name: str
    folder: Path
    store: Store
    archive: EvidenceArchive | None
    cpu: list[float] = field(default_factory=list)
    wall: list[float] = field(default_factory=list)
    commit_cpu: list[float] = field(default_factory=list)
    records: int = 0


def _db_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.glob("guichets.sqlite*"))


async def run(args: argparse.Namespace) -> dict[str, Any]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with simulator(port) as _sim, tempfile.TemporaryDirectory(prefix="guichets-ev-") as tmp:
        targets, excluded = counters(base, DEFAULT_USER_AGENT)
        now = parse_instant(get_json(base, "/_clock")["now"])
        clock = SimulatedClock(now)
        gates = HostGates(clock, Politeness(min_gap=0.0))
        modes: list[Mode] = []
        for name, with_evidence in (("without", False), ("with", True)):
            folder = Path(tmp) / name
            store = Store.open(None, home=folder)
            archive = EvidenceArchive(folder, store, clock) if with_evidence else None
            if archive is not None:
                archive.open()
            modes.append(Mode(name, folder, store, archive))

        async def one(mode: Mode, index: int) -> None:
            target = targets[index % len(targets)]
            spec = ProbeSpec(
                target.service, "ezbooking", Target(target.url, target.counter), target.departement
            )
            wall_0, cpu_0 = time.perf_counter(), time.process_time()
            probe_id = new_probe_id()
            if mode.archive is None:
                observation = await run_probe(spec, gates, clock, probe_id=probe_id)
                cpu_c = time.process_time()
                mode.store.save(observation)
            else:
                recorder = mode.archive.recorder(probe_id, spec.service)
                observation = await run_probe(
                    spec, gates, clock, probe_id=probe_id, on_exchange=recorder.on_exchange
                )
                cpu_c = time.process_time()
                mode.archive.commit(recorder, observation)
                mode.records += len(recorder.records) + 1
            cpu_1, wall_1 = time.process_time(), time.perf_counter()
            mode.cpu.append(cpu_1 - cpu_0)
            mode.wall.append(wall_1 - wall_0)
            mode.commit_cpu.append(cpu_1 - cpu_c)

        for mode in modes:  # warm-up: imports, caches, robots.txt, the first file
            for index in range(args.warmup):
                await one(mode, index)
            mode.cpu.clear(), mode.wall.clear(), mode.commit_cpu.clear()
            mode.records = 0
        index = 0
        while index < args.probes:  # alternate blocks: drift and other people's load hit both
            block = range(index, min(index + args.block, args.probes))
            for mode in modes:
                for i in block:
                    await one(mode, i)
            index += args.block
        result: dict[str, Any] = {
            "machine": machine(),
            "probes": args.probes,
            "excluded": excluded,
            "scenario": SCENARIO,
        }
        for mode in modes:
            if mode.archive is not None:
                mode.archive.close()
            result[mode.name] = {
                "cpu_ms": summary_ms(mode.cpu),
                "wall_ms": summary_ms(mode.wall),
                "store_cpu_ms": summary_ms(mode.commit_cpu),
                "records_per_probe": mode.records / args.probes,
            }
        evidenced = modes[1]
        began = time.perf_counter()
        checked = verify(evidenced.folder, evidenced.store)
        result["verify"] = {
            "seconds": time.perf_counter() - began,
            "probes": checked.probes,
            "records": checked.records,
            "intact": checked.intact,
        }
        stored = args.probes + args.warmup
        for mode in modes:
            mode.store.close()  # the last connection checkpoints the WAL into the database
            result[mode.name]["db_bytes_per_probe"] = _db_bytes(mode.folder) / stored
            result[mode.name]["warc_bytes_per_probe"] = _warc_bytes(mode.folder) / stored
    return result


def _warc_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in layout.warc_dir(folder).glob("*.warc.gz"))


def demo(days: int, cadence: str) -> dict[str, Any]:
    """``guichets demo`` with and without evidence: wall and CPU of the whole command, sizes."""
    found: dict[str, Any] = {}
    for flag in ("--no-evidence", "--evidence"):
        with tempfile.TemporaryDirectory(prefix="guichets-demo-") as tmp:
            out = Path(tmp) / "demo"
            command = [sys.executable, "-m", "guichets", "demo", "--days", str(days), "--cadence",
                       cadence, "--out", str(out), "--no-serve", flag]  # fmt: skip
            began = time.perf_counter()
            before = os.times()
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL,
                           env=dict(os.environ, COLUMNS="120"))  # fmt: skip
            after = os.times()
            wall = time.perf_counter() - began
            cpu = (after.children_user - before.children_user) + (
                after.children_system - before.children_system
            )
            probes = Store.open(None, home=out)
            count = probes.count()
            probes.close()
            entry: dict[str, Any] = {
                "wall_s": wall,
                "cpu_s": cpu,
                "probes": count,
                "db_bytes": _db_bytes(out),
                "warc_bytes": _warc_bytes(out),
            }
            if flag == "--evidence":
                began = time.perf_counter()
                subprocess.run(
                    [sys.executable, "-m", "guichets", "evidence", "verify", "--home", str(out)],
                    check=True, stdout=subprocess.DEVNULL,
                )  # fmt: skip
                entry["verify_s"] = time.perf_counter() - began
            found[flag.lstrip("-")] = entry
    return found


def _show(result: dict[str, Any]) -> None:
    m = result["machine"]
    print(f"machine: {m['cpu']}, {m['cores']} cores, {m['os']}, Python {m['python']}; {m['date']}")
    print(f"{result['probes']} probes per mode, {SCENARIO}, frozen clock; excluded sites:")
    for line in result["excluded"]:
        print(f"  {line}")
    rows: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
        ("CPU ms per probe, median", lambda d: f"{d['cpu_ms']['median']:.2f}"),
        ("CPU ms per probe, mean", lambda d: f"{d['cpu_ms']['mean']:.2f}"),
        ("CPU ms per probe, P90", lambda d: f"{d['cpu_ms']['p90']:.2f}"),
        ("of which storing (median / mean)",
         lambda d: f"{d['store_cpu_ms']['median']:.2f} / {d['store_cpu_ms']['mean']:.2f}"),
        ("wall ms per probe, median", lambda d: f"{d['wall_ms']['median']:.2f}"),
        ("WARC bytes per probe", lambda d: f"{d['warc_bytes_per_probe']:.0f}"),
        ("database bytes per probe", lambda d: f"{d['db_bytes_per_probe']:.0f}"),
        ("WARC records per probe", lambda d: f"{d['records_per_probe']:.2f}"),
    ]  # fmt: skip
    print(f"{'':38} {'without':>12} {'with':>12} {'added':>10}")
    for label, get in rows:
        a, b = get(result["without"]), get(result["with"])
        try:
            added = f"{float(b.split(' / ')[0]) - float(a.split(' / ')[0]):+.2f}"
        except ValueError:
            added = ""
        print(f"{label:38} {a:>12} {b:>12} {added:>10}")
    v = result["verify"]
    print(
        f"verify: {v['probes']} probes, {v['records']} records in {v['seconds']:.2f} s "
        f"({'intact' if v['intact'] else 'NOT INTACT'})"
    )
    if "demo" in result:
        for name, d in result["demo"].items():
            extra = f", verify {d['verify_s']:.1f} s" if "verify_s" in d else ""
            print(
                f"demo {name}: {d['probes']} probes, wall {d['wall_s']:.1f} s, "
                f"CPU {d['cpu_s']:.1f} s, database {d['db_bytes'] / 1e6:.1f} MB, "
                f"WARC {d['warc_bytes'] / 1e6:.1f} MB{extra}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--probes", type=int, default=600)
    parser.add_argument("--warmup", type=int, default=25)
    parser.add_argument("--block", type=int, default=50)
    parser.add_argument("--demo", action="store_true", help="also time `guichets demo` both ways")
    parser.add_argument("--demo-days", type=int, default=30)
    parser.add_argument("--demo-cadence", default="3h")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    if args.demo:
        result["demo"] = demo(args.demo_days, args.demo_cadence)
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    else:
        _show(result)


if __name__ == "__main__":
    main()

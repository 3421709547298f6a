"""Helpers of the evidence tests (no tests here): a robot run with evidence against the simulator,
and ways to reach into a data directory as someone tampering with it would."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from guichets.clock import SimulatedClock
from guichets.evidence import layout
from guichets.evidence.archive import MAX_FILE_BYTES, EvidenceArchive
from guichets.http import HostGates, Politeness
from guichets.runner import Runner, RunSummary, from_catalogue
from guichets.simulator import Simulator, load_scenario
from guichets.store import Store
from guichets.usecases.demo import simulated_catalogue

SCENARIO = load_scenario("france-demo")
START = SCENARIO.scenario.start
# A closed counter (no-slot page), a fine one (week grids, slots) and one that blocks the robot.
SERVICES = ("63-clermont-renouvellement", "974-saint-denis-titre-sejour", "94-creteil-titre-sejour")


@dataclass
class EvidenceRun:
    home: Path
    summary: RunSummary
    files_written: int


async def evidence_run(
    home: Path,
    *,
    days: float = 1,
    cadence: str = "6h",
    services: tuple[str, ...] = SERVICES,
    db_url: str | None = None,
    max_file_bytes: int = MAX_FILE_BYTES,
    clock: SimulatedClock | None = None,
) -> EvidenceRun:
    """Probe ``services`` of the demo scenario for ``days`` simulated days, with evidence."""
    clock = clock or SimulatedClock(START)
    home.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240  (once, before anything runs)
    async with Simulator(SCENARIO, clock=clock, hosts="loopback") as sim:
        catalogue = [s for s in simulated_catalogue(sim, cadence) if s.id in services]
        gates = HostGates(clock, Politeness(min_gap=1.0))
        with Store.open(db_url, home=home) as store:
            with EvidenceArchive(home, store, clock, max_file_bytes=max_file_bytes) as archive:
                runner = Runner(
                    from_catalogue(catalogue), store, clock, gates, seed=3, concurrency=1,
                    evidence=archive,
                )  # fmt: skip
                summary = await runner.run(until=clock.now() + timedelta(days=days))
            files = len(store.evidence_files())
    return EvidenceRun(home, summary, files)


def warc_files(home: Path) -> list[Path]:
    return sorted(layout.warc_dir(home).glob("*.warc.gz"))


def raw_sql(home: Path, *statements: str) -> None:
    """Change the SQLite database as the sqlite3 shell would (foreign keys off, its default)."""
    conn = sqlite3.connect(home / "guichets.sqlite")
    try:
        conn.execute("PRAGMA foreign_keys=OFF")
        for statement in statements:
            conn.execute(statement)
        conn.commit()
    finally:
        conn.close()


def query(home: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(home / "guichets.sqlite")
    try:
        return list(conn.execute(sql))
    finally:
        conn.close()

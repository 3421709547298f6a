"""``guichets run`` killed with SIGKILL at random moments: never a probe without its records nor
records without their probe once the next run has started, and verify passes at the end.

The robot runs in its own process against the simulator (on the machine's clock, so that the two
agree on the time). Each kill waits for the run to have stored a random number of new probes, then
lands a random fraction of a second later: the moments are random, but what each run does before
its kill is bounded work, so a busy machine makes the test slower, never wrong.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from guichets.catalogue import catalogue_to_toml
from guichets.evidence.verify import verify
from guichets.store import Store
from guichets.usecases.demo import simulated_catalogue
from tests.simthread import SimulatorThread

GUICHETS = [sys.executable, "-m", "guichets"]
COPIES = 5  # each counter several times under other ids: more probes than the kills consume
KILLS = 6
# Only a hung run reaches these; a slow machine is far below them.
HUNG = 600.0


@pytest.fixture(scope="module")
def live() -> Iterator[SimulatorThread]:
    with SimulatorThread("france-demo", hosts="loopback", system_clock=True) as sim:
        yield sim


def _catalogue(live: SimulatorThread, path: Path) -> int:
    services = []
    for service in simulated_catalogue(live.sim, "1d"):
        for copy in range(COPIES):
            services.append(service.model_copy(update={"id": f"{service.id}-x{copy}"}))
    path.write_text(catalogue_to_toml(services), "utf-8")
    return len(services)


def _run(home: Path, catalogue: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*GUICHETS, "run", "--catalogue", str(catalogue), "--home", str(home), "--once",
         "--gap", "0", "--concurrency", "4"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=dict(os.environ, COLUMNS="200", NO_COLOR="1"),
    )  # fmt: skip


def _stored(home: Path) -> int:
    """Probes stored so far, read beside the running robot (WAL lets a reader in)."""
    database = home / "guichets.sqlite"
    if not database.exists():
        return 0
    try:
        with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as con:
            return int(con.execute("SELECT count(*) FROM probes").fetchone()[0])
    except sqlite3.Error:  # not created yet, or being created
        return 0


def _kill_after_progress(
    process: subprocess.Popen[bytes], home: Path, target: int, jitter: float
) -> bool:
    """Wait until ``target`` probes are stored (or the run ends), then kill ``jitter`` seconds
    later. False when the run ended by itself first."""
    limit = time.monotonic() + HUNG
    while _stored(home) < target:
        if process.poll() is not None:
            return False
        assert time.monotonic() < limit, f"the run stored nothing new in {HUNG} s: hung"
        time.sleep(0.05)
    try:
        process.wait(timeout=jitter)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=HUNG)
        return True
    return False


def _stored_part_is_whole(home: Path) -> None:
    """Right after a kill: every stored probe has its ledger entry and all its records, intact;
    the only thing allowed to be wrong is what the kill left after the last stored record."""
    with Store.open(None, home=home) as store:
        result = verify(home, store)
    for problem in result.problems:
        assert problem.kind == "file", str(problem)
        assert "after its last stored record" in problem.text or "not in the database" in (
            problem.text
        ), str(problem)


def test_sigkill_at_random_moments_loses_nothing_stored(
    live: SimulatorThread, tmp_path: Path
) -> None:
    home, catalogue = tmp_path / "data", tmp_path / "catalogue.toml"
    total = _catalogue(live, catalogue)
    rng = random.Random()
    seed = rng.randrange(1 << 30)
    rng.seed(seed)
    kills: list[tuple[float, int]] = []  # (seconds after the target count, probes stored)
    for _ in range(KILLS):
        before = _stored(home)
        process = _run(home, catalogue)
        target, jitter = before + rng.randint(1, 3), rng.uniform(0.0, 0.3)
        if _kill_after_progress(process, home, target, jitter):
            with Store.open(None, home=home) as store:
                kills.append((round(jitter, 2), store.count()))
            _stored_part_is_whole(home)
        else:
            assert process.wait(timeout=HUNG) == 0, process.stderr.read() if process.stderr else ""
            break  # everything was probed before the kill came
    final = _run(home, catalogue)
    _, err = final.communicate(timeout=HUNG)
    assert final.returncode == 0, err.decode()
    assert len(kills) == KILLS, f"seed {seed}: only {kills} kills landed during a run"
    counts = [n for _, n in kills]
    assert counts == sorted(counts) and counts[-1] <= total, (seed, kills)
    with Store.open(None, home=home) as store:
        result = verify(home, store)
        per_service = Counter(o.service for o in store.observations())
        files = store.evidence_files()
    assert result.intact, (seed, kills, [str(p) for p in result.problems])
    # Every counter probed once in its period, whatever was cut: no double probe, none lost.
    assert len(per_service) == total and set(per_service.values()) == {1}, (seed, kills)
    assert files and all(f.closed_at is not None for f in files)  # recovery closed each one

"""PostgreSQL restarted while the robot saves: the save waits for the server, is tried again,
and the run ends with every probe stored once and its evidence intact; a server that does not
come back ends the run with one clear line. A private cluster (tests/faults/privatepg.py): the
shared server is never restarted."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from guichets.catalogue import catalogue_to_toml
from guichets.clock import SimulatedClock
from guichets.evidence.archive import EvidenceArchive
from guichets.evidence.verify import verify
from guichets.http import Exchange, HostGates, Politeness
from guichets.resilience import DatabaseLost
from guichets.runner import Runner, from_catalogue
from guichets.simulator import Simulator, load_scenario
from guichets.store import Store
from guichets.usecases.demo import simulated_catalogue
from tests.faults.privatepg import PrivatePostgres, private_postgres
from tests.simthread import SimulatorThread

SCENARIO = load_scenario("france-demo")
CHOSEN = {"63-clermont-renouvellement", "974-saint-denis-titre-sejour", "93-bobigny-titre-sejour",
          "38-grenoble-renouvellement-4130"}  # fmt: skip
HUNG = 600.0  # only a hung process reaches this


@pytest.fixture
def server() -> Iterator[PrivatePostgres]:
    with private_postgres() as pg:
        yield pg


async def test_a_restart_during_the_run_loses_nothing(
    server: PrivatePostgres, tmp_path: Path
) -> None:
    """The server is stopped right before the second probe is saved and started again 3 s later:
    the run ends normally, each service has exactly one probe, and verify finds the evidence
    intact (a retried save is one transaction, stored once)."""
    clock = SimulatedClock(SCENARIO.scenario.start)
    restarted: list[float] = []

    async with Simulator(SCENARIO, clock=clock, hosts="loopback") as sim:
        services = [s for s in simulated_catalogue(sim, "1h") if s.id in CHOSEN]
        assert len(services) == len(CHOSEN)
        with (
            Store.open(server.url, home=tmp_path) as store,
            EvidenceArchive(tmp_path, store, clock) as archive,
        ):
            seen: set[str] = set()

            def on_exchange(exchange: Exchange) -> None:
                seen.add(exchange.probe_id or "")
                if len(seen) == 2 and not restarted:  # the second probe is under way
                    server.stop()
                    restarted.append(time.monotonic())
                    server.start_later(3.0)

            runner = Runner(
                from_catalogue(services), store, clock, HostGates(clock, Politeness(min_gap=0)),
                concurrency=1, evidence=archive, on_exchange=on_exchange,
            )  # fmt: skip
            runner.db_patience = HUNG
            summary = await runner.run(once=True)
            per_service = {o.service for o in store.observations()}
            result = verify(tmp_path, store)
    assert restarted, "the server was never stopped"
    assert summary.probes == len(CHOSEN) and per_service == CHOSEN
    assert result.intact, [str(p) for p in result.problems]


async def test_a_server_that_stays_down_stops_the_run_with_one_line(
    server: PrivatePostgres, tmp_path: Path
) -> None:
    """The server stops for good: after the patience given, the run raises DatabaseLost, whose
    message is one line naming the database and what was being done."""
    clock = SimulatedClock(SCENARIO.scenario.start)
    async with Simulator(SCENARIO, clock=clock, hosts="loopback") as sim:
        services = [s for s in simulated_catalogue(sim, "1h") if s.id in CHOSEN]
        with Store.open(server.url, home=tmp_path) as store:

            def on_exchange(exchange: Exchange) -> None:
                if not stopped:
                    server.stop()
                    stopped.append(True)

            stopped: list[bool] = []
            runner = Runner(
                from_catalogue(services), store, clock, HostGates(clock, Politeness(min_gap=0)),
                concurrency=1, on_exchange=on_exchange,
            )  # fmt: skip
            runner.db_patience = 2.0
            with pytest.raises(DatabaseLost) as lost:
                await runner.run(once=True)
    message = str(lost.value)
    assert "\n" not in message
    assert "lost the connection to postgresql" in message and "save a probe" in message
    assert "did not come back within 2 s" in message


def test_the_command_says_one_line_when_the_database_is_gone(
    server: PrivatePostgres, tmp_path: Path
) -> None:
    """``guichets run`` whose database stops for good mid-run: exit 1, one ``error:`` line, no
    traceback (--db-patience keeps the wait short here)."""
    with SimulatorThread("france-demo", hosts="loopback", system_clock=True) as live:
        catalogue = tmp_path / "catalogue.toml"
        catalogue.write_text(catalogue_to_toml(simulated_catalogue(live.sim, "1d")), "utf-8")
        run = subprocess.Popen(
            [sys.executable, "-m", "guichets", "run", "--catalogue", str(catalogue), "--home",
             str(tmp_path / "data"), "--db", server.url, "--once", "--gap", "0",
             "--db-patience", "2"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=dict(os.environ, COLUMNS="300", NO_COLOR="1"),
        )  # fmt: skip
        try:
            limit = time.monotonic() + HUNG
            while _stored(server) < 2:
                assert run.poll() is None, run.communicate()
                assert time.monotonic() < limit
                time.sleep(0.5)
            server.stop()
            out, err = run.communicate(timeout=HUNG)
        finally:
            if run.poll() is None:
                run.kill()
                run.wait()
    assert run.returncode == 1, (out, err)
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: lost the connection"), err


def _stored(server: PrivatePostgres) -> int:
    try:
        with Store.open(server.url) as store:
            return store.count()
    except Exception:  # not migrated yet
        return 0

"""The robot's commands as people run them: real processes, a real simulator on loopback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from guichets.catalogue import catalogue_to_toml
from guichets.store import Store
from guichets.usecases.demo import simulated_catalogue
from tests.simthread import SimulatorThread

GUICHETS = [sys.executable, "-m", "guichets"]
ENV = dict(os.environ, COLUMNS="200", NO_COLOR="1")


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*GUICHETS, *args], capture_output=True, text=True, env=env or ENV, timeout=120
    )


@pytest.fixture(scope="module")
def live() -> Iterator[SimulatorThread]:
    """The demo scenario on the machine's clock, so that the robot and the sites agree on now."""
    with SimulatorThread("france-demo", hosts="loopback", system_clock=True) as sim:
        yield sim


def _probe(live: SimulatorThread, service: str, *extra: str) -> dict[str, object]:
    result = _run("probe", live.url(service), "--gap", "0", "--json", *extra)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert isinstance(data, dict)
    return data


def test_probe_json_for_a_closed_counter(live: SimulatorThread) -> None:
    data = _probe(live, "63-clermont-renouvellement")
    assert (data["outcome"], data["detail"], data["category"]) == (
        "unavailable",
        "no_slot_page",
        "E",
    )
    assert data["slots"] == [] and data["first_slot"] is None
    assert str(data["started_at"]).endswith("+00:00")
    assert data["requests"] == 4


def test_probe_json_with_slots(live: SimulatorThread) -> None:
    data = _probe(live, "974-saint-denis-titre-sejour", "--horizon-days", "60")
    assert data["outcome"] == "available" and data["category"] in ("A", "B", "C", "D")
    slots = data["slots"]
    assert isinstance(slots, list) and slots == sorted(slots) and data["first_slot"] == slots[0]
    assert all(s.endswith(("+01:00", "+02:00")) for s in slots)
    assert str(data["horizon_end"]) > str(data["first_slot"])
    service = live.world.services["974-saint-denis-titre-sejour"]
    truth = service.counter().free_slots(live.sim.clock.now())
    assert slots[0] >= truth[0].start.isoformat()  # a slot may go between probe and check


def test_probe_several_counters_probes_the_first_and_says_which(live: SimulatorThread) -> None:
    data = _probe(live, "92-nanterre-remise-titre")
    assert data["counter"] == "14673"
    assert data["outcome"] in ("available", "unavailable")


def test_probe_blocked_is_a_barrier_with_exit_0(live: SimulatorThread) -> None:
    data = _probe(live, "94-creteil-titre-sejour")
    assert (data["outcome"], data["detail"], data["category"]) == ("barrier", "blocked", None)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["http://127.0.0.1:9/booking/create/1", "--platform", "minitel"], "ezbooking"),
        (["http://127.0.0.1:9/rendez-vous"], "/booking/create/"),
        (["http://127.0.0.1:9/booking/create/1", "--planning", "abc"], "--planning"),
        (["http://127.0.0.1:9/booking/create/1", "--gap", "-1"], "--gap"),
    ],
)
def test_probe_usage_errors_exit_2(args: list[str], words: str) -> None:
    result = _run("probe", *args, "--json")
    assert result.returncode == 2
    assert words in result.stderr and result.stdout == ""


def _catalogue(live: SimulatorThread, tmp_path: Path, ids: set[str]) -> Path:
    services = [s for s in simulated_catalogue(live.sim, "10m") if s.id in ids]
    path = tmp_path / "catalogue.toml"
    path.write_text(catalogue_to_toml(services), encoding="utf-8")
    return path


def test_catalogue_check(live: SimulatorThread, tmp_path: Path) -> None:
    path = _catalogue(live, tmp_path, {"63-clermont-renouvellement", "69-lyon-etudiants"})
    good = _run("catalogue", "check", str(path))
    assert good.returncode == 0 and "2" in good.stdout
    path.write_text(path.read_text("utf-8").replace('platform = "ezbooking"', 'platform = "x"', 1))
    bad = _run("catalogue", "check", str(path))
    assert bad.returncode == 2 and f"{path}:" in bad.stderr and "ezbooking" in bad.stderr


def test_run_once_then_report_from_the_data_directory(
    live: SimulatorThread, tmp_path: Path
) -> None:
    ids = {"63-clermont-renouvellement", "69-lyon-etudiants", "94-creteil-titre-sejour"}
    catalogue = _catalogue(live, tmp_path, ids)
    home = tmp_path / "data"
    result = _run("run", "--catalogue", str(catalogue), "--home", str(home), "--once", "--gap", "0")
    assert result.returncode == 0, result.stderr
    with Store.open(None, home=home) as store:
        found = {o.service: o.outcome for o in store.observations()}
    assert set(found) == ids
    assert found["94-creteil-titre-sejour"] == "barrier"
    report = _run("report", env=dict(ENV, GUICHETS_HOME=str(home)))
    assert report.returncode == 0
    assert all(i in report.stdout for i in ids)
    empty = _run("report", "--home", str(tmp_path / "nowhere"))
    assert empty.returncode == 2 and "guichets demo" in empty.stderr


def test_run_stops_cleanly_on_ctrl_c(live: SimulatorThread, tmp_path: Path) -> None:
    catalogue = _catalogue(live, tmp_path, {"63-clermont-renouvellement"})
    home = tmp_path / "data"
    process = subprocess.Popen(
        [*GUICHETS, "run", "--catalogue", str(catalogue), "--home", str(home), "--until", "2h"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
    )  # fmt: skip
    # Wait (for the process, bounded) until the run is recorded in the database, then interrupt.
    for _ in range(600):
        if (home / "guichets.sqlite").exists():
            with Store.open(None, home=home) as store:
                if store.runs():
                    break
        try:
            process.wait(0.05)
        except subprocess.TimeoutExpired:
            continue
        raise AssertionError(f"the run ended by itself: {process.communicate()}")
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    with Store.open(None, home=home) as store:
        runs = store.runs()
    assert len(runs) == 1 and runs[0].ended_at is not None
    assert "run " in out


def test_demo_then_report(tmp_path: Path) -> None:
    home = tmp_path / "demo"
    result = _run("demo", "--days", "1", "--no-serve", "--out", str(home))
    assert result.returncode == 0, result.stderr
    assert "63-clermont-renouvellement" in result.stdout and "forbidden requests" in result.stdout
    assert "forbidden requests seen by the simulator: 0" in result.stdout
    report = _run("report", "--home", str(home))
    assert report.returncode == 0 and "974-saint-denis-titre-sejour" in report.stdout

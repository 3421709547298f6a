"""``guichets report`` and ``guichets export`` as people run them, on what the robot stored.

The robot probes a small simulated scenario across the end of October (a month boundary, Paris
time), on SQLite and on PostgreSQL; the commands run as real processes. The report's JSON is
checked against a recomputation, by this test's own counting, from the exported observations.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from guichets.catalogue import catalogue_to_toml
from guichets.cli import app
from guichets.clock import SimulatedClock
from guichets.http import HostGates, Politeness
from guichets.runner import Runner, from_catalogue
from guichets.schedule import Plan
from guichets.simulator import Simulator, load_scenario
from guichets.stats.wilson import wilson_interval
from guichets.store import Store
from guichets.usecases.demo import simulated_catalogue
from tests.dbfixtures import pg_base_url, pg_schema

GUICHETS = [sys.executable, "-m", "guichets"]
ENV = dict(os.environ, COLUMNS="200", NO_COLOR="1")
DAYS = 3
SCENARIO = """
[scenario]
name = "month-end"
seed = 3
start = 2026-10-30T00:00:00+01:00

[[sites]]
slug = "isere"
name = "Préfecture de l'Isère"
host = "www.isere.gouv.fr"
departement = "38"

[[sites.services]]
id = "38-grenoble-renouvellement"
procedure = "renouvellement"
title = "Renouvellement de titre de séjour - Grenoble"
form_id = 4129
counters = [{ id = 4130, label = "Guichet 1" }]
model = { window_days = 30, demand_per_hour = 1.2, earliest_share = 0.8 }

[[sites.services]]
id = "38-grenoble-premiere-demande"
procedure = "premiere-demande"
title = "Première demande - Grenoble"
form_id = 4140
counters = [{ id = 4141, label = "Guichet unique" }]
model = { window_days = 60, demand_per_hour = 0.3 }
outages = { per_week = 20.0, mean_minutes = 90.0, kinds = ["overloaded", "http_502"] }

[[sites]]
slug = "puy-de-dome"
name = "Préfecture du Puy-de-Dôme"
host = "www.puy-de-dome.gouv.fr"
departement = "63"

[[sites.services]]
id = "63-clermont-renouvellement"
procedure = "renouvellement"
title = "Renouvellement - Clermont-Ferrand"
form_id = 7001
counters = [{ id = 7002, label = "Guichet étrangers" }]
model = { opening_hours = [] }

[[sites]]
slug = "val-de-marne"
name = "Préfecture du Val-de-Marne"
host = "www.val-de-marne.gouv.fr"
departement = "94"
block = { user_agents = ["(?i)guichets"] }

[[sites.services]]
id = "94-creteil-titre-sejour"
procedure = "titre-sejour"
title = "Titre de séjour - Créteil"
form_id = 8001
counters = [{ id = 8002, label = "Accueil" }]
model = { window_days = 30, demand_per_hour = 0.5 }
"""


async def _robot(scenario: Path, home: Path, url: str | None) -> None:
    config = load_scenario(scenario)
    clock = SimulatedClock(config.scenario.start)
    async with Simulator(config, clock=clock, hosts="loopback") as sim:
        services = simulated_catalogue(sim, "1h")
        (home / "catalogue.toml").write_text(catalogue_to_toml(services), "utf-8")
        with Store.open(url, home=home) as store:
            runner = Runner(
                from_catalogue(services),
                store,
                clock,
                HostGates(clock, Politeness(min_gap=1.0)),
                plan=Plan.RANDOM,
                concurrency=1,
            )
            await runner.run(until=clock.now() + timedelta(days=DAYS))
        assert not sim.forbidden


def _fill(folder: Path, url: str | None) -> Path:
    scenario = folder / "month-end.toml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    home = folder / "data"
    home.mkdir()
    asyncio.run(_robot(scenario, home, url))
    return home


@pytest.fixture(scope="module")
def sqlite_home(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The robot's probes over three days around 1 November, in SQLite: ``--home DIR``."""
    return ["--home", str(_fill(tmp_path_factory.mktemp("report-sqlite"), None))]


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def stored(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[str]]:
    """The same probes on each backend; yields the options to reach them."""
    if request.param == "sqlite":
        yield request.getfixturevalue("sqlite_home")
        return
    with pg_schema(pg_base_url()) as url:
        home = _fill(tmp_path_factory.mktemp("report-postgresql"), url)
        yield ["--home", str(home), "--db", url]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    """The command, in this process (the CLI's own code, without a second start-up each time)."""
    result = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"}).invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)


def test_the_command_as_a_process(sqlite_home: list[str]) -> None:
    result = subprocess.run(
        [*GUICHETS, "report", "--month", "2026-11", "--format", "json", *sqlite_home],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == _json(
        "report", "--month", "2026-11", "--format", "json", *sqlite_home
    )


def _json(*args: str) -> Any:
    result = _run(*args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _recompute(rows: list[dict[str, str]], month: str) -> dict[str, dict[str, Any]]:
    """The report's figures, counted here from the exported CSV rows of one month."""
    by_service: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in rows:
        if row["day"].startswith(month):
            by_service[row["service"]].append(row)
    out = {}
    for service, mine in by_service.items():
        valid = [r for r in mine if r["outcome"] in ("available", "unavailable")]
        counts = {c: sum(1 for r in valid if r["category"] == c) for c in "ABCDE"}
        firsts = [datetime.fromisoformat(r["first_slot"]) for r in mine if r["first_slot"]]
        leads = sorted(
            (
                datetime.fromisoformat(r["first_slot"]) - datetime.fromisoformat(r["started_at"])
            ).total_seconds()
            // 1
            / 86_400
            for r in valid
            if r["first_slot"]
        )
        needed = -(-len(valid) // 2)  # at least half of the valid probes found a date by then
        out[service] = {
            "departement": mine[0]["departement"],
            "probes": len(mine),
            "valid": len(valid),
            **counts,
            "failure_rate": counts["E"] / len(valid) if valid else None,
            "failure_rate_ci": list(wilson_interval(counts["E"], len(valid)) or []) or None,
            "site_error_rate": sum(r["outcome"] == "site_error" for r in mine) / len(mine),
            "barrier_rate": sum(r["outcome"] == "barrier" for r in mine) / len(mine),
            "first_slot": min(firsts) if firsts else None,
            "median_lead_days": round(leads[needed - 1], 3) if len(leads) >= needed > 0 else None,
        }
    return out


CONTRACT = (
    "service",
    "departement",
    "period",
    "probes",
    "valid",
    "A",
    "B",
    "C",
    "D",
    "E",
    "failure_rate",
    "failure_rate_ci",
    "site_error_rate",
    "barrier_rate",
    "first_slot",
    "median_lead_days",
)


def test_report_equals_a_recomputation_from_the_export(stored: list[str]) -> None:
    export = _run("export", "observations", "--format", "csv", *stored)
    assert export.returncode == 0, export.stderr
    rows = list(csv.DictReader(io.StringIO(export.stdout)))
    assert f"{len(rows)} observations exported" in export.stderr
    assert len(rows) == 4 * 24 * DAYS
    outcomes = {r["outcome"] for r in rows}
    assert {"available", "unavailable", "barrier", "site_error"} <= outcomes
    for month in ("2026-10", "2026-11"):
        report = _json("report", "--month", month, "--format", "json", *stored)
        expected = _recompute(rows, month)
        assert {r["service"] for r in report} == set(expected)
        for row in report:
            assert all(key in row for key in CONTRACT)
            assert row["period"] == month
            mine = expected[row["service"]]
            first = mine.pop("first_slot")
            assert (row["first_slot"] and datetime.fromisoformat(row["first_slot"])) == first
            assert {k: row[k] for k in mine} == mine, row["service"]
    # Probes at 23:xx UTC on 31 October belong to 1 November, Paris time.
    late = [r for r in rows if r["started_at"] >= "2026-10-31T23:00"]
    assert late and all(r["day"] == "2026-11-01" for r in late)


def test_export_jsonl_has_the_columns_and_the_same_probes(sqlite_home: list[str]) -> None:
    result = _run(
        "export",
        "observations",
        "--month",
        "2026-11",
        "--service",
        "63-clermont-renouvellement",
        *sqlite_home,
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines and all(line["service"] == "63-clermont-renouvellement" for line in lines)
    for column in (
        "service",
        "departement",
        "started_at",
        "outcome",
        "detail",
        "category",
        "first_slot",
        "slots_count",
    ):
        assert column in lines[0]
    assert {(line["outcome"], line["category"]) for line in lines} == {("unavailable", "E")}
    assert all(line["day"] >= "2026-11-01" for line in lines)


def test_export_to_a_file(sqlite_home: list[str], tmp_path: Path) -> None:
    target = tmp_path / "octobre.csv"
    result = _run(
        "export",
        "observations",
        "--month",
        "2026-10",
        "--format",
        "csv",
        "-o",
        str(target),
        *sqlite_home,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and target.read_text("utf-8").startswith("probe_id,service,")
    assert not (tmp_path / "octobre.csv.partial").exists()


def test_formats_levels_and_periods(sqlite_home: list[str]) -> None:
    table = _run("report", *sqlite_home)
    assert table.returncode == 0, table.stderr
    assert "63-clermont-renouvellement" in table.stdout and "E 95% CI" in table.stdout
    md = _run("report", "--month", "2026-11", "--format", "md", *sqlite_home)
    assert md.stdout.startswith("## Probes per service, 2026-11") and "| 63-clermont" in md.stdout
    csv_out = _run("report", "--month", "2026-11", "--format", "csv", *sqlite_home)
    header = csv_out.stdout.splitlines()[0].split(",")
    assert {"failure_rate_ci_low", "failure_rate_ci_high", "median_lead_days"} <= set(header)
    days = _json(
        "report", "--level", "departement", "--by", "day", "--format", "json", *sqlite_home
    )
    assert {r["period"] for r in days} == {"2026-10-30", "2026-10-31", "2026-11-01"}
    assert {r["departement"] for r in days} == {"38", "63", "94"}
    isere = [r for r in days if r["departement"] == "38" and r["period"] == "2026-10-31"]
    assert isere[0]["services"] == 2 and isere[0]["departement_name"] == "Isère"
    france = _json("report", "--level", "france", "--format", "json", *sqlite_home)
    assert len(france) == 1 and france[0]["probes"] == 4 * 24 * DAYS
    assert france[0]["robot_down_hours"] == 0
    blocked = _json(
        "report", "--service", "94-creteil-titre-sejour", "--format", "json", *sqlite_home
    )
    assert blocked[0]["valid"] == 0 and blocked[0]["failure_rate"] is None
    assert blocked[0]["barrier_rate"] == 1.0 and "blocked" in blocked[0]["barrier_by_kind"]
    labelled = _json(
        "report", "--service", "38-grenoble-renouvellement", "--format", "json", *sqlite_home
    )
    assert labelled[0]["label"] == "Renouvellement de titre de séjour - Grenoble — Guichet 1"


def test_the_press_summary(sqlite_home: list[str]) -> None:
    result = _run("report", "--press", "--month", "2026-10", *sqlite_home)
    assert result.returncode == 0, result.stderr
    text = result.stdout.replace("\u00a0", " ")
    assert text.startswith("# Prise de rendez-vous en préfecture : les chiffres d'octobre 2026")
    clermont = next(line for line in text.splitlines() if "Clermont" in line)
    assert clermont.startswith("- **Puy-de-Dôme (63) — Renouvellement - Clermont-Ferrand — Guichet")
    assert "sur 48 tentatives, aucune n'a permis d'obtenir une proposition de rendez-vous" in text
    assert "refusées à notre robot" in text
    assert "Aucun sondage en septembre 2026 : pas de comparaison possible." in text
    november = _run("report", "--press", "--month", "2026-11", *sqlite_home).stdout
    assert "## Ce qui a changé depuis octobre 2026" in november and "## Méthode" in november
    assert "peu de sondages, à lire avec prudence" in november.replace("\u00a0", " ")


def test_stale_rollups_are_rebuilt_and_said_so(tmp_path: Path, sqlite_home: list[str]) -> None:
    home = Path(sqlite_home[1])
    before = _json("report", "--month", "2026-10", "--format", "json", *sqlite_home)
    copy = tmp_path / "copy"
    copy.mkdir()
    for path in home.iterdir():
        if path.is_file():
            (copy / path.name).write_bytes(path.read_bytes())
    engine = create_engine(f"sqlite:///{copy / 'guichets.sqlite'}")
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM daily_rollups WHERE day = '2026-10-31'"))
    engine.dispose()
    result = _run("report", "--month", "2026-10", "--format", "json", "--home", str(copy))
    assert result.returncode == 0 and "rebuilt from the probes" in result.stderr
    assert json.loads(result.stdout) == before
    again = _run("report", "--month", "2026-10", "--format", "json", "--home", str(copy))
    assert "rebuilt" not in again.stderr


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["report", "--month", "2026-13"], "YYYY-MM"),
        (["report", "--month", "2026-10", "--from", "2026-10-01"], "either --month or --from/--to"),
        (["report", "--from", "2026-11-02", "--to", "2026-10-30"], "comes before --from"),
        (["report", "--from", "02/11/2026"], "YYYY-MM-DD"),
        (["report", "--departement", "386"], "not a département code"),
        (["report", "--departement", "isere"], "did you mean 38"),
        (
            ["report", "--service", "63-clermont-renouvelement"],
            "did you mean 63-clermont-renouvellement",
        ),
        (["report", "--press"], "--press needs --month"),
        (["report", "--format", "xml"], "xml"),
        (["export", "observations", "--format", "xlsx"], "xlsx"),
        (["export", "observations", "-o", "/nowhere/at/all.csv"], "does not exist"),
    ],
)
def test_bad_input_says_what_and_exits_2(
    sqlite_home: list[str], args: list[str], words: str
) -> None:
    with Store.open(None, home=Path(sqlite_home[1])) as store:
        count = store.count()
    result = _run(*args, *sqlite_home)
    assert result.returncode == 2, result.stdout + result.stderr
    assert words in result.stderr.replace("\n", " ") and result.stdout == ""
    with Store.open(None, home=Path(sqlite_home[1])) as store:
        assert store.count() == count, "nothing stored is lost"


def test_no_database_says_how_to_make_one(tmp_path: Path) -> None:
    for args in (["report"], ["export", "observations"]):
        result = _run(*args, "--home", str(tmp_path / "nowhere"))
        assert result.returncode == 2 and "guichets demo" in result.stderr
        assert not (tmp_path / "nowhere").exists()


def test_an_empty_range_is_an_empty_report(sqlite_home: list[str]) -> None:
    assert _json("report", "--month", "2025-01", "--format", "json", *sqlite_home) == []
    empty = _run("export", "observations", "--month", "2025-01", "--format", "csv", *sqlite_home)
    assert (
        empty.returncode == 0
        and empty.stdout.startswith("probe_id,")
        and len(empty.stdout.splitlines()) == 1
    )


def test_csv_header_without_rows_and_releases_on_few_days(sqlite_home: list[str]) -> None:
    header = _run("report", "--month", "2025-01", "--format", "csv", *sqlite_home).stdout
    assert header.startswith("level,service,") and len(header.splitlines()) == 1
    # Three days hold no weekly pattern: nothing is claimed.
    assert _json("report", "--releases", "--format", "json", *sqlite_home) == []
    text = _run("report", "--releases", *sqlite_home).stdout
    assert "No service shows slots released in batches" in text

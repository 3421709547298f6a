"""``guichets catalogue add`` and ``verify`` against the simulated prefectures on loopback.

The counters expected come from the simulator's ground truth (``/_truth``), not from the robot;
the file edits must keep what the operator wrote.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from typer.testing import CliRunner, Result

from guichets.catalogue import MAX_TEXT, load_catalogue
from guichets.cli import app
from guichets.discover import guess_departement, slug
from tests.appthread import AppThread
from tests.simthread import SimulatorThread

HEADER = (
    "# our catalogue: this comment stays\n"
    "allow_local = true  # simulated sites on loopback\n"
    '[defaults]\ncadence = "3h"  # a slow one\n'
)
BROKEN_ROW = """
# a row no page answers: left as it is
[[services]]
id = "38-nulle-part"
departement = "38"
site = "Nulle part"
procedure = "rien"
platform = "ezbooking"
url = "{base}/nowhere/booking/create/1"
enabled = false
"""


@pytest.fixture(scope="module")
def live() -> Iterator[SimulatorThread]:
    with SimulatorThread("france-demo") as sim:
        yield sim


def run(*args: str, stdin: str | None = None) -> Result:
    env = {"COLUMNS": "200", "NO_COLOR": "1"}
    return CliRunner().invoke(app, ["catalogue", *args], env=env, input=stdin)


def truth(live: SimulatorThread, service: str) -> dict[str, Any]:
    found: dict[str, Any] = next(
        s for s in live.get_json("/_truth")["services"] if s["service"] == service
    )
    return found


def rows(path: Path) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = tomllib.loads(path.read_text("utf-8"))["services"]
    return found


def test_add_writes_one_row_per_counter_and_keeps_the_file(
    live: SimulatorThread, tmp_path: Path
) -> None:
    grenoble = truth(live, "38-grenoble-renouvellement")
    assert len(grenoble["plannings"]) >= 2  # a form with several counters
    path = tmp_path / "c.toml"
    path.write_text(HEADER, encoding="utf-8")

    result = run("add", grenoble["url"], "--catalogue", str(path), "--gap", "0", "--yes")

    assert result.exit_code == 0, result.output
    text = path.read_text("utf-8")
    assert text.startswith(HEADER)  # the comment, the layout, the inline comment: untouched
    added = rows(path)
    assert [row["planning"] for row in added] == grenoble["plannings"]
    for row in added:
        assert row["departement"] == grenoble["departement"]
        assert row["platform"] == "ezbooking"
        assert row["url"] == grenoble["url"]
        assert row["enabled"] is False
        assert row["source"] == grenoble["url"]
        assert isinstance(row["source_date"], date)
        assert "préfecture" in row["site"].lower()
        assert row["label"]  # the counter's own label from the page
        assert "cadence" not in row  # [defaults] gives it
    assert len({row["id"] for row in added}) == len(added)
    assert load_catalogue(path).services  # a sound catalogue

    again = run("add", grenoble["url"], "--catalogue", str(path), "--gap", "0", "--yes")
    assert again.exit_code == 0 and "nothing to add" in again.output
    assert len(rows(path)) == len(added)


def test_add_a_demarche_and_an_office(live: SimulatorThread, tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    services = live.get_json("/_truth")["services"]
    demarche = next(s for s in services if s["platform"] == "rdvpref")
    office = next(s for s in services if s["platform"] == "eappointment")
    for url in (demarche["url"], office["url"].split("#")[0]):
        result = run("add", url, "--catalogue", str(path), "--gap", "0", "--yes", "--allow-local")
        assert result.exit_code == 0, result.output
    written = rows(path)
    # a new file of loopback sites, --allow-local given: allow_local is written
    assert tomllib.loads(path.read_text("utf-8"))["allow_local"] is True
    assert written[0]["platform"] == "rdvpref" and written[0]["label"]
    assert written[0]["departement"] == demarche["departement"]
    reasons = [row for row in written if row["platform"] == "eappointment"]
    assert reasons and all("#motif=" in row["url"] for row in reasons)
    assert office["url"] in {row["url"] for row in reasons}


def test_add_refuses_what_it_cannot_recognise(live: SimulatorThread, tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(HEADER, encoding="utf-8")
    shape = run("add", f"{live.base_url}/rendez-vous", "--catalogue", str(path), "--yes")
    assert shape.exit_code == 2 and "cannot recognise the platform" in shape.output
    missing = run(
        "add", f"{live.base_url}/nowhere/booking/create/1", "--catalogue", str(path), "--gap", "0"
    )
    assert missing.exit_code == 2 and "HTTP 404" in missing.output
    assert path.read_text("utf-8") == HEADER


@pytest.fixture
def bare_form() -> Iterator[str]:
    """A legacy form that names no prefecture: what a person must then say."""
    page = (
        "<html><head><title>Rendez-vous</title></head><body>"
        '<form id="FormBookingCreate" name="create" method="post"><h2>Dépôt de dossier</h2>'
        '<input type="checkbox" id="condition" name="condition" />'
        '<input type="submit" name="nextButton" value="Effectuer une demande de rendez-vous" />'
        "</form></body></html>"
    )

    async def form(request: web.Request) -> web.Response:
        return web.Response(text=page, content_type="text/html")

    application = web.Application()
    application.router.add_get("/booking/create/77", form)
    application.router.add_post("/booking/create/77/0", form)
    with AppThread(application) as base:
        yield f"{base}/booking/create/77"


def test_add_asks_for_what_it_cannot_guess(bare_form: str, tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    refused = run(
        "add", bare_form, "--catalogue", str(path), "--gap", "0", "--yes", "--allow-local"
    )
    assert refused.exit_code == 2
    assert (
        "cannot guess the département code" in refused.output and "--departement" in refused.output
    )
    assert not path.exists()

    asked = run(
        "add",
        bare_form,
        "--catalogue",
        str(path),
        "--gap",
        "0",
        "--allow-local",
        stdin="38\nSous-préfecture X\n",
    )
    assert asked.exit_code == 0, asked.output
    (row,) = rows(path)
    assert row["departement"] == "38" and row["site"] == "Sous-préfecture X"
    assert row["procedure"] == "depot-dossier" and "planning" not in row


def test_verify_marks_rows_read_and_leaves_the_unreadable_one(
    live: SimulatorThread, tmp_path: Path
) -> None:
    grenoble = truth(live, "38-grenoble-renouvellement")
    path = tmp_path / "c.toml"
    path.write_text(HEADER, encoding="utf-8")
    assert (
        run("add", grenoble["url"], "--catalogue", str(path), "--gap", "0", "--yes").exit_code == 0
    )
    with path.open("a", encoding="utf-8") as out:
        out.write(BROKEN_ROW.format(base=live.base_url))
    before = path.read_text("utf-8")
    broken_block = BROKEN_ROW.format(base=live.base_url)

    result = run("verify", str(path), "--gap", "0", "--json")

    assert result.exit_code == 1, result.output  # one row was not read
    report = {item["id"]: item for item in json.loads(result.stdout)}
    assert report["38-nulle-part"]["recognised"] is False
    assert report["38-nulle-part"]["outcome"] == "unrecognized"
    after = path.read_text("utf-8")
    assert after.startswith(HEADER) and after.endswith(broken_block)  # untouched, comment kept
    for row in rows(path):
        if row["id"] == "38-nulle-part":
            assert "verified" not in row and "last_outcome" not in row
            continue
        assert report[row["id"]]["recognised"] is True
        assert row["last_outcome"] == report[row["id"]]["outcome"]
        assert isinstance(row["verified"], date)
        offered = report[row["id"]]["counters_offered"]
        assert offered == [str(p) for p in grenoble["plannings"]]
    assert len(after) > len(before)

    one = next(row["id"] for row in rows(path) if row["id"] != "38-nulle-part")
    only = run("verify", str(path), "--service", one, "--gap", "0")
    assert only.exit_code == 0, only.output
    unknown = run("verify", str(path), "--service", "00-nope")
    assert unknown.exit_code == 2 and "no such row" in unknown.output


def test_guesses() -> None:
    assert guess_departement("www.hauts-de-seine.gouv.fr", []) == "92"
    assert guess_departement("127.0.0.1", ["Préfecture des Bouches-du-Rhône"]) == "13"
    assert guess_departement("127.0.0.1", ["Préfecture du Rhône"]) == "69"
    assert guess_departement("rdv-etrangers-94.interieur.gouv.fr", []) == "94"
    assert guess_departement("127.0.0.1", ["Préfecture de l'Isère", "Préfecture du Nord"]) is None
    assert slug("Remise d'un titre de séjour") == "remise-titre-sejour"


def test_add_to_a_file_without_allow_local_writes_it_only_when_asked(
    live: SimulatorThread, tmp_path: Path
) -> None:
    grenoble = truth(live, "38-grenoble-renouvellement")
    path = tmp_path / "c.toml"
    original = '# keep me\n[defaults]\ncadence = "1h"\n'
    path.write_text(original, encoding="utf-8")
    # allow_local relaxes the host check for every row: never written without --allow-local
    refused = run("add", grenoble["url"], "--catalogue", str(path), "--gap", "0", "--yes")
    assert refused.exit_code == 2 and "--allow-local" in refused.output
    assert path.read_text("utf-8") == original
    result = run(
        "add", grenoble["url"], "--catalogue", str(path), "--gap", "0", "--yes", "--allow-local"
    )
    assert result.exit_code == 0, result.output
    assert "allow_local = true is now at the top" in result.output
    assert "warning" in result.output
    text = path.read_text("utf-8")
    assert text.startswith("# keep me\n")
    assert text.index("allow_local = true") < text.index("[defaults]")
    assert [row["planning"] for row in rows(path)] == grenoble["plannings"]


def test_add_cleans_and_bounds_what_the_page_says(tmp_path: Path) -> None:
    """A heading with a bidi override and more text than a label holds: the row is written, its
    label cleaned and cut to the catalogue's limit (not refused by the loader)."""
    heading = "Dépôt \u202ede dossier " + "très long " * 40
    page = (
        "<html><head><title>Rendez-vous</title></head><body>"
        f'<form id="FormBookingCreate" name="create" method="post"><h2>{heading}</h2>'
        '<input type="checkbox" id="condition" name="condition" />'
        '<input type="submit" name="nextButton" value="Effectuer une demande de rendez-vous" />'
        "</form></body></html>"
    )

    async def form(request: web.Request) -> web.Response:
        return web.Response(text=page, content_type="text/html")

    application = web.Application()
    application.router.add_get("/booking/create/78", form)
    application.router.add_post("/booking/create/78/0", form)
    path = tmp_path / "c.toml"
    with AppThread(application) as base:
        args = ("--departement", "38", "--site", "Préfecture X", "--procedure", "depot")
        url = f"{base}/booking/create/78"
        result = run(
            "add", url, "--catalogue", str(path), "--gap", "0", "--yes", "--allow-local", *args
        )
    assert result.exit_code == 0, result.output
    (row,) = rows(path)
    assert row["label"].startswith("Dépôt de dossier très long")
    assert "\u202e" not in row["label"] and len(row["label"]) <= MAX_TEXT

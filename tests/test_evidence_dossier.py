"""Screenshots of archived pages and court dossiers, with Debian's Chromium.

A 30-day dossier of a demo service opens: its CSV rows are the stored probes, its digests match,
its screenshots show the URL, the date and the time.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import os
import shutil
import struct
import subprocess
import sys
import zipfile
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from guichets.catalogue import catalogue_to_toml
from guichets.cli import app
from guichets.evidence.dossier import CSV_COLUMNS
from guichets.evidence.screenshot import CHROMIUM, Renderer, load_probe
from guichets.evidence.warc import iter_members
from guichets.model import PARIS, Outcome
from guichets.periods import DateRange
from guichets.store import Store
from guichets.usecases.demo import simulated_catalogue
from tests.evidence_support import evidence_run, raw_sql
from tests.simthread import SimulatorThread

pytestmark = pytest.mark.browser
CLOSED = "63-clermont-renouvellement"  # "no slot" every time
FINE = "974-saint-denis-titre-sejour"  # slots every time


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Thirty simulated days of three demo services, one probe a day each, with evidence."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"needs Debian's chromium at {CHROMIUM} (make test installs it)")
    home = tmp_path_factory.mktemp("month")
    asyncio.run(evidence_run(home, days=30, cadence="1d"))
    return home


def evidence(home: Path, *args: str) -> Result:
    env = {"GUICHETS_HOME": str(home), "COLUMNS": "300", "NO_COLOR": "1"}
    return CliRunner().invoke(app, ["evidence", *args], env=env)


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_a_30_day_dossier_opens_and_holds_what_is_stored(month: Path, tmp_path: Path) -> None:
    out = tmp_path / "dossier.zip"
    made = evidence(
        month, "dossier", "--service", CLOSED, "--from", "2026-10-05", "--to", "2026-11-03",
        "--out", str(out),
    )  # fmt: skip
    assert made.exit_code == 0, made.stderr
    assert "warning" not in made.stderr  # 30 days span more than three weeks
    with Store.open(None, home=month) as store:
        stored = list(store.observations(service=CLOSED))
        ledger = {e.probe_id: e for e in store.ledger(service=CLOSED)}
        rows = {r.record_id: r for r in store.evidence_records(probe_ids=list(ledger))}
    assert len(stored) >= 30  # one a day (the clock change adds a period)
    with zipfile.ZipFile(out) as archive:
        names = set(archive.namelist())
        files = {name: archive.read(name) for name in names}
    # The attempts: one row per stored probe, in order, as stored.
    table = list(csv.reader(io.StringIO(files["tentatives.csv"].decode())))
    assert tuple(table[0]) == CSV_COLUMNS
    assert len(table) == 1 + len(stored)
    for row, obs in zip(table[1:], stored, strict=True):
        local = obs.started_at.astimezone(PARIS)
        first = "" if obs.first_slot is None else obs.first_slot.isoformat(timespec="minutes")
        assert row[:6] == [
            f"{local:%Y-%m-%d}", f"{local:%H:%M:%S}", obs.started_at.isoformat(),
            str(obs.outcome), obs.detail, first,
        ]  # fmt: skip
        assert row[10] == obs.probe_id and row[12] == ledger[obs.probe_id].entry_sha256
        assert f"captures/{row[13]}" in names
    # The manifest: every file's SHA-256.
    sums = dict(reversed(line.split("  ", 1)) for line in files["SHA256SUMS"].decode().splitlines())
    assert set(sums) == names - {"SHA256SUMS"}
    for name, digest in sums.items():
        assert hashlib.sha256(files[name]).hexdigest() == digest, name
    # The WARC records, byte for byte: each one's SHA-256 is the one the ledger committed to.
    [warc] = [n for n in names if n.startswith("archive/")]
    members = list(iter_members(files[warc]))
    assert members[0].data is not None and b"WARC-Type: warcinfo" in members[0].data
    found = {m.record_id: m.sha256 for m in members[1:]}
    assert found == {record_id: row.sha256 for record_id, row in rows.items()}
    listed = list(csv.reader(io.StringIO(files["enregistrements.csv"].decode())))[1:]
    assert {r[2]: r[6] for r in listed} == found
    # The readable list and the method note.
    readable = files["tentatives.html"].decode()
    assert all(obs.probe_id in readable for obs in stored)
    note = files["note-methode.html"].decode()
    for needed in ("NF Z67-147", "Adresse IP du robot", "127.0.0.1", "Aucun", "session neuve",
                   "Chemin suivi", "horloge simulée", "guichets 0.1.0"):  # fmt: skip
        assert needed.lower() in note.lower(), needed
    shots = sorted(n for n in names if n.startswith("captures/"))
    assert len(shots) == len(stored)
    assert all(_png_size(files[n])[0] == 1100 for n in shots)
    (tmp_path / "look.png").write_bytes(files[shots[0]])  # for a person to look at


def test_a_screenshot_shows_url_date_time_service_probe_and_digest(month: Path) -> None:
    with Store.open(None, home=month) as store:
        obs = next(o for o in store.observations(service=FINE) if o.outcome is Outcome.AVAILABLE)
        probe = load_probe(month, store, obs.probe_id)
        entry = store.ledger(probe_ids=[obs.probe_id])[0]

    async def shoot() -> tuple[bytes, str]:
        async with Renderer() as renderer:
            png = await renderer.render(probe)
            return png, renderer.text

    png, text = asyncio.run(shoot())
    page = probe.page
    assert page is not None
    paris = page.at.astimezone(PARIS)
    assert f"URL : {page.row.uri}" in text
    assert f"{paris:%d/%m/%Y à %H:%M:%S} heure de Paris (UTC+0" in text
    assert f"{page.at:%Y-%m-%d %H:%M:%S} UTC" in text
    assert f"Service : {FINE} — sondage {obs.probe_id}" in text
    assert f"SHA-256 de l'enregistrement WARC : {page.row.sha256}" in text
    assert entry.entry_sha256 in text
    # The archived page itself: the week grid where the first slot is, with its free cell.
    assert "libre" in text and "Semaine du" in text
    assert _png_size(png)[1] > 300


def test_few_weeks_warn_and_unavailable_only_shoots_no_available_page(
    month: Path, tmp_path: Path
) -> None:
    out = tmp_path / "short.zip"
    made = evidence(
        month, "dossier", "--service", FINE, "--from", "2026-10-05", "--to", "2026-10-09",
        "--out", str(out), "--unavailable-only",
    )  # fmt: skip
    assert made.exit_code == 0, made.stderr
    assert "warning: Les tentatives couvrent 1 semaine(s) seulement" in made.stderr
    with zipfile.ZipFile(out) as archive:
        names = archive.namelist()
        table = list(csv.reader(io.StringIO(archive.read("tentatives.csv").decode())))[1:]
        note = archive.read("note-methode.html").decode()
    with Store.open(None, home=month) as store:
        days = DateRange(date(2026, 10, 5), date(2026, 10, 9))
        stored = list(store.observations(service=FINE, since=days.start, until=days.end))
    assert [row[10] for row in table] == [o.probe_id for o in stored] and len(stored) >= 5
    assert {row[3] for row in table} == {"available"}
    assert not [n for n in names if n.startswith("captures/")] and {r[13] for r in table} == {""}
    assert "couvrent 1 semaine" in note


def test_a_dossier_is_refused_when_the_evidence_does_not_verify(
    month: Path, tmp_path: Path
) -> None:
    home = tmp_path / "data"
    shutil.copytree(month, home)
    raw_sql(home, f"UPDATE probes SET message = 'x' WHERE service = '{CLOSED}'")
    out = tmp_path / "refused.zip"
    made = evidence(
        home, "dossier", "--service", CLOSED, "--from", "2026-10-05", "--to", "2026-11-03",
        "--out", str(out),
    )  # fmt: skip
    assert made.exit_code == 1
    assert "BROKEN probe " in made.stderr and "does not verify" in made.stderr
    assert not out.exists() and not list(tmp_path.glob("*.part"))


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("--from", "2026-13-01", "--to", "2026-11-03"), "--from '2026-13-01' is not a date"),
        (("--from", "2026-11-03", "--to", "2026-10-05"), "--to 2026-10-05 is before --from"),
        (("--from", "2026-10-05", "--to", "2026-10-06", "--service", "99-x"), "no such service"),
        (("--from", "2025-01-01", "--to", "2025-01-31"), "no probe of"),
    ],
)
def test_bad_dossier_input_says_what_and_exits_2(
    month: Path, tmp_path: Path, args: tuple[str, ...], said: str
) -> None:
    service = () if "--service" in args else ("--service", CLOSED)
    made = evidence(month, "dossier", *service, *args, "--out", str(tmp_path / "x.zip"))
    assert made.exit_code == 2, made.stderr
    assert said in made.stderr
    assert not (tmp_path / "x.zip").exists()


def test_screenshot_command_writes_the_png(month: Path, tmp_path: Path) -> None:
    with Store.open(None, home=month) as store:
        obs = next(iter(store.observations(service=CLOSED)))
    out = tmp_path / "shot.png"
    made = evidence(month, "screenshot", obs.probe_id, "--out", str(out))
    assert made.exit_code == 0, made.stderr
    assert _png_size(out.read_bytes())[0] == 1100
    missing = evidence(month, "screenshot", "nope", "--out", str(tmp_path / "n.png"))
    assert missing.exit_code == 2 and "no archived record for probe 'nope'" in missing.stderr


def test_run_takes_screenshots_at_probe_time(tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"needs Debian's chromium at {CHROMIUM} (make test installs it)")
    with SimulatorThread("france-demo", hosts="loopback", system_clock=True) as live:
        chosen = [s for s in simulated_catalogue(live.sim, "1d") if s.id in (CLOSED, FINE)]
        catalogue = tmp_path / "catalogue.toml"
        catalogue.write_text(catalogue_to_toml(chosen), "utf-8")
        home = tmp_path / "data"
        done = subprocess.run(
            [sys.executable, "-m", "guichets", "run", "--catalogue", str(catalogue), "--home",
             str(home), "--once", "--gap", "0", "--screenshots"],
            capture_output=True, text=True, timeout=120, env=dict(os.environ, COLUMNS="200"),
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    shots = sorted((home / "evidence" / "screenshots").glob("*/*.png"))
    assert [p.parent.name for p in shots] == sorted([CLOSED, FINE])
    assert all(_png_size(p.read_bytes())[0] == 1100 for p in shots)
    assert evidence(home, "verify").exit_code == 0

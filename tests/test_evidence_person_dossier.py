"""A person's dossier: it opens, its files verify, its cover note states which of the Conseil
d'État's criteria are met and what is missing, and it names nobody unless asked at export."""

from __future__ import annotations

import hashlib
import zipfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from guichets.clock import SimulatedClock
from guichets.evidence.archive import EvidenceArchive
from guichets.evidence.person_dossier import build_person_dossier, criteria
from guichets.evidence.screenshot import CHROMIUM
from guichets.http import Exchange
from guichets.model import Detail, Observation, Outcome
from guichets.periods import DateRange
from guichets.store import Store
from guichets.store.assisted import Attempt, save_attempt

URL = "http://127.0.0.1:9/rdvpref/reservation/demarche/2200/creneau/"
PAGE = (
    "<!doctype html><html lang=fr><title>Choisissez votre créneau</title><h1>Choisissez votre "
    "créneau</h1><p>Aucun créneau disponible à partir de cette date.</p></html>"
).encode()
FIRST = datetime(2026, 10, 5, 9, 30, tzinfo=UTC)  # a Monday


def _read(home: Path, store: Store, archive: EvidenceArchive, at: datetime, n: int) -> None:
    """One stored assisted read with its evidence, as the console stores one."""
    attempt = Attempt(f"attempt{n}", "p-0a1b2c", "33-bordeaux-titre", URL, at, answers=1)
    save_attempt(store, attempt.but(state="read", reads=1, passed_at=at))
    recorder = archive.recorder(f"probe{n}", "33-bordeaux-titre")
    recorder.on_exchange(
        Exchange(
            probe_id=f"probe{n}", method="GET", url=URL, request_headers=(("User-Agent", "x"),),
            request_body=b"", status=200, reason="OK", http_version="1.1",
            response_headers=(("Content-Type", "text/html; charset=utf-8"),), raw_body=PAGE,
            started_at=at, elapsed=0.1, error=None, remote="127.0.0.1",
        )
    )  # fmt: skip
    observation = Observation(
        probe_id=f"probe{n}", service="33-bordeaux-titre", platform="rdvpref", url=URL,
        started_at=at, finished_at=at + timedelta(seconds=2), outcome=Outcome.UNAVAILABLE,
        detail=Detail.NO_SLOT_PAGE, requests=1, message="no slot", assisted=True,
        person="p-0a1b2c", extra={"attempt": f"attempt{n}"},
    )  # fmt: skip
    assert archive.commit(recorder, observation)


@pytest.mark.browser
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"needs Debian's chromium at {CHROMIUM}")
async def test_a_person_dossier_checks_the_criteria(tmp_path: Path) -> None:
    home = tmp_path / "home"
    days = DateRange(date(2026, 10, 1), date(2026, 10, 31))
    with Store.open(None, home=home) as store:
        with EvidenceArchive(home, store, SimulatedClock(FIRST)) as archive:
            _read(home, store, archive, FIRST, 1)
            _read(home, store, archive, FIRST + timedelta(days=8), 2)  # the next week
        short = await build_person_dossier(
            home, store, person="p-0a1b2c", days=days, out=tmp_path / "court.zip"
        )
        assert not short.criteria.met and short.criteria.weeks == 2
        with zipfile.ZipFile(short.path) as zipped:
            cover = zipped.read("note-couverture.html").decode()
        assert "ne sont pas encore remplis" in cover and "1 semaine(s) de plus" in cover
        assert "p-0a1b2c" in cover
        with EvidenceArchive(home, store, SimulatedClock(FIRST + timedelta(days=20))) as archive:
            _read(home, store, archive, FIRST + timedelta(days=16), 3)  # a third week
        made = await build_person_dossier(
            home, store, person="p-0a1b2c", days=days, out=tmp_path / "full.zip",
            name="Awa Diallo",
        )  # fmt: skip
    assert made.criteria.met and (made.criteria.weeks, made.criteria.span_days) == (3, 16)
    assert made.reads == 3 and made.screenshots == 3
    with zipfile.ZipFile(made.path) as zipped:
        names = zipped.namelist()
        sums = zipped.read("SHA256SUMS").decode().splitlines()
        for line in sums:
            digest, name = line.split("  ", 1)
            assert hashlib.sha256(zipped.read(name)).hexdigest() == digest, name
        cover = zipped.read("note-couverture.html").decode()
        shots = [n for n in names if n.startswith("captures/")]
        assert len(shots) == 3 and zipped.read(shots[0])[:4] == b"\x89PNG"
    assert len(sums) == len(names) - 1
    assert "Les critères sont remplis" in cover and "Awa Diallo" in cover
    assert "Awa Diallo" not in (tmp_path / "court.zip").read_bytes().decode("latin-1")
    assert any(n.startswith("archive/") and n.endswith(".warc.gz") for n in names)
    assert criteria([]).missing()

"""The national catalogue and the keys that say where a row comes from and when it was checked."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from guichets.catalogue import catalogue_to_toml, check_report, load_catalogue
from guichets.coverage import FRANCE_101, coverage_table
from guichets.tomlconfig import ConfigError

ROOT = Path(__file__).resolve().parents[1]
FRANCE = ROOT / "catalogues" / "france.toml"
DOC = ROOT / "docs" / "catalogue.md"

ROW = """\
[[services]]
id = "38-grenoble-renouvellement"
departement = "38"
site = "Préfecture de l'Isère"
procedure = "renouvellement"
platform = "ezbooking"
url = "https://www.isere.gouv.fr/booking/create/4129"
cadence = "1h"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "catalogue.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_national_catalogue_checks_and_every_row_is_sourced_dated_and_disabled() -> None:
    code, report = check_report(FRANCE)
    assert code == 0, report
    catalogue = load_catalogue(FRANCE)
    assert len(catalogue.services) >= 20
    for service in catalogue.services:
        assert service.source, service.id
        assert isinstance(service.source_date, date), service.id
        assert not service.enabled, f"{service.id} was never checked live"
        assert service.verified is None
    assert {s.platform for s in catalogue.services} >= {"ezbooking", "rdvpref"}


def test_the_coverage_table_in_the_docs_matches_the_file() -> None:
    text = DOC.read_text("utf-8")
    found = re.search(r"<!-- coverage:start -->\n(.*?)<!-- coverage:end -->", text, re.S)
    assert found, "docs/catalogue.md lost its coverage markers"
    expected = coverage_table(load_catalogue(FRANCE).services)
    assert found.group(1) == expected, (
        "regenerate it: guichets catalogue coverage catalogues/france.toml"
    )


def test_the_101_departements() -> None:
    assert len(FRANCE_101) == 101
    assert {"2A", "2B", "971", "976"} <= set(FRANCE_101)
    assert "975" not in FRANCE_101


def test_coverage_counts_departements_by_platform(tmp_path: Path) -> None:
    text = ROW + ROW.replace("38-grenoble-renouvellement", "38-grenoble-autre")
    table = coverage_table(load_catalogue(write(tmp_path, text)).services)
    assert "| legacy module (`/booking/create/…`) | 2 | 1 of 101 | 38 |" in table
    assert "| any platform | 2 | 1 of 101 |" in table
    assert "| none yet | 0 | 100 of 101 |" in table


def test_source_verified_and_outcome_load_and_write_back(tmp_path: Path) -> None:
    extra = (
        'source = "someone/scripts:config/prefectures.py"\n'
        "source_date = 2025-03-01\n"
        "verified = 2026-12-06\n"
        'last_outcome = "unavailable"\n'
    )
    path = write(tmp_path, ROW + extra)
    service = load_catalogue(path).services[0]
    assert service.source == "someone/scripts:config/prefectures.py"
    assert service.source_date == date(2025, 3, 1)
    assert service.verified == date(2026, 12, 6)
    assert service.last_outcome == "unavailable"
    again = write(tmp_path, catalogue_to_toml([service]))
    assert load_catalogue(again).services[0] == service
    assert "source_date = 2025-03-01\n" in again.read_text("utf-8")
    code, report = check_report(path)
    assert code == 0, report
    assert "sources: 1 of 1 rows name theirs; verified live: 1, the last on 2026-12-06" in report


@pytest.mark.parametrize(
    ("extra", "where", "words"),
    [
        ('source = "somewhere"\n', "source", ["repository and path", "owner/name:path"]),
        ('source = "ftp://x.org/f"\n', "source", ["https://"]),
        (
            'source = "https://x.org/"\nsource_date = "2025-03-01"\n',
            "source_date",
            ["without quotes", "source_date = 2025-03-01"],
        ),
        (
            'source = "https://x.org/"\nsource_date = 2025-03-01T10:00:00\n',
            "source_date",
            ["the day alone", "2025-03-01"],
        ),
        ("source_date = 2025-03-01\n", "source_date", ["add source"]),
        (
            'verified = 2026-12-06\nlast_outcome = "site_error"\n',
            "last_outcome",
            ["available, unavailable, barrier"],
        ),
        ("verified = 2026-12-06\n", "verified", ["go together", "add last_outcome"]),
        ('last_outcome = "available"\n', "last_outcome", ["go together", "add verified"]),
    ],
)
def test_a_wrong_source_or_verification_is_reported_at_its_line(
    tmp_path: Path, extra: str, where: str, words: list[str]
) -> None:
    path = write(tmp_path, ROW + extra)
    with pytest.raises(ConfigError) as caught:
        load_catalogue(path)
    message = str(caught.value)
    line = len(ROW.splitlines()) + next(
        number for number, text in enumerate(extra.splitlines(), 1) if text.startswith(where)
    )
    assert f"catalogue.toml:{line}" in message, message
    for word in words:
        assert word in message, message

"""Upgrades without loss: data written by the previous release migrates to head and verifies.

``tests/fixtures/upgrade/`` holds a SQLite database and a PostgreSQL dump, each with its WARC
files, written by guichets before issue 13 (revision ``0003_rollups``; its README says how). Each
is copied, brought to whatever head this version knows with the migration code ``Store.open``
runs, and then ``guichets evidence verify`` (a real process) must find every probe, ledger entry
and digest intact, and the probes must read back as they were.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from guichets.store import Store, migrate
from tests.dbfixtures import pg_base_url, pg_schema

FIXTURE = Path(__file__).parent / "fixtures" / "upgrade"
OLD_REVISION = ("0003_rollups",)
PROBES = 5  # what the fixture's two runs stored (README)
SERVICES = {
    "38-grenoble-renouvellement",
    "59-lille-renouvellement",
    "63-clermont-renouvellement",
    "92-nanterre-naturalisation",
    "94-creteil-retrait-titre",
}


def _sqlite(tmp_path: Path) -> tuple[Path, str]:
    home = tmp_path / "data"
    shutil.copytree(FIXTURE / "sqlite", home)
    return home, f"sqlite:///{home / 'guichets.sqlite'}"


def _load_dump(url: str) -> None:
    """Run the schema-neutral plain SQL dump inside the test's schema (no psql needed)."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql((FIXTURE / "postgresql" / "dump.sql").read_text("utf-8"))
    finally:
        engine.dispose()


def _upgrade_and_verify(home: Path, url: str) -> None:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            assert migrate.current(conn) == OLD_REVISION, "the fixture is not the old release's"
        with engine.begin() as conn:
            migrate.upgrade(conn)
        with engine.connect() as conn:
            assert set(migrate.current(conn)) == set(migrate.heads())
            stored = conn.execute(text("SELECT count(*) FROM probes")).scalar_one()
        assert stored == PROBES
    finally:
        engine.dispose()

    env = dict(os.environ, GUICHETS_HOME=str(home), COLUMNS="300", NO_COLOR="1")
    done = subprocess.run(
        [sys.executable, "-m", "guichets", "evidence", "verify", "--db", url],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"intact: {PROBES} probes of {len(SERVICES)} services" in done.stdout

    with Store.open(url, home=home) as store:  # what every command does first: already at head
        observations = list(store.observations())
    assert {obs.service for obs in observations} == SERVICES
    assert len({obs.outcome for obs in observations}) >= 3  # available, unavailable, barrier


def test_sqlite_database_of_the_previous_release_upgrades_and_verifies(tmp_path: Path) -> None:
    home, url = _sqlite(tmp_path)
    _upgrade_and_verify(home, url)


@pytest.mark.postgres
def test_postgresql_database_of_the_previous_release_upgrades_and_verifies(
    tmp_path: Path,
) -> None:
    home = tmp_path / "data"
    shutil.copytree(FIXTURE / "postgresql" / "evidence", home / "evidence")
    with pg_schema(pg_base_url()) as url:
        _load_dump(url)
        _upgrade_and_verify(home, url)


def test_a_broken_copy_is_caught(tmp_path: Path) -> None:
    """The check above can fail: one changed byte in the old release's WARC is named."""
    home, url = _sqlite(tmp_path)
    warc = next((home / "evidence" / "warc").glob("*.warc.gz"))
    data = bytearray(warc.read_bytes())
    data[len(data) // 2] ^= 0xFF
    warc.write_bytes(bytes(data))
    with pytest.raises(AssertionError, match="BROKEN"):
        _upgrade_and_verify(home, url)

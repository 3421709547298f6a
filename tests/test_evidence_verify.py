"""``guichets evidence verify`` after a demo run: 0 when intact; 1, naming what broke, after one
changed byte, one deleted probe, one deleted record (real processes, a real demo data directory)."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from guichets.cli import app
from guichets.evidence import layout
from guichets.store import EvidenceRecord, Store
from guichets.usecases.demo import run_demo
from tests.evidence_support import query, raw_sql

GUICHETS = [sys.executable, "-m", "guichets"]
ENV = dict(os.environ, COLUMNS="300", NO_COLOR="1")


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("demo")
    asyncio.run(run_demo(home, days=1, cadence="12h"))
    return home


@pytest.fixture
def home(demo_home: Path, tmp_path: Path) -> Path:
    """A copy of the demo's data directory, to tamper with."""
    copy = tmp_path / "data"
    shutil.copytree(demo_home, copy)
    return copy


def evidence_process(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The command as people run it, in its own process."""
    env = dict(ENV, GUICHETS_HOME=str(home))
    return subprocess.run(
        [*GUICHETS, "evidence", *args], capture_output=True, text=True, env=env, timeout=120
    )


def evidence(home: Path, *args: str) -> Result:
    """The same command in this process (a second less per call)."""
    env = {"GUICHETS_HOME": str(home), "COLUMNS": "300", "NO_COLOR": "1"}
    return CliRunner().invoke(app, ["evidence", *args], env=env)


def _a_response(home: Path) -> EvidenceRecord:
    with Store.open(None, home=home) as store:
        return next(r for r in store.evidence_records() if r.kind == "response" and r.probe_id)


def test_verify_passes_after_a_demo_run(home: Path) -> None:
    result = evidence_process(home, "verify")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("intact: ")
    with Store.open(None, home=home) as store:
        probes = store.count()
    assert f"intact: {probes} probes of " in result.stdout
    assert probes >= 60


def test_one_changed_byte_of_a_warc_file_is_named(home: Path) -> None:
    record = _a_response(home)
    assert record.position is not None and record.size is not None
    path = layout.warc_dir(home) / record.file
    data = bytearray(path.read_bytes())
    data[record.position + record.size // 2] ^= 0x01
    path.write_bytes(bytes(data))
    result = evidence(home, "verify")
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert any(
        line.startswith(f"BROKEN file {record.file}: its SHA-256 is ") and "was changed" in line
        for line in lines
    ), result.stderr
    assert any(
        line.startswith(f"BROKEN file {record.file}: unreadable bytes at offset {record.position}")
        and f"record {record.record_id} of probe {record.probe_id}" in line
        for line in lines
    ), result.stderr
    assert lines[-1].startswith("NOT INTACT: 2 problems")


def test_a_deleted_probe_row_is_named(home: Path) -> None:
    [(probe_id, service)] = query(home, "SELECT probe_id, service FROM probes LIMIT 1 OFFSET 7")
    raw_sql(home, f"DELETE FROM probes WHERE probe_id = '{probe_id}'")
    result = evidence(home, "verify")
    assert result.exit_code == 1
    assert f"BROKEN probe {probe_id}: in the ledger ({service}, entry " in result.stderr
    assert "its row was deleted" in result.stderr


def test_a_probe_deleted_with_its_ledger_entry_and_records_still_shows(home: Path) -> None:
    [(probe_id, service)] = query(home, "SELECT probe_id, service FROM probes LIMIT 1 OFFSET 3")
    [(seq,)] = query(home, f"SELECT seq FROM evidence_ledger WHERE probe_id = '{probe_id}'")
    raw_sql(
        home,
        *(
            f"DELETE FROM {table} WHERE probe_id = '{probe_id}'"
            for table in ("evidence_records", "evidence_ledger", "kept_pages", "probes")
        ),
    )
    result = evidence(home, "verify")
    assert result.exit_code == 1
    err = result.stderr
    # The chain has a hole, and the WARC file still holds the probe's records, which name it.
    assert f"BROKEN service {service}: ledger entries {seq} to {seq} are missing" in err, err
    assert f"BROKEN probe {probe_id}: record <urn:uuid:" in err
    assert "its probe is not in the database (deleted?)" in err


def test_a_record_deleted_from_its_file_is_named(home: Path) -> None:
    record = _a_response(home)
    assert record.position is not None and record.size is not None
    path = layout.warc_dir(home) / record.file
    data = path.read_bytes()
    path.write_bytes(data[: record.position] + data[record.position + record.size :])
    result = evidence(home, "verify")
    assert result.exit_code == 1
    assert (
        f"BROKEN probe {record.probe_id}: record {record.record_id} (response {record.uri}) is "
        f"missing from {record.file}: it was removed from the file"
    ) in result.stderr
    assert f"BROKEN file {record.file}: its SHA-256 is " in result.stderr
    # The other records moved within the file but are all still there and intact.
    assert result.stderr.count("BROKEN") == 2, result.stderr


def test_a_deleted_record_row_is_named(home: Path) -> None:
    record = _a_response(home)
    raw_sql(home, f"DELETE FROM evidence_records WHERE record_id = '{record.record_id}'")
    result = evidence(home, "verify")
    assert result.exit_code == 1
    assert f"BROKEN probe {record.probe_id}: its record rows (" in result.stderr
    assert f"record {record.record_id} at offset {record.position} of {record.file}" in (
        result.stderr
    )


def test_an_edited_outcome_is_named(home: Path) -> None:
    [(probe_id, service)] = query(
        home, "SELECT probe_id, service FROM probes WHERE outcome = 'barrier' LIMIT 1"
    )
    raw_sql(
        home,
        "UPDATE probes SET outcome = 'unavailable', detail = 'no_slot_page', category = 'E' "
        f"WHERE probe_id = '{probe_id}'",
    )
    result = evidence(home, "verify")
    assert result.exit_code == 1
    assert f"BROKEN probe {probe_id}: its row ({service}, ledger entry " in result.stderr
    assert "it was edited after the probe" in result.stderr
    # Only that service's evidence is broken.
    [(other,)] = query(home, f"SELECT service FROM probes WHERE service != '{service}' LIMIT 1")
    assert evidence(home, "verify", "--service", other).exit_code == 0
    assert evidence(home, "verify", "--service", service).exit_code == 1


def test_the_newest_probes_removed_show_at_the_head(home: Path) -> None:
    [(service, last)] = query(
        home, "SELECT service, MAX(seq) FROM evidence_ledger GROUP BY service LIMIT 1"
    )
    [(probe_id,)] = query(
        home,
        f"SELECT probe_id FROM evidence_ledger WHERE service = '{service}' AND seq = {last}",
    )
    raw_sql(
        home,
        *(
            f"DELETE FROM {table} WHERE probe_id = '{probe_id}'"
            for table in ("evidence_records", "evidence_ledger", "kept_pages", "probes")
        ),
    )
    result = evidence(home, "verify", "--service", service)
    assert result.exit_code == 1
    assert (
        f"BROKEN service {service}: the chain's head says entry {last} but the ledger ends at "
        f"entry {last - 1}"
    ) in result.stderr


def test_a_probe_inserted_afterwards_is_named(home: Path) -> None:
    [(probe_id,)] = query(home, "SELECT probe_id FROM probes LIMIT 1")
    columns = [row[1] for row in query(home, "PRAGMA table_info(probes)")]
    copied = ", ".join(
        "'forged'" if c == "probe_id" else "NULL" if c == "period_key" else c for c in columns
    )
    raw_sql(home, f"INSERT INTO probes SELECT {copied} FROM probes WHERE probe_id = '{probe_id}'")
    result = evidence(home, "verify")
    assert result.exit_code == 1
    assert "BROKEN probe forged: stored (" in result.stderr
    assert "but not in the ledger" in result.stderr


def test_bad_input_says_what_and_exits_2(home: Path, tmp_path: Path) -> None:
    unknown = evidence(home, "verify", "--service", "99-nowhere")
    assert unknown.exit_code == 2
    assert "--service '99-nowhere': no such service in the store" in unknown.stderr
    empty = evidence(tmp_path / "nothing", "verify")
    assert empty.exit_code == 2
    assert "no database in" in empty.stderr
    assert not (tmp_path / "nothing").exists()  # nothing created by a refused command

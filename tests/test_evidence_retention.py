"""Retention: old raw records thinned or removed; digests, ledger and figures stay verifiable."""

from __future__ import annotations

import asyncio
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from guichets.cli import app
from guichets.evidence import layout
from guichets.evidence.recovery import recover
from guichets.evidence.retention import Mode, prune
from guichets.evidence.screenshot import ScreenshotError, load_probe
from guichets.evidence.verify import verify
from guichets.store import Store
from tests.evidence_support import START, evidence_run, warc_files

CUT = START + timedelta(days=1.5)


@pytest.fixture(scope="module")
def three_days(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("three-days")
    asyncio.run(evidence_run(home, days=3, cadence="6h", max_file_bytes=150_000))
    return home


@pytest.fixture
def home(three_days: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "data"
    shutil.copytree(three_days, copy)
    return copy


def _state(store: Store) -> tuple[object, ...]:
    """What retention must not change: the probes, the ledger, every record's digest."""
    return (
        [o.to_json() for o in store.observations()],
        store.ledger(),
        store.ledger_heads(),
        sorted((r.record_id, r.probe_id, r.ordinal, r.sha256) for r in store.evidence_records()),
    )


@pytest.mark.parametrize("mode", [Mode.THIN, Mode.REMOVE])
def test_pruning_keeps_digests_ledger_and_figures_verifiable(home: Path, mode: Mode) -> None:
    with Store.open(None, home=home) as store:
        before = _state(store)
        old = [o for o in store.observations(until=CUT)]
        new = [o for o in store.observations(since=CUT)]
        pages = {o.probe_id: load_probe(home, store, o.probe_id).page for o in old}
        bytes_before = sum(p.stat().st_size for p in warc_files(home))
        done = prune(home, store, before=CUT, mode=mode, now=START + timedelta(days=90))
        after = _state(store)
        result = verify(home, store)
        records = store.evidence_records()
        files = store.evidence_files()
        assert result.intact, result.problems
        assert after == before  # nothing but where the bytes are has changed
        assert done.probes == len(old) and done.records > 0 and done.files_removed
        assert result.pruned_records == done.records
        assert sum(p.stat().st_size for p in warc_files(home)) == bytes_before - done.bytes_freed
        # Newer probes keep every record; old ones keep what the mode keeps.
        old_ids = {o.probe_id for o in old}
        for record in records:
            if record.probe_id in {o.probe_id for o in new}:
                assert record.pruned_at is None
        kept_old = [r for r in records if r.probe_id in old_ids and r.pruned_at is None]
        if mode is Mode.REMOVE:
            assert not kept_old
            with pytest.raises(ScreenshotError, match="pruned by retention"):
                load_probe(home, store, old[0].probe_id)
        else:
            assert {r.kind for r in kept_old} == {"request", "response", "metadata"}
            for obs in old:  # the page a screenshot shows is still there, the same record
                page = load_probe(home, store, obs.probe_id).page
                shown = pages[obs.probe_id]
                assert (page and page.row.record_id) == (shown and shown.row.record_id)
        # Pruned files keep their digests; the files left on disk are exactly the unpruned ones.
        gone = [f for f in files if f.pruned_at is not None]
        assert gone and all(f.sha256 for f in gone)
        on_disk = {p.name for p in warc_files(home)}
        assert on_disk == {f.name for f in files if f.pruned_at is None}


def test_prune_command_and_an_interrupted_prune(home: Path) -> None:
    # A prune killed after writing its new file, before its transaction: a stray file; recovery
    # moves it aside and the archive verifies.
    stray = layout.warc_dir(home) / "guichets-x-kept-20270101T000000Z.warc.gz"
    shutil.copy(warc_files(home)[0], stray)
    with Store.open(None, home=home) as store:
        assert not verify(home, store).intact
        assert [p.name for p in recover(home, store).strays] == [stray.name]
        assert verify(home, store).intact
    made = CliRunner().invoke(
        app,
        ["evidence", "prune", "--older-than-months", "0", "--mode", "remove"],
        env={"GUICHETS_HOME": str(home), "COLUMNS": "300"},
    )
    assert made.exit_code == 0, made.stderr
    assert "records dropped:" in made.stdout
    with Store.open(None, home=home) as store:
        assert verify(home, store).intact
        assert all(r.pruned_at is not None for r in store.evidence_records() if r.probe_id)
    bad = CliRunner().invoke(
        app, ["evidence", "prune", "--older-than-months", "-1"], env={"GUICHETS_HOME": str(home)}
    )
    assert bad.exit_code == 2

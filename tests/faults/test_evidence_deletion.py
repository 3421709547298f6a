"""A probe deleted consistently from the database (its row, its ledger entry, the head moved back
one step) while its WARC records and their rows stay: ``evidence verify`` must name it; and the
published chain heads catch what no local check can."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from typer.testing import CliRunner, Result

from guichets.cli import app
from tests.evidence_support import raw_sql


def evidence(home: Path, *args: str) -> Result:
    env = {"GUICHETS_HOME": str(home), "COLUMNS": "300", "NO_COLOR": "1"}
    return CliRunner().invoke(app, ["evidence", *args], env=env)


def _newest(home: Path) -> tuple[str, str, int, str]:
    """(service, probe id, seq) of some service's newest entry, and the entry before it."""
    with sqlite3.connect(home / "guichets.sqlite") as conn:
        service, seq = conn.execute(
            "SELECT service, seq FROM evidence_heads WHERE seq >= 2 ORDER BY service LIMIT 1"
        ).fetchone()
        (probe,) = conn.execute(
            "SELECT probe_id FROM evidence_ledger WHERE service = ? AND seq = ?", (service, seq)
        ).fetchone()
        (before,) = conn.execute(
            "SELECT entry_sha256 FROM evidence_ledger WHERE service = ? AND seq = ?",
            (service, seq - 1),
        ).fetchone()
    return service, probe, seq, before


def _delete(home: Path) -> str:
    service, probe, seq, before = _newest(home)
    raw_sql(
        home,
        f"DELETE FROM kept_pages WHERE probe_id = '{probe}'",
        f"DELETE FROM evidence_ledger WHERE probe_id = '{probe}'",
        f"DELETE FROM probes WHERE probe_id = '{probe}'",
        f"UPDATE evidence_heads SET seq = {seq - 1}, entry_sha256 = '{before}' "
        f"WHERE service = '{service}'",
    )
    return probe


def test_the_e2_deletion_is_named_by_verify(home: Path) -> None:
    """Three DELETEs and one UPDATE: verify exits 1 and names the probe whose record rows are
    left without a probe or a ledger entry."""
    assert evidence(home, "verify").exit_code == 0
    probe = _delete(home)
    result = evidence(home, "verify")
    assert result.exit_code == 1, result.stdout
    named = [line for line in result.stderr.splitlines() if probe in line]
    assert named and "neither in the database nor in the ledger" in named[0], result.stderr


def test_published_heads_show_a_deletion_the_heads_table_hides(home: Path, tmp_path: Path) -> None:
    """Heads published before the deletion no longer match: ``evidence heads --check`` exits 1
    naming the service; before it, the same file checks intact."""
    published = evidence(home, "heads")
    assert published.exit_code == 0
    heads = tmp_path / "heads.json"
    heads.write_text(published.stdout, "utf-8")
    assert json.loads(published.stdout)["heads"]
    assert evidence(home, "heads", "--check", str(heads)).exit_code == 0
    _delete(home)
    service = _newest_service_changed(heads, home)
    checked = evidence(home, "heads", "--check", str(heads))
    assert checked.exit_code == 1
    assert f"BROKEN {service}: entry" in checked.stderr


def _newest_service_changed(heads: Path, home: Path) -> str:
    published = json.loads(heads.read_text("utf-8"))["heads"]
    with sqlite3.connect(home / "guichets.sqlite") as conn:
        now = dict(conn.execute("SELECT service, seq FROM evidence_heads").fetchall())
    return next(s for s, h in published.items() if now.get(s) != h["seq"])

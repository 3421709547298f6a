"""Published hash-chain heads: a rewritten ledger no longer matches them."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from guichets.cli import app
from guichets.evidence.heads import check_heads, heads_document
from guichets.store import Store

FIXTURE = Path(__file__).parent / "fixtures" / "upgrade" / "sqlite"


def test_heads_published_then_checked_then_a_rewrite_is_named(tmp_path: Path) -> None:
    home = tmp_path / "data"
    shutil.copytree(FIXTURE, home)
    published = tmp_path / "heads.json"
    env = {"GUICHETS_HOME": str(home), "COLUMNS": "200", "NO_COLOR": "1"}

    written = CliRunner().invoke(app, ["evidence", "heads", "--out", str(published)], env=env)
    assert written.exit_code == 0, written.output
    document = json.loads(published.read_text("utf-8"))
    with Store.open(None, home=home) as store:
        assert document["services"] == {
            service: {"seq": seq, "entry_sha256": entry}
            for service, (seq, entry) in store.ledger_heads().items()
        }
        assert check_heads(store, document) == []
        again = heads_document(store, datetime.now(UTC))
        assert again["sha256"] == document["sha256"]  # same chains, same digest

    fine = CliRunner().invoke(app, ["evidence", "heads", "--check", str(published)], env=env)
    assert fine.exit_code == 0 and "intact" in fine.output

    service = sorted(document["services"])[0]
    engine = create_engine(f"sqlite:///{home / 'guichets.sqlite'}")
    with engine.begin() as conn:  # someone rewrites the chain's last entry
        conn.execute(
            text("UPDATE evidence_ledger SET entry_sha256 = :h WHERE service = :s"),
            {"h": "0" * 64, "s": service},
        )
    engine.dispose()
    broken = CliRunner().invoke(app, ["evidence", "heads", "--check", str(published)], env=env)
    assert broken.exit_code == 1
    assert f"{service}: entry" in broken.output and "is now 000" in broken.output

    edited = dict(document, services={**document["services"], "x": {"seq": 1}})
    with Store.open(None, home=home) as store:
        assert any("edited" in problem for problem in check_heads(store, edited))

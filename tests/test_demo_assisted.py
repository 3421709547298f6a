"""``guichets demo --assisted``: a scripted person's attempts show as the assisted series of an
RDV-Préfecture démarche, while the robot's own figures count the robot's probes only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from guichets.cli import app
from guichets.evidence.screenshot import CHROMIUM
from guichets.model import Outcome

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(), reason=f"needs Debian's chromium at {CHROMIUM}"
    ),
]


def test_demo_with_a_scripted_person(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    runner = CliRunner()
    made = runner.invoke(
        app,
        ["demo", "--days", "1", "--cadence", "24h", "--assisted", "2", "--no-serve", "--no-site",
         "--out", str(out)],
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    assert "forbidden requests seen by the simulator: 0" in " ".join(made.output.split())
    rows = json.loads(runner.invoke(app, ["report", "--format", "json", "--home", str(out)]).output)
    lines = runner.invoke(
        app, ["export", "observations", "--format", "jsonl", "--home", str(out)]
    ).output.splitlines()
    exported = [json.loads(line) for line in lines if line.startswith("{")]
    assert all("assisted" in r and "person" in r for r in exported)
    helped = [r for r in exported if r["assisted"]]
    assert len(helped) == 2 and all(r["person"] for r in helped)
    assert all(r["person"] is None for r in exported if not r["assisted"])
    for row in rows:
        robot = [r for r in exported if r["service"] == row["service"] and not r["assisted"]]
        assisted = [r for r in helped if r["service"] == row["service"]]
        # The robot's figures: its own probes, every one of them, and nothing else.
        assert row["probes"] == len(robot)
        barriers = sum(1 for r in robot if r["outcome"] == Outcome.BARRIER)
        assert row["barrier_rate"] == pytest.approx(barriers / len(robot))
        assert row["assisted_probes"] == len(assisted)
    # RDV-Préfecture démarches behind the captcha: the robot met it on every probe; the person
    # read what was behind it.
    rdv = [r for r in rows if r["assisted_valid"] > 0]
    assert rdv and all(r["barrier_rate"] == 1.0 for r in rdv)
    # The site shows the assisted series as its own line, with its count and how it was sampled.
    site = tmp_path / "site"
    built = runner.invoke(
        app, ["site", "build", "--home", str(out), "--out", str(site), "--screenshots", "0"]
    )
    assert built.exit_code == 0, built.output
    page = (site / "services" / f"{rdv[0]['service']}.html").read_text(encoding="utf-8")
    table = page.split('<table class="assisted">', 1)[1].split("</table>", 1)[0]
    assert "Tentatives assistées (à part des chiffres du robot)" in page
    assert "ne sont pas un échantillon aléatoire" in page
    assert f"<td>{rdv[0]['assisted_probes']}</td>" in table

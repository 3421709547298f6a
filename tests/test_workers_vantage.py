"""A barrier seen from one vantage point and not from another: in the report's JSON, in the
agreement between vantage points, and on the service page.

The simulator's Val-de-Marne site blocks robots by User-Agent: a robot whose User-Agent says
"guichets" is refused (vantage A), one that presents another is let through (vantage B). That is
what a firewall blocking one robot's address looks like from two places. The second probe is a
replicate of the first's period: stored, never counted in the figures.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from guichets.cli import app
from guichets.http import HostGates, Politeness
from guichets.model import Outcome
from guichets.probe import run_probe
from guichets.runner import from_catalogue
from guichets.schedule import period_key, period_start
from guichets.site.build import build_site
from guichets.store import Origin, Store
from guichets.usecases.demo import simulated_catalogue
from guichets.usecases.figures import read_figures
from guichets.workers.report import agreement
from tests.robotsim import LOCAL_AGENT, bench

CONTACT = "https://example.org/contact"


@pytest.mark.asyncio
async def test_barrier_from_one_vantage_point(tmp_path: Path) -> None:
    home = tmp_path / "data"
    async with bench("france-demo", hosts="loopback") as b:
        item = next(
            s for s in from_catalogue(simulated_catalogue(b.sim, "1h"))
            if s.spec.departement == "94"
        )  # fmt: skip
        blocked = await run_probe(item.spec, b.gates, b.clock)
        other = HostGates(b.clock, Politeness(min_gap=0.0, user_agent=LOCAL_AGENT))
        read = await run_probe(item.spec, other, b.clock)
    assert blocked.outcome is Outcome.BARRIER, blocked
    assert read.outcome in (Outcome.AVAILABLE, Outcome.UNAVAILABLE), read
    key = period_key(period_start(blocked.started_at, 3600), 3600)
    with Store.open(None, home=home) as store:
        assert store.save(blocked, period_key=key, origin=Origin("w-a", "A"))
        assert store.save(
            read, period_key=key + "#replicate", origin=Origin("w-b", "B", replicate_of=key)
        )
        pairs = agreement(store)
        figures = read_figures(store, None, generated_at=datetime.now(UTC))
        build_site(store, figures, tmp_path / "site", home=home, contact=CONTACT)
    assert pairs["pairs"] == 1 and pairs["same_outcome"] == 0
    assert pairs["vantage_barriers"] == [
        {"service": item.spec.service, "period_key": key, "blocked_from": "A", "read_from": "B"}
    ]

    result = CliRunner().invoke(app, ["report", "--home", str(home), "--format", "json"])
    assert result.exit_code == 0, result.output
    (row,) = [r for r in json.loads(result.output) if r["service"] == item.spec.service]
    assert row["vantages"] == {
        "barrier_from": ["A"],
        "read_from": ["B"],
        "note": "bloqué depuis A, lu depuis B",
    }
    assert row["probes"] == 1 and row["barrier"] == 1  # the replicate is never counted

    page = (tmp_path / "site" / "services" / f"{item.spec.service}.html").read_text("utf-8")
    assert "bloqué depuis A, lu depuis B" in page
    english = (tmp_path / "site" / "en" / "services" / f"{item.spec.service}.html").read_text(
        "utf-8"
    )
    assert "blocked from A, read from B" in english

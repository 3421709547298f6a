"""The simulator's pages agree with its ground truth, and the truth endpoints answer."""

from __future__ import annotations

import urllib.error
import urllib.request
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guichets.clock import parse_instant
from guichets.simulator import load_scenario
from tests.ezpages import read_grids, walk
from tests.simthread import Browser, SimulatorThread

SCENARIO = load_scenario("france-demo")
# Sites that throttle or block would refuse a person who reads 15 weeks at one frozen instant;
# their pages come from the same code and are checked in test_simulator_pages.py. The other
# platforms' pages are checked against the truth in test_simulator_rdvpref/eappointment.py.
PROPERTY_SERVICES = sorted(
    service.id
    for site in SCENARIO.sites
    if site.throttle is None and site.block is None and site.platform == "ezbooking"
    for service in site.services
)
PERIOD = timedelta(days=30)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=False,
)
@given(
    service_id=st.sampled_from(PROPERTY_SERVICES),
    seconds=st.lists(st.integers(0, int(PERIOD.total_seconds())), min_size=1, max_size=3),
    seed=st.integers(0, 2**31),
    counter_pick=st.integers(0, 10),
)
def test_free_cells_equal_the_truth_at_any_instant(
    service_id: str, seconds: list[int], seed: int, counter_pick: int
) -> None:
    """At any simulated instant, the free cells of the week grids are exactly the truth's slots."""
    with SimulatorThread("france-demo", seed=seed) as sim:
        service = sim.world.services[service_id]
        counters = list(service.counters)
        planning = counters[counter_pick % len(counters)]
        weeks = max(c.release.max_window for c in service.counters.values()) // 7 + 3
        for offset in sorted(seconds):
            at = sim.world.start + timedelta(seconds=offset)
            sim.set_time(at)
            truth = sim.get_json(
                f"/_truth/{service_id}?at={at.isoformat().replace('+', '%2B')}&planning={planning}"
            )
            assert parse_instant(truth["at"]) == at
            expected = sorted(
                int(parse_instant(s).timestamp()) for s in truth["counters"][0]["free_slots"]
            )
            browser = Browser()
            result = walk(browser, sim.url(service_id), planning)
            if truth["state"] != "up":
                assert result.kind == "other", "an outage must not look like a booking page"
                continue
            if truth["layout"] != "v1":
                assert result.kind == "other"
                continue
            if not expected:
                assert result.kind == "no_slot"
                continue
            assert result.kind == "dates", f"slots exist but the walk ended at {result.page.url}"
            seen = sorted(t for w in read_grids(browser, result.page, weeks) for t in w.free)
            assert seen == expected
        assert sim.get_json("/_forbidden")["count"] == 0


def test_truth_answers_for_an_instant(demo_sim: SimulatorThread) -> None:
    at = demo_sim.world.start + timedelta(days=2, hours=10)
    answer = demo_sim.get_json(
        f"/_truth/92-nanterre-remise-titre?at={at.isoformat().replace('+', '%2B')}"
    )
    assert answer["service"] == "92-nanterre-remise-titre" and answer["departement"] == "92"
    assert [c["planning"] for c in answer["counters"]] == [14673, 14806, 14932]
    world = demo_sim.world.services["92-nanterre-remise-titre"]
    for row in answer["counters"]:
        free = world.counter(row["planning"]).free_slots(at)
        assert row["free_count"] == len(free)
        assert row["first_slots"] == [s.start.isoformat() for s in free[:2]]
        assert row["available"] is bool(free)


def test_truth_index_lists_every_service(demo_sim: SimulatorThread) -> None:
    index = demo_sim.get_json("/_truth")
    assert {s["service"] for s in index["services"]} == set(demo_sim.world.services)
    assert all(s["url"].startswith(demo_sim.base_url) for s in index["services"])


def test_truth_timeline_endpoint_matches_the_world(demo_sim: SimulatorThread) -> None:
    start = demo_sim.world.start
    end = start + timedelta(days=3)
    q = f"from={start.isoformat().replace('+', '%2B')}&to={end.isoformat().replace('+', '%2B')}"
    answer = demo_sim.get_json(f"/_truth/93-bobigny-titre-sejour/timeline?{q}")
    segments, spells = demo_sim.world.timeline("93-bobigny-titre-sejour", start, end)
    assert len(answer["segments"]) == len(segments)
    assert [s["free"] for s in answer["segments"]] == [s.free for s in segments]
    assert parse_instant(answer["segments"][0]["start"]) == start
    assert parse_instant(answer["segments"][-1]["end"]) == end
    assert [o["kind"] for o in answer["outages"]] == [s.kind for s in spells]


def _error(url: str) -> tuple[int, str]:
    try:
        urllib.request.urlopen(url)
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    raise AssertionError("expected an error")


def test_truth_errors_say_what_would_be_right(demo_sim: SimulatorThread) -> None:
    base = demo_sim.base_url
    status, text = _error(base + "/_truth/no-such-service")
    assert status == 404 and "38-grenoble-renouvellement" in text
    status, text = _error(base + "/_truth/69-lyon-etudiants?at=yesterday")
    assert status == 400 and "ISO 8601" in text
    status, text = _error(base + "/_truth/69-lyon-etudiants?planning=1")
    assert status == 400 and "2202" in text
    status, text = _error(base + "/_truth/69-lyon-etudiants/timeline?from=2026-10-05T00:00:00Z")
    assert status == 400 and "to=" in text

"""The readers act like a person: the simulator's presentation variants change the markup, never
what a person sees, and the robot reads them as it reads the standard pages."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from guichets.model import Detail, Outcome
from tests.robotsim import bench

ALL = '["button-tag", "script-url", "english", "reordered", "time-cells"]'


def _scenario(tmp_path: Path, variants: str, site_extra: str = "", counters: int = 1) -> Path:
    lines = ", ".join(f'{{ id = {20 + n}, label = "Guichet {n + 1}" }}' for n in range(counters))
    path = tmp_path / "scenario.toml"
    path.write_text(
        f"""
[scenario]
name = "person"
start = 2026-10-07T00:00:00+02:00

[[sites]]
slug = "person"
name = "Préfecture de test"
host = "www.person.gouv.fr"
departement = "38"
variants = {variants}
{site_extra}

[[sites.services]]
id = "38-person-titre"
procedure = "titre"
title = "Titre de séjour"
form_id = 10
notice = true
counters = [{lines}]
model = {{ demand_per_hour = 0.1, window_days = 40 }}
""",
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize(
    ("variants", "extra", "counters", "asked"),
    [
        (ALL, "", 2, None),  # counter chosen on step 1, grid URL built in script
        (ALL, 'offset_origin = 2025-01-08\nindex_php = true\nheader_language = "en"', 2, "21"),
        (ALL, "offset_origin = 2024-03-13", 1, "20"),  # one counter, named by the catalogue
        ('["script-url"]', "", 1, "20"),
        ('["button-tag", "reordered"]', "offset_origin = 2025-06-04", 1, None),
    ],
)
async def test_variants_give_the_truth(
    tmp_path: Path, variants: str, extra: str, counters: int, asked: str | None
) -> None:
    async with bench(_scenario(tmp_path, variants, extra, counters)) as b:
        service = b.world.services["38-person-titre"]
        for hours in (9, 24 * 20 + 3):
            b.at(b.world.start + timedelta(hours=hours))
            obs = await b.probe(service.id, counter=asked)
            wanted = int(asked) if asked else 20
            truth = service.counter(wanted).free_slots(b.clock.now())
            assert obs.counter == str(wanted)
            if truth:
                assert obs.outcome is Outcome.AVAILABLE, obs.message
                assert list(obs.slots[:2]) == [s.start for s in truth[:2]]
            else:
                assert obs.outcome is Outcome.UNAVAILABLE, obs.message
        assert not b.sim.forbidden


async def test_a_single_counter_built_grid_without_a_named_counter_is_not_guessed(
    tmp_path: Path,
) -> None:
    async with bench(_scenario(tmp_path, '["script-url"]', "", 1)) as b:
        b.at(b.world.start + timedelta(hours=9))
        obs = await b.probe("38-person-titre")
        truth = b.world.services["38-person-titre"].counter().free_slots(b.clock.now())
    if truth:
        assert (obs.outcome, obs.detail) == (Outcome.UNRECOGNIZED, Detail.UNREADABLE_GRID)
        assert "--planning" in obs.message and obs.kept_page
    else:
        assert obs.outcome is Outcome.UNAVAILABLE


async def test_offsets_origin_is_learnt_once_then_reused(tmp_path: Path) -> None:
    async with bench(_scenario(tmp_path, '["script-url"]', "offset_origin = 2024-03-13", 2)) as b:
        b.at(b.world.start + timedelta(hours=9))
        first = await b.probe("38-person-titre", counter="20")
        second = await b.probe("38-person-titre", counter="20")
    grids = lambda obs: [s.url for s in obs.trail if "assign" in s.url]  # noqa: E731
    assert len(grids(first)) == len(grids(second)) + 1  # the first probe asked one extra week
    assert grids(second)[0] == grids(first)[1]

"""The bundled scenario holds the situations it promises; bad scenario files are explained."""

from __future__ import annotations

import statistics
from datetime import timedelta
from pathlib import Path

import pytest

from guichets.simulator import World, bundled_scenarios, load_scenario
from guichets.simulator.groundtruth import PARIS, share_without_slot
from guichets.tomlconfig import ConfigError

DEMO = load_scenario("france-demo")
WORLD = World.from_scenario(DEMO)
START = WORLD.start
END = START + timedelta(days=30)


def _no_slot(service_id: str) -> float:
    return share_without_slot(WORLD.services[service_id].counter().timeline(START, END))


def _down(service_id: str) -> float:
    spells = WORLD.services[service_id].outages.between(START, END)
    return (
        sum((min(s.end, END) - max(s.start, START)).total_seconds() for s in spells)
        / (END - START).total_seconds()
    )


def test_france_demo_is_bundled_and_large_enough() -> None:
    assert "france-demo" in bundled_scenarios()
    services = [s for site in DEMO.sites for s in site.services]
    assert len(services) >= 24
    assert len({site.departement for site in DEMO.sites}) >= 12
    assert any(site.departement in {"971", "972", "973", "974", "976"} for site in DEMO.sites)


def test_france_demo_contrasted_situations() -> None:
    shares = {s: _no_slot(s) for s in WORLD.services}
    assert shares["63-clermont-renouvellement"] == 1.0, "a counter where booking never works"
    assert 0.35 <= shares["38-grenoble-renouvellement"] <= 0.65, "about half the time, nothing"
    assert shares["974-saint-denis-titre-sejour"] == 0.0, "one that is fine"
    assert _down("93-bobigny-titre-sejour") > 0.05, "frequent outages"
    sites = {site.slug: site for site in DEMO.sites}
    assert sites["val-de-marne"].block and sites["val-de-marne"].block.user_agents
    assert sites["haute-garonne"].block and sites["haute-garonne"].block.burst
    changed = WORLD.services["95-sarcelles-vie-privee"].config.layout_change_at
    assert changed is not None and START < changed < END


def test_weekly_batch_goes_within_minutes() -> None:
    segments = WORLD.services["69-lyon-renouvellement"].counter().timeline(START, END)
    spells: list[float] = []
    current = 0.0
    for segment in segments:
        if segment.free:
            current += segment.seconds
        elif current:
            spells.append(current)
            current = 0.0
    batches = [s for s in spells if s > 10 * 60]  # the rest: a cancelled slot, soon retaken
    assert len(batches) >= 4, "one batch a week"
    assert max(batches) < 90 * 60, "gone within the hour or so"
    assert statistics.median(spells) < 5 * 60
    openings = [
        s.start.astimezone(PARIS)
        for s, prev in zip(segments[1:], segments, strict=False)
        if s.free > prev.free + 5
    ]
    assert openings and all((o.weekday(), o.hour, o.minute) == (0, 14, 0) for o in openings)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    return path


GOOD = """
[scenario]
name = "tiny"
start = 2026-01-05T00:00:00+01:00

[[sites]]
slug = "isere"
name = "Préfecture de l'Isère"
host = "www.isere.gouv.fr"
departement = "38"

[[sites.services]]
id = "38-grenoble-renouvellement"
procedure = "renouvellement"
title = "Renouvellement"
form_id = 1
counters = [{ id = 2, label = "Guichet 1" }]
model = { window_days = 30 }
"""


def test_a_small_scenario_file_loads(tmp_path: Path) -> None:
    config = load_scenario(_write(tmp_path, GOOD))
    assert config.sites[0].services[0].model.window_days == 30


@pytest.mark.parametrize(
    ("change", "line", "words"),
    [
        (("window_days = 30", "window_days = 0"), 18, "greater than or equal to 1"),
        (
            ('id = "38-grenoble-renouvellement"', 'id = "Grenoble"'),
            13,
            "38-grenoble-renouvellement",
        ),
        (('slug = "isere"', 'slug = "Isère!"'), 7, "slug"),
        (("form_id = 1", "form_id = 1\nwindow = 3"), 17, "window"),
        (("start = 2026-01-05T00:00:00+01:00", "start = 2026-01-05T00:00:00"), 4, "offset"),
        (
            ("model = { window_days = 30 }", 'model = { window_days = 30, release = "hourly" }'),
            18,
            "hourly",
        ),
    ],
)
def test_bad_scenarios_name_file_and_line(
    tmp_path: Path, change: tuple[str, str], line: int, words: str
) -> None:
    old, new = change
    path = _write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(ConfigError) as caught:
        load_scenario(path)
    text = str(caught.value)
    assert str(path) in text
    assert f":{line}:" in text, text
    assert words in text


def test_malformed_toml_and_missing_file(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD.replace('name = "tiny"', 'name = "tiny'))
    with pytest.raises(ConfigError) as caught:
        load_scenario(path)
    assert ":3:" in str(caught.value)
    with pytest.raises(ConfigError) as missing:
        load_scenario(tmp_path / "nowhere.toml")
    assert "france-demo" in str(missing.value)

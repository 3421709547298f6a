"""docs/simulator.md documents everything a person can set or ask, in the spirit of Datasette's
documentation tests: the lists come from the code, so adding a scenario key, a ``guichets
simulate`` option, a ``/_`` endpoint or a field of their JSON answers without documenting it fails
here.

What counts as documented:

- a scenario key: a table row ``| `key` |`` in the section whose heading names the model in
  parentheses, e.g. ``### `model` (ModelConfig)``;
- an option: a row ``| `--option` |`` whose line also names every choice of the option;
- an endpoint: a row ``| `METHOD /path` |``, e.g. ``| `GET /_truth/{service}` |``;
- a JSON field: its name in backticks in the section "JSON answers of the truth and control
  endpoints".
"""

from __future__ import annotations

import enum
import re
import types
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

import pydantic
import pytest
import typer
from aiohttp.test_utils import TestClient, TestServer

from guichets.clock import SimulatedClock
from guichets.simulator import Simulator
from guichets.simulator.scenario import ScenarioConfig

DOC_PATH = Path(__file__).resolve().parent.parent / "docs" / "simulator.md"
JSON_SECTION = "JSON answers of the truth and control endpoints"
# The models of scenario.py today: the walk below must find at least these, so that a walk that
# silently finds nothing cannot pass.
EXPECTED_MODELS = {
    "ScenarioInfo",
    "SiteConfig",
    "ServiceConfig",
    "CounterConfig",
    "ModelConfig",
    "OutageConfig",
    "OutageSpell",
    "WindowChange",
    "ThrottleConfig",
    "BlockConfig",
}
_HEADING = re.compile(r"^(#{1,6}) (.*)$")
_MODEL_HEADING = re.compile(r"\((\w+)\)\s*$")


@pytest.fixture(scope="module")
def doc() -> str:
    return DOC_PATH.read_text(encoding="utf-8")


# -- reading the page -----------------------------------------------------------------------------


def sections(text: str) -> dict[str, str]:
    """Heading text -> the text under it, up to the next heading of any level."""
    out: dict[str, str] = {}
    title: str | None = None
    lines: list[str] = []
    in_code = False
    for line in text.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        match = None if in_code else _HEADING.match(line)
        if match:
            if title is not None:
                out[title] = "\n".join(lines)
            title, lines = match.group(2).strip(), []
        else:
            lines.append(line)
    if title is not None:
        out[title] = "\n".join(lines)
    return out


def model_sections(text: str) -> dict[str, str]:
    """Model class name -> its reference section, from headings like ``### `x` (ModelConfig)``."""
    out: dict[str, str] = {}
    for title, body in sections(text).items():
        match = _MODEL_HEADING.search(title)
        if match:
            out[match.group(1)] = body
    return out


def row_of(body: str, name: str) -> str | None:
    """The table row that documents ``name`` (its first cell is exactly `name`), if any."""
    for line in body.splitlines():
        if line.startswith(f"| `{name}` |") or line.startswith(f"| `{name}`, "):
            return line
    return None


# -- what the code defines ------------------------------------------------------------------------


def _models_in(annotation: Any) -> Iterator[type[pydantic.BaseModel]]:
    origin = get_origin(annotation)
    if origin is Annotated:
        yield from _models_in(get_args(annotation)[0])
    elif origin in (Union, types.UnionType, list, tuple, set, frozenset, dict):
        for arg in get_args(annotation):
            yield from _models_in(arg)
    elif isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        yield annotation


def scenario_models() -> dict[str, type[pydantic.BaseModel]]:
    """Every model reachable from the scenario file's root, by class name."""
    found: dict[str, type[pydantic.BaseModel]] = {}
    todo: list[type[pydantic.BaseModel]] = [ScenarioConfig]
    while todo:
        model = todo.pop()
        if model.__name__ in found:
            continue
        found[model.__name__] = model
        for info in model.model_fields.values():
            todo.extend(_models_in(info.annotation))
    return found


def scenario_keys() -> list[tuple[str, str]]:
    """(model name, key as written in TOML) for every key of every scenario model."""
    return [
        (name, info.alias or field)
        for name, model in sorted(scenario_models().items())
        for field, info in model.model_fields.items()
    ]


def simulate_options() -> dict[str, list[str]]:
    """Every flag of ``guichets simulate`` (``--port``, ``-h``...) -> the choices it accepts.

    Read from the command Typer builds, duck-typed: recent Typer versions vendor their own Click.
    """
    from guichets.cli import app  # a package being reorganised: imported only here
    from guichets.cli.commands import load_all

    load_all()  # the command line loads a command's module only when it runs
    group = typer.main.get_command(app)
    command = getattr(group, "commands", {}).get("simulate")
    assert command is not None, "guichets has no 'simulate' command any more"
    out: dict[str, list[str]] = {}
    for param in command.params:
        if getattr(param, "param_type_name", "option") != "option":
            continue
        choices = _choices(param)
        for flag in [*param.opts, *getattr(param, "secondary_opts", [])]:
            out[flag] = choices
    return out


def _choices(param: Any) -> list[str]:
    """The values a choice option accepts (an Enum annotation, or Click's Choice type)."""
    descriptor = getattr(param, "type_descriptor", None)
    annotation = getattr(descriptor, "annotation", None)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return [str(member.value) for member in annotation]
    return [str(c) for c in getattr(getattr(param, "type", None), "choices", None) or []]


def _tiny_scenario() -> ScenarioConfig:
    """One site, one service, with every optional behaviour the JSON answers can show."""
    return ScenarioConfig.model_validate(
        {
            "scenario": {"name": "docs", "seed": 1, "start": "2026-10-05T00:00:00+02:00"},
            "sites": [
                {
                    "slug": "isere",
                    "name": "Préfecture de l'Isère",
                    "host": "www.isere.gouv.fr",
                    "departement": "38",
                    "services": [
                        {
                            "id": "38-grenoble-renouvellement",
                            "procedure": "renouvellement",
                            "title": "Renouvellement",
                            "form_id": 4129,
                            "counters": [{"id": 4130, "label": "Guichet 1"}],
                            "model": {"window_days": 7, "demand_per_hour": 0.5},
                            "outages": {
                                "scheduled": [
                                    {
                                        "start": "2026-10-05T08:00:00+02:00",
                                        "end": "2026-10-05T09:00:00+02:00",
                                        "kind": "closed",
                                    }
                                ]
                            },
                        }
                    ],
                }
            ],
        }
    )


def _simulator() -> Simulator:
    scenario = _tiny_scenario()
    clock = SimulatedClock(scenario.scenario.start, autojump=False)
    return Simulator(scenario, clock=clock)


def control_routes(sim: Simulator) -> set[tuple[str, str]]:
    """(method, path) of every truth and control endpoint the server registers."""
    return {
        (route.method, route.resource.canonical)
        for route in sim.app().router.routes()
        if route.resource is not None
        and route.resource.canonical.startswith("/_")
        and route.method != "HEAD"
    }


def _json_keys(value: object, into: set[str]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            into.add(key)
            if key == "services" and isinstance(item, dict):
                continue  # /_sites: service id -> URL, data rather than field names
            _json_keys(item, into)
    elif isinstance(value, list):
        for item in value:
            _json_keys(item, into)


# -- the checks, as functions of the page's text so that they can be tested themselves ---------


def missing_scenario_keys(text: str) -> list[str]:
    documented = model_sections(text)
    missing = []
    for model, key in scenario_keys():
        body = documented.get(model)
        if body is None:
            missing.append(f"{model} (no section whose heading ends with '({model})')")
        elif row_of(body, key) is None:
            missing.append(f"{model}.{key}")
    return sorted(set(missing))


def missing_options(text: str, options: dict[str, list[str]]) -> list[str]:
    missing = []
    for flag, choices in options.items():
        row = row_of(text, flag)
        if row is None:
            missing.append(flag)
        else:
            missing.extend(f"{flag} {c}" for c in choices if f"`{c}`" not in row)
    return missing


def missing_endpoints(text: str, routes: set[tuple[str, str]]) -> list[str]:
    return sorted(f"{m} {p}" for m, p in routes if row_of(text, f"{m} {p}") is None)


def missing_json_fields(text: str, fields: set[str]) -> list[str]:
    body = sections(text).get(JSON_SECTION, "")
    return sorted(f for f in fields if f"`{f}`" not in body)


# -- the tests ------------------------------------------------------------------------------------


def test_the_walk_finds_every_scenario_model() -> None:
    assert set(scenario_models()) >= EXPECTED_MODELS


def test_every_scenario_key_is_documented(doc: str) -> None:
    assert missing_scenario_keys(doc) == []


def test_every_simulate_option_is_documented(doc: str) -> None:
    options = simulate_options()
    assert {"--scenario", "--port", "--clock"} <= set(options)
    assert options["--hosts"] == ["path", "loopback"]
    assert missing_options(doc, options) == []


def test_every_truth_and_control_endpoint_is_documented(doc: str) -> None:
    routes = control_routes(_simulator())
    assert ("GET", "/_truth") in routes
    assert missing_endpoints(doc, routes) == []


async def test_every_field_of_the_json_answers_is_documented(doc: str) -> None:
    sim = _simulator()
    service = "38-grenoble-renouvellement"
    start = sim.world.start
    period = f"from={start.isoformat()}&to={(start + timedelta(days=1)).isoformat()}"
    site = next(iter(sim._sites.values()))
    captcha = site.captchas.draw("controle", "session:4129", start)
    requests: list[tuple[str, str, str, dict[str, object] | None]] = [
        # (method, route, URL, JSON body)
        ("GET", "/_sites", "/_sites", None),
        ("GET", "/_truth", "/_truth", None),
        ("GET", "/_truth/{service}", f"/_truth/{service}", None),
        ("GET", "/_truth/{service}", "/_truth/no-such-service", None),
        (
            "GET",
            "/_truth/{service}/timeline",
            f"/_truth/{service}/timeline?{period.replace('+', '%2B')}",
            None,
        ),
        ("GET", "/_clock", "/_clock", None),
        ("POST", "/_clock", "/_clock", {"advance": 60}),
        ("GET", "/_forbidden", "/_forbidden", None),
        ("DELETE", "/_forbidden", "/_forbidden", None),
        ("GET", "/_captcha/{token}", f"/_captcha/{captcha.id}", None),
    ]
    uncovered = control_routes(sim) - {(m, r) for m, r, _, _ in requests}
    assert not uncovered, f"add a request for {sorted(uncovered)} to this test"
    fields: set[str] = set()
    async with TestClient(TestServer(sim.app())) as client:
        # A forbidden request, so that /_forbidden lists one with all its fields.
        refused = await client.get("/isere/booking/create/4129/5/4130/1791270000")
        assert refused.status == 403
        for method, _, url, body in requests:
            response = await client.request(method, url, json=body)
            assert response.content_type == "application/json", url
            _json_keys(await response.json(), fields)
    assert {"segments", "outages", "free_slots", "user_agent"} <= fields
    assert missing_json_fields(doc, fields) == []


def test_the_checks_notice_a_removed_line(doc: str) -> None:
    """Each check fails when the line that documents one of its items is removed."""

    def without(line: str) -> str:
        assert line in doc
        return doc.replace(line + "\n", "", 1)

    documented = model_sections(doc)
    for model, key in scenario_keys():
        row = row_of(documented[model], key)
        assert row is not None
        assert f"{model}.{key}" in missing_scenario_keys(without(row)), (model, key)

    options = simulate_options()
    for flag in options:
        row = row_of(doc, flag)
        assert row is not None
        assert flag in missing_options(without(row), options)

    routes = {("GET", "/_truth/{service}/timeline"), ("DELETE", "/_forbidden")}
    for method, path in routes:
        row = row_of(doc, f"{method} {path}")
        assert row is not None
        assert f"{method} {path}" in missing_endpoints(without(row), routes)

    row = next(line for line in doc.splitlines() if line.startswith("| `free_count` |"))
    assert missing_json_fields(without(row), {"free_count", "planning"}) == ["free_count"]

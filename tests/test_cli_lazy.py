"""The command line imports a command's modules only when it runs: ``--version`` and ``--help``
load none of them, and what ``--help`` lists without them is what the commands say themselves."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from guichets.cli import app
from guichets.cli.commands import COMMANDS, load_all

HEAVY = ("sqlalchemy", "aiohttp", "guichets.store", "guichets.http", "guichets.site",
         "guichets.cli.report", "guichets.catalogue", "pydantic", "prometheus_client")  # fmt: skip

PROBE = """
import json, sys
from guichets.cli import app
try:
    app(sys.argv[2:], prog_name="guichets")
except SystemExit:
    pass
print(json.dumps(sorted(m for m in sys.modules if m.startswith(tuple(json.loads(sys.argv[1]))))))
"""


def _loaded(*args: str) -> tuple[list[str], str]:
    env = {**os.environ, "COLUMNS": "100", "NO_COLOR": "1"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, env=env,
        timeout=60,
    )  # fmt: skip
    *shown, last = done.stdout.rstrip("\n").split("\n")
    return json.loads(last), "\n".join(shown)


def test_version_and_help_import_no_command() -> None:
    for args in (["--version"], ["--help"]):
        env_args = [json.dumps(HEAVY), *args]
        loaded, shown = _loaded(*env_args)
        assert loaded == [], (args, loaded)
        assert "guichets" in shown


def test_the_lazy_listing_says_what_the_commands_say() -> None:
    _, lazy = _loaded(json.dumps(HEAVY), "--help")
    load_all()
    eager = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "100", "NO_COLOR": "1"})
    assert eager.exit_code == 0
    assert lazy.strip() == eager.output.strip()


def test_every_command_is_listed() -> None:
    load_all()
    names = {c.name or c.callback.__name__ for c in app.registered_commands if c.callback}
    names |= {g.name for g in app.registered_groups if g.name}
    assert names == set(COMMANDS)


def test_a_robot_command_does_not_load_the_site() -> None:
    """``catalogue check`` (like ``probe`` and ``run``, in the same module) loads no site module:
    Jinja2 and pyarrow are imported when a build is asked, not by every robot command."""
    france = Path(__file__).resolve().parents[1] / "catalogues" / "france.toml"
    site = ("guichets.site", "guichets.usecases.site", "jinja2", "pyarrow", "guichets.cli.report")
    loaded, shown = _loaded(json.dumps(site), "catalogue", "check", str(france))
    assert "france.toml" in shown  # the command ran
    assert loaded == [], loaded


def test_the_report_command_does_not_load_the_site_builder() -> None:
    """``guichets report`` reads the data directory's catalogue through ``usecases.site``; the
    builder (Jinja2, pyarrow, Markdown) is loaded only when a site is built."""
    builder = ["guichets.site.build", "jinja2", "pyarrow", "markdown_it"]
    probe = (
        "import json, sys\nimport guichets.cli.report\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.startswith({tuple(builder)!r}))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_importing_the_metrics_leaves_prometheus_settings_alone() -> None:
    """prometheus_client's process-wide switch of the "_created" series is thrown when a
    service makes its registry, not by an import."""
    probe = (
        "import prometheus_client.metrics as m\nimport guichets.metrics as g\n"
        "before = m._use_created\ng.RobotMetrics()\nprint(before, m._use_created)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.split() == ["True", "False"]

"""The import contracts fail the build: each forbidden import, added to a copy of the package,
breaks the contract that forbids it (and the package as it is keeps them all)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT = Path(sys.executable).with_name("lint-imports")

pytestmark = pytest.mark.skipif(not LINT.exists(), reason="import-linter not installed")


def _lint(tmp_path: Path, additions: dict[str, str]) -> str:
    """lint-imports on a copy of src/guichets with ``additions`` appended to some modules."""
    src = tmp_path / "src"
    shutil.copytree(ROOT / "src" / "guichets", src / "guichets",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    for module, line in additions.items():
        path = src / "guichets" / module
        path.write_text(path.read_text() + f"\n{line}\n")
    env = {**os.environ, "PYTHONPATH": str(src)}
    done = subprocess.run(
        [str(LINT), "--no-cache", "pyproject.toml"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    return done.stdout + done.stderr


def test_the_package_keeps_its_contracts(tmp_path: Path) -> None:
    out = _lint(tmp_path, {})
    assert "BROKEN" not in out
    assert out.count(" KEPT") == 7


def test_forbidden_imports_break_their_contracts(tmp_path: Path) -> None:
    out = _lint(
        tmp_path,
        {
            "store/runs.py": "import guichets.stats.wilson  # the store below the figures",
            "stats/wilson.py": "import guichets.store  # figures reading the database",
            "platforms/base.py": "import guichets.simulator  # a reader that knows the test bed",
            "runlock.py": "import sqlalchemy  # a query next to the run lock's policy",
            "usecases/report.py": "import sqlite3  # a shortcut around the store",
            "cli/report.py": "import psycopg  # a command talking to PostgreSQL itself",
        },
    )
    assert "One-way layers BROKEN" in out
    assert "guichets.store.runs -> guichets.stats.wilson" in out
    assert "The robot's modules never import the simulator BROKEN" in out
    assert "guichets.platforms.base -> guichets.simulator" in out
    assert "Statistics are pure functions of tallies: no SQL, no store, no network BROKEN" in out
    assert "guichets.stats.wilson -> guichets.store" in out
    assert "All SQL in store/: SQLAlchemy, sqlite3, Alembic BROKEN" in out
    assert "guichets.runlock -> sqlalchemy" in out
    assert "guichets.usecases.report -> sqlite3" in out
    assert "psycopg only in store/ and workers/ (pools, procrastinate) BROKEN" in out
    assert "guichets.cli.report -> psycopg" in out


def test_the_architecture_page_quotes_the_layers_as_configured() -> None:
    config = (ROOT / "pyproject.toml").read_text("utf-8")
    start = config.index('[[tool.importlinter.contracts]]\nid = "layers"')
    block = config[start : config.index("[[tool.importlinter.contracts]]", start + 1)].rstrip()
    page = (ROOT / "docs" / "architecture.md").read_text("utf-8")
    assert f"```toml\n{block}\n```" in page

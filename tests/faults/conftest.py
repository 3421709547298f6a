"""The fault and fuzz suite: hostile pages, files and catalogues, a second run, a failing database
or disk. Each test says in its docstring what it asserts (docs/reliability.md lists them)."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from guichets.usecases.demo import run_demo


@pytest.fixture(scope="package")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One simulated day of the demo, with its evidence: shared, never changed (copy it)."""
    home = tmp_path_factory.mktemp("faults-demo")
    asyncio.run(run_demo(home, days=1, cadence="12h"))
    return home


@pytest.fixture
def home(demo_home: Path, tmp_path: Path) -> Path:
    """A copy of the demo's data directory, to break."""
    copy = tmp_path / "data"
    shutil.copytree(demo_home, copy)
    return copy

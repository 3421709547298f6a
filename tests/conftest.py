"""Fixtures shared by the suite: the simulator is the main one.

Under ``make test`` (``GUICHETS_NO_SKIP=1``) a skipped test fails instead: nothing is silently left
out there. Plain ``pytest`` may skip a test that needs a missing service, and says why.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from tests.simthread import SimulatorThread

# Hypothesis's per-example deadline (200 ms) and its "too slow" health check measure wall time:
# on a loaded machine they fail tests that are right. Example counts bound the work instead.
settings.register_profile(
    "guichets", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.load_profile("guichets")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if (
        os.environ.get("GUICHETS_NO_SKIP") == "1"
        and report.skipped
        and not hasattr(report, "wasxfail")
    ):
        report.outcome = "failed"
        report.longrepr = f"skipped under make test, which must run everything: {report.longrepr}"


@pytest.fixture(scope="module")
def demo_sim() -> Iterator[SimulatorThread]:
    """The france-demo scenario served on loopback, on a frozen simulated clock."""
    with SimulatorThread("france-demo") as sim:
        yield sim


@pytest.fixture(scope="module")
def demo_sim_hosts() -> Iterator[SimulatorThread]:
    """The same, each site on its own loopback address."""
    with SimulatorThread("france-demo", hosts="loopback") as sim:
        yield sim

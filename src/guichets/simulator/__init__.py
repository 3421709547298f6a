"""Fake prefecture booking sites on loopback, with the ground truth of what was bookable.

The robot's own modules never import this package: the demo, the tests and the benchmarks wire the
two together.
"""

from __future__ import annotations

from guichets.simulator.groundtruth import Segment, Spell, World
from guichets.simulator.scenario import ScenarioConfig, bundled_scenarios, load_scenario
from guichets.simulator.server import ForbiddenRequest, Simulator

__all__ = [
    "ForbiddenRequest",
    "ScenarioConfig",
    "Segment",
    "Simulator",
    "Spell",
    "World",
    "bundled_scenarios",
    "load_scenario",
]

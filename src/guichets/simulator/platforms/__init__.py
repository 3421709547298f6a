"""Simulated booking platforms, one module each, found by name."""

from __future__ import annotations

from guichets.simulator.platforms.base import PlatformSimulator
from guichets.simulator.platforms.ezbooking import EzBookingSimulator

__all__ = ["PLATFORMS", "PlatformSimulator"]

PLATFORMS: dict[str, PlatformSimulator] = {
    EzBookingSimulator.name: EzBookingSimulator(),
}

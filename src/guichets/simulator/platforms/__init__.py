"""Simulated booking platforms, one module each, found by name."""

from __future__ import annotations

from guichets.simulator.platforms.base import PlatformSimulator
from guichets.simulator.platforms.eappointment import EAppointmentSimulator
from guichets.simulator.platforms.ezbooking import EzBookingSimulator
from guichets.simulator.platforms.rdvpref import RdvPrefSimulator

__all__ = ["PLATFORMS", "PlatformSimulator"]

PLATFORMS: dict[str, PlatformSimulator] = {
    EzBookingSimulator.name: EzBookingSimulator(),
    RdvPrefSimulator.name: RdvPrefSimulator(),
    EAppointmentSimulator.name: EAppointmentSimulator(),
}

"""How much of France a catalogue covers: départements by platform, against the 101.

The table in ``docs/catalogue.md`` is this module's output for ``catalogues/france.toml``; a test
regenerates it and compares, so the documentation cannot drift from the file. It counts rows as
written (enabled or not): it says where a public source names a booking service, not where the
robot probes today.
"""

from __future__ import annotations

from collections.abc import Sequence

from guichets.catalogue import PLATFORMS, Service
from guichets.departements import DEPARTEMENTS

__all__ = ["FRANCE_101", "coverage_table"]

FRANCE_101: tuple[str, ...] = tuple(
    code for code in DEPARTEMENTS if len(code) == 2 or code in ("971", "972", "973", "974", "976")
)
"""The 101 départements: 96 in metropolitan France (2A and 2B for Corsica) and the five overseas
départements (971 Guadeloupe, 972 Martinique, 973 Guyane, 974 La Réunion, 976 Mayotte); the
other overseas collectivities have no prefecture booking of this kind."""

_NAMES = {
    "ezbooking": "legacy module (`/booking/create/…`)",
    "rdvpref": "RDV-Préfecture (démarches)",
    "eappointment": "eAppointment (offices)",
}


def coverage_table(services: Sequence[Service]) -> str:
    """A Markdown table: per platform, the rows and the départements they cover."""
    order = {code: number for number, code in enumerate(DEPARTEMENTS)}

    def codes(chosen: set[str]) -> str:
        return ", ".join(sorted(chosen, key=order.__getitem__)) or "—"

    lines = [
        "| platform | rows | départements | codes |",
        "|---|---:|---:|---|",
    ]
    covered: set[str] = set()
    for platform in PLATFORMS:
        rows = [service for service in services if service.platform == platform]
        found = {service.departement for service in rows}
        covered |= found
        name = _NAMES.get(platform, platform)
        lines.append(f"| {name} | {len(rows)} | {len(found)} of 101 | {codes(found)} |")
    inside = covered & set(FRANCE_101)
    lines.append(
        f"| any platform | {len(services)} | {len(inside)} of 101 | "
        f"{len(inside)} covered, {101 - len(inside)} not |"
    )
    missing = set(FRANCE_101) - covered
    lines.append(f"| none yet | 0 | {len(missing)} of 101 | {codes(missing)} |")
    return "\n".join(lines) + "\n"

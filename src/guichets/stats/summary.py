"""Per-service counts of a set of probes: the table the demo and ``guichets run`` print.

The failure rate is E over valid probes (available + unavailable): barriers, site errors and
unrecognized pages are counted apart and never enter it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from guichets.model import Category, Observation, Outcome

__all__ = ["ServiceSummary", "summarise"]


@dataclass
class ServiceSummary:
    service: str
    departement: str | None
    probes: int = 0
    categories: dict[str, int] = field(default_factory=lambda: {c.value: 0 for c in Category})
    outcomes: dict[str, int] = field(default_factory=lambda: {o.value: 0 for o in Outcome})
    details: dict[str, int] = field(default_factory=dict)

    @property
    def valid(self) -> int:
        return self.outcomes[Outcome.AVAILABLE] + self.outcomes[Outcome.UNAVAILABLE]

    def share(self, category: str) -> float | None:
        return self.categories[category] / self.valid if self.valid else None

    @property
    def failure_rate(self) -> float | None:
        return self.share(Category.E)


def summarise(observations: Iterable[Observation]) -> list[ServiceSummary]:
    rows: dict[str, ServiceSummary] = {}
    for obs in observations:
        row = rows.get(obs.service)
        if row is None:
            row = rows[obs.service] = ServiceSummary(obs.service, obs.departement)
        row.probes += 1
        row.outcomes[obs.outcome] += 1
        if obs.category is not None:
            row.categories[obs.category] += 1
        if not obs.outcome.valid:
            key = f"{obs.outcome}/{obs.detail}"
            row.details[key] = row.details.get(key, 0) + 1
    return sorted(rows.values(), key=lambda r: r.service)

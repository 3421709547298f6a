"""Per-service counts of a set of probes, for a quick look (tests, one-off scripts).

A thin view over :class:`~guichets.tally.Tally`, so that the counts are those of the reports:
the failure rate is E over valid probes (available + unavailable); barriers, site errors and
unrecognized pages are counted apart (``details``, as ``outcome/detail``) and never enter it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from guichets.model import Category, Observation, Outcome
from guichets.tally import Tally, facts_of

__all__ = ["ServiceSummary", "summarise"]


@dataclass
class ServiceSummary:
    service: str
    departement: str | None
    tally: Tally = field(default_factory=Tally)

    @property
    def probes(self) -> int:
        return self.tally.probes

    @property
    def categories(self) -> dict[str, int]:
        return self.tally.categories

    @property
    def outcomes(self) -> dict[str, int]:
        return self.tally.outcomes

    @property
    def details(self) -> dict[str, int]:
        """Probes that measured nothing, by ``outcome/detail``."""
        return {
            f"{outcome}/{detail}": n
            for (outcome, detail), n in sorted(self.tally.details.items())
            if not Outcome(outcome).valid
        }

    @property
    def valid(self) -> int:
        return self.tally.valid

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
        row.tally.add(facts_of(obs))
    return sorted(rows.values(), key=lambda r: r.service)

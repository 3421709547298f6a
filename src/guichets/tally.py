"""What a set of probes adds up to, in a form that can be added again.

A :class:`Tally` holds counts (outcomes, categories A-E, details), the earliest slot seen, and the
lead times in whole seconds. Two tallies add up to the tally of the union of their probes, so the
same code serves a service-day (the daily rollup), a month of a département, and a recomputation
from raw observations: the figures cannot drift apart between those paths.
"""

from __future__ import annotations

from array import array
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Final, NamedTuple
from urllib.parse import urlsplit

from guichets.model import Category, Observation, Outcome

__all__ = [
    "CATEGORIES",
    "OUTCOMES",
    "DayRollup",
    "ProbeFacts",
    "SettledTally",
    "Tally",
    "facts_of",
    "seconds_list",
    "site_of",
]


def site_of(url: str) -> str:
    """The site a service belongs to: the booking site's host name."""
    return urlsplit(url).hostname or url


class ProbeFacts(NamedTuple):
    """The few facts of one probe that statistics use."""

    service: str
    departement: str | None
    site: str
    started_at: datetime
    outcome: str
    detail: str
    category: str | None
    first_slot: datetime | None
    slots_count: int
    horizon_end: datetime | None


def facts_of(observation: Observation) -> ProbeFacts:
    category = observation.category
    return ProbeFacts(
        observation.service,
        observation.departement,
        site_of(observation.url),
        observation.started_at,
        str(observation.outcome),
        str(observation.detail),
        None if category is None else str(category),
        observation.first_slot,
        len(observation.slots),
        observation.horizon_end,
    )


def _seconds(later: datetime, earlier: datetime) -> int:
    """Whole seconds between two instants, in UTC (Paris wall-clock differences lie twice a
    year)."""
    return int((later.astimezone(UTC) - earlier.astimezone(UTC)).total_seconds())


OUTCOMES: Final = tuple(o.value for o in Outcome)
CATEGORIES: Final = tuple(c.value for c in Category)


def _outcomes() -> dict[str, int]:
    return dict.fromkeys(OUTCOMES, 0)


def _categories() -> dict[str, int]:
    return dict.fromkeys(CATEGORIES, 0)


def seconds_list() -> array[int]:
    """Lead times, compact: a year of probes of hundreds of services holds millions of them."""
    return array("q")


@dataclass(slots=True)  # no instance dict: the site holds two tallies per row, 22 000 rows
class Tally:
    """Counts and lead times of a set of probes; ``+=`` adds another set."""

    probes: int = 0
    outcomes: dict[str, int] = field(default_factory=_outcomes)
    categories: dict[str, int] = field(default_factory=_categories)
    details: Counter[tuple[str, str]] = field(default_factory=Counter)
    first_slot: datetime | None = None  # UTC
    slots_seen: int = 0
    leads: array[int] = field(default_factory=seconds_list)  # seconds, probes that found a slot
    censored: array[int] = field(default_factory=seconds_list)  # to the horizon, found nothing

    def add(self, probe: ProbeFacts) -> None:
        self.probes += 1
        self.outcomes[probe.outcome] += 1
        self.details[(probe.outcome, probe.detail)] += 1
        if probe.category is not None:
            self.categories[probe.category] += 1
        self.slots_seen += probe.slots_count
        if probe.outcome == Outcome.AVAILABLE and probe.first_slot is not None:
            first = probe.first_slot.astimezone(UTC)
            if self.first_slot is None or first < self.first_slot:
                self.first_slot = first
            self.leads.append(_seconds(first, probe.started_at))
        elif probe.outcome == Outcome.UNAVAILABLE:
            # No horizon known: censored at 0, which tells nothing about the wait (as if dropped).
            horizon = probe.horizon_end
            self.censored.append(0 if horizon is None else _seconds(horizon, probe.started_at))

    def __iadd__(self, other: Tally) -> Tally:
        self.probes += other.probes
        for outcome, n in other.outcomes.items():
            self.outcomes[outcome] += n
        for category, n in other.categories.items():
            self.categories[category] += n
        self.details.update(other.details)
        if other.first_slot is not None and (
            self.first_slot is None or other.first_slot < self.first_slot
        ):
            self.first_slot = other.first_slot
        self.slots_seen += other.slots_seen
        self.leads.extend(other.leads)
        self.censored.extend(other.censored)
        return self

    @property
    def valid(self) -> int:
        return self.outcomes[Outcome.AVAILABLE] + self.outcomes[Outcome.UNAVAILABLE]

    @property
    def found_a_date(self) -> int:
        """Valid probes in A to D."""
        return self.valid - self.categories[Category.E]

    def kinds(self, outcome: str) -> dict[str, int]:
        """Probes of ``outcome`` by detail, most frequent first."""
        found = {d: n for (o, d), n in self.details.items() if o == outcome}
        return dict(sorted(found.items(), key=lambda item: (-item[1], item[0])))

    def settled(self) -> SettledTally:
        """This tally's counts without its lead-time samples, to be read and never added to again,
        in as little memory as they allow: the site holds two tallies for each row of every
        month (22 000 rows at 500 services over three years), most of the second one empty
        (assisted reads are rare). An empty tally is :data:`SETTLED_EMPTY`; the others share
        one empty array for their samples and one tuple per (outcome, detail) key, so that a
        month's rows, pickled together, carry each once."""
        if self == _EMPTY:
            return SETTLED_EMPTY
        details = Counter({_DETAIL_KEYS.setdefault(key, key): n for key, n in self.details.items()})
        return SettledTally(
            self.probes,
            self.outcomes,
            self.categories,
            details,
            self.first_slot,
            self.slots_seen,
            _NO_SAMPLES,
            _NO_SAMPLES,
        )


@dataclass(slots=True, eq=False)
class SettledTally(Tally):
    """A tally made by :meth:`Tally.settled`: its counts read as any tally's, its samples gone,
    and adding to it refused (its empty arrays and the empty tally are shared by many rows)."""

    def add(self, probe: ProbeFacts) -> None:
        raise TypeError("a settled tally is not added to")

    def __iadd__(self, other: Tally) -> Tally:
        raise TypeError("a settled tally is not added to")

    def settled(self) -> SettledTally:
        return self


_EMPTY: Final = Tally()
_NO_SAMPLES: Final = seconds_list()  # shared by settled tallies, never appended to
_DETAIL_KEYS: dict[tuple[str, str], tuple[str, str]] = {}
SETTLED_EMPTY: Final = SettledTally(leads=_NO_SAMPLES, censored=_NO_SAMPLES)


@dataclass(frozen=True, slots=True)
class DayRollup:
    """What the probes of one service on one Paris day add up to."""

    service: str
    day: date
    departement: str | None
    site: str
    tally: Tally

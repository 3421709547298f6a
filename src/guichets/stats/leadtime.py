"""Lead time: how long after a probe its first bookable date was, with "nothing found" kept in.

A probe that found nothing up to its horizon says the wait is longer than the horizon; dropping it
would describe only the lucky probes and make a closed counter look fast. So each probe that found
nothing is *censored* at its horizon, and quantiles come from the Kaplan-Meier estimate of the
share of probes still without a date after t. With every horizon beyond every date seen (the usual
case) this is simply: the median lead is the smallest t such that at least half of the valid probes
found a date within t; when more than half found nothing, the median lies beyond the horizon, and
is reported so, never as a number.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

__all__ = ["DAY_SECONDS", "LeadQuantile", "kaplan_meier", "lead_quantile", "lead_quantiles"]

DAY_SECONDS: Final = 86_400
_EPSILON: Final = 1e-12  # products of survival factors are not exact in floating point


@dataclass(frozen=True, slots=True)
class LeadQuantile:
    """A quantile of the lead time: in days, or beyond ``beyond_days`` (the horizon searched)."""

    days: float | None
    beyond_days: float | None = None

    @property
    def censored(self) -> bool:
        return self.days is None

    def __reduce__(self) -> tuple[type[LeadQuantile], tuple[float | None, float | None]]:
        """Pickled as its two numbers (the site's month cache keeps two per row): a frozen
        dataclass's default unpickling goes field by field through ``dataclasses.fields``."""
        return (LeadQuantile, (self.days, self.beyond_days))


def lead_quantile(leads: Sequence[int], censored: Sequence[int], q: float) -> LeadQuantile | None:
    """The ``q`` quantile (0 < q < 1) of lead times given in seconds; None without valid probes.

    ``leads``: first slot minus probe time, for probes that found a slot; ``censored``: horizon
    minus probe time, for probes that found nothing.
    """
    return lead_quantiles(leads, censored, (q,))[q]


def lead_quantiles(
    leads: Sequence[int], censored: Sequence[int], qs: Sequence[float]
) -> dict[float, LeadQuantile | None]:
    """:func:`lead_quantile` of each of ``qs``, the samples sorted once and the Kaplan-Meier
    estimate walked once for all of them: the site asks every row's median and P90, and a
    département's or France's month holds hundreds of thousands of samples (sorting them and
    walking the estimate were half of computing a month's rows at 500 services)."""
    for q in qs:
        if not 0 < q < 1:
            raise ValueError(f"a quantile needs 0 < q < 1, got {q}")
    at_risk = len(leads) + len(censored)
    if at_risk == 0:
        return dict.fromkeys(qs)
    events = sorted(leads)
    cuts = sorted(censored)
    found: dict[float, LeadQuantile | None] = {}
    walk = []
    for q in qs:
        # The usual case, fast: until the first probe leaves the risk set (the first horizon),
        # the estimate is the share of probes with a date by t, read off the sorted dates.
        needed = max(1, math.ceil(at_risk * (q - _EPSILON)))
        if needed <= len(events) and (not cuts or events[needed - 1] <= cuts[0]):
            found[q] = LeadQuantile(events[needed - 1] / DAY_SECONDS)
        elif not events or not cuts or cuts[0] >= events[-1]:
            found[q] = LeadQuantile(None, (cuts[-1] if cuts else 0) / DAY_SECONDS)
        else:
            walk.append(q)
    if walk:
        found.update(_kaplan_meier(events, cuts, walk))
    return {q: found[q] for q in qs}


def kaplan_meier(events: list[int], cuts: list[int], q: float) -> LeadQuantile:
    """The ``q`` quantile of the Kaplan-Meier estimate, from sorted dates and censoring times."""
    return _kaplan_meier(events, cuts, (q,))[q]


def _kaplan_meier(
    events: list[int], cuts: list[int], qs: Sequence[float]
) -> dict[float, LeadQuantile]:
    """Each of ``qs`` off one walk of the estimate: the survival falls step by step, so each
    quantile is read where it first reaches its target, by the same products as a walk of its
    own (the same floating-point numbers, hence the same figures)."""
    n_events, n_cuts = len(events), len(cuts)
    at_risk = n_events + n_cuts
    survival = 1.0
    targets = sorted(((1 - q + _EPSILON, q) for q in set(qs)), reverse=True)  # first reached first
    found: dict[float, LeadQuantile] = {}
    i = j = k = 0
    while i < n_events:
        t = events[i]
        # Censored before t leave the risk set first; censored at t are still at risk at t.
        while j < n_cuts and cuts[j] < t:
            at_risk -= 1
            j += 1
        deaths = 0
        while i < n_events and events[i] == t:
            deaths += 1
            i += 1
        survival *= 1 - deaths / at_risk
        at_risk -= deaths
        while k < len(targets) and survival <= targets[k][0]:
            found[targets[k][1]] = LeadQuantile(t / DAY_SECONDS)
            k += 1
        if k == len(targets):
            return found
    beyond = LeadQuantile(None, (cuts[-1] if cuts else 0) / DAY_SECONDS)
    for _, q in targets[k:]:
        found[q] = beyond
    return found

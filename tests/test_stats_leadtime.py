"""Lead times: probes that found nothing are censored at their horizon, never dropped."""

from __future__ import annotations

import random

import pytest

from guichets.stats.leadtime import (
    DAY_SECONDS,
    LeadQuantile,
    kaplan_meier,
    lead_quantile,
    lead_quantiles,
)

D = DAY_SECONDS


def test_without_censoring_the_median_is_the_smallest_lead_reached_by_half() -> None:
    leads = [d * D for d in (4, 1, 9, 2, 7, 3, 10, 6, 8, 5)]
    assert lead_quantile(leads, [], 0.5) == lead_quantile(sorted(leads), [], 0.5)
    q = lead_quantile(leads, [], 0.5)
    assert q is not None and q.days == 5 and not q.censored
    p90 = lead_quantile(leads, [], 0.9)
    assert p90 is not None and p90.days == 9


def test_nothing_found_is_counted_not_dropped() -> None:
    # 6 found a date, 4 found nothing up to 91 days: the median is the 5th date, not the 3rd.
    leads = [d * D for d in (1, 2, 3, 4, 5, 6)]
    q = lead_quantile(leads, [91 * D] * 4, 0.5)
    assert q is not None and q.days == 5
    dropped = lead_quantile(leads, [], 0.5)
    assert dropped is not None and dropped.days == 3
    # The P90 lies beyond what was searched: said so, with the horizon, never as a number.
    p90 = lead_quantile(leads, [91 * D] * 4, 0.9)
    assert p90 is not None and p90.censored and p90.days is None and p90.beyond_days == 91


def test_a_closed_counter_has_its_median_beyond_the_horizon() -> None:
    q = lead_quantile([2 * D], [91 * D] * 9, 0.5)
    assert q is not None and q.days is None and q.beyond_days == 91


def test_kaplan_meier_with_a_shorter_horizon() -> None:
    # Found at 10 and 30 days; one probe searched only 20 days and found nothing. After 10 days,
    # 2 of 3 still wait; the short probe leaves the risk set at 20; the last one found at 30.
    q = lead_quantile([10 * D, 30 * D], [20 * D], 0.5)
    assert q is not None and q.days == 30
    # A probe censored at the very time of a date is still at risk then.
    tie = lead_quantile([10 * D, 10 * D], [10 * D, 91 * D], 0.5)
    assert tie is not None and tie.days == 10


def test_no_valid_probe_no_lead_and_bad_quantiles_refused() -> None:
    assert lead_quantile([], [], 0.5) is None
    with pytest.raises(ValueError, match="0 < q < 1"):
        lead_quantile([D], [], 1.0)


def test_the_fast_path_agrees_with_kaplan_meier() -> None:
    """With every horizon beyond every date, the quantile is read off the sorted dates; the full
    estimate must give the same, ties and all."""
    rng = random.Random(11)
    for _ in range(500):
        events = sorted(rng.randrange(1, 40) * D // 4 for _ in range(rng.randrange(0, 30)))
        cuts = [91 * D] * rng.randrange(0 if events else 1, 30)
        for q in (0.1, 0.5, 0.9, 0.99):
            assert lead_quantile(events, cuts, q) == kaplan_meier(events, cuts, q), (events, q)


def test_the_fast_path_agrees_when_some_dates_lie_beyond_a_horizon() -> None:
    rng = random.Random(12)
    for _ in range(500):
        events = sorted(rng.randrange(1, 120) * D for _ in range(rng.randrange(1, 30)))
        cuts = sorted(rng.choice((60, 91)) * D for _ in range(rng.randrange(0, 30)))
        for q in (0.1, 0.5, 0.9):
            assert lead_quantile(events, cuts, q) == kaplan_meier(events, cuts, q), (events, q)


def _alone(leads: list[int], cuts_given: list[int], q: float) -> LeadQuantile | None:
    """One quantile computed on its own, as the estimate is defined (the oracle): no sample, no
    figure; then the walk of the Kaplan-Meier estimate over the sorted dates."""
    if not leads and not cuts_given:
        return None
    events, cuts = sorted(leads), sorted(cuts_given)
    at_risk, survival, target = len(events) + len(cuts), 1.0, 1 - q + 1e-12
    i = j = 0
    while i < len(events):
        t = events[i]
        while j < len(cuts) and cuts[j] < t:
            at_risk, j = at_risk - 1, j + 1
        deaths = 0
        while i < len(events) and events[i] == t:
            deaths, i = deaths + 1, i + 1
        survival *= 1 - deaths / at_risk
        at_risk -= deaths
        if survival <= target:
            return LeadQuantile(t / D)
    return LeadQuantile(None, (cuts[-1] if cuts else 0) / D)


def test_several_quantiles_at_once_are_each_the_quantile_of_its_own_walk() -> None:
    """One sort and one walk for all the quantiles a page asks give what each quantile's own
    walk gives: with censoring before, between and after the dates, ties, the same quantile
    twice, and quantiles in any order (the fast paths agree with the walk up to the last bit
    only where no product of factors is involved, so the figures are compared as numbers)."""
    rng = random.Random(18)
    qs = (0.9, 0.5, 0.25, 0.5, 0.75)
    for _ in range(400):
        leads = [
            rng.randrange(0, 40) * D // rng.choice((1, 4)) for _ in range(rng.randrange(0, 60))
        ]
        cuts = [rng.randrange(0, 50) * D for _ in range(rng.randrange(0, 60))]
        together = lead_quantiles(leads, cuts, qs)
        assert list(together) == [0.9, 0.5, 0.25, 0.75]
        for q in qs:
            assert together[q] == lead_quantile(leads, cuts, q) == _alone(leads, cuts, q)
            if leads and cuts:
                assert kaplan_meier(sorted(leads), sorted(cuts), q) == _alone(leads, cuts, q)


def test_several_quantiles_refuse_a_bad_one() -> None:
    with pytest.raises(ValueError, match="0 < q < 1"):
        lead_quantiles([D], [], (0.5, 1.0))

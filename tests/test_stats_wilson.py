"""Wilson intervals: the published values, the ends of [0, 1], and a 95 % coverage in practice."""

from __future__ import annotations

import random

import pytest

from guichets.stats.wilson import FEW, Share, wilson_interval


@pytest.mark.parametrize(
    ("count", "total", "low", "high"),
    [
        # Newcombe (1998), Statistics in Medicine 17:857-872, table I, method 3 (Wilson score).
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_published_values(count: int, total: int, low: float, high: float) -> None:
    interval = wilson_interval(count, total)
    assert interval is not None
    assert interval[0] == pytest.approx(low, abs=5e-5)
    assert interval[1] == pytest.approx(high, abs=5e-5)


def test_the_ends_are_exact_and_inside_zero_one() -> None:
    assert wilson_interval(0, 720) == (0.0, pytest.approx(0.00531, abs=1e-5))
    low, high = wilson_interval(720, 720) or (0, 0)
    assert high == 1.0 and 0.99 < low < 1.0
    for n in (1, 2, 7, 30, 1000):
        for k in range(0, n + 1, max(1, n // 7)):
            lo, hi = wilson_interval(k, n) or (-1, -1)
            assert 0.0 <= lo <= k / n <= hi <= 1.0


def test_no_denominator_no_interval_and_bad_counts_refused() -> None:
    assert wilson_interval(0, 0) is None
    assert Share(0, 0).value is None and Share(0, 0).interval is None
    with pytest.raises(ValueError, match="count <= total"):
        wilson_interval(3, 2)
    with pytest.raises(ValueError, match="count <= total"):
        Share(-1, 4)


def test_share_carries_its_denominator_and_says_when_it_is_few() -> None:
    share = Share(46, 100)
    assert (share.count, share.total, share.value) == (46, 100, 0.46)
    assert not share.few and Share(3, FEW - 1).few
    assert share.complement() == Share(54, 100)
    assert share.complement().interval == pytest.approx(
        (1 - share.interval[1], 1 - share.interval[0])
    )  # type: ignore[index]


def test_coverage_is_about_95_percent() -> None:
    """Draw binomial samples for several true shares: the interval holds the truth ~95 % of the
    time (Wilson's coverage oscillates around its nominal level; it must not be far below)."""
    rng = random.Random(5)
    for p in (0.02, 0.1, 0.46, 0.8, 0.97):
        n, covered, trials = 60, 0, 2000
        for _ in range(trials):
            k = sum(1 for _ in range(n) if rng.random() < p)
            lo, hi = wilson_interval(k, n) or (0, 0)
            covered += lo <= p <= hi
        assert 0.92 <= covered / trials <= 0.99, (p, covered / trials)

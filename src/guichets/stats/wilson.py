"""Shares with their denominator and a 95 % Wilson score interval.

A share of probes is published only with how many probes it counts and an interval, because
"46 %" over 13 probes and over 700 do not say the same thing. Wilson's interval stays inside
[0, 1] and keeps its nominal coverage near 0 % and 100 %, where services often are (a counter that
never opens), unlike the normal approximation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

__all__ = ["FEW", "Z95", "Share", "wilson_interval"]

Z95: Final = 1.959963984540054  # the 0.975 quantile of the standard normal distribution
FEW: Final = 30  # below this many probes in its denominator, a share says it rests on few probes


def wilson_interval(count: int, total: int, z: float = Z95) -> tuple[float, float] | None:
    """The Wilson score interval of ``count`` successes out of ``total``; None when total is 0."""
    if total < 0 or count < 0 or count > total:
        raise ValueError(f"a share needs 0 <= count <= total, got {count} of {total}")
    if total == 0:
        return None
    p = count / total
    z2 = z * z
    scale = 1 + z2 / total
    centre = (p + z2 / (2 * total)) / scale
    half = z / scale * math.sqrt(p * (1 - p) / total + z2 / (4 * total * total))
    # At 0 and at total one bound is exactly 0 or 1; rounding must not leave it a hair off.
    low = 0.0 if count == 0 else max(0.0, centre - half)
    high = 1.0 if count == total else min(1.0, centre + half)
    return low, high


@dataclass(frozen=True, slots=True)
class Share:
    """``count`` out of ``total``: the value, its interval, and whether it rests on few probes."""

    count: int
    total: int

    def __post_init__(self) -> None:
        if not 0 <= self.count <= self.total:
            raise ValueError(f"a share needs 0 <= count <= total, got {self.count} of {self.total}")

    @property
    def value(self) -> float | None:
        return self.count / self.total if self.total else None

    @property
    def interval(self) -> tuple[float, float] | None:
        return wilson_interval(self.count, self.total)

    @property
    def few(self) -> bool:
        return self.total < FEW

    def complement(self) -> Share:
        """The other side: the opening rate from the failure rate."""
        return Share(self.total - self.count, self.total)

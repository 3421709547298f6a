"""How gently the robot treats a site: one :class:`Politeness` per run, shared by every probe.

The robot identifies itself (``DEFAULT_USER_AGENT``, with a contact URL) and its limits of time,
size, pace and patience are fixed here, checked once, so that no reader can choose its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from guichets.http.robots import product_token

__all__ = ["DEFAULT_USER_AGENT", "Politeness"]

DEFAULT_USER_AGENT = (
    "guichets/0.1 (+https://github.com/guichets/guichets; observatoire de l'acces aux guichets)"
)


@dataclass(frozen=True)
class Politeness:
    """How gently the robot treats a site; one per run, shared by every probe."""

    user_agent: str = DEFAULT_USER_AGENT  # identifying, with a contact URL; configurable
    min_gap: float = 1.0  # seconds (clock time) between two requests to one host
    timeout: float = 20.0  # wall seconds per request, whole response included
    max_bytes: int = 2_000_000  # per response body, raw and decompressed
    max_redirects: int = 5
    max_retry_wait: float = 120.0  # longest Retry-After a probe waits; longer => rate_limited
    # False skips robots.txt for every host. Only for tests against local servers: an observatory
    # that ignores robots.txt would not be polite. To override one host, use robots_overrides.
    obey_robots: bool = True
    robots_overrides: Mapping[str, str] = field(default_factory=dict)  # host -> operator's reason
    breaker_failures: int = 5  # consecutive failures that open a host's circuit
    breaker_cooldown: float = 600.0  # clock seconds before one trial request

    def __post_init__(self) -> None:
        if not product_token(self.user_agent):
            raise ValueError(
                f"user_agent {self.user_agent!r} has no product token; "
                "it must identify the robot, e.g. " + repr(DEFAULT_USER_AGENT)
            )
        if self.min_gap < 0 or self.max_retry_wait < 0 or self.breaker_cooldown < 0:
            raise ValueError("min_gap, max_retry_wait and breaker_cooldown cannot be negative")
        if self.timeout <= 0 or self.max_bytes <= 0:
            raise ValueError("timeout and max_bytes must be positive")
        if self.max_redirects < 0 or self.breaker_failures < 1:
            raise ValueError("max_redirects must be >= 0 and breaker_failures >= 1")
        for host, reason in self.robots_overrides.items():
            if not reason.strip():
                raise ValueError(f"the robots.txt override of {host!r} needs a reason")

    @property
    def token(self) -> str:
        """The product token robots.txt groups are matched on (``guichets``)."""
        return product_token(self.user_agent)

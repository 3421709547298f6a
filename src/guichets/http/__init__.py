"""The HTTP side of the robot: every request a probe sends goes through this package.

One module per rule, so that each can be read alone: ``policy`` (identity and limits),
``personal`` (the fields never sent), ``robots`` (RFC 9309), ``gates`` (per host: one request at a
time, pace, Retry-After, circuit breaker, the robots.txt cache), ``decode`` (bounded content
decoding, charsets), ``exchange`` (what was sent and what came back) and ``session`` (the polite
session that walks a site with all of them). The names a reader or the runner needs are here.
"""

from __future__ import annotations

from guichets.http.decode import decode
from guichets.http.exchange import Exchange, FetchError, ForbiddenRequest, Response
from guichets.http.gates import ROBOTS_TTL, HostGates, Turn, host_key
from guichets.http.personal import PERSONAL_FIELDS, TRUTH_PATHS, refuse_truth
from guichets.http.policy import DEFAULT_USER_AGENT, Politeness
from guichets.http.session import Guard, PoliteSession

__all__ = [
    "DEFAULT_USER_AGENT",
    "PERSONAL_FIELDS",
    "ROBOTS_TTL",
    "TRUTH_PATHS",
    "Exchange",
    "FetchError",
    "ForbiddenRequest",
    "Guard",
    "HostGates",
    "PoliteSession",
    "Politeness",
    "Response",
    "Turn",
    "decode",
    "host_key",
    "refuse_truth",
]

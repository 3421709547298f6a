"""The shared book of the schedule: every period of every service, and what became of it.

A period is ``planned`` when its job is deferred, ``probing`` while a worker holds its lease,
``done`` when its probe is stored, ``lost`` when nobody probed it while it was open. The book is
what makes "never probed twice, never lost unrecorded" checkable with one query:

- a worker **claims** a period before probing it, in one ``UPDATE`` that succeeds only if the
  period is still planned and open: two workers never both hold it;
- the lease is renewed by the worker's heartbeat; a worker killed mid-probe stops renewing, and the
  sweep (run by every live worker) gives the period back to the queue while it is open, or
  records it as lost, with a note saying why;
- a probe is stored under the unique (service, period) key of ``probes``, the last guard.

All instants are the database's (``clock_timestamp()``), one clock for every machine. The
queries (:class:`Book`) are in :mod:`guichets.store.book`; this holds the jobs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

from guichets.platforms import Target
from guichets.probe import ProbeSpec
from guichets.schedule import period_key
from guichets.store.book import Book, Claim, NameTaken

__all__ = ["Book", "Claim", "NameTaken", "PeriodJob", "replicated"]

Role = Literal["probe", "replicate"]
REPLICATE_SUFFIX: Final = "#replicate"


@dataclass(frozen=True)
class PeriodJob:
    """One period of one service, as a job carries it: all a worker needs, no catalogue."""

    service: str
    platform: str
    url: str
    counter: str | None
    horizon_days: int
    departement: str | None
    cadence_seconds: int
    period_start: datetime
    planned_at: datetime
    role: Role = "probe"
    # The catalogue's leave for the path: hosts besides the URL's it may lead to, and whether
    # host names may resolve to loopback/private addresses (simulated sites). Carried by the job
    # so that a worker, which has no catalogue, refuses and allows exactly what ``run`` would.
    other_hosts: tuple[str, ...] = ()
    allow_local: bool = False

    @property
    def period_key(self) -> str:
        return period_key(self.period_start, self.cadence_seconds)

    @property
    def period_end(self) -> datetime:
        return self.period_start + timedelta(seconds=self.cadence_seconds)

    @property
    def stored_key(self) -> str:
        """The key the probe is stored under: a replicate has its own, so that the unique
        (service, period) of ``probes`` holds one probe and one replicate at most."""
        key = self.period_key
        return key + REPLICATE_SUFFIX if self.role == "replicate" else key

    def spec(self) -> ProbeSpec:
        return ProbeSpec(
            service=self.service,
            platform=self.platform,
            target=Target(
                self.url, self.counter, self.horizon_days, self.other_hosts, self.allow_local
            ),
            departement=self.departement,
        )

    def to_args(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "platform": self.platform,
            "url": self.url,
            "counter": self.counter,
            "horizon_days": self.horizon_days,
            "departement": self.departement,
            "cadence_seconds": self.cadence_seconds,
            "period_start": self.period_start.astimezone(UTC).isoformat(),
            "planned_at": self.planned_at.astimezone(UTC).isoformat(),
            "role": self.role,
            "other_hosts": list(self.other_hosts),
            "allow_local": self.allow_local,
        }

    @classmethod
    def from_args(cls, args: dict[str, Any]) -> PeriodJob:
        role = args.get("role", "probe")
        if role not in ("probe", "replicate"):
            raise ValueError(f"unknown role {role!r}")
        return cls(
            service=str(args["service"]),
            platform=str(args["platform"]),
            url=str(args["url"]),
            counter=None if args.get("counter") is None else str(args["counter"]),
            horizon_days=int(args["horizon_days"]),
            departement=None if args.get("departement") is None else str(args["departement"]),
            cadence_seconds=int(args["cadence_seconds"]),
            period_start=datetime.fromisoformat(args["period_start"]),
            planned_at=datetime.fromisoformat(args["planned_at"]),
            role=role,
            # Jobs deferred before these keys existed carry neither: no other host, no local.
            other_hosts=tuple(str(h) for h in args.get("other_hosts") or ()),
            allow_local=args.get("allow_local") is True,
        )

    def replicate(self) -> PeriodJob:
        return replace(self, role="replicate")


def replicated(service: str, key: str, share: float, seed: int = 0) -> bool:
    """Whether the period is one of the share ``share`` probed from a second vantage point:
    drawn from a digest, so that every scheduler draws the same periods."""
    if share <= 0:
        return False
    digest = hashlib.sha256(f"replicate/{seed}/{service}/{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share

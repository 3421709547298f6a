"""Is the robot probing on time? The answer behind ``GET /healthz``.

The runner says when each probe is due (``on_planned``) and when a planned probe will not be
stored (``on_skipped``); each stored probe settles the oldest one outstanding for its service. The
robot is healthy while no probe is later than ``stall_after`` seconds past its due instant, on the
service's clock: a hung site, workers all stuck, a machine that slept or a dead loop all show as
due probes growing late, with the service and the delay named. Nothing here sleeps: the verdict is
computed from the clock when asked, so a test moves a simulated clock and reads the answer.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime

from guichets.clock import Clock

__all__ = ["DEFAULT_STALL_AFTER", "Health", "Verdict"]

DEFAULT_STALL_AFTER = 900.0
"""Seconds a probe may be late before the robot is called stalled: a probe is bounded at 300 s
(``probe.PROBE_WALL_LIMIT``) and waits its turn behind one probe per host, so 15 minutes of delay
means something is wrong, not merely busy."""


@dataclass(frozen=True)
class Verdict:
    healthy: bool
    reasons: tuple[str, ...]

    def to_json(self) -> dict[str, object]:
        return {"status": "ok" if self.healthy else "stalled", "why": list(self.reasons)}


class Health:
    """The probes due and not yet made, per service."""

    def __init__(self, clock: Clock, stall_after: float = DEFAULT_STALL_AFTER) -> None:
        if stall_after <= 0:
            raise ValueError("stall_after must be positive (seconds)")
        self.clock = clock
        self.stall_after = stall_after
        self._due: dict[str, deque[datetime]] = {}
        self._running = False
        self._why_not = "the robot has not started"
        self._services = 0
        self.last_probe: datetime | None = None

    def started(self, services: int) -> None:
        """A (new) run begins with ``services`` enabled services; earlier plans are void."""
        self._due.clear()
        self._running = True
        self._services = services

    def stopped(self, why: str) -> None:
        self._running = False
        self._why_not = why

    def planned(self, service: str, due: datetime) -> None:
        self._due.setdefault(service, deque()).append(due)

    def settled(self, service: str, due: datetime | None = None) -> None:
        """A planned probe of ``service`` will not be made (``due``: which one), or one was
        stored (the oldest: a service's probes are made in turn, one at a time per host)."""
        queue = self._due.get(service)
        if not queue:
            return
        if due is not None and due in queue:
            queue.remove(due)  # a later period given up while an earlier probe is still out
        elif due is None:
            queue.popleft()

    def probed(self, service: str, at: datetime) -> None:
        self.settled(service)
        self.last_probe = at if self.last_probe is None else max(self.last_probe, at)

    def outstanding(self) -> dict[str, datetime]:
        """Each service's oldest probe due and not yet made."""
        return {service: queue[0] for service, queue in self._due.items() if queue}

    def verdict(self) -> Verdict:
        if not self._running:
            return Verdict(False, (self._why_not,))
        if self._services == 0:
            return Verdict(False, ("the catalogue has no enabled service: nothing is probed",))
        now = self.clock.now()
        late: list[tuple[float, str, datetime]] = []
        for service, queue in self._due.items():
            if queue and (now - queue[0]).total_seconds() > self.stall_after:
                late.append(((now - queue[0]).total_seconds(), service, queue[0]))
        if late:
            late.sort(reverse=True)
            reasons = tuple(
                f"{service}: the probe due at {due.isoformat()} is {seconds:.0f} s late "
                f"(more than {self.stall_after:.0f} s)"
                for seconds, service, due in late[:20]
            )
            more = (f"and {len(late) - 20} more services",) if len(late) > 20 else ()
            return Verdict(False, reasons + more)
        upcoming = [queue[0] for queue in self._due.values() if queue]
        following = f"; next probe due at {min(upcoming).isoformat()}" if upcoming else ""
        last = f"; last probe at {self.last_probe.isoformat()}" if self.last_probe else ""
        return Verdict(True, (f"{self._services} services probed on time{last}{following}",))

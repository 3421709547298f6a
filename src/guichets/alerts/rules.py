"""The alert rules: what a stream of probes means for the people who act on it by the day.

Evaluated after every stored probe, incrementally: each service keeps a few counters (the current
run of valid probes without a date, the current run of probes that read nothing, by cause), so a
probe costs a handful of dictionary operations whatever the history (``bench/alerts.py``). Pure:
no I/O, no clock; :mod:`guichets.alerts.monitor` stores and delivers what this decides.

Each rule has hysteresis, so that one odd probe pages no one:

- ``closed`` (cause ``no_slot``): the last ``closed_probes`` valid probes found no date and span at
  least ``closed_hours``; probes that measured nothing (barrier, error, unreadable page) neither
  confirm nor break the run. It ends (the counter **reopened**) after ``reopen_probes`` valid
  probes in a row with a date.
- ``blind`` (one per cause: the barrier's kind such as ``captcha`` or ``blocked``, ``site_error``,
  or the unreadable page's reason such as ``layout_changed``): ``blind_probes`` probes of that
  cause since the robot last read the page. It ends when a probe is valid again.
- ``layout_changed`` (cause ``unrecognized``, about a platform): unreadable pages on at least
  ``platform_services`` services of one platform within ``platform_hours`` — a site-wide change,
  one alert with sample probes. It ends when none of them is unreadable any more.
- ``stalled`` (cause ``no_probe``): no probe of a service for ``stalled_cadences`` of its cadence,
  found by :meth:`Engine.check_stalled` (the run loop and ``guichets alerts check``, which works
  when the run itself died). It ends with the service's next probe.

Defaults are in :class:`Rules` and ``docs/alerts.md``.
"""

from __future__ import annotations

import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Final

from guichets.store.alerts import AlertRecord, ProbePoint

__all__ = ["CLOSED", "Engine", "Event", "Rules", "cause_of"]

VALID: Final = ("available", "unavailable")
CLOSED: Final = "closed"
BLIND: Final = "blind"
LAYOUT: Final = "layout_changed"
STALLED: Final = "stalled"
SAMPLES: Final = 5  # sample probes kept with a platform-wide alert


@dataclass(frozen=True)
class Rules:
    """Thresholds of the rules (``docs/alerts.md`` says why these defaults)."""

    closed_probes: int = 6
    closed_hours: float = 24.0
    reopen_probes: int = 1
    blind_probes: int = 3
    platform_services: int = 3
    platform_hours: float = 6.0
    stalled_cadences: float = 2.0

    def __post_init__(self) -> None:
        for name in ("closed_probes", "reopen_probes", "blind_probes", "platform_services"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        for name in ("closed_hours", "platform_hours", "stalled_cadences"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")


@dataclass(frozen=True, slots=True)
class Event:
    """An alert opened or closed, with the probe that did it (None for the watchdog)."""

    change: str  # "opened" or "closed"
    alert: AlertRecord
    probe: ProbePoint | None = None


def cause_of(outcome: str, detail: str) -> str:
    """The blind alert a probe that read nothing counts for: a barrier or an unreadable page by
    its detail (``captcha``, ``blocked``, ``layout_changed``…); every site error as one cause,
    since a failing site alternates 502, timeouts and "Service surchargé"."""
    return "site_error" if outcome == "site_error" else detail


@dataclass
class _Run:
    """A run of probes that show one condition: how many, from when, which."""

    count: int = 0
    since: datetime | None = None
    last: datetime | None = None
    ids: deque[str] = field(default_factory=lambda: deque(maxlen=64))
    details: Counter[str] = field(default_factory=Counter)
    others: int = 0  # probes in between that measured nothing (for the closed run)

    def add(self, point: ProbePoint) -> None:
        self.count += 1
        if self.since is None:
            self.since = point.at
        self.last = point.at
        self.ids.append(point.probe_id)
        self.details[point.detail] += 1


@dataclass
class _Service:
    empty: _Run = field(default_factory=_Run)
    with_slots: int = 0  # valid probes with a date in a row
    last_available: datetime | None = None
    blind: dict[str, _Run] = field(default_factory=dict)
    last_valid: datetime | None = None
    last_at: datetime | None = None
    open: dict[tuple[str, str], AlertRecord] = field(default_factory=dict)


@dataclass
class _Platform:
    unreadable: dict[str, ProbePoint] = field(default_factory=dict)  # service → its last one
    alert: AlertRecord | None = None


def _new_id() -> str:
    return uuid.uuid4().hex


class Engine:
    """The rules' state for every service; :meth:`observe` one probe at a time, in time order."""

    def __init__(self, rules: Rules | None = None, *, new_id: Callable[[], str] = _new_id) -> None:
        self.rules = rules or Rules()
        self._services: dict[str, _Service] = {}
        self._platforms: dict[str, _Platform] = {}
        self._new_id = new_id
        self._closed_span = timedelta(hours=self.rules.closed_hours)
        self._platform_span = timedelta(hours=self.rules.platform_hours)

    # -- state from the table ---

    def adopt(self, alert: AlertRecord) -> None:
        """Take an open alert stored earlier as open (a restart goes on with it)."""
        if not alert.open:
            return
        if alert.service is None:
            self._platforms.setdefault(alert.platform or "", _Platform()).alert = alert
        else:
            state = self._services.setdefault(alert.service, _Service())
            state.open[(alert.kind, alert.cause)] = alert

    def open_alerts(self) -> list[AlertRecord]:
        found = [a for s in self._services.values() for a in s.open.values()]
        found += [p.alert for p in self._platforms.values() if p.alert is not None]
        return sorted(found, key=lambda a: (a.opened_at, a.id))

    # -- one probe ---

    def observe(self, point: ProbePoint) -> list[Event]:
        """What this probe opens or closes. Probes of a service must come in time order."""
        state = self._services.get(point.service)
        if state is None:
            state = self._services[point.service] = _Service()
        state.last_at = point.at
        events: list[Event] = []
        stalled = state.open.get((STALLED, "no_probe"))
        if stalled is not None and point.at > stalled.since:
            events.append(self._close(state, stalled, point, stalled.since))
        if point.outcome in VALID:
            self._valid(state, point, events)
        else:
            self._blind(state, point, events)
        if point.outcome == "unrecognized" or point.service in self._unreadable(point.platform):
            self._platform(point, events)
        return events

    def _valid(self, state: _Service, point: ProbePoint, events: list[Event]) -> None:
        state.last_valid = point.at
        for key in [k for k in state.open if k[0] == BLIND]:
            alert = state.open[key]
            if point.at <= alert.opened_at:
                continue  # a replay's earlier probe never ends a later episode
            run = state.blind.get(alert.cause)
            last = run.last if run is not None and run.last is not None else alert.last_seen
            events.append(self._close(state, alert, point, last))
        state.blind.clear()
        closed = state.open.get((CLOSED, "no_slot"))
        if point.outcome == "unavailable":
            state.with_slots = 0
            state.empty.add(point)
            run = state.empty
            if (
                closed is None
                and run.since is not None
                and run.count >= self.rules.closed_probes
                and point.at - run.since >= self._closed_span
            ):
                events.append(self._open(state, CLOSED, "no_slot", point, run))
            return
        state.with_slots += 1
        state.last_available = point.at
        if closed is not None and point.at > closed.opened_at:
            if state.with_slots < self.rules.reopen_probes:
                return
            last = state.empty.last or closed.last_seen
            first = None if point.first_slot is None else point.first_slot.isoformat()
            events.append(self._close(state, closed, point, last, first_slot=first))
        state.empty = _Run()

    def _blind(self, state: _Service, point: ProbePoint, events: list[Event]) -> None:
        state.empty.others += 1
        cause = cause_of(point.outcome, point.detail)
        run = state.blind.get(cause)
        if run is None:
            run = state.blind[cause] = _Run()
        run.add(point)
        if (BLIND, cause) not in state.open and run.count >= self.rules.blind_probes:
            events.append(self._open(state, BLIND, cause, point, run))

    def _unreadable(self, platform: str) -> Mapping[str, ProbePoint]:
        found = self._platforms.get(platform)
        return {} if found is None else found.unreadable

    def _platform(self, point: ProbePoint, events: list[Event]) -> None:
        state = self._platforms.get(point.platform)
        if state is None:
            state = self._platforms[point.platform] = _Platform()
        if point.outcome == "unrecognized":
            state.unreadable[point.service] = point
        elif point.outcome in VALID:
            state.unreadable.pop(point.service, None)
        recent = sorted(
            (p for p in state.unreadable.values() if point.at - p.at <= self._platform_span),
            key=lambda p: (p.at, p.service),
        )
        if state.alert is None and len(recent) >= self.rules.platform_services:
            samples = [
                {"service": p.service, "probe_id": p.probe_id, "detail": p.detail,
                 "at": p.at.isoformat()}
                for p in recent[-SAMPLES:]
            ]  # fmt: skip
            state.alert = AlertRecord(
                id=self._new_id(),
                kind=LAYOUT,
                cause="unrecognized",
                service=None,
                platform=point.platform,
                departement=None,
                since=recent[0].at,
                opened_at=point.at,
                last_seen=point.at,
                opened_by=tuple(p.probe_id for p in recent),
                figures={"services": len(recent), "samples": samples},
            )
            events.append(Event("opened", state.alert, point))
        elif state.alert is not None and not state.unreadable and point.at > state.alert.opened_at:
            closed = state.alert.closing(point.at, state.alert.last_seen, point.probe_id)
            state.alert = None
            events.append(Event("closed", closed, point))
        elif state.alert is not None and point.outcome == "unrecognized":
            state.alert = replace(state.alert, last_seen=point.at)

    # -- the watchdog ---

    def check_stalled(
        self,
        now: datetime,
        cadences: Mapping[str, int],
        last: Mapping[str, tuple[datetime, str | None, str]] | None = None,
    ) -> list[Event]:
        """Open a ``stalled`` alert for each service of ``cadences`` (id → seconds) without a
        probe for ``stalled_cadences`` cadences; ``last`` gives each service's last probe
        (started_at, département, platform) when this engine has not seen it (the watchdog
        reads it from the store)."""
        events = []
        for service, cadence in sorted(cadences.items()):
            state = self._services.get(service)
            known = None if last is None else last.get(service)
            at = state.last_at if state is not None else None
            if known is not None and (at is None or known[0] > at):
                at = known[0]
            if at is None:
                continue  # never probed: nothing has stopped
            if state is None:
                state = self._services[service] = _Service(last_at=at)
            if (STALLED, "no_probe") in state.open:
                continue
            if (now - at).total_seconds() < self.rules.stalled_cadences * cadence:
                continue
            alert = AlertRecord(
                id=self._new_id(),
                kind=STALLED,
                cause="no_probe",
                service=service,
                platform=None if known is None else known[2],
                departement=None if known is None else known[1],
                since=at,
                opened_at=now,
                last_seen=at,
                figures={
                    "last_probe": at.isoformat(),
                    "cadence_seconds": cadence,
                    "hours_without_probe": round((now - at).total_seconds() / 3600, 1),
                },
            )
            state.open[(STALLED, "no_probe")] = alert
            events.append(Event("opened", alert))
        return events

    # -- opening and closing ---

    def _open(self, state: _Service, kind: str, cause: str, point: ProbePoint, run: _Run) -> Event:
        assert run.since is not None
        figures: dict[str, object] = {
            "probes": run.count,
            "hours": round((point.at - run.since).total_seconds() / 3600, 1),
            "details": dict(sorted(run.details.items())),
        }
        if kind == CLOSED:
            figures["not_measured"] = run.others
            figures["last_available"] = (
                None if state.last_available is None else state.last_available.isoformat()
            )
        else:
            figures["last_valid"] = (
                None if state.last_valid is None else state.last_valid.isoformat()
            )
        alert = AlertRecord(
            id=self._new_id(),
            kind=kind,
            cause=cause,
            service=point.service,
            platform=point.platform,
            departement=point.departement,
            since=run.since,
            opened_at=point.at,
            last_seen=point.at,
            opened_by=tuple(run.ids)[-max(self.rules.closed_probes, self.rules.blind_probes) :],
            figures=figures,
        )
        state.open[(kind, cause)] = alert
        return Event("opened", alert, point)

    def _close(
        self,
        state: _Service,
        alert: AlertRecord,
        point: ProbePoint,
        last_seen: datetime,
        **figures: object,
    ) -> Event:
        del state.open[(alert.kind, alert.cause)]
        extra: dict[str, object] = {"closed_by_outcome": point.outcome, **figures}
        if alert.kind != STALLED:
            run = state.empty if alert.kind == CLOSED else state.blind.get(alert.cause)
            if run is not None:
                extra["probes"] = max(int(alert.figures.get("probes", 0)), run.count)
        return Event("closed", alert.closing(point.at, last_seen, point.probe_id, **extra), point)


def replay(engine: Engine, points: Iterable[ProbePoint]) -> list[Event]:
    """Every event of ``points`` through ``engine``, in order."""
    return [event for point in points for event in engine.observe(point)]

"""The alert rules wired to the store and to delivery: after every stored probe, and on a watchdog.

:meth:`Monitor.resume` starts from the table: it takes the open alerts and replays the recent
probes through the rules, matching each episode with the one stored (same kind, cause, subject
and triggering probe), so that a restart — or ``guichets alerts check`` after a run died between a
probe and its alert — adds only what is missing, and notifies only what is still news.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta
from typing import Final

from guichets.alerts.rules import Engine, Event, Rules
from guichets.model import PARIS, Observation
from guichets.store import Store
from guichets.store.alerts import (
    AlertRecord,
    ProbePoint,
    close_alert,
    insert_alert,
    last_probes,
    probe_tail,
    read_alerts,
)

__all__ = ["REPLAY_DAYS", "Digest", "Monitor", "next_digest", "point_of"]

REPLAY_DAYS: Final = 7  # how far back a restart replays the probes (at least 2 × closed_hours)
CHECK_EVERY: Final = timedelta(minutes=15)  # the run loop's watchdog, at most this often


def point_of(obs: Observation) -> ProbePoint:
    """What the rules read of an observation."""
    return ProbePoint(
        probe_id=obs.probe_id,
        service=obs.service,
        platform=obs.platform,
        departement=obs.departement,
        at=obs.started_at,
        outcome=str(obs.outcome),
        detail=obs.detail,
        first_slot=obs.first_slot,
    )


def next_digest(after: datetime, at: time) -> datetime:
    """The first instant after ``after`` when the Paris clock shows ``at``."""
    local = after.astimezone(PARIS)
    due = local.replace(hour=at.hour, minute=at.minute, second=0, microsecond=0)
    if due <= local:
        due = (local + timedelta(days=1)).replace(
            hour=at.hour, minute=at.minute, second=0, microsecond=0
        )
    return due.astimezone(after.tzinfo)


@dataclass(frozen=True)
class Digest:
    """The daily digest: what is open now, and what opened or closed since the last one."""

    at: datetime
    since: datetime
    open: list[AlertRecord]
    events: list[Event]


def _key(alert: AlertRecord) -> tuple[str, str, str, datetime]:
    return (alert.kind, alert.cause, alert.subject, alert.opened_at)


@dataclass
class Monitor:
    """Evaluates the rules, stores their alerts, and hands each event to ``notify``."""

    store: Store
    rules: Rules = field(default_factory=Rules)
    notify: Callable[[Event], None] | None = None
    cadences: Mapping[str, int] = field(default_factory=dict)  # service → seconds (watchdog)
    engine: Engine = field(init=False)
    # Counts, not a list of every event: a service runs for months and keeps only what it reads.
    opened: int = 0  # alerts opened by this monitor (stored and notified)
    closed: int = 0
    digest_at: time | None = None  # Paris time of the optional daily digest
    on_digest: Callable[[Digest], None] | None = None
    _last_check: datetime | None = None
    _next_digest: datetime | None = None
    _digest_from: datetime | None = None  # the events of _digest_events came after this
    _digest_events: list[Event] = field(default_factory=list)  # since the last digest only
    _ended: set[str] = field(default_factory=set)  # stored as closed, replayed as open

    def __post_init__(self) -> None:
        self.engine = Engine(self.rules)

    # -- starting ---

    def resume(self, now: datetime, *, days: int | None = None) -> list[Event]:
        """Bring the table up to date with the probes of the last ``days`` (default
        :data:`REPLAY_DAYS`, or twice ``closed_hours`` if longer); returns (and notifies) the
        events that are still news: alerts opened and still open, and alerts stored open that
        the probes closed."""
        if days is None:
            days = max(REPLAY_DAYS, math.ceil(2 * self.rules.closed_hours / 24))
        start = now - timedelta(days=days)
        stored = read_alerts(self.store, since=start)
        known = {_key(a): a for a in stored}
        by_id = {a.id: a for a in stored}
        for alert in stored:
            # Every episode open when the replay starts goes on: one still open (a probe before
            # its opening never closes it, and changed thresholds do not open it twice), and one
            # opened before the window and closed within it (its run of probes is cut by the
            # window: replayed, it would open a second time).
            if alert.open or alert.opened_at < start:
                if not alert.open:
                    self._ended.add(alert.id)
                self.engine.adopt(replace(alert, closed_at=None, closed_by=None))
        news: list[Event] = []
        for point in probe_tail(self.store, start):
            for event in self.engine.observe(point):
                if event.change == "opened":
                    match = known.get(_key(event.alert))
                    if match is not None:
                        self.engine.adopt(_reopened(match, event.alert))
                        continue
                    insert_alert(self.store, event.alert)
                    by_id[event.alert.id] = event.alert
                    news.append(event)
                else:
                    before = by_id.get(event.alert.id)
                    if before is not None and before.closed_at is not None:
                        continue  # closed as stored
                    close_alert(self.store, event.alert)
                    news.append(event)
        still_open = {a.id for a in self.engine.open_alerts()}
        fresh = {e.alert.id for e in news if e.change == "opened"}
        kept = [
            e
            for e in news
            if (e.change == "opened" and e.alert.id in still_open)
            or (e.change == "closed" and e.alert.id not in fresh)
        ]
        for event in kept:
            self._emit(event, store=False)
        if self.digest_at is not None:
            self._next_digest = next_digest(now, self.digest_at)
            self._digest_from = now
            self._digest_events.clear()
        return kept

    def _maybe_digest(self, now: datetime) -> None:
        """Send the daily digest once its hour has passed (driven by the probes' own times, so a
        simulated run gets one per simulated day)."""
        due, since = self._next_digest, self._digest_from
        if due is None or since is None or now < due or self.digest_at is None:
            return
        digest = Digest(due, since, self.engine.open_alerts(), list(self._digest_events))
        self._next_digest = next_digest(now, self.digest_at)
        self._digest_from = due
        self._digest_events.clear()
        if self.on_digest is not None:
            self.on_digest(digest)

    # -- running ---

    def observe(self, obs: Observation) -> list[Event]:
        """The rules after one stored probe: store and notify what they open or close."""
        self._maybe_digest(obs.started_at)
        events = self.engine.observe(point_of(obs))
        for event in events:
            self._emit(event)
        if self.cadences and (
            self._last_check is None or obs.started_at - self._last_check >= CHECK_EVERY
        ):
            self.check(obs.started_at)
        return events

    async def on_stored(self, obs: Observation) -> None:
        """The runner's hook (``Runner.on_stored``)."""
        self.observe(obs)

    def check(self, now: datetime, *, from_store: bool = False) -> list[Event]:
        """The watchdog: services without a probe for too long (``stalled``)."""
        self._last_check = now
        last = last_probes(self.store) if from_store else None
        events = self.engine.check_stalled(now, self.cadences, last)
        for event in events:
            self._emit(event)
        return events

    def _emit(self, event: Event, *, store: bool = True) -> None:
        if event.change == "closed" and event.alert.id in self._ended:
            self._ended.discard(event.alert.id)  # closed as stored already
            return
        # The message first (the outbox is in the store too), then the alert: a failure or a
        # kill between the two writes leaves the alert unstored, which the next start catches
        # up and tells again (a message twice); the other order would leave it stored and
        # known at the next start, its message never queued (a message lost).
        if self.notify is not None:
            self.notify(event)
        if store:
            if event.change == "opened":
                insert_alert(self.store, event.alert)
            else:
                close_alert(self.store, event.alert)
        if event.change == "opened":
            self.opened += 1
        else:
            self.closed += 1
        if self.digest_at is not None:
            self._digest_events.append(event)


def _reopened(stored: AlertRecord, computed: AlertRecord) -> AlertRecord:
    """The stored episode, open again in the engine so that its closing is matched by id."""
    return replace(stored, closed_at=None, closed_by=None, figures=computed.figures)

"""How a run (``guichets run``, ``guichets demo``) sets up its alerts: the monitor after every
stored probe, and the delivery in the background, stopped cleanly at the end."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import time

from guichets.alerts.delivery import BACKOFF, Dispatcher, QuietHours
from guichets.alerts.messages import Names, digest_message, message
from guichets.alerts.monitor import Digest, Monitor
from guichets.alerts.rules import Event, Rules
from guichets.catalogue import Service
from guichets.clock import Clock
from guichets.model import Observation
from guichets.store import Store
from guichets.store.outbox import read_outbox

__all__ = ["AlertOptions", "Alerting", "StoredHook", "chain", "labels_of", "outbox_elsewhere"]

StoredHook = Callable[[Observation], Awaitable[None]]


@dataclass
class AlertOptions:
    """What the command line or the configuration file asked for."""

    urls: list[str] = field(default_factory=list)
    quiet: QuietHours | None = None
    site_url: str | None = None
    rules: Rules = field(default_factory=Rules)
    backoff: Sequence[float] = BACKOFF
    digest: time | None = None  # Paris time of the optional daily digest


@dataclass
class Alerting:
    """A run's alerts: the monitor (its ``on_stored`` goes to the runner) and the delivery."""

    monitor: Monitor
    dispatcher: Dispatcher | None

    @classmethod
    def start(
        cls,
        store: Store,
        clock: Clock,
        options: AlertOptions,
        services: Sequence[Service],
        *,
        report: Callable[[str], None] | None = None,
    ) -> Alerting:
        """Alerts for a run over ``services``: the monitor brought up to date with the stored
        probes, the delivery started in the background (call from a running event loop)."""
        names = Names(labels_of(services), options.site_url)
        dispatcher = None
        if options.urls:
            dispatcher = Dispatcher(
                options.urls,
                clock,
                store,
                quiet=options.quiet,
                backoff=options.backoff,
                report=report,
            )
        elsewhere = outbox_elsewhere(store, [] if dispatcher is None else dispatcher.keys)
        if elsewhere and report is not None:
            report(
                f"{elsewhere} alert message(s) in the outbox are for a receiver this run does not "
                "deliver to: guichets alerts outbox"
            )
        sink = dispatcher

        def notify(event: Event) -> None:
            if sink is not None:
                sink.submit(message(event, names))

        def digest(summary: Digest) -> None:
            if sink is not None:
                sink.submit(digest_message(summary, names))

        monitor = Monitor(
            store,
            options.rules,
            notify=notify,
            cadences={s.id: s.cadence_seconds for s in services},
            digest_at=options.digest,
            on_digest=digest,
        )
        if dispatcher is not None:
            dispatcher.start()
        monitor.resume(clock.now())
        return cls(monitor, dispatcher)

    async def close(self, *, drain: bool) -> None:
        """``drain``: wait (on the clock) for every delivery and its retries (simulated
        clocks); otherwise send what is due now and leave the rest in the outbox for the next
        run (a run stopping)."""
        if self.dispatcher is not None:
            await self.dispatcher.close(drain=drain)

    def summary(self) -> str:
        text = f"alerts: {self.monitor.opened} opened, {self.monitor.closed} closed"
        d = self.dispatcher
        if d is not None:
            text += (
                f"; {d.delivered_count} deliveries to {len(d.urls)} receiver(s), "
                f"{d.failures} failed attempts, {d.given_up_count} not delivered"
            )
            if d.left:
                text += f"; {d.left} waiting in the outbox for the next run"
        return text


def outbox_elsewhere(store: Store, keys: Sequence[str]) -> int:
    """How many messages wait in the outbox for receivers other than ``keys``: left by a run
    with other ``--notify`` URLs; said at start, never dropped."""
    mine = set(keys)
    return sum(1 for row in read_outbox(store) if row.target_key not in mine)


def labels_of(services: Sequence[Service]) -> dict[str, str]:
    return {s.id: s.label or f"{s.site} — {s.procedure}" for s in services}


def chain(*hooks: StoredHook | None) -> StoredHook | None:
    """One ``Runner.on_stored`` hook calling each of ``hooks`` in turn (alerts, screenshots)."""
    present = [h for h in hooks if h is not None]
    if len(present) <= 1:
        return present[0] if present else None

    async def call(obs: Observation) -> None:
        for hook in present:
            await hook(obs)

    return call

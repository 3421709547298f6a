"""What the alert rules cost per stored probe: the engine alone, and the monitor with its writes.

The rules run after every stored probe, in the run loop; the issue's budget is under 1 ms of CPU
per probe. This script feeds a synthetic stream through them: ``--services`` services probed
hourly for ``--days`` days, each switching between spells of slots, of no slot, of captcha or
blocks, of errors and of unreadable pages (a seeded Markov chain), so that alerts open and close
as in a real month. It measures CPU time (``time.process_time``):

- the engine alone (``Engine.observe``: the incremental state per service);
- the monitor (``Monitor.observe``: the engine, plus writing each alert opened or closed to a
  SQLite store, and the watchdog every 15 minutes of probe time), the messages built for delivery.

With ``--replay N``, it also stores the first N probes in a SQLite store and times
``Monitor.resume`` over them: what a restart (or ``guichets alerts check``) costs to bring the
table up to date by replaying the last 30 days.

It prints figures and asserts nothing.

    .venv/bin/python bench/alerts.py [--services 500] [--days 30] [--replay 20000] [--json]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from guichets.alerts.messages import Names, message
from guichets.alerts.monitor import Monitor
from guichets.alerts.rules import Engine, Event, Rules
from guichets.model import PARIS, Observation, Outcome
from guichets.store import Store
from guichets.store.alerts import ProbePoint

START = datetime(2026, 10, 1, tzinfo=UTC)
STATES = {  # state → (outcome, detail), and the chance of leaving it at each probe
    "open": (("available", "slots_seen"), 0.05),
    "closed": (("unavailable", "no_slot_page"), 0.03),
    "captcha": (("barrier", "captcha"), 0.02),
    "error": (("site_error", "http_503"), 0.2),
    "layout": (("unrecognized", "layout_changed"), 0.1),
}
NEXT = {"open": 0.55, "closed": 0.3, "captcha": 0.05, "error": 0.08, "layout": 0.02}


def stream(services: int, days: int, seed: int) -> list[ProbePoint]:
    rng = random.Random(seed)
    states = ["open"] * services
    points = []
    for hour in range(days * 24):
        for s in range(services):
            state = states[s]
            (outcome, detail), leave = STATES[state]
            if rng.random() < leave:
                state = states[s] = rng.choices(list(NEXT), weights=list(NEXT.values()))[0]
                (outcome, detail), _ = STATES[state]
            at = START + timedelta(hours=hour, seconds=rng.randrange(3600))
            points.append(
                ProbePoint(
                    probe_id=f"{hour:05d}-{s:04d}",
                    service=f"{s % 95 + 1:02d}-service-{s}",
                    platform=("ezbooking", "rdvpref", "eappointment")[s % 3],
                    departement=f"{s % 95 + 1:02d}",
                    at=at,
                    outcome=outcome,
                    detail=detail,
                    first_slot=at + timedelta(days=5) if outcome == "available" else None,
                )
            )
    points.sort(key=lambda p: (p.at, p.probe_id))
    return points


class _Obs:
    """The few attributes of an Observation that the monitor reads (no model checks to pay)."""

    def __init__(self, p: ProbePoint) -> None:
        self.probe_id = p.probe_id
        self.service = p.service
        self.platform = p.platform
        self.departement = p.departement
        self.started_at = p.at
        self.outcome = p.outcome
        self.detail = p.detail
        self.first_slot = p.first_slot


def observation(p: ProbePoint) -> Observation:
    outcome = Outcome(p.outcome)
    slots = (p.first_slot.astimezone(PARIS),) if p.first_slot is not None else ()
    return Observation(
        probe_id=p.probe_id, service=p.service, platform=p.platform,
        url=f"http://127.0.0.1/{p.service}", started_at=p.at,
        finished_at=p.at + timedelta(seconds=2), outcome=outcome, detail=p.detail, slots=slots,
        departement=p.departement,
    )  # fmt: skip


def replay_cost(points: list[ProbePoint]) -> dict[str, float]:
    """Store ``points``, then time a restart's replay of them through the rules."""
    with tempfile.TemporaryDirectory() as scratch, Store.open(None, home=Path(scratch)) as store:
        for p in points:
            store.save(observation(p))
        now = points[-1].at + timedelta(minutes=1)
        started, wall = time.process_time(), time.perf_counter()
        monitor = Monitor(store, Rules())
        news = monitor.resume(now)
        cpu, elapsed = time.process_time() - started, time.perf_counter() - wall
        return {
            "replayed": len(points),
            "replay_cpu_s": round(cpu, 2),
            "replay_wall_s": round(elapsed, 2),
            "replay_us_per_probe": round(elapsed / len(points) * 1e6, 1),
            "replay_open_alerts": len(monitor.engine.open_alerts()),
            "replay_news": len(news),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--services", type=int, default=500)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--replay", type=int, default=0, help="probes to store and replay")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    points = stream(args.services, args.days, args.seed)
    n = len(points)

    engine = Engine(Rules())
    started = time.process_time()
    events = 0
    for p in points:
        events += len(engine.observe(p))
    engine_cpu = time.process_time() - started

    observations = [_Obs(p) for p in points]
    names = Names({})
    built: list[str] = []

    def notify(event: Event) -> None:
        built.append(message(event, names).body)  # what the delivery would be handed

    with tempfile.TemporaryDirectory() as scratch, Store.open(None, home=Path(scratch)) as store:
        monitor = Monitor(
            store,
            Rules(),
            notify=notify,
            cadences={p.service: 3600 for p in points[: args.services * 2]},
        )
        started, wall = time.process_time(), time.perf_counter()
        for obs in observations:
            monitor.observe(obs)  # type: ignore[arg-type]
        monitor_cpu = time.process_time() - started
        monitor_wall = time.perf_counter() - wall
        stored = monitor.opened + monitor.closed

    figures = {
        "probes": n,
        "services": args.services,
        "days": args.days,
        "events": events,
        "engine_cpu_us_per_probe": round(engine_cpu / n * 1e6, 2),
        "monitor_cpu_us_per_probe": round(monitor_cpu / n * 1e6, 2),
        "monitor_wall_us_per_probe": round(monitor_wall / n * 1e6, 2),
        "monitor_events_stored": stored,
        "monitor_cpu_ms_per_event": round(monitor_cpu / max(stored, 1) * 1e3, 3),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "date": datetime.now(UTC).date().isoformat(),
    }
    if args.replay:
        figures |= replay_cost(points[: args.replay])
    if args.json:
        print(json.dumps(figures))
        return
    print(
        f"{n:,} probes of {args.services} services over {args.days} days; "
        f"{events:,} alerts opened or closed"
    )
    print(f"engine alone:   {figures['engine_cpu_us_per_probe']} µs CPU per probe")
    print(
        f"monitor:        {figures['monitor_cpu_us_per_probe']} µs CPU per probe, with "
        f"{stored:,} alert writes to SQLite and their messages built "
        f"({figures['monitor_wall_us_per_probe']} µs wall)"
    )
    if args.replay:
        print(
            f"restart:        {figures['replay_wall_s']} s to replay {args.replay:,} stored probes "
            f"({figures['replay_us_per_probe']} µs each, {figures['replay_cpu_s']} s CPU)"
        )


if __name__ == "__main__":
    main()

"""Several workers on one PostgreSQL schedule: throughput, double probes, lost periods, per-host
gaps and lateness, against the simulator on 200 loopback hosts. Prints figures; asserts nothing.

For each number of workers (1, 2, 4), a fresh schema, ``N`` ``guichets worker`` processes, and one
job per service (2,000 services, 10 per host, daily periods) all due within two seconds: the
workers drain the queue for at most ``--round-seconds`` (then SIGTERM: the probes in flight end),
and the rate is stored probes over the span from the first probe's start to the last one's end.
Then one paced round with 4 workers: the jobs due at the period's stratified instants squeezed
into 40 seconds at about half the measured rate, for the schedule's lateness (how long after its
instant each period was claimed) when the workers keep up.

From the logged facts only: the book (``schedule_periods``), the stored probes and the simulator's
log of arrivals per host.

    .venv/bin/python bench/workers.py [--services 2000] [--hosts 200] [--gap 0.05] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text

from guichets.clock import SystemClock
from guichets.runner import from_catalogue
from guichets.store import Store
from guichets.store.schema import probes, schedule_periods
from guichets.usecases.demo import simulated_catalogue
from guichets.workers.scheduler import periods_ahead, schedule_jobs

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.dbfixtures import pg_schema  # noqa: E402  (one way to make a schema)
from tests.simthread import SimulatorThread  # noqa: E402  (the simulator in a thread)

DEPARTEMENTS = [f"{n:02d}" for n in range(1, 96) if n != 20]


def scenario(services: int, hosts: int) -> str:
    """``hosts`` legacy-module sites, ``services`` services spread evenly over them."""
    lines = ['[scenario]', 'name = "workers-bench"', "seed = 7",
             "start = 2026-10-05T08:00:00+02:00", ""]  # fmt: skip
    per_site = math.ceil(services / hosts)
    made = 0
    for h in range(hosts):
        dep = DEPARTEMENTS[h % len(DEPARTEMENTS)]
        lines += ["[[sites]]", f'slug = "s{h:03d}"', f'name = "Préfecture {h}"',
                  f'host = "www.s{h:03d}.gouv.fr"', f'departement = "{dep}"', ""]  # fmt: skip
        for k in range(per_site):
            if made == services:
                break
            form = 1000 + 10 * k
            lines += ["[[sites.services]]", f'id = "{dep}-s{h:03d}-p{k:02d}"',
                      f'procedure = "p{k:02d}"', f'title = "Service {k}"', f"form_id = {form}",
                      f'counters = [{{ id = {form + 1}, label = "Guichet" }}]',
                      "model = { window_days = 30, demand_per_hour = 0.5 }", ""]  # fmt: skip
            made += 1
    return "\n".join(lines)


def pg_base(given: str | None) -> str:
    if given:
        return given
    env = os.environ.get("GUICHETS_TEST_PG", "").strip()
    if env:
        return env
    out = subprocess.run(["sh", str(ROOT / "scripts/ensure-postgres.sh")], capture_output=True,
                         text=True, check=True)  # fmt: skip
    return out.stdout.strip()


def fresh_schema(base: str) -> AbstractContextManager[str]:
    """An empty schema for one round: the tests' own helper, named for the benchmark."""
    return pg_schema(base, prefix="guichets_bench")


def start_workers(url: str, home: Path, n: int, args: argparse.Namespace) -> list[Any]:
    return [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "guichets",
                "worker",
                "--db",
                url,
                "--home",
                str(home),
                "--name",
                f"w{i}",
                "--vantage",
                f"v{i % 2}",
                "--concurrency",
                str(args.concurrency),
                "--gap",
                str(args.gap),
                "--heartbeat",
                "2",
                "--lease",
                "10",
                "--poll",
                "0.5",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=dict(os.environ, COLUMNS="200", NO_COLOR="1"),
        )
        for i in range(n)
    ]


def registered(url: str) -> int:
    with Store.open(url) as store, store.reading("workers") as conn:
        return int(conn.execute(text("SELECT count(*) FROM workers")).scalar_one())


def book_states(url: str) -> Counter[str]:
    with Store.open(url) as store, store.reading("book") as conn:
        rows = conn.execute(
            select(schedule_periods.c.state, func.count()).group_by(schedule_periods.c.state)
        ).all()
    return Counter({state: int(n) for state, n in rows})


def one_round(
    base: str, sim: SimulatorThread, n: int, jobs_of: Any, args: argparse.Namespace, limit: float
) -> dict[str, Any]:
    """``n`` workers on a fresh schema take the jobs ``jobs_of()`` gives, for at most ``limit``
    seconds; then they are stopped (SIGTERM: the probes in flight end) and the facts read."""
    with fresh_schema(base) as url, tempfile.TemporaryDirectory() as home:
        Store.open(url).close()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        workers = start_workers(url, Path(home), n, args)
        deadline = time.monotonic() + 120
        while registered(url) < n and time.monotonic() < deadline:
            time.sleep(0.2)
        assert sim.sim.request_log is not None
        sim.sim.request_log.clear()
        jobs = jobs_of()
        planned = asyncio.run(schedule_jobs(url, jobs))
        total = planned.periods
        began = time.monotonic()
        deadline = began + limit
        while time.monotonic() < deadline:
            states = book_states(url)
            if states["done"] + states["lost"] >= total and sum(states.values()) >= total:
                break
            time.sleep(0.5)
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        killed = 0
        for worker in workers:  # SIGTERM: the probes in flight end first (bounded: 300 s)
            try:
                worker.wait(timeout=300)
            except subprocess.TimeoutExpired:
                worker.kill()
                killed += 1
        after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the workers, reaped above
        cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        log = list(sim.sim.request_log)
        with Store.open(url) as store, store.reading("figures") as conn:
            book = conn.execute(
                select(schedule_periods.c.service, schedule_periods.c.period_key,
                       schedule_periods.c.role, schedule_periods.c.state,
                       schedule_periods.c.attempts, schedule_periods.c.planned_at,
                       schedule_periods.c.claimed_at, schedule_periods.c.period_end,
                       func.now().label("now"))
            ).all()  # fmt: skip
            stored = conn.execute(
                select(probes.c.service, probes.c.period_key, probes.c.started_at,
                       probes.c.finished_at)
            ).all()  # fmt: skip
    per_key = Counter((s, k) for s, k, _, _ in stored)
    states = Counter(r.state for r in book)
    ended = [r for r in book if r.state == "planned" and r.period_end <= r.now]
    arrivals: dict[str, list[float]] = defaultdict(list)
    for site, at, _ in log:
        arrivals[site].append(at)
    gaps = [
        b - a
        for times in arrivals.values()
        for a, b in zip(sorted(times), sorted(times)[1:], strict=False)
    ]
    lateness = sorted(
        (r.claimed_at - r.planned_at).total_seconds() for r in book if r.claimed_at is not None
    )
    span = (
        (max(f for *_, f in stored) - min(s for _, _, s, _ in stored)).total_seconds()
        if stored
        else 0.0
    )
    return {
        "n": n,
        "probes": len(stored),
        "probes_per_s": round(len(stored) / span, 2) if span else None,
        "span_s": round(span, 1),
        "drain_wall_s": round(time.monotonic() - began, 1),
        "periods": total,
        "done": states["done"],
        "lost": states["lost"],
        "double_probes": sum(1 for v in per_key.values() if v > 1)
        + sum(1 for r in book if r.attempts > 1),
        "unfinished": states["planned"],  # still queued in an open period when stopped
        "workers_killed": killed,  # did not stop within 300 s of SIGTERM
        # Deferred but not in the book, held by a worker after every worker stopped cleanly, or
        # still planned after its period ended: what nobody would ever report.
        "lost_unrecorded": (total - len(book)) + states["probing"] + len(ended),
        "min_host_gap_s": round(min(gaps), 4) if gaps else None,
        # CPU of the worker processes (start-up included) per stored probe: what the machine's
        # load does not change, unlike probes per second
        "worker_cpu_s_per_probe": round(cpu / len(stored), 3) if stored else None,
        "requests": len(log),
        "lateness_p50_s": _quantile(lateness, 0.5),
        "lateness_p99_s": _quantile(lateness, 0.99),
    }


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return round(values[min(len(values) - 1, int(q * len(values)))], 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--services", type=int, default=2000)
    parser.add_argument("--hosts", type=int, default=200)
    parser.add_argument(
        "--gap", type=float, default=0.05, help="seconds between requests to a host"
    )
    parser.add_argument("--concurrency", type=int, default=16, help="probes at once per worker")
    parser.add_argument("--horizon-days", type=int, default=14)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--paced-seconds", type=float, default=40.0)
    parser.add_argument(
        "--round-seconds", type=float, default=50.0, help="seconds each drain round may take"
    )
    parser.add_argument("--db", default=None, help="PostgreSQL URL [default: GUICHETS_TEST_PG]")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    started = time.monotonic()
    base = pg_base(args.db)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "workers-bench.toml"
        path.write_text(scenario(args.services, args.hosts), "utf-8")
        with SimulatorThread(path, hosts="loopback", system_clock=True, log_requests=True) as sim:
            # A horizon of 14 days: about 8 requests a probe instead of 40 (13 week grids), so
            # that the figures are about the coordination, not the politeness ceiling per host.
            items = from_catalogue(
                [
                    s.model_copy(update={"horizon_days": args.horizon_days})
                    for s in simulated_catalogue(sim.sim, "1d")
                ]
            )
            clock = SystemClock()
            rng = random.Random(1)

            def burst() -> list[Any]:
                now = clock.now()
                jobs = periods_ahead(items, now, timedelta(seconds=1))
                return [replace(j, planned_at=now + timedelta(seconds=rng.uniform(0, 2)))
                        for j in jobs]  # fmt: skip

            rounds = [
                one_round(base, sim, int(n), burst, args, args.round_seconds)
                for n in args.workers.split(",")
                if n
            ]
            best = max((r["probes_per_s"] or 0.0) for r in rounds)
            count = int(min(len(items), max(50, best / 2 * args.paced_seconds)))

            def paced() -> list[Any]:
                # The periods' own stratified instants (schedule.planned_at), squeezed from a
                # day into the paced window, as if the cadence were that window.
                now = clock.now()
                jobs = periods_ahead(items[:count], now, timedelta(seconds=1))
                scale = args.paced_seconds / 86400
                return [
                    replace(
                        j,
                        planned_at=now
                        + timedelta(seconds=2)
                        + (j.planned_at - j.period_start) * scale,
                    )
                    for j in jobs
                ]

            most = max(int(n) for n in args.workers.split(","))
            steady = one_round(base, sim, most, paced, args, args.paced_seconds + 60)
    result = {
        "services": args.services,
        "hosts": args.hosts,
        "gap_s": args.gap,
        "horizon_days": args.horizon_days,
        "concurrency_per_worker": args.concurrency,
        "workers": [{"n": r["n"], "probes_per_s": r["probes_per_s"]} for r in rounds],
        "double_probes": sum(r["double_probes"] for r in [*rounds, steady]),
        "lost_unrecorded": sum(r["lost_unrecorded"] for r in [*rounds, steady]),
        "min_host_gap_s": min(
            r["min_host_gap_s"] for r in [*rounds, steady] if r["min_host_gap_s"] is not None
        ),
        "schedule_lateness_p99_s": steady["lateness_p99_s"],
        "rounds": rounds,
        "paced": steady,
        "cpus": os.cpu_count(),
        "wall_s": round(time.monotonic() - started, 1),
    }
    if args.json:
        print(json.dumps(result, indent=1))
        return
    for r in rounds:
        print(f"{r['n']} workers: {r['probes_per_s']} probes/s ({r['probes']} probes in "
              f"{r['span_s']} s), lost {r['lost']}, min host gap {r['min_host_gap_s']} s, "
              f"lateness p99 {r['lateness_p99_s']} s")  # fmt: skip
    print(f"paced, {steady['n']} workers, {steady['periods']} periods over "
          f"{args.paced_seconds:g} s: lateness p50 {steady['lateness_p50_s']} s, p99 "
          f"{steady['lateness_p99_s']} s, lost {steady['lost']}")  # fmt: skip
    print(f"double probes {result['double_probes']}, lost unrecorded {result['lost_unrecorded']}, "
          f"min host gap {result['min_host_gap_s']} s; {result['wall_s']} s in all")  # fmt: skip


if __name__ == "__main__":
    main()

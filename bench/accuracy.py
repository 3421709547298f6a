"""Proof of accuracy: the robot's monthly failure rate against the simulator's exact truth.

The robot probes simulated services hourly for several simulated months, once with probes at a
random minute of each hour and once at a fixed minute (the same budget: one probe per service and
hour). For each service and calendar month (Paris), the exact share of time with no bookable slot
comes from the simulator's timeline; the robot's estimate is its failure rate, E over valid probes,
with its 95 % Wilson interval, computed by the same code as ``guichets report --month``.

Outages: a probe during an outage is a site error, not a valid probe, so it is outside the failure
rate's denominator. The truth is therefore the share of the *up* time with no slot: outage spells
are removed from both the numerator and the denominator, and the two measure the same thing.

Prints, per plan, seed, service and month: truth, estimate, interval, whether it covers; then per
plan the mean absolute error (percentage points) and the share of intervals that cover the truth.
``--json`` prints one object: {"plans": {"random_minute": {"mae_pp", "ci_coverage",
"service_months"}, "fixed_minute": {...}}, ...}. Figures only: nothing is asserted.

    .venv/bin/python bench/accuracy.py                     # 3 months, 2 seeds, 2 processes
    .venv/bin/python bench/accuracy.py --months 1 --seeds 1 --json
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from datetime import date, datetime
from pathlib import Path

from guichets.catalogue import Service
from guichets.clock import SimulatedClock
from guichets.http import HostGates, Politeness
from guichets.model import PARIS
from guichets.periods import DateRange, month_range
from guichets.runner import Runner, from_catalogue
from guichets.schedule import Plan
from guichets.simulator import Simulator, World, load_scenario
from guichets.simulator.groundtruth import Segment, Spell
from guichets.simulator.scenario import WEEKDAYS, ScenarioConfig, ServiceConfig
from guichets.stats.releases import release_rows
from guichets.stats.report import build_report
from guichets.store import Store

PLANS = {"random_minute": Plan.RANDOM, "fixed_minute": Plan.FIXED}
FIRST_MONTH = date(2027, 1, 1)

# Contrasted services, one counter each: (id, département, kind, model keys). The "batch" ones
# release slots at fixed times, gone within minutes or hours: there, a probe at a fixed minute sees
# the same moment of the cycle every time.
SERVICES: list[tuple[str, str, str, str]] = [
    ("63-closed", "63", "never open", "opening_hours = []"),
    ("69-fine", "69", "fine", "window_days = 60, demand_per_hour = 0.25"),
    ("38-half", "38", "half", "window_days = 30, demand_per_hour = 1.2, earliest_share = 0.8"),
    (
        "93-shortage",
        "93",
        "shortage",
        "window_days = 30, demand_per_hour = 1.8, earliest_share = 0.5",
    ),
    ("91-mild", "91", "mild shortage", "window_days = 30, demand_per_hour = 0.9"),
    ("75-outages", "75", "half, 10 outages a week", "window_days = 30, demand_per_hour = 1.25"),
    (
        "69-weekly-minutes",
        "69",
        "batch",
        'window_days = 28, release = "weekly", release_weekday = "mon", release_time = "14:00", '
        'demand_per_hour = 90.0, demand_profile = "flat", earliest_share = 0.3',
    ),
    (
        "76-weekly-hours",
        "76",
        "batch",
        'window_days = 21, release = "weekly", release_weekday = "thu", release_time = "10:00", '
        'demand_per_hour = 12.0, demand_profile = "flat"',
    ),
    (
        "13-daily-batch",
        "13",
        "batch",
        'window_days = 45, release = "daily", release_time = "08:00", demand_per_hour = 8.0, '
        'demand_profile = "flat"',
    ),
    (
        "59-hourly-batch",
        "59",
        "batch",
        'window_days = 30, slot_minutes = 60, demand_per_hour = 2.0, demand_profile = "flat"',
    ),
    (
        "31-half-hourly-batch",
        "31",
        "batch",
        'window_days = 30, slot_minutes = 30, demand_per_hour = 6.0, demand_profile = "flat", '
        'opening_hours = ["08:00-12:00", "13:00-17:00"]',
    ),
    (
        "77-window-change",
        "77",
        "window change",
        "window_days = 14, demand_per_hour = 1.0, earliest_share = 0.9, "
        "window_changes = [{ at = 2027-02-10T00:00:00+01:00, window_days = 45 }]",
    ),
]


def scenario_toml(start: date) -> str:
    """The benchmark's scenario: one site (and host) per service."""
    lines = [
        "[scenario]",
        'name = "accuracy"',
        'description = "bench/accuracy.py: contrasted services, batch releases"',
        "seed = 1",
        f"start = {start.isoformat()}T00:00:00+01:00",
        "",
    ]
    for n, (service, dep, _, model) in enumerate(SERVICES, start=1):
        lines += [
            "[[sites]]",
            f'slug = "site-{n}"',
            f'name = "Préfecture {n}"',
            f'host = "www.site-{n}.gouv.fr"',
            f'departement = "{dep}"',
            "",
            "[[sites.services]]",
            f'id = "{service}"',
            'procedure = "titre-sejour"',
            f'title = "{service}"',
            f"form_id = {1000 + n}",
            f'counters = [{{ id = {2000 + n}, label = "Guichet" }}]',
            f"model = {{ {model} }}",
        ]
        if service == "75-outages":
            kinds = '["overloaded", "http_502"]'
            lines.append(f"outages = {{ per_week = 10.0, mean_minutes = 60.0, kinds = {kinds} }}")
        lines.append("")
    return "\n".join(lines)


def share_without_slot_up(segments: list[Segment], spells: list[Spell]) -> float:
    """Share of the time outside outages with no bookable slot: what a failure rate estimates."""
    cuts: list[list[datetime]] = []
    for spell in sorted(spells, key=lambda s: s.start):  # random spells may overlap: merge them
        if cuts and spell.start <= cuts[-1][1]:
            cuts[-1][1] = max(cuts[-1][1], spell.end)
        else:
            cuts.append([spell.start, spell.end])
    up = empty = 0.0
    for segment in segments:
        length = segment.seconds
        for begin, end in cuts:
            overlap = (min(end, segment.end) - max(begin, segment.start)).total_seconds()
            length -= max(0.0, overlap)
        up += length
        if segment.free == 0:
            empty += length
    return empty / up if up else float("nan")


@dataclass
class ServiceMonth:
    plan: str
    seed: int
    service: str
    month: str
    truth: float
    estimate: float | None
    low: float | None
    high: float | None
    valid: int
    probes: int

    @property
    def covered(self) -> bool:
        return (
            self.low is not None and self.high is not None and (self.low <= self.truth <= self.high)
        )


def months_of(count: int) -> list[DateRange]:
    out, year, month = [], FIRST_MONTH.year, FIRST_MONTH.month
    for _ in range(count):
        out.append(month_range(year, month))
        year, month = year + (month == 12), month % 12 + 1
    return out


def release_truth(world: World, service: ServiceConfig, days: DateRange) -> list[float]:
    """Minutes each batch released at its configured time lasted before no slot was left."""
    model = service.model
    weekday = WEEKDAYS.index(model.release_weekday) if model.release == "weekly" else None
    hour, minute = (int(x) for x in model.release_time.split(":"))
    segments = world.services[service.id].counter().timeline(days.start, days.end)
    lasted = []
    for before, segment in itertools.pairwise(segments):
        local = segment.start.astimezone(PARIS)
        on_time = (local.hour, local.minute) == (hour, minute)
        if on_time and weekday in (None, local.weekday()) and before.free == 0 and segment.free:
            after = (s.start for s in segments if s.start > segment.start and s.free == 0)
            gone = next(after, None)
            if gone is not None:
                lasted.append((gone - segment.start).total_seconds() / 60)
    return lasted


def _minutes(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def release_checks(
    plan: str, seed: int, config: ScenarioConfig, world: World, store: Store, days: DateRange
) -> list[dict[str, object]]:
    """Each service released in weekly or daily batches: what the probes say, and the truth."""
    found = {r.service: r for r in release_rows(store.probe_points(days))}
    checks: list[dict[str, object]] = []
    for site in config.sites:
        for service in site.services:
            model = service.model
            if model.release not in ("weekly", "daily"):
                continue
            lasted = release_truth(world, service, days)
            day = f"{model.release_weekday} " if model.release == "weekly" else ""
            check: dict[str, object] = {
                "plan": plan,
                "seed": seed,
                "service": service.id,
                "truth_release": f"{model.release} {day}{model.release_time}",
                "truth_batches": len(lasted),
                "truth_mean_minutes": _minutes(statistics.fmean(lasted)) if lasted else None,
                "truth_median_minutes": _minutes(statistics.median(lasted)) if lasted else None,
                "found_release": None,
            }
            release = found.get(service.id)
            if release is not None:
                weekday, start, end = release.opens_at()
                when = "" if weekday is None else f"{WEEKDAYS[weekday]} "
                check |= {
                    "found_release": f"{release.cycle} {when}{start}-{end}",
                    "agreeing": release.agreeing,
                    "lasts_at_least_minutes": _minutes(release.lasts_at_least_minutes),
                    "lasts_at_most_minutes": _minutes(release.lasts_at_most_minutes),
                    "lasts_mean_minutes": _minutes(release.lasts_mean_minutes),
                }
            checks.append(check)
    return checks


async def _run(
    scenario: Path, seed: int, plan: str, months: list[DateRange], home: Path
) -> PlanRun:
    """The robot over ``months`` on one plan and seed; each service-month against the truth."""
    config = load_scenario(scenario)
    clock = SimulatedClock(config.scenario.start)
    async with Simulator(config, clock=clock, seed=seed, hosts="path") as sim:
        urls = sim.entry_urls()
        catalogue = [
            Service(
                id=service.id,
                departement=site.departement,
                site=site.name,
                procedure=service.procedure,
                platform="ezbooking",
                url=urls[service.id],
                planning=service.counters[0].id,
                cadence="1h",
            )
            for site in config.sites
            for service in site.services
        ]
        with Store.open(None, home=home) as store:
            runner = Runner(
                from_catalogue(catalogue),
                store,
                clock,
                HostGates(clock, Politeness(min_gap=1.0)),
                seed=seed,
                plan=PLANS[plan],
                concurrency=1,
                command=f"bench accuracy {plan}",
            )
            began = time.perf_counter()
            summary = await runner.run(until=months[-1].end)
            seconds = time.perf_counter() - began
            found: list[ServiceMonth] = []
            for month in months:
                store.refresh_rollups(month)
                rows = {r.key: r for r in build_report(store.rollups(month), month)}
                for service in catalogue:
                    segments, spells = sim.world.timeline(service.id, month.start, month.end)
                    row = rows.get(service.id)
                    failure = row.failure if row is not None else None
                    interval = failure.interval if failure is not None else None
                    found.append(
                        ServiceMonth(
                            plan,
                            seed,
                            service.id,
                            month.label(),
                            share_without_slot_up(segments, spells),
                            failure.value if failure is not None else None,
                            interval[0] if interval else None,
                            interval[1] if interval else None,
                            failure.total if failure is not None else 0,
                            row.tally.probes if row is not None else 0,
                        )
                    )
            whole = DateRange(months[0].first, months[-1].last)
            checks = release_checks(plan, seed, config, sim.world, store, whole)
        assert not sim.forbidden, "the robot never books"
    return PlanRun(found, checks, summary.probes, seconds)


def _of(service: str) -> Callable[[ServiceMonth], bool]:
    return lambda row: row.service == service


@dataclass
class PlanRun:
    """What one process brings back: its service-months, its release checks, its cost."""

    rows: list[ServiceMonth]
    releases: list[dict[str, object]]
    probes: int
    seconds: float


def run_one(args: tuple[str, int, str, int]) -> PlanRun:
    """One plan and seed, in its own process: its own simulator, clock and store."""
    scenario, seed, plan, months = args
    with tempfile.TemporaryDirectory(prefix=f"accuracy-{plan}-{seed}-") as folder:
        return asyncio.run(_run(Path(scenario), seed, plan, months_of(months), Path(folder)))


def summarise(rows: list[ServiceMonth]) -> dict[str, float | int]:
    measured = [r for r in rows if r.estimate is not None]
    errors = [abs(r.estimate - r.truth) * 100 for r in measured if r.estimate is not None]
    return {
        "mae_pp": round(statistics.fmean(errors), 3) if errors else float("nan"),
        "max_error_pp": round(max(errors), 3) if errors else float("nan"),
        "ci_coverage": round(sum(r.covered for r in measured) / len(measured), 4)
        if measured
        else float("nan"),
        "service_months": len(measured),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--months", type=int, default=3, help="simulated calendar months")
    parser.add_argument("--seeds", type=int, default=2, help="simulated worlds (seeds 1..N)")
    parser.add_argument("--jobs", type=int, default=2, help="processes in parallel")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="accuracy-") as folder:
        scenario = Path(folder) / "accuracy.toml"
        scenario.write_text(scenario_toml(FIRST_MONTH), encoding="utf-8")
        World.from_scenario(load_scenario(scenario))  # a broken scenario fails here, early
        tasks = [
            (str(scenario), seed, plan, args.months)
            for seed in range(1, args.seeds + 1)
            for plan in PLANS
        ]
        rows: list[ServiceMonth] = []
        releases: list[dict[str, object]] = []
        probes = 0
        robot_seconds = 0.0
        with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            for done in pool.map(run_one, tasks):
                rows += done.rows
                releases += done.releases
                probes += done.probes
                robot_seconds += done.seconds
                first = done.rows[0]
                print(
                    f"  ... {first.plan} seed {first.seed}: {done.probes} probes in "
                    f"{done.seconds:.0f} s",
                    file=sys.stderr,
                )
    wall = time.perf_counter() - began
    kinds = {service: kind for service, _, kind, _ in SERVICES}

    def table(keep: Callable[[ServiceMonth], bool]) -> dict[str, dict[str, float | int]]:
        return {plan: summarise([r for r in rows if r.plan == plan and keep(r)]) for plan in PLANS}

    plans = table(lambda r: True)
    batch = table(lambda r: kinds[r.service] == "batch")
    by_service = {service: table(_of(service)) for service in kinds}
    result = {
        "plans": plans,
        "batch_services": batch,
        "by_service": by_service,
        "releases": releases,
        "settings": {
            "months": args.months,
            "seeds": args.seeds,
            "services": len(SERVICES),
            "probes": probes,
            "robot_seconds": round(robot_seconds, 1),
            "wall_seconds": round(wall, 1),
            "first_month": FIRST_MONTH.isoformat(),
            "jobs": args.jobs,
        },
        "service_months": [asdict(r) | {"covered": r.covered} for r in rows],
    }
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    _print(rows, releases, plans, batch, by_service, kinds)
    print(
        f"{probes} probes, {len(rows)} service-months, {wall:.0f} s wall "
        f"({robot_seconds:.0f} s of robot runs in {args.jobs} processes)"
    )
    return 0


def _print(
    rows: list[ServiceMonth],
    releases: list[dict[str, object]],
    plans: dict[str, dict[str, float | int]],
    batch: dict[str, dict[str, float | int]],
    by_service: dict[str, dict[str, dict[str, float | int]]],
    kinds: dict[str, str],
) -> None:
    print(
        f"{'plan':<14} {'seed':>4} {'service':<22} {'month':<8} {'truth':>6} {'est.':>6} "
        f"{'95% CI':>13} {'cov':>3} {'valid':>5}"
    )
    for r in rows:
        ci = f"{r.low * 100:5.1f}-{r.high * 100:5.1f}" if r.low is not None and r.high else "-"
        est = f"{r.estimate * 100:6.1f}" if r.estimate is not None else "     -"
        print(
            f"{r.plan:<14} {r.seed:>4} {r.service:<22} {r.month:<8} {r.truth * 100:6.1f} "
            f"{est} {ci:>13} {'yes' if r.covered else 'NO':>3} {r.valid:>5}"
        )
    print()
    print(f"{'mean absolute error, pp':<44}" + "".join(f"{p:>15}" for p in PLANS))
    print(f"  {'all services':<42}" + "".join(f"{plans[p]['mae_pp']:>15.2f}" for p in PLANS))
    print(
        f"  {'batch-release services':<42}" + "".join(f"{batch[p]['mae_pp']:>15.2f}" for p in PLANS)
    )
    for service, kind in kinds.items():
        print(
            f"  {service + ' (' + kind + ')':<42}"
            + "".join(f"{by_service[service][p]['mae_pp']:>15.2f}" for p in PLANS)
        )
    print(
        f"{'95 % interval covers the truth':<44}"
        + "".join(f"{plans[p]['ci_coverage']:>15.1%}" for p in PLANS)
    )
    print(
        f"  {'batch-release services':<42}"
        + "".join(f"{batch[p]['ci_coverage']:>15.1%}" for p in PLANS)
    )
    print()
    print(
        f"{'plan':<14} {'seed':>4} {'batch service':<18} {'truth':<20} {'found':<28} "
        f"{'lasts >=, <=, mean (min)':>26} {'truth mean, median':>20}"
    )
    for c in releases:
        lasts = "-"
        if c["found_release"]:
            lasts = (
                f"{c['lasts_at_least_minutes']}, {c['lasts_at_most_minutes']}, "
                f"{c['lasts_mean_minutes']}"
            )
        truth = f"{c['truth_mean_minutes']}, {c['truth_median_minutes']}"
        print(
            f"{c['plan']:<14} {c['seed']:>4} {c['service']:<18} {c['truth_release']!s:<20} "
            f"{c['found_release']!s:<28} {lasts:>26} {truth:>20}"
        )


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""What one legacy probe costs: the robot against a headless browser, on the simulator.

The observatory probes every counter often, on small machines, while other programs run beside
it; its cost per probe decides how many counters one machine can watch, and whether it weighs on
the sites more than a person would. This script measures it and compares it with what the common
bots do (Playwright driving a headless Chromium along the same path).

It starts ``guichets simulate --scenario france-demo --hosts path --clock frozen`` in a process of
its own (its own core), then, in this process, runs ``--probes`` robot probes one after the other
(``run_probe``, no gap between requests, robots.txt obeyed, each observation saved in a SQLite
store), then ``--browser-probes`` walks of the same path by a headless browser in a worker process.
The frozen clock keeps the truth still, so every probe of a counter meets the same pages.

It prints figures; it asserts nothing. ``--json`` prints one object instead.

    .venv/bin/python bench/probe.py [--probes 600] [--browser-probes 60] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import json
import math
import os
import platform
import re
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

from guichets.catalogue import Catalogue, catalogue_to_toml, load_catalogue
from guichets.catalogue import Service as CatalogueService
from guichets.clock import SimulatedClock, parse_instant
from guichets.health import Health
from guichets.http import DEFAULT_USER_AGENT, HostGates, Politeness
from guichets.metrics import RobotMetrics
from guichets.model import PARIS, Observation
from guichets.platforms import Target
from guichets.platforms.ezbooking import FORBIDDEN_BUTTONS, NO_SLOT_TEXT
from guichets.probe import ProbeSpec, run_probe
from guichets.runner import Runner, from_catalogue
from guichets.service import Endpoint, LongRun
from guichets.simulator import load_scenario
from guichets.store import Store

SCENARIO = "france-demo"
HORIZON_DAYS = Target("http://127.0.0.1/").horizon_days  # the robot's default look-ahead
CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium tries to reach Google, which fails on a closed
# network; --no-proxy-server keeps it off any proxy the environment names: loopback only.
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-proxy-server",
)
MEDIAN_CPU_LIMIT_MS = 10.0  # the acceptance thresholds
RATE_FLOOR = 50.0
_LOOPBACK = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy
_PR_SET_CHILD_SUBREAPER = 36


# -- small helpers ------------------------------------------------------------------------------


def free_port() -> int:
    """A port free on 127.0.0.1 right now (the simulator binds it a moment later)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get_json(base: str, path: str) -> Any:
    """A truth or control endpoint of the simulator; loopback only, never through a proxy."""
    url = base + path
    if not url.startswith("http://127.0.0.1:"):
        raise ValueError(f"refusing to send traffic off loopback: {url}")
    with _LOOPBACK.open(url, timeout=30) as answer:
        return json.load(answer)


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile; enough for a few hundred probes."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def summary_ms(seconds: Sequence[float]) -> dict[str, float]:
    """Median, P90, mean and max of durations, in milliseconds."""
    if not seconds:
        return {"median": float("nan"), "p90": float("nan"), "mean": float("nan"), "max": 0.0}
    ms = [s * 1000 for s in seconds]
    return {
        "median": statistics.median(ms),
        "p90": percentile(ms, 0.9),
        "mean": statistics.fmean(ms),
        "max": max(ms),
    }


_TICK = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str]:
    """Fields of /proc/PID/stat after the command name (which may hold spaces)."""
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rfind(")") + 2 :].split()


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of one live process (all its threads), from /proc; 1/CLK_TCK resolution."""
    fields = _stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / _TICK


def descendants(root: int) -> list[int]:
    """Live processes under ``root`` (not ``root`` itself), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            children.setdefault(int(_stat_fields(int(entry.name))[1]), []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def process_kind(pid: int) -> str:
    """``chromium:renderer``, ``chromium:gpu-process``..., or the command name (``node``)."""
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    found = re.search(r"--type=([\w-]+)", cmdline)  # Chromium rewrites argv into one string
    comm = Path(f"/proc/{pid}/comm").read_text().strip()
    return f"chromium:{found[1]}" if found else comm


def machine() -> dict[str, Any]:
    """What the figures were measured on; other people's load shows in the load averages."""
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    system = platform.system()
    with contextlib.suppress(OSError):
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                system = line.split("=", 1)[1].strip('"')
    versions = {}
    for package in ("aiohttp", "selectolax", "SQLAlchemy", "playwright"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[package] = metadata.version(package)
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "os": f"{system}, Linux {platform.release()}",
        "packages": versions,
        "date": datetime.now().astimezone().isoformat(timespec="seconds"),
    }


# -- the simulator ------------------------------------------------------------------------------


@contextlib.contextmanager
def simulator(port: int, deadline: float = 60.0) -> Iterator[subprocess.Popen[bytes]]:
    """``guichets simulate`` in its own process, until the block ends; waits until it listens."""
    command = [
        sys.executable, "-m", "guichets", "simulate", "--scenario", SCENARIO,
        "--port", str(port), "--hosts", "path", "--clock", "frozen",
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        until = time.monotonic() + deadline
        while True:
            if process.poll() is not None:
                error = process.stderr.read().decode(errors="replace") if process.stderr else ""
                raise RuntimeError(f"the simulator exited ({process.returncode}): {error}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
                break
            if time.monotonic() > until:
                raise RuntimeError(f"the simulator did not listen on port {port} in {deadline} s")
            time.sleep(0.05)
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@dataclass(frozen=True)
class Probed:
    """One counter of one service: what the observatory's catalogue probes."""

    service: str  # the catalogue's id: the service, plus the counter when it has several
    departement: str
    url: str
    counter: str


def counters(base: str, user_agent: str) -> tuple[list[Probed], list[str]]:
    """Every counter of the scenario, less the sites that refuse a client without gaps.

    With gaps off and a frozen clock, a site that throttles or blocks bursts refuses every
    request once its count is reached, for ever (its window never slides); a site that blocks
    the robot's User-Agent refuses every request. Probing them would measure refusals.
    """
    config = load_scenario(SCENARIO)
    urls = {sid: url for site in get_json(base, "/_sites") for sid, url in site["services"].items()}
    chosen: list[Probed] = []
    excluded: list[str] = []
    for site in config.sites:
        reasons = []
        if site.platform != "ezbooking":
            reasons.append(f"{site.platform}, not the legacy module this benchmark walks")
        if site.throttle is not None:
            limit = site.throttle
            reasons.append(f"throttles {limit.max_requests} requests / {limit.per_seconds:g} s")
        if site.block is not None and site.block.burst is not None:
            reasons.append(f"blocks bursts of {site.block.burst} / {site.block.burst_seconds:g} s")
        if site.block is not None and any(re.search(p, user_agent) for p in site.block.user_agents):
            reasons.append("blocks the robot's User-Agent")
        if reasons:
            ids = ", ".join(s.id for s in site.services)
            excluded.append(f"{site.slug} ({ids}): {'; '.join(reasons)}")
            continue
        for service in site.services:
            several = len(service.counters) > 1
            for counter in service.counters:
                chosen.append(
                    Probed(
                        f"{service.id}-{counter.id}" if several else service.id,
                        site.departement,
                        urls[service.id],
                        str(counter.id),
                    )
                )
    return chosen, excluded


# -- the robot ----------------------------------------------------------------------------------


def _epochs(observation: Observation) -> list[int]:
    return [int(slot.timestamp()) for slot in observation.slots]


async def robot_bench(
    sim_pid: int, targets: list[Probed], now: datetime, probes: int, warmup: int
) -> dict[str, Any]:
    """``probes`` sequential probes, each saved; CPU and wall time around probe + save."""
    clock = SimulatedClock(now)  # the simulator's frozen instant: the robot's clock agrees
    gates = HostGates(clock, Politeness(min_gap=0.0))
    cpu: list[float] = []
    probe_cpu: list[float] = []
    wall: list[float] = []
    requests: list[int] = []
    outcomes: Counter[str] = Counter()
    weeks = 0
    grids = 0
    found: dict[str, dict[str, Any]] = {}
    by_path: dict[str, list[float]] = {}
    seen: list[Observation] = []
    with tempfile.TemporaryDirectory(prefix="guichets-bench-") as folder:
        store = Store.open(f"sqlite:///{Path(folder) / 'bench.sqlite'}")
        try:

            async def one(index: int) -> Observation:
                target = targets[index % len(targets)]
                spec = ProbeSpec(
                    target.service, "ezbooking", Target(target.url, target.counter),
                    target.departement,
                )  # fmt: skip
                observation = await run_probe(spec, gates, clock)
                store.save(observation)
                return observation

            for index in range(warmup):  # imports, caches, robots.txt: not the steady state
                await one(index)
            sim_before = proc_cpu_seconds(sim_pid)
            began = time.perf_counter()
            for index in range(probes):
                wall_0, cpu_0 = time.perf_counter(), time.process_time()
                observation = await one(index)
                cpu_1, wall_1 = time.process_time(), time.perf_counter()
                cpu.append(cpu_1 - cpu_0)
                wall.append(wall_1 - wall_0)
                probe_cpu.append(observation.cpu_seconds)
                seen.append(observation)
                requests.append(observation.requests)
                outcomes[f"{observation.outcome}/{observation.detail}"] += 1
                path = str(observation.detail)
                if "weeks_read" in observation.extra:
                    grids += 1
                    read = int(observation.extra["weeks_read"])
                    weeks += read
                    path = "grids, " + (
                        "1 week" if read == 1 else "2-5 weeks" if read <= 5 else "6+ weeks"
                    )
                by_path.setdefault(path, []).append(cpu[-1])
                found.setdefault(
                    observation.service,
                    {
                        "outcome": f"{observation.outcome}/{observation.detail}",
                        "slots": _epochs(observation),
                    },
                )
            elapsed = time.perf_counter() - began
            sim_cpu = proc_cpu_seconds(sim_pid) - sim_before
            stored = store.count()
        finally:
            store.close()
    return {
        "probes": probes,
        "warmup": warmup,
        "counters": len(targets),
        "cpu_ms": summary_ms(cpu),
        "cpu_ms_probe_only": summary_ms(probe_cpu),
        "wall_ms": summary_ms(wall),
        "requests_per_probe": statistics.fmean(requests) if requests else 0.0,
        "probes_per_s": probes / elapsed if elapsed else 0.0,
        "elapsed_s": elapsed,
        "simulator_cpu_ms_per_probe": 1000 * sim_cpu / probes if probes else 0.0,
        "outcomes": dict(outcomes.most_common()),
        "cpu_ms_by_path": {
            path: {"probes": len(v), "median": statistics.median(v) * 1000}
            for path, v in sorted(by_path.items())
        },
        "reached_grids": grids,
        "weeks_read": weeks,
        "stored": stored,
        "by_counter": found,
        "service_hooks_cpu_ms_per_probe": hooks_cost(seen),
    }


# -- the service loop: what metrics and health add per probe -----------------------------------


async def _one_run(
    targets: list[Probed], now: datetime, hours: int, service: bool
) -> dict[str, Any]:
    """Every counter at a 10-minute cadence over ``hours`` simulated hours: the runner alone, or
    wrapped in the long-running service (health, metrics, its HTTP endpoint scraped at the end)."""
    rows = [
        CatalogueService(
            id=f"{t.departement.lower()}-bench-{number}",
            departement=t.departement,
            site="bench",
            procedure="bench",
            platform="ezbooking",
            url=t.url,
            planning=int(t.counter),
            cadence="10m",
        )
        for number, t in enumerate(targets)
    ]
    clock = SimulatedClock(now)
    gates = HostGates(clock, Politeness(min_gap=0.0))
    with tempfile.TemporaryDirectory(prefix="guichets-bench-") as folder:
        store = Store.open(f"sqlite:///{Path(folder) / 'bench.sqlite'}")
        path = Path(folder) / "catalogue.toml"
        path.write_text(catalogue_to_toml(rows), "utf-8")
        catalogue = load_catalogue(path)

        def make(chosen: Catalogue) -> Runner:
            return Runner(from_catalogue(list(chosen.services)), store, clock, gates, concurrency=1)

        until = now + timedelta(hours=hours)
        try:
            cpu_0 = time.process_time()
            if service:
                loop = LongRun(
                    path, catalogue, make, clock, gates, health=Health(clock),
                    metrics=RobotMetrics(), endpoint=Endpoint("127.0.0.1", 0),
                    say=lambda text: None,
                )  # fmt: skip
                totals = await loop.run(until=until)
                probes = totals.probes
            else:
                probes = (await make(catalogue).run(until=until)).probes
            cpu = time.process_time() - cpu_0
        finally:
            store.close()
    return {"probes": probes, "cpu_s": cpu, "cpu_ms_per_probe": 1000 * cpu / max(probes, 1)}


def hooks_cost(observations: list[Observation], repeat: int = 20) -> float:
    """CPU milliseconds per probe of what the service adds to each probe, measured alone: the
    health bookkeeping (planned, then settled) and the metrics (counter, histogram, gauge)."""
    clock = SimulatedClock(datetime(2026, 1, 1, tzinfo=UTC))
    health, metrics = Health(clock), RobotMetrics()
    cpu_0 = time.process_time()
    for _ in range(repeat):
        for observation in observations:
            health.planned(observation.service, observation.started_at)
            health.probed(observation.service, observation.finished_at)
            metrics.observed(observation)
    return 1000 * (time.process_time() - cpu_0) / (repeat * max(len(observations), 1))


async def service_bench(targets: list[Probed], now: datetime, hours: int) -> dict[str, Any]:
    """Side by side, interleaved (runner, service, runner, service) so that drift in the
    machine's load falls on both; the lowest per-probe CPU of each is kept."""
    runs: dict[str, list[dict[str, Any]]] = {"runner": [], "service": []}
    for _ in range(2):
        runs["runner"].append(await _one_run(targets, now, hours, service=False))
        runs["service"].append(await _one_run(targets, now, hours, service=True))
    best = {k: min(v, key=lambda r: r["cpu_ms_per_probe"]) for k, v in runs.items()}
    metrics = RobotMetrics()
    metrics.expect(f"s{n}" for n in range(len(targets)))
    cpu_0 = time.process_time()
    for _ in range(50):
        metrics.exposition()
    scrape_ms = 1000 * (time.process_time() - cpu_0) / 50
    return {
        "hours": hours,
        "runs": runs,
        "runner_cpu_ms_per_probe": best["runner"]["cpu_ms_per_probe"],
        "service_cpu_ms_per_probe": best["service"]["cpu_ms_per_probe"],
        "added_cpu_ms_per_probe": best["service"]["cpu_ms_per_probe"]
        - best["runner"]["cpu_ms_per_probe"],
        "scrape_cpu_ms": scrape_ms,
    }


# -- the browser (runs in a worker process: its CPU and its children's are its own) -------------

_NEXT = 'input[name="nextButton"]:not([value="Première plage horaire libre"])'
_LOAD_WEEK = """async (url) => {
  const answer = await fetch(url, {credentials: "same-origin"});
  const html = await answer.text();
  document.querySelector("#planning_Booking").innerHTML = html;
  return answer.status;
}"""
_FREE_LINKS = "els => els.map(e => e.getAttribute('href'))"
_PLANNING_URL = (
    "() => window.bookingPlanningUrl || document.querySelector('#planning_Booking').dataset.url"
)


@dataclass
class Walk:
    """What the browser saw on one probe."""

    service: str
    outcome: str
    slots: list[int]
    wall_s: float = 0.0
    requests: int = 0
    weeks: int = 0


async def _click_next(page: Any) -> None:
    """Press the form's way on; never a button that picks a slot."""
    button = page.locator(_NEXT).first
    if await button.get_attribute("value") in FORBIDDEN_BUTTONS:
        raise RuntimeError("refusing to press a button that selects a slot")
    async with page.expect_navigation(wait_until="load"):
        await button.click()


async def _read_weeks(page: Any, walk: Walk, now: float, horizon: float, max_weeks: int) -> Walk:
    """Load the week grids as the page's own script would, and read the free cells' stamps.

    The simulator serves neither jQuery nor ``loadBookingPlanning``: the grid URL is fetched from
    inside the page and put where the script would put it. Free cells' links are read, never
    followed (that is booking).
    """
    match = re.fullmatch(r"(.*::)(-?\d+)", await page.evaluate(_PLANNING_URL) or "")
    if match is None:
        walk.outcome = "unrecognized/no planning url"
        return walk
    stem, offset = match[1], int(match[2])
    for week in range(max_weeks):
        status = await page.evaluate(_LOAD_WEEK, f"{stem}{offset + 7 * week}")
        walk.weeks += 1
        if status != 200:
            walk.outcome = f"site_error/http_{status}"
            return walk
        links = await page.eval_on_selector_all("#planning_Booking td.status-1.free a", _FREE_LINKS)
        stamps = [int(str(h).rstrip("/").rsplit("/", 1)[-1]) for h in links]
        walk.slots.extend(s for s in stamps if now < s <= horizon)
        if len(walk.slots) >= 2:
            break
    walk.slots = sorted(set(walk.slots))
    walk.outcome = "available/slots_seen" if walk.slots else "unavailable/none_within_horizon"
    return walk


async def browser_walk(
    browser: Any, target: dict[str, str], now: float, horizon: float, max_weeks: int
) -> Walk:
    """A person's path in a fresh context (fresh cookies), as a Playwright bot walks it."""
    walk = Walk(target["service"], "unrecognized/path did not end", [])
    context = await browser.new_context(locale="fr-FR")
    context.set_default_timeout(20_000)

    def count(_request: Any) -> None:
        walk.requests += 1

    context.on("request", count)
    try:
        page = await context.new_page()
        await page.goto(target["url"], wait_until="load")
        for _ in range(8):
            if await page.locator("form#FormBookingCreate", has_text=NO_SLOT_TEXT).count():
                walk.outcome = "unavailable/no_slot_page"
                break
            if await page.locator("#planning_Booking").count():
                await _read_weeks(page, walk, now, horizon, max_weeks)
                break
            if await page.locator('input[name="condition"]').count():
                await page.check('input[name="condition"]')
                await _click_next(page)
            elif await page.locator('input[name="planning"]').count():
                await page.check(f'input[name="planning"][value="{target["counter"]}"]')
                await _click_next(page)
            elif await page.locator(_NEXT).count():
                await _click_next(page)
            else:
                walk.outcome = "unrecognized/unexpected page"
                break
    except Exception as error:  # a bench reports, it does not stop on one walk
        walk.outcome = f"error/{type(error).__name__}"
    finally:
        await context.close()
    return walk


def _reap_orphans(deadline: float = 10.0) -> int:
    """Wait for every descendant left to this (subreaper) process, so that its CPU time lands
    in RUSAGE_CHILDREN; kill, by pid, any that outlive the deadline."""
    reaped, until = 0, time.monotonic() + deadline
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return reaped
        if pid:
            reaped += 1
            continue
        if time.monotonic() > until:
            for child in descendants(os.getpid()):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child, signal.SIGKILL)
        time.sleep(0.01)


def _rusage_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


async def _browser_run(job: dict[str, Any]) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    now = parse_instant(job["now"])
    local = now.astimezone(PARIS)
    horizon_end = local + timedelta(days=HORIZON_DAYS)  # as the reader computes it
    today = local.date()
    monday = today - timedelta(days=today.weekday())
    max_weeks = (horizon_end.date() - monday).days // 7 + 1  # the reader stops there too
    targets: list[dict[str, str]] = job["targets"]
    walks: list[Walk] = []
    live: dict[str, float] = {}
    async with async_playwright() as driver:
        launched = time.perf_counter()
        browser = await driver.chromium.launch(
            executable_path=job["chromium"], headless=True, args=list(CHROMIUM_ARGS)
        )
        launch_s = time.perf_counter() - launched
        version = browser.version
        began = time.perf_counter()
        for index in range(job["probes"]):
            start = time.perf_counter()
            walk = await browser_walk(
                browser, targets[index % len(targets)], now.timestamp(),
                horizon_end.timestamp(), max_weeks,
            )  # fmt: skip
            walk.wall_s = time.perf_counter() - start
            walks.append(walk)
        loop_s = time.perf_counter() - began
        # What /proc still shows before closing: misses the renderers of closed contexts.
        for pid in descendants(os.getpid()):
            with contextlib.suppress(OSError):
                kind = process_kind(pid)
                live[kind] = live.get(kind, 0.0) + proc_cpu_seconds(pid)
        await browser.close()
    return {
        "chromium": version,
        "launch_s": launch_s,
        "loop_s": loop_s,
        "max_weeks": max_weeks,
        "live_children_cpu_s": dict(sorted(live.items(), key=lambda kv: -kv[1])),
        "walks": [asdict(w) for w in walks],
    }


def browser_worker() -> None:
    """Entry of the worker process: a job on stdin, figures on stdout.

    The worker makes itself a child subreaper, so that Chromium processes orphaned on close are
    handed to it and waited for: then RUSAGE_CHILDREN holds the CPU of the whole tree (Playwright's
    driver, Chromium's browser, zygote, utility and renderer processes, dead or alive).
    """
    job = json.load(sys.stdin)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")
    self_0 = _rusage_seconds(resource.RUSAGE_SELF)
    children_0 = _rusage_seconds(resource.RUSAGE_CHILDREN)
    wall_0 = time.perf_counter()
    result = asyncio.run(_browser_run(job))
    result["orphans_reaped"] = _reap_orphans()
    result["wall_s"] = time.perf_counter() - wall_0
    result["client_cpu_s"] = _rusage_seconds(resource.RUSAGE_SELF) - self_0
    result["tree_cpu_s"] = _rusage_seconds(resource.RUSAGE_CHILDREN) - children_0
    json.dump(result, sys.stdout)


def run_worker(targets: list[Probed], now: datetime, probes: int) -> dict[str, Any]:
    """One browser run in a worker process (``probes`` may be 0: launch and close only)."""
    job = {
        "now": now.isoformat(),
        "probes": probes,
        "chromium": CHROMIUM,
        "targets": [asdict(t) for t in targets],
    }
    done = subprocess.run(
        [sys.executable, __file__, "--browser-worker"],
        input=json.dumps(job).encode(),
        capture_output=True,
        check=False,
        timeout=3600,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the browser worker failed: {done.stderr.decode(errors='replace')}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def browser_bench(
    targets: list[Probed], now: datetime, probes: int, robot: dict[str, Any]
) -> dict[str, Any]:
    """The walks, plus a run with no walk at all, whose cost (launch, close) is subtracted."""
    idle = run_worker(targets, now, 0)
    run = run_worker(targets, now, probes)
    walks = run["walks"]
    total = run["client_cpu_s"] + run["tree_cpu_s"]
    fixed = idle["client_cpu_s"] + idle["tree_cpu_s"]
    agree = sum(
        1
        for w in walks
        if (mine := robot["by_counter"].get(w["service"])) is not None
        and mine["outcome"] == w["outcome"]
        and mine["slots"] == w["slots"]
    )
    return {
        "probes": probes,
        "chromium": run["chromium"],
        "cpu_ms_per_probe": 1000 * (total - fixed) / probes if probes else float("nan"),
        "cpu_ms_per_probe_with_launch": 1000 * total / probes if probes else float("nan"),
        "client_cpu_ms_per_probe": 1000 * (run["client_cpu_s"] - idle["client_cpu_s"]) / probes
        if probes
        else float("nan"),
        "launch_and_close_cpu_s": fixed,
        "launch_wall_s": run["launch_s"],
        "wall_ms": summary_ms([w["wall_s"] for w in walks]),
        "probes_per_s": probes / run["loop_s"] if run["loop_s"] else 0.0,
        "requests_per_probe": statistics.fmean(w["requests"] for w in walks) if walks else 0.0,
        "outcomes": dict(Counter(w["outcome"] for w in walks).most_common()),
        "reached_grids": sum(1 for w in walks if w["weeks"]),
        "weeks_read": sum(w["weeks"] for w in walks),
        "agree_with_robot": agree,
        "orphans_reaped": run["orphans_reaped"],
        "live_children_cpu_s": run["live_children_cpu_s"],
        "exited_children_cpu_s": run["tree_cpu_s"] - sum(run["live_children_cpu_s"].values()),
        "tree_cpu_s": run["tree_cpu_s"],
        "client_cpu_s": run["client_cpu_s"],
    }


# -- output -------------------------------------------------------------------------------------


def _ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def report(figures: dict[str, Any]) -> str:
    """The figures as a person reads them."""
    m, r, b = figures["machine"], figures["robot"], figures.get("browser")
    lines = [
        f"guichets bench/probe.py — {m['date']}",
        f"machine: {m['cpu']}, {m['cores']} cores; Python {m['python']}; {m['os']}",
        f"load average before/after: {figures['load_before']} / {figures['load_after']}",
        f"simulator: {SCENARIO}, path mode, frozen clock at {figures['now']}, own process "
        f"(pid {figures['simulator_pid']}); {r['counters']} counters probed in turn",
        "excluded (with no gap and a frozen clock they refuse every probe once their count is "
        "reached):",
        *(f"  - {e}" for e in figures["excluded"]),
        "",
        f"ROBOT: {r['probes']} probes after {r['warmup']} warm-up ones, sequential, "
        "Politeness(min_gap=0), robots.txt obeyed, each saved in SQLite (WAL)",
        "  CPU per probe = time.process_time() of this process around run_probe + Store.save "
        "(the simulator runs in another process)",
        f"  CPU ms/probe    median {r['cpu_ms']['median']:.2f}  P90 {r['cpu_ms']['p90']:.2f}  "
        f"mean {r['cpu_ms']['mean']:.2f}  max {r['cpu_ms']['max']:.2f}",
        f"  of which probe  median {r['cpu_ms_probe_only']['median']:.2f}  "
        f"mean {r['cpu_ms_probe_only']['mean']:.2f}  (Observation.cpu_seconds; the rest is "
        "storage)",
        f"  wall ms/probe   median {r['wall_ms']['median']:.2f}  P90 {r['wall_ms']['p90']:.2f}  "
        f"mean {r['wall_ms']['mean']:.2f}",
        f"  requests/probe  {r['requests_per_probe']:.2f};  sustained {r['probes_per_s']:.1f} "
        f"probes/s ({r['elapsed_s']:.2f} s wall);  simulator CPU "
        f"{r['simulator_cpu_ms_per_probe']:.2f} ms/probe (/proc)",
        f"  outcomes: {', '.join(f'{k} {v}' for k, v in r['outcomes'].items())}",
        "  CPU ms/probe by path (median): "
        + ", ".join(
            f"{k} {v['median']:.2f} ({v['probes']} probes)" for k, v in r["cpu_ms_by_path"].items()
        ),
        f"  reached the week grids: {r['reached_grids']} probes, {r['weeks_read']} weeks read; "
        f"stored: {r['stored']} observations (warm-up included)",
        f"  acceptance: median CPU {r['cpu_ms']['median']:.2f} ms <= {MEDIAN_CPU_LIMIT_MS:g} ms: "
        f"{'yes' if r['cpu_ms']['median'] <= MEDIAN_CPU_LIMIT_MS else 'NO'};  "
        f"{r['probes_per_s']:.1f} probes/s >= {RATE_FLOOR:g}: "
        f"{'yes' if r['probes_per_s'] >= RATE_FLOOR else 'NO'}",
    ]
    svc = figures.get("service")
    if svc is not None:
        added = svc["added_cpu_ms_per_probe"]
        lines += [
            "",
            f"SERVICE LOOP: every counter at a 10-minute cadence over {svc['hours']} simulated "
            "hours, the runner alone and inside `guichets run`'s service (health, metrics, "
            "/healthz and /metrics endpoint), interleaved, two runs each (lowest kept)",
            "  CPU ms/probe (process_time around the whole run / probes stored): "
            + "; ".join(
                f"{k} " + ", ".join(f"{x['cpu_ms_per_probe']:.3f} ({x['probes']})" for x in v)
                for k, v in svc["runs"].items()
            ),
            f"  runner {svc['runner_cpu_ms_per_probe']:.3f}, service "
            f"{svc['service_cpu_ms_per_probe']:.3f}: added {added:+.3f} ms/probe "
            "(side by side; includes run-to-run noise)",
            f"  the service's per-probe hooks alone (health + metrics, on this run's "
            f"observations): {r['service_hooks_cpu_ms_per_probe'] * 1000:.1f} µs/probe; "
            f"one /metrics scrape of {r['counters']} services: {svc['scrape_cpu_ms']:.2f} ms",
            f"  acceptance: added CPU < 1 ms/probe: "
            f"{'yes' if added < 1.0 and r['service_hooks_cpu_ms_per_probe'] < 1.0 else 'NO'}",
        ]
    if b is not None:
        lines += [
            "",
            f"BROWSER: {b['probes']} walks, Playwright {m['packages'].get('playwright', '?')} "
            f"driving Chromium {b['chromium']} ({CHROMIUM}), headless, a fresh context per walk, "
            "grids fetched from inside the page",
            "  CPU = getrusage(SELF + CHILDREN) of a worker process that is a child subreaper "
            "(Python client + Playwright driver + every Chromium process, reaped), minus a run "
            "that only launches and closes the browser",
            f"  CPU ms/probe    {b['cpu_ms_per_probe']:.1f} (mean, launch excluded; "
            f"{b['cpu_ms_per_probe_with_launch']:.1f} with it; Python client "
            f"{b['client_cpu_ms_per_probe']:.1f});  launch+close {b['launch_and_close_cpu_s']:.2f} "
            "s CPU",
            f"  wall ms/probe   median {b['wall_ms']['median']:.1f}  P90 {b['wall_ms']['p90']:.1f}"
            f"  mean {b['wall_ms']['mean']:.1f}",
            f"  requests/probe  {b['requests_per_probe']:.2f} (page, images, stylesheet, favicon, "
            f"grids);  {b['probes_per_s']:.2f} probes/s",
            f"  outcomes: {', '.join(f'{k} {v}' for k, v in b['outcomes'].items())}",
            f"  reached the week grids: {b['reached_grids']} walks, {b['weeks_read']} weeks read; "
            f"same outcome and slots as the robot: {b['agree_with_robot']}/{b['probes']}",
            f"  where the tree's {b['tree_cpu_s']:.2f} s CPU went (whole run, launch included; "
            "/proc of the processes alive before close, the rest by difference):",
            "    "
            + ", ".join(f"{k} {v:.2f} s" for k, v in b["live_children_cpu_s"].items())
            + f", exited or closing (renderers of closed contexts...) "
            f"{b['exited_children_cpu_s']:.2f} s; orphans reaped: {b['orphans_reaped']}",
            "",
            f"{'':26}{'robot':>10}{'browser':>10}   browser costs",
        ]
        ratios = figures["ratios"]
        rows = [
            ("CPU ms/probe (mean)", r["cpu_ms"]["mean"], b["cpu_ms_per_probe"], "cpu"),
            ("wall ms/probe (median)", r["wall_ms"]["median"], b["wall_ms"]["median"], "wall"),
            ("probes/s (sequential)", r["probes_per_s"], b["probes_per_s"], "rate"),
            ("requests/probe", r["requests_per_probe"], b["requests_per_probe"], "requests"),
        ]
        for name, mine, theirs, key in rows:
            lines.append(f"{name:26}{mine:10.2f}{theirs:10.2f}   {ratios[key]:.0f}x")
        lines += [
            "  (CPU: means, since the browser's is read over the run: its renderers die with their",
            "   context. probes/s: the robot's rate divided by the browser's.)",
        ]
    lines += ["", f"/_forbidden: {figures['forbidden']['count']} request(s)"]
    lines += [f"  {q}" for q in figures["forbidden"].get("requests", [])]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probes", type=int, default=600, help="robot probes (default 600)")
    parser.add_argument(
        "--warmup", type=int, default=25, help="robot probes before measuring (default 25)"
    )
    parser.add_argument(
        "--browser-probes", type=int, default=60, help="browser walks (default 60; 0: none)"
    )
    parser.add_argument(
        "--service-hours",
        type=int,
        default=2,
        help="simulated hours of the runner alone vs the long-running service (default 2; 0: none)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--browser-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.browser_worker:
        browser_worker()
        return 0
    if args.probes < 1 or args.warmup < 0 or args.browser_probes < 0:
        parser.error("--probes must be >= 1, --warmup and --browser-probes >= 0")
    if args.browser_probes and not Path(CHROMIUM).exists():
        parser.error(f"{CHROMIUM} is missing: apt-get install -y chromium (or --browser-probes 0)")
    figures: dict[str, Any] = {"machine": machine(), "load_before": os.getloadavg()}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with simulator(port) as process:
        now = parse_instant(get_json(base, "/_clock")["now"])
        targets, excluded = counters(base, DEFAULT_USER_AGENT)
        figures.update(now=now.isoformat(), simulator_pid=process.pid, excluded=excluded)
        robot = asyncio.run(robot_bench(process.pid, targets, now, args.probes, args.warmup))
        figures["robot"] = robot
        if args.service_hours:
            figures["service"] = asyncio.run(service_bench(targets, now, args.service_hours))
        if args.browser_probes:
            figures["browser"] = browser_bench(targets, now, args.browser_probes, robot)
        figures["forbidden"] = get_json(base, "/_forbidden")
        if parse_instant(get_json(base, "/_clock")["now"]) != now:
            raise RuntimeError("the simulator's clock moved: the truth was not frozen")
    if "browser" in figures:
        r, b = figures["robot"], figures["browser"]
        figures["ratios"] = {
            "cpu": _ratio(b["cpu_ms_per_probe"], r["cpu_ms"]["mean"]),
            "wall": _ratio(b["wall_ms"]["median"], r["wall_ms"]["median"]),
            "rate": _ratio(r["probes_per_s"], b["probes_per_s"]),
            "requests": _ratio(b["requests_per_probe"], r["requests_per_probe"]),
        }
    figures["load_after"] = os.getloadavg()
    figures["measured_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    if args.json:
        del figures["robot"]["by_counter"]
        print(json.dumps(figures, ensure_ascii=False, indent=None))
    else:
        print(report(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())

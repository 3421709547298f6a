"""What an assisted attempt costs: the person's waits, the browser's memory, five people at once.

A person in front of the console waits twice: from « Commencer » to the captcha on screen (the
browser walks the path and receives the captcha), and from their answer to the result on screen
(the answer typed into the site, the robot's reader on the slot page, the observation stored with
its WARC records, its screenshot rendered). Each attempt holds a browser context in the console's
Chromium until it stops. This script measures both waits and the memory, on the simulator.

It runs, in this process, the simulator (france-demo, path mode, its clock frozen), the console
(``assist/console.py``) on 127.0.0.1, and scripted people (``demo_person.py``: Playwright pages in
the same Chromium, reading the simulator's ``/_captcha/`` truth). First one person makes
``--attempts`` attempts one after the other on the RDV-Préfecture démarches behind CaptchEtat;
then ``--people`` people make ``--each`` attempts each, all at once. Memory is Chromium's
proportional set size (PSS, from /proc), all its processes summed, with the attempts' contexts
open and after they stopped.

    .venv/bin/python bench/assist.py [--attempts 10] [--people 5] [--each 2] [--screenshots DIR]

It prints figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from playwright.async_api import async_playwright

from guichets.assist.attempt import CEILING, Limits
from guichets.assist.console import Console
from guichets.catalogue import load_catalogue
from guichets.clock import SimulatedClock
from guichets.evidence.archive import EvidenceArchive
from guichets.evidence.screenshot import CHROMIUM, CHROMIUM_ARGS, Renderer, load_probe
from guichets.simulator import Simulator, load_scenario
from guichets.store import Store
from guichets.usecases.demo import captcha_services, simulated_catalogue
from guichets.usecases.demo_person import ScriptedPerson


def chromium_pss_mb() -> float:
    """PSS of every Chromium process of this machine started by us (MiB)."""
    total = 0
    mine = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes()
            if b"chromium" not in command:
                continue
            if not _descends_from(int(entry.name), mine):
                continue
            for line in (entry / "smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except (OSError, ValueError):
            continue
    return total / 1024


def _descends_from(pid: int, ancestor: int) -> bool:
    for _ in range(10):
        if pid == ancestor:
            return True
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        pid = int(stat.rsplit(")", 1)[1].split()[1])
        if pid <= 1:
            return False
    return False


def show(name: str, values: list[float]) -> str:
    if not values:
        return f"{name}: none"
    return (
        f"{name}: median {statistics.median(values):.2f} s, max {max(values):.2f} s "
        f"(n = {len(values)})"
    )


async def main(args: argparse.Namespace) -> None:
    scenario = load_scenario("france-demo")
    clock = SimulatedClock(scenario.scenario.start + timedelta(hours=9), autojump=False)
    home = Path(tempfile.mkdtemp(prefix="guichets-bench-assist-"))
    async with Simulator(scenario, clock=clock) as simulator:
        path = home / "catalogue.toml"
        from guichets.catalogue import catalogue_to_toml

        path.write_text(catalogue_to_toml(simulated_catalogue(simulator, "1h")), "utf-8")
        services = captcha_services(simulator, list(load_catalogue(path).services))
        with Store.open(None, home=home) as store, EvidenceArchive(home, store, clock) as archive:
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(
                    executable_path=CHROMIUM, args=list(CHROMIUM_ARGS)
                )
                async with Renderer(browser=browser) as renderer:

                    async def render(probe_id: str) -> bytes:
                        return await renderer.render(load_probe(home, store, probe_id))

                    await run(args, simulator, store, archive, clock, browser, render, services)
                await browser.close()


async def run(
    args: argparse.Namespace,
    simulator: Simulator,
    store: Store,
    archive: EvidenceArchive,
    clock: SimulatedClock,
    browser: Any,
    render: Any,
    services: list[Any],
) -> None:
    consoles: list[tuple[Console, web.AppRunner, str]] = []

    async def console_for(person: str) -> tuple[Console, str]:
        console = Console(
            services=services, store=store, archive=archive, clock=clock,
            limits=Limits(per_day=CEILING), browser=browser, render=render, person=person,
        )  # fmt: skip
        runner = web.AppRunner(console.app(), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        consoles.append((console, runner, url))
        return console, url

    idle = chromium_pss_mb()
    print(f"guichets bench/assist.py — {platform.node()}, {os.cpu_count()} cores, "
          f"{platform.python_version()}; Chromium {browser.version}")  # fmt: skip
    print(f"Chromium with the renderer's context, no attempt: {idle:.0f} MiB PSS")
    console, url = await console_for("p-bench-0")
    one = ScriptedPerson(browser, url, simulator.base_url)
    await one.log_in(console.login_token)
    started = time.perf_counter()
    for n in range(args.attempts):
        await one.attempt(services[n % len(services)].id, wrong_first=False)
    alone = time.perf_counter() - started
    print(f"\nOne person, {args.attempts} attempts one after the other ({alone:.1f} s):")
    print("  " + show("start → captcha shown", one.report.to_captcha))
    print("  " + show("answer → result shown", one.report.to_result))
    if args.screenshots:
        await screenshots(one, services[0].id, Path(args.screenshots))
    await one.close()

    # Memory: attempts left open (captcha shown, not answered), then stopped.
    base = chromium_pss_mb()
    people = []
    for n in range(args.people):
        console, url = await console_for(f"p-bench-open-{n}")
        person = ScriptedPerson(browser, url, simulator.base_url)
        await person.log_in(console.login_token)
        await person.page.goto(f"{url}/services/{services[n % len(services)].id}")
        async with person.page.expect_navigation():
            await person.page.locator("form[action='/tentatives'] button").click()
        people.append((person, console))
    opened = chromium_pss_mb()
    for person, console in people:
        for attempt in list(console.runs.values()):
            await attempt.stop()
        await person.close()
    closed = chromium_pss_mb()
    print(f"\nMemory (Chromium PSS, all processes): {base:.0f} MiB with one person's page; "
          f"{opened:.0f} MiB with {args.people} more people each at a captcha "
          f"({(opened - base) / args.people:.0f} MiB per attempt, its context and the person's "
          f"page); {closed:.0f} MiB once they stopped")  # fmt: skip

    crowd = []
    for n in range(args.people):
        console, url = await console_for(f"p-bench-crowd-{n}")
        person = ScriptedPerson(browser, url, simulator.base_url)
        await person.log_in(console.login_token)
        crowd.append(person)

    async def each(k: int, person: ScriptedPerson) -> None:
        for n in range(args.each):
            await person.attempt(services[(k + n) % len(services)].id)

    started = time.perf_counter()
    await asyncio.gather(*(each(k, p) for k, p in enumerate(crowd)))
    together = time.perf_counter() - started
    waits = [x for p in crowd for x in p.report.to_captcha]
    results = [x for p in crowd for x in p.report.to_result]
    passed = sum(p.report.passed for p in crowd)
    print(f"\n{args.people} people at once, {args.each} attempts each ({together:.1f} s, "
          f"{passed} of {args.people * args.each} passed):")  # fmt: skip
    print("  " + show("start → captcha shown", waits))
    print("  " + show("answer → result shown", results))
    for person in crowd:
        await person.close()
    print(f"\nForbidden requests seen by the simulator: {len(simulator.forbidden)}")
    for _, runner, _ in consoles:
        await runner.cleanup()


async def screenshots(person: ScriptedPerson, service: str, folder: Path) -> None:
    """The console's pages, for docs/screenshots/: home, démarche, captcha, result."""
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    page = person.page
    await page.set_viewport_size({"width": 1000, "height": 900})
    await page.goto(person.console_url + "/")
    await page.screenshot(path=str(folder / "assist-accueil.png"), full_page=True)
    await page.goto(f"{person.console_url}/services/{service}")
    await page.screenshot(path=str(folder / "assist-demarche.png"), full_page=True)
    async with page.expect_navigation():
        await page.locator("form[action='/tentatives'] button").click()
    await page.screenshot(path=str(folder / "assist-captcha.png"), full_page=True)
    code = await person._code()
    await page.locator("#code").fill("2222" if code != "2222" else "3333")
    async with page.expect_navigation():
        await page.locator("#code").press("Enter")
    await page.screenshot(path=str(folder / "assist-refus.png"), full_page=True)
    code = await person._code()
    await page.locator("#code").fill(code or "")
    async with page.expect_navigation():
        await page.locator("#code").press("Enter")
    await page.screenshot(path=str(folder / "assist-resultat.png"), full_page=True)
    stop = page.locator("form[action$='/fin'] button")
    async with page.expect_navigation():
        await stop.click()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--attempts", type=int, default=10)
    parser.add_argument("--people", type=int, default=5)
    parser.add_argument("--each", type=int, default=2)
    parser.add_argument("--screenshots", help="write the console's pages here (PNG)")
    asyncio.run(main(parser.parse_args()))

"""The long-running service: /metrics counts the probes made, /healthz turns 503 when the robot
stalls (driven by the simulated clock), SIGHUP reloads or refuses a catalogue, SIGTERM stops
cleanly. Real servers on loopback: the simulated prefectures, a site that hangs, the service's own
endpoint, and a real ``guichets run`` process."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp import web

from guichets.catalogue import Catalogue, load_catalogue
from guichets.clock import SimulatedClock
from guichets.health import Health
from guichets.http import HostGates, Politeness
from guichets.metrics import RobotMetrics
from guichets.runner import Runner, from_catalogue
from guichets.service import Endpoint, LongRun
from guichets.store import Store
from tests.appthread import AppThread
from tests.simthread import SimulatorThread

ROW = """
[[services]]
id = "{id}"
departement = "{dept}"
site = "Préfecture"
procedure = "renouvellement"
platform = "ezbooking"
url = "{url}"
cadence = "1d"
"""


def catalogue_text(rows: list[tuple[str, str, str]]) -> str:
    return "# service test\nallow_local = true\n" + "".join(
        ROW.format(id=ident, dept=dept, url=url) for ident, dept, url in rows
    )


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode("utf-8")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8")


async def aget(url: str) -> tuple[int, str]:
    return await asyncio.to_thread(get, url)


def probes_counted(metrics: str, service: str) -> float:
    pattern = rf'^guichets_probes_total\{{outcome="[a-z_]+",service="{service}"\}} ([0-9.e+]+)$'
    return sum(float(m.group(1)) for m in re.finditer(pattern, metrics, re.M))


class Hanging:
    """A booking site that answers robots.txt and then never answers, until released."""

    def __init__(self) -> None:
        self.release: asyncio.Event | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.app = web.Application()
        self.app.router.add_get("/booking/create/{form}", self.hang)

    async def hang(self, request: web.Request) -> web.Response:
        self.loop = asyncio.get_running_loop()
        if self.release is None:
            self.release = asyncio.Event()
        await self.release.wait()
        return web.Response(status=503, text="enfin")

    def let_go(self) -> None:
        if self.loop is not None and self.release is not None:
            self.loop.call_soon_threadsafe(self.release.set)


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorThread]:
    with SimulatorThread("france-demo") as live:
        yield live


async def until(condition: object, what: str, seconds: float = 20.0) -> None:
    """Wait for real I/O (probes on loopback) to land, bounded; the clock does not move here."""
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def test_metrics_count_probes_and_health_turns_503_when_stalled(
    sim: SimulatorThread, tmp_path: Path
) -> None:
    hanging = Hanging()
    with AppThread(hanging.app) as hang_base:
        good = sim.url("63-clermont-renouvellement")
        path = tmp_path / "catalogue.toml"
        path.write_text(
            catalogue_text(
                [("63-clermont", "63", good), ("38-stuck", "38", f"{hang_base}/booking/create/9")]
            ),
            "utf-8",
        )
        catalogue = load_catalogue(path)
        clock = SimulatedClock(sim.world.start, autojump=False)
        gates = HostGates(clock, Politeness(min_gap=0, timeout=60))
        store = Store.open(f"sqlite:///{tmp_path / 'db.sqlite'}")

        def make(chosen: Catalogue) -> Runner:
            enabled = [s for s in chosen.services if s.enabled]
            return Runner(from_catalogue(enabled), store, clock, gates, concurrency=4)

        # Both services are probed once a day at a random instant: the first due may come up to
        # a day before the other, so "late" here starts at a day and a half.
        stall = 1.5 * 86400
        health = Health(clock, stall_after=stall)
        builds: list[int] = []
        service = LongRun(
            path, catalogue, make, clock, gates, health=health, metrics=RobotMetrics(),
            endpoint=Endpoint("127.0.0.1", 0), say=lambda text: None,
            build_site=lambda: builds.append(1), site_every=3600,
        )  # fmt: skip
        task = asyncio.create_task(service.run())
        try:
            await until(
                lambda: service.bound is not None and len(health.outstanding()) == 2, "plan"
            )
            base = f"http://127.0.0.1:{service.bound.port}"  # type: ignore[union-attr]
            status, body = await aget(f"{base}/healthz")
            assert status == 200, body  # nothing is late yet

            # Both probes become due; the good one is made, the stuck one hangs.
            clock.set(max(health.outstanding().values()))
            # The probe is in the store before the service hears of it (health, metrics): wait for
            # the service's side too, or a loaded machine reads the counters in between. The
            # runner may have gone on before the clock was set (its first period made, the next
            # one planned): wait until no probe of the good service due by now is outstanding.
            await until(
                lambda: (
                    health.last_probe is not None
                    and health.outstanding()["63-clermont"] > clock.now()
                ),
                "the good probe",
            )
            status, text = await aget(f"{base}/metrics")
            assert probes_counted(text, "63-clermont") == store.count() >= 1
            assert probes_counted(text, "38-stuck") == 0
            assert "guichets_probe_duration_seconds_bucket" in text
            assert 'guichets_last_probe_timestamp_seconds{service="63-clermont"}' in text
            assert f'guichets_circuit_open{{host="{hang_base}"}} 0.0' in text
            assert "guichets_site_build_seconds" in text
            status, body = await aget(f"{base}/healthz")
            assert status == 200, body

            # Time passes on the clock; the stuck probe is still not made: stalled, and why. The
            # clock stops where the good service's next probe is just not late (late is "more
            # than stall"), which makes the stuck one, due earlier, late.
            clock.set(health.outstanding()["63-clermont"] + timedelta(seconds=stall))
            status, body = await aget(f"{base}/healthz")
            assert status == 503, body
            verdict = json.loads(body)
            assert verdict["status"] == "stalled"
            assert any("38-stuck" in why and "late" in why for why in verdict["why"])
            assert not any("63-clermont" in why for why in verdict["why"]), verdict

            # The site rebuilds came with the clock (every hour of it, when probes were stored).
            await until(lambda: len(builds) >= 1, "a site build")
            status, text = await aget(f"{base}/metrics")
            assert re.search(r"^guichets_site_build_seconds [0-9.e+-]+$", text, re.M)

            # The site answers at last: the probe is stored, the robot is on time again.
            # Wait on the verdict itself: another period of the good service may be stored before
            # the stuck probe is, so a count of stored probes is no sign that the robot caught up.
            hanging.let_go()
            await until(lambda: health.verdict().healthy, "the stuck probe")
            status, body = await aget(f"{base}/healthz")
            assert status == 200, body
            status, text = await aget(f"{base}/metrics")
            assert probes_counted(text, "38-stuck") >= 1  # and the periods since, if open
        finally:
            hanging.let_go()
            service.stop()
            await asyncio.wait_for(task, 30)
            store.close()
    status_after = health.verdict()
    assert not status_after.healthy and "stopped" in status_after.reasons[0]


def start(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "guichets", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def read_until(stream: object, pattern: str, seconds: float = 60.0) -> re.Match[str]:
    """Lines of a child's stream until one matches (the child announces what it does)."""
    deadline = time.monotonic() + seconds
    seen = []
    while time.monotonic() < deadline:
        line = stream.readline()  # type: ignore[attr-defined]
        if not line:
            break
        seen.append(line)
        found = re.search(pattern, line)
        if found:
            return found
    raise AssertionError(f"no line matching {pattern!r} in: {''.join(seen)}")


def test_a_real_process_serves_metrics_reloads_on_sighup_and_stops_on_sigterm(
    sim: SimulatorThread, tmp_path: Path
) -> None:
    path = tmp_path / "catalogue.toml"
    good = catalogue_text([("63-clermont", "63", sim.url("63-clermont-renouvellement"))])
    path.write_text(good, "utf-8")
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1", GUICHETS_HOME=str(tmp_path / "data"))
    process = start(
        ["run", "--catalogue", str(path), "--metrics", "127.0.0.1:0", "--gap", "0",
         "--no-evidence"],
        env,
    )  # fmt: skip
    try:
        port = read_until(process.stderr, r"metrics on http://127\.0\.0\.1:(\d+)/metrics").group(1)
        base = f"http://127.0.0.1:{port}"
        status, text = get(f"{base}/metrics")
        assert status == 200
        for name in (
            "guichets_probes_total",
            "guichets_probe_duration_seconds",
            "guichets_last_probe_timestamp_seconds",
            "guichets_circuit_open",
            "guichets_site_build_seconds",
        ):
            assert f"# TYPE {name.removesuffix('_total')}" in text, name
        assert 'guichets_probes_total{outcome="unavailable",service="63-clermont"}' in text
        status, body = get(f"{base}/healthz")
        assert status == 200, body

        path.write_text(good + 'platform = "minitel"\n', "utf-8")
        process.send_signal(signal.SIGHUP)
        read_until(process.stderr, r"reload refused: .*still probing the 1 services")
        status, body = get(f"{base}/healthz")
        assert status == 200 and "reload_refused" in json.loads(body)

        two = good + ROW.format(id="69-lyon", dept="69", url=sim.url("69-lyon-etudiants"))
        path.write_text(two, "utf-8")
        process.send_signal(signal.SIGHUP)
        read_until(process.stderr, r"reloaded .*: 2 enabled services")
        status, text = get(f"{base}/metrics")
        assert 'service="69-lyon"' in text

        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert "1 reloads" in out and "probes stored in" in out

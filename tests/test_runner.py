"""The run loop on both backends: cadence, restarts without double probes, stops, bad targets."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp import web

from guichets.catalogue import Service
from guichets.clock import SimulatedClock
from guichets.http import HostGates, Politeness
from guichets.model import Detail, Outcome
from guichets.runlock import LockLost
from guichets.runner import Runner, from_catalogue
from guichets.schedule import Plan, period_key, period_start, planned_at
from guichets.simulator import Simulator, load_scenario
from guichets.store import Store, StoreError
from guichets.usecases.demo import simulated_catalogue
from tests.dbfixtures import db_url

__all__ = ["db_url"]

SCENARIO = load_scenario("france-demo")
START = SCENARIO.scenario.start
CHOSEN = {"63-clermont-renouvellement", "974-saint-denis-titre-sejour", "93-bobigny-titre-sejour"}


def _services(sim: Simulator, cadence: str = "1h") -> list[Service]:
    return [s for s in simulated_catalogue(sim, cadence) if s.id in CHOSEN]


async def _run(
    sim: Simulator, clock: SimulatedClock, url: str, until_hour: float, *, seed: int = 1
) -> int:
    with Store.open(url) as store:
        runner = Runner(
            from_catalogue(_services(sim)),
            store,
            clock,
            HostGates(clock, Politeness(min_gap=1.0)),
            seed=seed,
            concurrency=1,
        )
        summary = await runner.run(until=START + timedelta(hours=until_hour))
        return summary.probes


def test_planned_instants_are_spread_reproducible_and_inside_their_period() -> None:
    starts = [START + timedelta(hours=h) for h in range(200)]
    minutes = [(planned_at("s", p, 3600, seed=3) - p).total_seconds() / 60 for p in starts]
    assert all(0 <= m < 60 for m in minutes)
    assert len({int(m) for m in minutes}) > 40, "spread over the hour"
    assert minutes == [(planned_at("s", p, 3600, seed=3) - p).total_seconds() / 60 for p in starts]
    fixed = {planned_at("s", p, 3600, plan=Plan.FIXED) - p for p in starts}
    assert len(fixed) == 1, "the fixed plan probes at the same minute every hour"
    assert period_key(period_start(START + timedelta(minutes=59), 3600), 3600) == (
        "2026-10-04T22:00Z/PT3600S"
    )


async def test_one_probe_per_period_and_restart_without_duplicates(db_url: str) -> None:
    clock = SimulatedClock(START)
    async with Simulator(SCENARIO, clock=clock, hosts="loopback") as sim:
        first = await _run(sim, clock, db_url, until_hour=5.5)
        # Restart in the middle of the sixth hour: its period is still open and is probed once,
        # whether its instant fell before the stop (then it is done) or after (then it is due).
        clock.set(START + timedelta(hours=5.5))
        second = await _run(sim, clock, db_url, until_hour=10)
        # A run restarted at the end finds nothing left to do in the periods already probed.
        third = await _run(sim, clock, db_url, until_hour=10)
        with Store.open(db_url) as store:
            observations = list(store.observations())
            keys = {s: store.period_keys(s, START) for s in CHOSEN}
    assert first >= 3 * 5 and second >= 3 * 4 and third == 0
    assert len(observations) == first + second == 30
    per_service = {s: [o for o in observations if o.service == s] for s in CHOSEN}
    for service, rows in per_service.items():
        assert len(rows) == len(keys[service]), f"{service}: one probe per period"
        assert len(rows) == 10, f"{service}: every hour of 10 probed once"
    assert not sim.forbidden


async def test_stop_lets_probes_in_flight_finish_and_ends_the_run(db_url: str) -> None:
    clock = SimulatedClock(START)
    async with Simulator(SCENARIO, clock=clock, hosts="loopback") as sim:
        with Store.open(db_url) as store:
            runner = Runner(
                from_catalogue(_services(sim)), store, clock,
                HostGates(clock, Politeness(min_gap=1.0)), concurrency=1,
            )  # fmt: skip
            seen: list[str] = []

            def stop_after_four(obs: object) -> None:
                seen.append(str(obs))
                if len(seen) == 4:
                    runner.stop.set()

            runner.on_observation = stop_after_four
            summary = await runner.run(until=clock.now() + timedelta(days=10))
            runs = store.runs()
            count = store.count()
    assert summary.probes == 4 == count
    assert len(runs) == 1 and runs[0].ended_at is not None


@pytest.fixture
async def misbehaving() -> AsyncIterator[str]:
    """A host whose every page misbehaves in its own way."""
    release = asyncio.Event()

    async def hang(request: web.Request) -> web.Response:
        await release.wait()
        return web.Response(text="too late")

    async def drip(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        for _ in range(1000):
            await response.write(b"<p>")
            await asyncio.sleep(0.01)  # the server drips in real time; the client must give up
        return response

    async def huge(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/html"})
        await response.prepare(request)
        chunk = b"x" * 65536
        for _ in range(800):  # 50 MB
            await response.write(chunk)
        return response

    async def loop(request: web.Request) -> web.Response:
        raise web.HTTPFound(request.path)

    async def garbage(request: web.Request) -> web.Response:
        return web.Response(body=b"\xff\xfe\x00<html>\xc3\x28" * 500, content_type="text/html")

    app = web.Application()
    for name, handler in (("hang", hang), ("drip", drip), ("huge", huge), ("loop", loop),
                          ("garbage", garbage)):  # fmt: skip
        app.router.add_get(f"/{name}/booking/create/1", handler)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    release.set()
    await runner.cleanup()


async def test_misbehaving_targets_are_classified_and_never_stop_the_run(
    misbehaving: str, tmp_path: Path
) -> None:
    clock = SimulatedClock(START)
    names = ("hang", "drip", "huge", "loop", "garbage")
    async with Simulator(SCENARIO, clock=clock, hosts="loopback") as sim:
        good = _services(sim)
        bad = [
            Service(
                id=f"38-{name}",
                departement="38",
                site="x",
                procedure="test",
                platform="ezbooking",
                url=f"{misbehaving}/{name}/booking/create/1",
                cadence="1h",
            )
            for name in names
        ]
        with Store.open(None, home=tmp_path) as store:
            runner = Runner(
                from_catalogue([*bad, *good]), store, clock,
                HostGates(clock, Politeness(min_gap=0, timeout=3.0, max_bytes=1_000_000)),
                concurrency=1,
            )  # fmt: skip
            summary = await runner.run(once=True)
            found = {o.service: (o.outcome, o.detail) for o in store.observations()}
    assert summary.probes == len(bad) + len(good)
    assert found["38-hang"] == (Outcome.SITE_ERROR, Detail.TIMEOUT)
    assert found["38-drip"] == (Outcome.SITE_ERROR, Detail.TIMEOUT)
    assert found["38-huge"] == (Outcome.SITE_ERROR, Detail.TOO_LARGE)
    assert found["38-loop"] == (Outcome.SITE_ERROR, Detail.REDIRECT_LOOP)
    assert found["38-garbage"][0] is Outcome.UNRECOGNIZED
    assert found["974-saint-denis-titre-sejour"][0] is Outcome.AVAILABLE
    assert all(o is not Outcome.UNAVAILABLE for o, _ in (found[f"38-{n}"] for n in names))


async def test_a_failing_store_stops_the_run_loudly(tmp_path: Path) -> None:
    """The robot's own failure (here the store) must not pass silently while sites are probed."""
    clock = SimulatedClock(START)
    async with Simulator(SCENARIO, clock=clock, hosts="loopback") as sim:
        store = Store.open(None, home=tmp_path)
        runner = Runner(
            from_catalogue(_services(sim)), store, clock,
            HostGates(clock, Politeness(min_gap=1.0)), concurrency=1,
        )  # fmt: skip
        calls = 0

        def broken_save(*args: object, **kwargs: object) -> bool:
            nonlocal calls
            calls += 1
            raise StoreError("the disk is full")

        store.save = broken_save  # type: ignore[method-assign]
        with pytest.raises(StoreError, match="disk is full"):
            await runner.run(until=START + timedelta(days=2))
        runs = store.runs()
        store.close()
    assert calls == 1, "stopped at the first failure"
    assert runs[0].ended_at is None, "a crashed run is not marked as ended"


async def test_heartbeats_are_written_while_waiting(tmp_path: Path) -> None:
    clock = SimulatedClock(START)
    async with Simulator(SCENARIO, clock=clock, hosts="loopback") as sim:
        services = [s for s in simulated_catalogue(sim, "1d") if s.id in CHOSEN]
        with Store.open(None, home=tmp_path) as store:
            runner = Runner(
                from_catalogue(services), store, clock,
                HostGates(clock, Politeness(min_gap=1.0)), concurrency=1, heartbeat_seconds=600,
            )  # fmt: skip
            beats: list[object] = []
            original = store.heartbeat

            def spy(run_id: str, at: object) -> None:
                beats.append(at)
                original(run_id, at)  # type: ignore[arg-type]

            store.heartbeat = spy  # type: ignore[method-assign]
            await runner.run(until=START + timedelta(days=2))
    # One probe a day per service, yet a beat every ten minutes of (simulated) waiting.
    instants = sorted(beats)  # type: ignore[type-var]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(instants)]  # type: ignore[attr-defined]
    assert len(instants) > 24 * 6, "more than a day of beats"
    assert max(gaps) <= 600


async def test_once_probes_each_open_period_once(tmp_path: Path) -> None:
    clock = SimulatedClock(START + timedelta(minutes=30))
    async with Simulator(SCENARIO, clock=clock, hosts="loopback") as sim:
        with Store.open(None, home=tmp_path) as store:
            for expected in (3, 0):
                runner = Runner(
                    from_catalogue(_services(sim)), store, clock,
                    HostGates(clock, Politeness(min_gap=1.0)), concurrency=1,
                )  # fmt: skip
                summary = await runner.run(once=True)
                assert summary.probes == expected
            assert store.count() == 3


async def test_a_lost_run_lock_stops_the_run_before_the_next_probe(tmp_path: Path) -> None:
    """The run lock is checked before each probe, before each save and at each heartbeat:
    once it says the lock is gone to another run, nothing more is probed or stored."""
    clock = SimulatedClock(START)
    async with Simulator(SCENARIO, clock=clock, hosts="loopback") as sim:
        with Store.open(None, home=tmp_path) as store:
            runner = Runner(
                from_catalogue(_services(sim)), store, clock,
                HostGates(clock, Politeness(min_gap=1.0)), concurrency=1,
            )  # fmt: skip
            checks = 0

            def check() -> None:
                nonlocal checks
                checks += 1
                if store.count() >= 2:
                    raise LockLost("the run lock was lost with its connection")

            runner.lock_check = check
            with pytest.raises(LockLost, match="lost with its connection"):
                await runner.run(until=START + timedelta(days=2))
            assert store.count() == 2
            assert checks >= 5  # before and after each of the two probes, then the refusal

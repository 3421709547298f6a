"""Several workers on one PostgreSQL schedule, one of them killed with SIGKILL at a random moment.

Three ``guichets worker`` processes take the jobs of a shared schedule and probe the simulator's
sites, each on its own loopback address (``--hosts loopback``). The test asserts only on facts
the system logged (the book of periods, the stored probes, the simulator's request log, the
evidence), never on speed: real time is unavoidable with several processes, so the periods are
short (20 s), the gaps small (0.2 s), and every wait is bounded generously.

- no (service, period) probed twice: one stored probe per period at most, and a period was tried
  again only after the killed worker stopped renewing its lease;
- none lost without being recorded: every period planned ends done or lost, each lost one with
  its reason;
- the gap per host held for all workers together, in the simulator's own log of arrivals;
- the evidence of every worker verifies, the killed one's folder once recovered.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import make_url, select
from typer.testing import CliRunner
from yarl import URL

from guichets.catalogue import Service, catalogue_to_toml
from guichets.cli import app
from guichets.clock import SystemClock
from guichets.evidence.verify import verify
from guichets.http import FetchError, Politeness
from guichets.model import Detail
from guichets.runner import from_catalogue
from guichets.store import Store
from guichets.store.schema import probes, schedule_periods
from guichets.store.schema import workers as workers_table
from guichets.usecases.demo import simulated_catalogue
from guichets.workers.book import PeriodJob
from guichets.workers.db import open_pool
from guichets.workers.gate import SharedGates
from guichets.workers.scheduler import periods_ahead, schedule, schedule_jobs
from tests.dbfixtures import pg_base_url, pg_schema
from tests.simthread import SimulatorThread

pytestmark = pytest.mark.postgres

GUICHETS = [sys.executable, "-m", "guichets"]
CADENCE = 20  # seconds: short periods, so that some end while the killed worker's lease runs
GAP = 0.2
LEASE = 3.0
# The gap is measured from the database's instant at the end of one request to a host to the
# simulator's arrival time of the next (one machine, one clock); asyncio may wake a timer up to
# its clock resolution early, hence a millisecond's tolerance.
TOLERANCE = 0.001


@pytest.fixture(scope="module")
def live() -> Iterator[SimulatorThread]:
    with SimulatorThread(
        "france-demo", hosts="loopback", system_clock=True, log_requests=True
    ) as sim:
        yield sim


@pytest.fixture
def pg_url() -> Iterator[str]:
    with pg_schema(pg_base_url()) as url:
        yield url


def _worker(url: str, home: Path, name: str, vantage: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*GUICHETS, "worker", "--db", url, "--home", str(home), "--name", name,
         "--vantage", vantage, "--concurrency", "3", "--gap", str(GAP), "--timeout", "5",
         "--heartbeat", str(LEASE / 4), "--lease", str(LEASE), "--poll", "0.3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(os.environ, COLUMNS="200", NO_COLOR="1"),
    )  # fmt: skip


def _registered(url: str) -> int:
    with Store.open(url) as store, store.reading("read the workers") as conn:
        return len(conn.execute(select(workers_table.c.name)).all())


def _book(url: str) -> list[dict[str, object]]:
    with Store.open(url) as store, store.reading("read the book") as conn:
        return [dict(r._mapping) for r in conn.execute(select(schedule_periods))]


def test_three_workers_one_killed(live: SimulatorThread, pg_url: str, tmp_path: Path) -> None:
    rng = random.Random()
    seed = rng.randrange(1 << 30)
    rng.seed(seed)
    home = tmp_path / "shared"
    per_site: Counter[str] = Counter()
    services = []
    for item in from_catalogue(simulated_catalogue(live.sim, "1d")):
        site = item.spec.target.url.split("/")[2]
        per_site[site] += 1
        if per_site[site] <= 2:  # several probes per host, not a queue of them
            services.append(replace(item, cadence_seconds=CADENCE))
    Store.open(pg_url).close()
    assert live.sim.request_log is not None
    live.sim.request_log.clear()
    clock = SystemClock()
    workers = {f"w{i}": _worker(pg_url, home, f"w{i}", f"v{i % 2}") for i in range(3)}
    started = time.monotonic() + 120  # a loaded machine takes its time to start three processes
    while _registered(pg_url) < len(workers) and time.monotonic() < started:
        time.sleep(0.2)
    planned = asyncio.run(
        schedule(pg_url, services, now=clock.now(), ahead=timedelta(seconds=CADENCE + 1),
                 replicate=0.2, seed=seed)
    )  # fmt: skip
    assert planned.deferred == planned.periods > len(services)
    last_end = max(r["period_end"] for r in _book(pg_url))
    victim = rng.choice(sorted(workers))
    moment = rng.uniform(2.0, CADENCE)
    time.sleep(moment)
    workers[victim].send_signal(signal.SIGKILL)
    workers[victim].wait(timeout=10)
    # Wait until every period has ended and the book says what became of each (bounded).
    deadline = time.monotonic() + 4 * CADENCE + 60
    while time.monotonic() < deadline:
        book = _book(pg_url)
        ended = clock.now() > last_end
        if ended and all(r["state"] in ("done", "lost") for r in book):
            break
        time.sleep(0.5)
    for name, process in workers.items():
        if name != victim:
            process.send_signal(signal.SIGTERM)
    outputs = {}
    for name, process in workers.items():
        out, err = process.communicate(timeout=60)
        outputs[name] = (process.returncode, out.decode() + err.decode())
    context = (seed, victim, round(moment, 2), outputs)
    for name, (code, text) in outputs.items():
        if name != victim:
            assert code == 0, context
            assert "Traceback" not in text, context

    book = _book(pg_url)
    # None lost unrecorded: every period planned is in the book, and ended done or lost.
    assert len(book) == planned.periods, context
    states = Counter(str(r["state"]) for r in book)
    assert set(states) <= {"done", "lost"}, (states, context)
    assert all(r["note"] for r in book if r["state"] == "lost"), context
    # Tried twice only after the killed worker's lease ended.
    for row in book:
        if int(row["attempts"]) > 1:  # type: ignore[call-overload]
            assert f"worker {victim} stopped renewing its lease" in str(row["note"]), (row, context)

    with Store.open(pg_url) as store:
        with store.reading("read the probes") as conn:
            stored = conn.execute(
                select(probes.c.service, probes.c.period_key, probes.c.worker, probes.c.vantage)
            ).all()
        # No (service, period) probed twice: one probe per period key (a replicate has its own),
        # and exactly the periods the book says are done.
        keys = Counter((s, k) for s, k, _, _ in stored)
        assert keys and set(keys.values()) == {1}, context
        done = {
            (str(r["service"]), str(r["period_key"]) + ("#replicate" if r["role"] == "replicate"
                                                       else ""))
            for r in book if r["state"] == "done"
        }  # fmt: skip
        assert set(keys) == done, context
        assert all(w in workers and v in ("v0", "v1") for _, _, w, v in stored), context
        # The gap per host, for all workers together, in the simulator's log of arrivals.
        arrivals: dict[str, list[float]] = defaultdict(list)
        for site, at, _ in live.sim.request_log:
            arrivals[site].append(at)
        gaps = [
            b - a
            for times in arrivals.values()
            for a, b in zip(sorted(times), sorted(times)[1:], strict=False)
        ]
        assert gaps and min(gaps) >= GAP - TOLERANCE, (min(gaps), context)
        # Every worker's evidence verifies, the killed one's once its folder is recovered (what
        # it does itself when it starts again, or `guichets evidence recover --worker`).
        recovered = CliRunner().invoke(
            app, ["evidence", "recover", "--home", str(home), "--db", pg_url, "--worker", victim]
        )
        assert recovered.exit_code == 0, recovered.output
        result = verify(home, store)
        assert result.intact, ([str(p) for p in result.problems], context)
        folders = {p.name for p in (home / "evidence" / "warc" / "workers").iterdir()}
        assert folders <= set(workers) and len(folders) >= 2, context
    # The lost periods show in the report, apart from the probes: the robot's own gaps.
    report = CliRunner().invoke(app, ["report", "--db", pg_url, "--format", "json"])
    assert report.exit_code == 0, report.output
    rows = json.loads(report.output)
    shown = sum(row.get("lost_periods", 0) for row in rows)
    # (a service none of whose periods was probed has no row: `guichets workers status` lists it)
    listed = {row["service"] for row in rows}
    lost = sum(
        1 for r in book if r["state"] == "lost" and r["role"] == "probe" and r["service"] in listed
    )
    assert shown == lost, (shown, lost, context)


class _Proxy:
    """A TCP relay to the PostgreSQL server, in a thread: closing it is the database going away
    for whoever connected through it, and only for them (the shared server is never touched)."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.links: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None
        self.port = 0

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, ConnectionError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self.links += [writer, up_writer]
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _cut(self) -> None:
        assert self.server is not None
        self.server.close()
        for link in self.links:
            link.transport.abort()

    def __enter__(self) -> _Proxy:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(10)
        return self

    def cut(self) -> None:
        asyncio.run_coroutine_threadsafe(self._cut(), self.loop).result(10)

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            self.cut()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def test_a_worker_that_loses_the_database_stops_and_says_so(
    live: SimulatorThread, pg_url: str, tmp_path: Path
) -> None:
    parsed = make_url(pg_url)
    Store.open(pg_url).close()
    with _Proxy(parsed.host or "127.0.0.1", parsed.port or 5432) as proxy:
        through = parsed.set(host="127.0.0.1", port=proxy.port).render_as_string(
            hide_password=False
        )
        items = from_catalogue(simulated_catalogue(live.sim, "1d"))[:2]
        now = SystemClock().now()
        jobs = periods_ahead(items, now, timedelta(seconds=1))
        asyncio.run(schedule_jobs(through, [replace(j, planned_at=now) for j in jobs]))
        worker = _worker(through, tmp_path / "shared", "cut", "v0")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and any(
            r["state"] in ("planned", "probing") for r in _book(pg_url)
        ):
            time.sleep(0.2)
        proxy.cut()
        out, err = worker.communicate(timeout=60)
    text = out.decode() + err.decode()
    assert worker.returncode == 1, text
    assert "worker cut: lost the database" in text and "stopped probing" in text, text
    assert "Traceback" not in text, text
    # What it stored before the cut stays.
    done = sum(1 for r in _book(pg_url) if r["state"] == "done")
    with Store.open(pg_url) as store:
        assert store.count() == done  # (both, unless the machine is very slow)


def test_the_gates_are_shared_between_workers(pg_url: str) -> None:
    """Two workers' gates on one database: what one learns of a host binds the other."""
    Store.open(pg_url).close()
    polite = Politeness(min_gap=0.3, max_retry_wait=5.0, breaker_failures=2)
    url = URL("http://127.0.0.1:9/booking")

    async def scenario() -> None:
        clock = SystemClock()
        pool_a = await open_pool(pg_url, size=2, name="gate-a")
        pool_b = await open_pool(pg_url, size=2, name="gate-b")
        try:
            a = SharedGates(clock, polite, pool_a, "a")
            b = SharedGates(clock, polite, pool_b, "b")
            # The gap: B's turn comes at least min_gap after A's request ended.
            async with a.turn(url) as turn:
                turn.record(200, None, None)
                # The gate stamps the request's end when the turn is given back, after this
                # line: B's turn comes at least min_gap after this instant. (Taking it after the
                # block instead made the bound depend on how fast the machine gives the turn
                # back, and failed under load.)
                leaving = time.monotonic()
            async with b.turn(url) as turn:
                assert time.monotonic() - leaving >= 0.3 - TOLERANCE
                turn.record(200, None, "60")  # B is told to wait a minute
            with pytest.raises(FetchError) as refused:
                async with a.turn(url):
                    pass
            assert refused.value.detail == Detail.RATE_LIMITED
            # The breaker counts the failures of both workers.
            other = URL("http://127.0.0.2:9/booking")
            for gates in (a, b):
                async with gates.turn(other) as turn:
                    turn.record(503, None, None)
            with pytest.raises(FetchError) as opened:
                async with a.turn(other):
                    pass
            assert opened.value.detail == Detail.CIRCUIT_OPEN
        finally:
            await pool_a.close()
            await pool_b.close()

    asyncio.run(scenario())


def test_a_job_carries_the_catalogues_leave_for_hosts() -> None:
    """A worker has no catalogue: other_hosts and allow_local travel in the job's arguments,
    so that a worker refuses and allows the same hosts as ``guichets run``."""
    service = Service.model_validate(
        {"id": "38-grenoble-titres", "departement": "38", "site": "Grenoble", "procedure": "titres",
         "platform": "ezbooking", "url": "https://rdv.example.gouv.fr/booking/create/1234",
         "other_hosts": ["auth.example.gouv.fr"], "cadence": "1h"}
    )  # fmt: skip
    now = datetime(2026, 11, 2, 10, 30, tzinfo=UTC)
    jobs = periods_ahead(from_catalogue([service]), now, timedelta(hours=1))
    assert jobs and all(j.other_hosts == ("auth.example.gouv.fr",) for j in jobs)
    assert not any(j.allow_local for j in jobs)
    again = PeriodJob.from_args(json.loads(json.dumps(jobs[0].to_args())))
    assert again == jobs[0]
    assert again.spec().target.other_hosts == ("auth.example.gouv.fr",)
    # A job deferred by an older scheduler carries neither key: nothing more is allowed.
    old = {k: v for k, v in jobs[0].to_args().items() if k not in {"other_hosts", "allow_local"}}
    older = PeriodJob.from_args(old)
    assert older.other_hosts == () and older.allow_local is False


def test_schedule_command_defers_each_period_once(
    live: SimulatorThread, pg_url: str, tmp_path: Path
) -> None:
    catalogue = tmp_path / "catalogue.toml"
    services = simulated_catalogue(live.sim, "1h")
    catalogue.write_text(catalogue_to_toml(services), "utf-8")
    args = ["schedule", "--catalogue", str(catalogue), "--db", pg_url, "--ahead", "2h",
            "--replicate", "0.1"]  # fmt: skip
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    again = CliRunner().invoke(app, args)  # from cron, or a second machine
    assert again.exit_code == 0, again.output
    assert "0 jobs deferred now" in again.output, again.output
    book = _book(pg_url)
    probes_planned = [r for r in book if r["role"] == "probe"]
    # Two or three hourly periods each (the one open now and those starting within 2 h).
    assert len(probes_planned) in {len(services) * 2, len(services) * 3}, len(probes_planned)
    assert all(r["state"] == "planned" and r["job_id"] for r in book)
    status = CliRunner().invoke(app, ["workers", "status", "--db", pg_url, "--json"])
    assert status.exit_code == 0, status.output
    assert json.loads(status.output)["periods"] == {"planned": len(book)}
    refused = CliRunner().invoke(app, ["worker", "--db", f"sqlite:///{tmp_path}/x.sqlite"])
    assert refused.exit_code == 2 and "PostgreSQL" in refused.output

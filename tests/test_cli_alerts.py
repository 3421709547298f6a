"""The issue's acceptance, on a short demo: ``guichets demo --notify json://…`` delivers to a local
receiver a ``closed`` alert for the counter where booking never works and a ``blind`` alert for a
captcha-gated démarche, none for a counter that is fine, and ``guichets alerts list --format
json`` holds the same alerts. One simulated day with thresholds scaled to it (``--alerts-config``)
keeps it to seconds; ``guichets demo --days 14`` with the defaults is in docs/alerts.md."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from guichets.alerts.delivery import Dispatcher, QuietHours
from guichets.alerts.messages import Message
from guichets.cli import app
from guichets.clock import SimulatedClock
from guichets.store import Store
from tests.dbfixtures import sqlite_url

GUICHETS = [sys.executable, "-m", "guichets"]
ENV = dict(os.environ, COLUMNS="200", NO_COLOR="1")

CLOSED = "63-clermont-renouvellement"  # booking never works
CAPTCHA = "33-bordeaux-premiere-demande"  # behind CaptchEtat
FINE = "69-lyon-etudiants"  # slots all the time


def _run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*GUICHETS, *args], capture_output=True, text=True, env=ENV, timeout=timeout
    )


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    """A command run in this process (no interpreter start-up): exit code, stdout, stderr."""
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200", "NO_COLOR": "1"})
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)


class Receiver(ThreadingHTTPServer):
    """A webhook on loopback that keeps every JSON body posted to it."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        received = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.server_address[1]}/"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, list[dict[str, Any]]]]:
    out = tmp_path_factory.mktemp("alerts-demo")
    config = out.parent / "alerts.toml"
    config.write_text(
        '[notify]\ndigest = "08:00"\n'
        "[rules]\nclosed_probes = 3\nclosed_hours = 6\nblind_probes = 3\n"
    )
    receiver = Receiver()
    thread = threading.Thread(target=receiver.serve_forever, daemon=True)
    thread.start()
    try:
        result = _run(
            "demo", "--days", "1", "--no-serve", "--no-site", "--no-evidence", "--out",
            str(out), "--notify", receiver.url, "--alerts-config", str(config),
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert "not delivered" in result.stdout and ", 0 not delivered" in result.stdout
        yield out, receiver.bodies
    finally:
        receiver.shutdown()
        receiver.server_close()


def _about(bodies: list[dict[str, Any]], service: str) -> list[str]:
    return [b["message"] for b in bodies if f"Service : {service} —" in b["message"]]


def test_demo_delivers_closed_and_blind_alerts_and_none_for_a_fine_counter(
    demo: tuple[Path, list[dict[str, Any]]],
) -> None:
    _, bodies = demo
    closed = _about(bodies, CLOSED)
    assert any("Alerte closed · cause no_slot · ouverte" in m for m in closed), closed
    captcha = _about(bodies, CAPTCHA)
    assert any("Alerte blind · cause captcha · ouverte" in m for m in captcha), captcha
    assert _about(bodies, FINE) == []
    assert all(b["title"] and b["type"] == "info" for b in bodies)
    digests = [b for b in bodies if b["title"] == "Résumé des alertes du 5 octobre 2026"]
    assert len(digests) == 1 and "alertes en cours" in digests[0]["message"]


def test_alerts_list_json_holds_the_same_alerts(demo: tuple[Path, list[dict[str, Any]]]) -> None:
    out, bodies = demo
    result = _cli("alerts", "list", "--format", "json", "--home", str(out))
    assert result.returncode == 0, result.stderr
    stored = json.loads(result.stdout)
    ids = {a["id"] for a in stored}
    delivered = {line.rsplit("id ", 1)[1] for b in bodies for line in b["message"].splitlines()
                 if line.startswith("Alerte ")}  # fmt: skip
    assert delivered == ids
    by_service = {(a["service"], a["kind"], a["cause"]) for a in stored}
    assert (CLOSED, "closed", "no_slot") in by_service
    assert (CAPTCHA, "blind", "captcha") in by_service
    assert not any(a["service"] == FINE for a in stored)
    one = next(a for a in stored if a["service"] == CLOSED)
    assert one["open"] and one["figures"]["probes"] >= 3 and len(one["opened_by"]) >= 3
    opened = _cli("alerts", "list", "--open", "--home", str(out))
    assert opened.returncode == 0 and CLOSED in opened.stdout
    later = _cli("alerts", "list", "--since", "2026-10-07", "--format", "json", "--home", str(out))
    assert {a["id"] for a in json.loads(later.stdout)} == {a["id"] for a in stored if a["open"]}
    assert _cli("alerts", "list", "--since", "soon", "--home", str(out)).returncode == 2


def test_alerts_check_finds_stalled_services_after_the_run(
    demo: tuple[Path, list[dict[str, Any]]],
) -> None:
    """The watchdog, as from cron, two days after the demo's probes stopped."""
    out, _ = demo
    result = _cli("alerts", "check", "--home", str(out), "--at", "2026-10-08T00:00:00+02:00")
    assert result.returncode == 1, result.stderr  # alerts are open
    listed = json.loads(_cli("alerts", "list", "--format", "json", "--home", str(out)).stdout)
    stalled = [a for a in listed if a["kind"] == "stalled"]
    assert {a["service"] for a in stalled} >= {CLOSED, FINE}
    assert all(a["figures"]["cadence_seconds"] == 6 * 3600 for a in stalled)
    again = _cli("alerts", "check", "--home", str(out), "--at", "2026-10-08T01:00:00+02:00")
    assert again.returncode == 1
    relisted = json.loads(_cli("alerts", "list", "--format", "json", "--home", str(out)).stdout)
    assert len(relisted) == len(listed)  # nothing twice


def test_a_bad_notify_url_is_a_usage_error(tmp_path: Path) -> None:
    result = _cli("demo", "--days", "1", "--no-serve", "--out", str(tmp_path), "--notify", "x://")
    assert result.returncode == 2 and "not an Apprise URL" in result.stderr
    bad = tmp_path / "alerts.toml"
    bad.write_text('[rules]\nclosed_probes = 0\n[notify]\nquiet_hours = "soon"\n')
    result = _cli("demo", "--days", "1", "--no-serve", "--out", str(tmp_path),
                  "--alerts-config", str(bad))  # fmt: skip
    assert result.returncode == 2
    assert "alerts.toml:2:" in result.stderr and "alerts.toml:4:" in result.stderr


NIGHT = datetime(2026, 10, 5, 21, 30, tzinfo=UTC)  # 23:30 in Paris
NEWS = Message(
    title="Guichet fermé : Clermont",
    body="Aucune date de rendez-vous.",
    alert_id="a1",
    change="opened",
    kind="closed",
    cause="no_slot",
    service=CLOSED,
)


def _stop_a_run(db: str, url: str, at: datetime, **options: Any) -> Dispatcher:
    """A run that queues NEWS for ``url`` and stops, as ``guichets run`` does (no draining)."""

    async def run() -> Dispatcher:
        with Store.open(db) as store:
            d = Dispatcher([url], SimulatedClock(at), store, **options)
            d.start()
            d.submit(NEWS)
            await d.close(drain=False)
            return d

    return asyncio.run(run())


def test_the_outbox_shows_what_waits_and_the_watchdog_sends_it(tmp_path: Path) -> None:
    """``guichets alerts outbox`` lists a message held by quiet hours when the run stopped;
    ``guichets alerts check --notify`` from cron, after they end, sends it, once."""
    db = sqlite_url(tmp_path)
    receiver = Receiver()
    thread = threading.Thread(target=receiver.serve_forever, daemon=True)
    thread.start()
    try:
        _stop_a_run(db, receiver.url, NIGHT, quiet=QuietHours.parse("22:00-07:00"))
        assert receiver.bodies == []
        shown = _cli("alerts", "outbox", "--db", db)
        assert shown.returncode == 0, shown.stderr
        assert "waiting" in shown.stdout and NEWS.title in shown.stdout
        assert "127.0.0.1" in shown.stdout and "6 octobre 2026 à 07 h 00" in shown.stdout
        [row] = json.loads(_cli("alerts", "outbox", "--format", "json", "--db", db).stdout)
        assert row["state"] == "waiting" and row["attempts"] == 0 and row["alert_id"] == "a1"
        listed = _cli("alerts", "list", "--db", db)
        assert "1 message(s) in the outbox" in listed.stderr
        for at in ("2026-10-06T06:00:00+02:00", "2026-10-06T08:00:00+02:00",
                   "2026-10-06T09:00:00+02:00"):  # fmt: skip
            checked = _cli("alerts", "check", "--db", db, "--notify", receiver.url, "--at", at)
            assert checked.returncode == 0, checked.stderr
        assert [b["title"] for b in receiver.bodies] == [NEWS.title]  # after 07:00, once
        assert "the outbox is empty" in _cli("alerts", "outbox", "--db", db).stdout
    finally:
        receiver.shutdown()
        receiver.server_close()


def test_a_given_up_message_stays_in_the_outbox_until_retried(tmp_path: Path) -> None:
    db = sqlite_url(tmp_path)
    with socket.socket() as s:  # a port where nothing listens: every attempt fails
        s.bind(("127.0.0.1", 0))
        nowhere = f"json://127.0.0.1:{s.getsockname()[1]}/"
    d = _stop_a_run(db, nowhere, NIGHT.replace(hour=10), backoff=(), report=lambda _: None)
    assert d.given_up_count == 1
    [row] = json.loads(_cli("alerts", "outbox", "--format", "json", "--db", db).stdout)
    assert row["state"] == "given_up" and row["attempts"] == 1 and row["last_error"]
    # A run delivering elsewhere says so at start, and leaves it alone.
    other = _cli("alerts", "check", "--db", db, "--notify", "json://127.0.0.1:9/",
                 "--at", "2026-10-06T08:00:00+02:00")  # fmt: skip
    assert "1 alert message(s) in the outbox are for a receiver this run does not" in (
        " ".join(other.stderr.split())
    )
    retried = _cli("alerts", "outbox", "--retry", "--format", "json", "--db", db)
    assert "1 message(s) back in the queue" in retried.stderr
    [row] = json.loads(retried.stdout)
    assert row["state"] == "waiting" and row["attempts"] == 0

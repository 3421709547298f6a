"""The console's locks, without a browser: accounts (Argon2id), sessions, CSRF on every POST, rate
limits, the daily ceiling of attempts, and the limits no configuration may pass."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from guichets.assist.accounts import Accounts
from guichets.assist.attempt import CEILING, Limits
from guichets.assist.console import LOGIN_FAILURES, Console, due_attempts, is_loopback
from guichets.catalogue import Service
from guichets.clock import SimulatedClock
from guichets.evidence.archive import EvidenceArchive
from guichets.store import Store
from guichets.store.assisted import Attempt, save_attempt

NOW = datetime(2026, 10, 5, 8, 0, tzinfo=UTC)
SERVICE = Service(
    id="33-bordeaux-titre", departement="33", site="Gironde", procedure="titre-sejour",
    platform="rdvpref", url="http://127.0.0.1:9/rdvpref/reservation/demarche/2200/",
    cadence="1h",
)  # fmt: skip


def _csrf(page: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match, page
    return match.group(1)


async def test_accounts_sessions_csrf_rate_limits_and_ceiling(tmp_path: Path) -> None:
    book = Accounts(tmp_path / "assist" / "accounts.json")
    account = book.add("benevole", "un mot de passe long")
    assert account.person.startswith("p-") and "benevole" not in account.person
    stored = (tmp_path / "assist" / "accounts.json").read_text()
    assert "un mot de passe long" not in stored and "$argon2id$" in stored
    assert (tmp_path / "assist" / "accounts.json").stat().st_mode & 0o077 == 0
    with pytest.raises(ValueError, match="at least"):
        book.add("autre", "court")
    clock = SimulatedClock(NOW, autojump=False)
    with Store.open(None, home=tmp_path) as store, EvidenceArchive(tmp_path, store, clock) as arch:
        console = Console(
            services=[SERVICE], store=store, archive=arch, clock=clock,
            limits=Limits(per_day=2), browser=None, accounts=book,
        )  # fmt: skip
        async with TestClient(TestServer(console.app())) as client:
            # No session: every POST is refused, the pages ask to log in.
            bare = await client.post("/tentatives", data={"service": SERVICE.id})
            assert bare.status == 403
            assert "Identifiant" in await (await client.get("/")).text()
            wrong = await client.post("/connexion", data={"login": "benevole", "mot_de_passe": "x"})
            assert wrong.status == 403
            right = await client.post(
                "/connexion",
                data={"login": "benevole", "mot_de_passe": "un mot de passe long"},
                allow_redirects=False,
            )
            assert right.status == 303
            cookie = right.cookies["guichets_assist"]
            assert cookie["httponly"] and cookie["samesite"] == "Strict"
            home = await client.get("/")
            assert account.person in await home.text()
            assert "default-src 'none'" in home.headers["Content-Security-Policy"]
            page = await (await client.get(f"/services/{SERVICE.id}")).text()
            token = _csrf(page)
            # A session without its token is refused too.
            missing = await client.post("/tentatives", data={"service": SERVICE.id})
            assert missing.status == 403
            # The daily ceiling: two attempts made today, the third is refused before any browser.
            for n in range(2):
                save_attempt(store, Attempt(f"a{n}", account.person, SERVICE.id, SERVICE.url, NOW))
            refused = await client.post("/tentatives", data={"service": SERVICE.id, "csrf": token})
            assert refused.status == 429 and "limite est de 2 par jour" in await refused.text()
            logout = await client.post("/deconnexion", data={"csrf": token}, allow_redirects=False)
            assert logout.status == 303
            assert (await client.post("/tentatives", data={"csrf": token})).status == 403
            # Logins are rate-limited per client address.
            for _ in range(LOGIN_FAILURES):
                await client.post("/connexion", data={"login": "benevole", "mot_de_passe": "x"})
            late = await client.post(
                "/connexion", data={"login": "benevole", "mot_de_passe": "un mot de passe long"}
            )
            assert late.status == 429


def test_limits_never_pass_the_ceiling_and_the_schedule_offers_attempts() -> None:
    with pytest.raises(ValueError, match="ceiling"):
        Limits(per_day=CEILING + 1)
    assert Limits().max_reads == 13  # one read every 5 minutes for an hour, the first included
    offered = [
        at for hour in range(48) for _, at in due_attempts([SERVICE], NOW + timedelta(hours=hour),
                                                            timedelta(days=1))
    ]  # fmt: skip
    assert offered and all(at.tzinfo is not None for at in offered)
    assert len({a.date() for a in offered}) >= 1
    assert is_loopback("127.0.0.1") and is_loopback("::1") and not is_loopback("0.0.0.0")


async def test_a_loopback_console_logs_in_once_with_its_link(tmp_path: Path) -> None:
    clock = SimulatedClock(NOW, autojump=False)
    with Store.open(None, home=tmp_path) as store, EvidenceArchive(tmp_path, store, clock) as arch:
        console = Console(
            services=[SERVICE], store=store, archive=arch, clock=clock, limits=Limits(),
            browser=None, person="p-local",
        )  # fmt: skip
        token = console.login_token
        async with TestClient(TestServer(console.app())) as client:
            assert (await client.get("/?jeton=nope")).status == 403
            first = await client.get(f"/?jeton={token}", allow_redirects=False)
            assert first.status == 303
            assert "p-local" in await (await client.get("/")).text()
        async with TestClient(TestServer(console.app())) as other:
            assert (await other.get(f"/?jeton={token}")).status == 403  # used once only


def test_the_console_refuses_other_addresses_without_accounts(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from guichets.catalogue import catalogue_to_toml
    from guichets.cli import app

    (tmp_path / "catalogue.toml").write_text(catalogue_to_toml([SERVICE]), encoding="utf-8")
    result = CliRunner().invoke(
        app,
        ["assist", "--listen", "0.0.0.0", "--home", str(tmp_path)],
    )
    assert result.exit_code == 2
    assert "needs accounts" in " ".join(result.output.split())
    too_many = CliRunner().invoke(app, ["assist", "--per-day", "7", "--home", str(tmp_path)])
    assert too_many.exit_code == 2  # never above the ceiling


def test_the_assisted_browser_refuses_before_sending() -> None:
    """The route's check: the truth, personal data, a check of a code with the captcha service,
    booking steps, and any captcha answer the person did not just type; one answer per answer."""
    from yarl import URL

    from guichets.assist.browser import PageRecorder
    from guichets.http import ForbiddenRequest
    from guichets.platforms import guard_for

    recorder = PageRecorder(
        guard_for("rdvpref"), SimulatedClock(NOW), lambda exchange: None, user_agent="x"
    )
    base = "http://127.0.0.1:9/rdvpref/reservation/demarche/2200"
    answer = {"CTX": "c", "captchaUsercode": "AB12CD", "BDC_VCID_captchaFR": "id"}
    refused = [
        ("GET", "http://127.0.0.1:9/_captcha/0123", {}),
        ("POST", f"{base}/_validerCaptcha", answer),  # nobody typed it
        ("POST", f"{base}/_validerCaptcha", {"CTX": "c", "email": "a@b.fr"}),
        ("GET", "http://127.0.0.1:9/piste/captcha/simple-captcha-endpoint?get=validation", {}),
        ("GET", f"{base}/formulaire/", {}),
        ("POST", f"{base}/creneau/", {"trhId": "1"}),
    ]
    for method, url, fields in refused:
        with pytest.raises(ForbiddenRequest):
            recorder.check(method, URL(url), fields)
    recorder.check("GET", URL(f"{base}/cgu/"), {})
    recorder.check(
        "GET", URL("http://127.0.0.1:9/piste/captcha/simple-captcha-endpoint?get=image"), {}
    )
    recorder.answers_allowed = 1  # the person pressed « Envoyer »
    recorder.check("POST", URL(f"{base}/_validerCaptcha"), answer)
    with pytest.raises(ForbiddenRequest, match="did not just type"):
        recorder.check("POST", URL(f"{base}/_validerCaptcha"), answer)  # never replayed


def test_answers_are_redacted_in_the_archive() -> None:
    from guichets.assist.browser import redact_answers

    sent = b"CTX=c1&captchaUsercode=K7MPX3&BDC_VCID_captchaFR=abc&captchaKeys=6"
    kept = redact_answers(sent)
    assert b"K7MPX3" not in kept and b"captchaUsercode=%2A%2A%2A%2A%2A%2A" in kept
    assert b"CTX=c1" in kept and redact_answers(b"condition=on") == b"condition=on"

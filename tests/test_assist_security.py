"""The console's locks, without a browser: accounts (Argon2id), sessions, CSRF on every POST, rate
limits, the daily ceiling of attempts, and the limits no configuration may pass."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

import guichets.assist.console as console_module
from guichets.assist.accounts import Accounts
from guichets.assist.attempt import CEILING, Limits
from guichets.assist.console import (
    LOGIN_FAILURES,
    Console,
    client_address,
    due_attempts,
    failures_key,
    is_loopback,
    proxy_networks,
)
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
            # The captcha shown is kept by no cache of the person's browser either.
            assert home.headers["Cache-Control"] == "no-store"
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


async def test_failed_logins_behind_a_trusted_proxy_are_counted_per_forwarded_address(
    tmp_path: Path,
) -> None:
    """Behind the operator's reverse proxy every connection comes from the proxy: the count is
    kept per address the proxy saw (X-Forwarded-For, read from the right), so one person's wrong
    passwords do not lock the others out; without --trusted-proxy the header is not believed."""
    book = Accounts(tmp_path / "assist" / "accounts.json")
    book.add("benevole", "un mot de passe long")
    right = {"login": "benevole", "mot_de_passe": "un mot de passe long"}
    wrong = {"login": "benevole", "mot_de_passe": "x"}
    clock = SimulatedClock(NOW, autojump=False)

    def console(trusted: tuple[str, ...], store: Store, arch: EvidenceArchive) -> Console:
        return Console(
            services=[SERVICE], store=store, archive=arch, clock=clock, limits=Limits(),
            browser=None, accounts=book, trusted_proxies=proxy_networks(trusted),
        )  # fmt: skip

    def via(address: str) -> dict[str, str]:  # a client's forged part, then what nginx appends
        return {"X-Forwarded-For": f"198.51.100.1, {address}"}

    with Store.open(None, home=tmp_path) as store, EvidenceArchive(tmp_path, store, clock) as arch:
        async with TestClient(TestServer(console(("127.0.0.0/8",), store, arch).app())) as client:
            for _ in range(LOGIN_FAILURES):
                await client.post("/connexion", data=wrong, headers=via("203.0.113.5"))
            locked = await client.post("/connexion", data=right, headers=via("203.0.113.5"))
            assert locked.status == 429
            other = await client.post(
                "/connexion", data=right, headers=via("203.0.113.6"), allow_redirects=False
            )
            assert other.status == 303  # another person, behind the same proxy, logs in
        async with TestClient(TestServer(console((), store, arch).app())) as client:
            for n in range(LOGIN_FAILURES):  # a different forged address each time: not believed
                await client.post("/connexion", data=wrong, headers=via(f"203.0.113.{n}"))
            late = await client.post("/connexion", data=right, headers=via("203.0.113.99"))
            assert late.status == 429


def test_the_client_address_is_never_one_a_client_chose() -> None:
    proxies = proxy_networks(["127.0.0.1", "10.0.0.0/8", "::1"])
    assert client_address("127.0.0.1", ["203.0.113.5"], proxies) == "203.0.113.5"
    # Through two of our proxies: the nearest address that is not one of them.
    assert client_address("10.1.2.3", ["198.51.100.1, 203.0.113.5, 10.0.0.7"], proxies) == (
        "203.0.113.5"
    )
    assert client_address("::1", ["2001:db8::5"], proxies) == "2001:db8::5"
    # The proxy seen through a socket that takes IPv6 and IPv4: an IPv4-mapped address.
    assert client_address("::ffff:127.0.0.1", ["203.0.113.5"], proxies) == "203.0.113.5"
    assert client_address("10.0.0.2", ["::ffff:203.0.113.5"], proxies) == "203.0.113.5"
    assert client_address("10.0.0.2", ["203.0.113.5, ::ffff:10.0.0.9"], proxies) == ("203.0.113.5")
    # Not from a trusted proxy, no header, garbage, or only proxies: the connection's address.
    assert client_address("192.0.2.9", ["203.0.113.5"], proxies) == "192.0.2.9"
    assert client_address("127.0.0.1", [], proxies) == "127.0.0.1"
    assert client_address("127.0.0.1", ["203.0.113.5, <script>"], proxies) == "127.0.0.1"
    assert client_address("127.0.0.1", ["10.0.0.1"], proxies) == "127.0.0.1"
    assert client_address(None, ["203.0.113.5"], proxies) == "?"
    assert client_address("127.0.0.1", ["203.0.113.5"], ()) == "127.0.0.1"
    with pytest.raises(ValueError, match="not an IP address or network"):
        proxy_networks(["proxy.example.org"])


async def test_failed_logins_from_one_ipv6_network_are_counted_together(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One subscriber holds a whole IPv6 /64: five wrong passwords from it lock it out, whichever
    of its addresses comes next; another network is not locked; and the table of failures
    forgets, past its bound, the addresses whose failures are over 15 minutes old."""
    book = Accounts(tmp_path / "assist" / "accounts.json")
    book.add("benevole", "un mot de passe long")
    right = {"login": "benevole", "mot_de_passe": "un mot de passe long"}
    wrong = {"login": "benevole", "mot_de_passe": "x"}
    clock = SimulatedClock(NOW, autojump=False)
    seconds = [1000.0]
    monkeypatch.setattr(console_module.time, "monotonic", lambda: seconds[0])
    monkeypatch.setattr(console_module, "FAILURES_KEPT", 3)

    def via(address: str) -> dict[str, str]:
        return {"X-Forwarded-For": address}

    with Store.open(None, home=tmp_path) as store, EvidenceArchive(tmp_path, store, clock) as arch:
        console = Console(
            services=[SERVICE], store=store, archive=arch, clock=clock, limits=Limits(),
            browser=None, accounts=book, trusted_proxies=proxy_networks(["127.0.0.0/8"]),
        )  # fmt: skip
        async with TestClient(TestServer(console.app())) as client:
            for n in range(LOGIN_FAILURES):
                await client.post("/connexion", data=wrong, headers=via(f"2001:db8:1:2::{n + 1}"))
            late = await client.post("/connexion", data=right, headers=via("2001:db8:1:2::ff"))
            assert late.status == 429
            other = await client.post(
                "/connexion", data=right, headers=via("2001:db8:1:3::1"), allow_redirects=False
            )
            assert other.status == 303
            assert list(console._failures) == ["2001:db8:1:2::/64"]  # a success adds nothing
            seconds[0] += 901  # those failures are old now; a few more addresses fail
            for n in range(4):
                await client.post("/connexion", data=wrong, headers=via(f"192.0.2.{n}"))
            assert sorted(console._failures) == [f"192.0.2.{n}" for n in range(4)]


def test_failures_are_counted_per_ipv4_address_and_per_ipv6_network() -> None:
    assert failures_key("192.0.2.7") == "192.0.2.7"
    assert failures_key("::ffff:192.0.2.7") == "192.0.2.7"
    assert failures_key("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::/64"
    assert failures_key("2001:DB8:1:2::ff") == "2001:db8:1:2::/64"
    assert failures_key("?") == "?"


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

    recorder = PageRecorder(guard_for("rdvpref"), SimulatedClock(NOW), lambda exchange: None)
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
    recorder.typed = "ZZZZZZ"  # the person typed something else: this answer is not theirs
    with pytest.raises(ForbiddenRequest, match="did not just type"):
        recorder.check("POST", URL(f"{base}/_validerCaptcha"), answer)
    typed_but_spent = {**answer, "captchaUsercode": "ZZZZZZ"}
    with pytest.raises(ForbiddenRequest, match="did not just type"):  # and the typing is spent
        recorder.check("POST", URL(f"{base}/_validerCaptcha"), typed_but_spent)
    recorder.typed = "AB12CD"  # the person typed it and pressed « Envoyer »
    recorder.check("POST", URL(f"{base}/_validerCaptcha"), answer)
    with pytest.raises(ForbiddenRequest, match="did not just type"):
        recorder.check("POST", URL(f"{base}/_validerCaptcha"), answer)  # never replayed


class _Request:
    """What Playwright's routed request exposes, for a request the page makes."""

    def __init__(self, method: str, url: str, body: bytes | None = None) -> None:
        self.method, self.url, self.post_data_buffer = method, url, body

    async def all_headers(self) -> dict[str, str]:
        kind = "application/x-www-form-urlencoded" if self.post_data_buffer else "text/html"
        return {"content-type": kind}


class _Route:
    def __init__(self, request: _Request) -> None:
        self.request, self.aborted = request, ""

    async def abort(self, reason: str) -> None:
        self.aborted = reason


async def test_refused_requests_are_kept_in_the_attempts_evidence(tmp_path: Path) -> None:
    """A page that asks for a booking step or sends personal data gets nothing sent, and each
    refusal is written with the read that followed (without the query, which may hold what was
    refused), counted past the first ones kept, and shown in the dossier's list of reads."""
    from guichets.assist.attempt import AttemptRun
    from guichets.assist.browser import MAX_REFUSALS_KEPT, PageRecorder
    from guichets.evidence.dossier import _attempts_html
    from guichets.model import Observation, Outcome
    from guichets.periods import DateRange
    from guichets.platforms import guard_for

    clock = SimulatedClock(NOW, autojump=False)
    base = "http://127.0.0.1:9/rdvpref/reservation/demarche/2200"
    with Store.open(None, home=tmp_path) as store, EvidenceArchive(tmp_path, store, clock) as arch:
        recorder = PageRecorder(guard_for("rdvpref"), clock, lambda exchange: None)
        attempt = Attempt("a1", "p-1", SERVICE.id, SERVICE.url, NOW)
        run = AttemptRun(attempt, SERVICE, None, None, recorder, arch, store, clock, Limits())
        run._new_probe()
        assert "refused" not in run._extra({})  # nothing refused: nothing more said
        asks = [
            _Request("GET", f"{base}/formulaire/?nom=Dupont"),
            _Request("POST", f"{base}/_validerCaptcha", b"CTX=c&email=a%40b.fr"),
        ]
        for request in asks:
            route = _Route(request)
            await recorder.route(route)
            assert route.aborted == "blockedbyclient"
        extra = run._extra({})
        assert extra["refused_requests"] == "2"
        lines = extra["refused"].splitlines()
        assert [line.split(" ", 2)[1:] for line in lines] == [
            ["GET", f"{base}/formulaire/: " + lines[0].split(": ", 1)[1]],
            ["POST", f"{base}/_validerCaptcha: " + lines[1].split(": ", 1)[1]],
        ]
        assert "Dupont" not in extra["refused"] and "a@b.fr" not in extra["refused"]
        assert "'email'" in lines[1]  # which field was refused, not its value
        # The next read starts afresh; past the first ones kept, refusals are still counted.
        run._new_probe()
        for _ in range(MAX_REFUSALS_KEPT + 5):
            await recorder.route(_Route(_Request("GET", f"{base}/formulaire/")))
        extra = run._extra({})
        assert extra["refused_requests"] == str(MAX_REFUSALS_KEPT + 5)
        assert len(extra["refused"].splitlines()) == MAX_REFUSALS_KEPT - 2
    read = Observation(
        probe_id="p" * 32, service=SERVICE.id, platform="rdvpref", url=SERVICE.url,
        started_at=NOW, finished_at=NOW, outcome=Outcome.UNAVAILABLE, detail="no_slot_page",
        departement="33", assisted=True, person="p-1",
        extra={"refused_requests": "1", "refused": '<b>GET</b> "x": refused'},
    )  # fmt: skip
    page = _attempts_html("s", DateRange(NOW.date(), NOW.date()), [read], [[""] * 11], [])
    assert "refusées par guichets, jamais envoyées au site (1)" in page.decode()
    assert "&lt;b&gt;GET&lt;/b&gt;" in page.decode() and "<b>GET" not in page.decode()


def test_answers_are_redacted_in_the_archive() -> None:
    from guichets.assist.browser import redact_answers

    sent = b"CTX=c1&captchaUsercode=K7MPX3&BDC_VCID_captchaFR=abc&captchaKeys=6"
    kept = redact_answers(sent)
    assert b"K7MPX3" not in kept and b"captchaUsercode=%2A%2A%2A%2A%2A%2A" in kept
    assert b"CTX=c1" in kept and redact_answers(b"condition=on") == b"condition=on"


async def test_two_starts_at_once_cannot_pass_the_daily_ceiling(tmp_path: Path) -> None:
    """A double click or two tabs: both starts run while the first waits for its browser; the
    count and the attempt's row happen before any wait, so the second is refused."""
    import asyncio

    from guichets.assist.attempt import AttemptError, AttemptRun
    from guichets.store.assisted import attempts_on_day

    class SlowBrowser:  # stands for Playwright's Browser: it yields, then has no context to give
        async def new_context(self, **_: object) -> object:
            await asyncio.sleep(0.01)
            raise RuntimeError("no browser in this test")

    clock = SimulatedClock(NOW, autojump=False)
    with Store.open(None, home=tmp_path) as store, EvidenceArchive(tmp_path, store, clock) as arch:

        async def start() -> AttemptRun:
            return await AttemptRun.start(
                SlowBrowser(), person="p-x", service=SERVICE, store=store, archive=arch,
                clock=clock, limits=Limits(per_day=1),
            )  # fmt: skip

        results = await asyncio.gather(start(), start(), start(), return_exceptions=True)
        refused = [r for r in results if isinstance(r, AttemptError)]
        assert len(refused) == 2, results
        assert attempts_on_day(store, "p-x", SERVICE.id, NOW.date()) == 1


# Libraries that read an image or a sound, or sell answers: none may ever be a dependency.
SOLVERS = (
    "pytesseract", "tesserocr", "easyocr", "paddleocr", "ocrmypdf", "keras-ocr", "doctr",
    "python-doctr", "kraken", "calamari-ocr", "speechrecognition", "vosk", "openai-whisper",
    "faster-whisper", "whisper", "deepspeech", "pocketsphinx", "transformers", "torch",
    "2captcha-python", "anticaptchaofficial", "capsolver", "python-anticaptcha", "twocaptcha",
    "deathbycaptcha", "captcha-solver", "opencv-python", "opencv-python-headless",
)  # fmt: skip


def test_no_dependency_or_import_reads_a_captcha() -> None:
    """No OCR, speech recognition or solving service among the dependencies, the pins or the
    imports: the only eyes and ears on a captcha are a person's."""
    import tomllib

    root = Path(__file__).resolve().parents[1]
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = [*project.get("dependencies", [])]
    for extra in project.get("optional-dependencies", {}).values():
        declared.extend(extra)
    declared.extend((root / "constraints.txt").read_text(encoding="utf-8").splitlines())
    names = {
        re.split(r"[\s\[<>=!~;@]", line.strip(), maxsplit=1)[0].lower().replace("_", "-")
        for line in declared
        if line.strip() and not line.lstrip().startswith("#")
    }
    assert names and not names & set(SOLVERS), names & set(SOLVERS)
    modules = {name.replace("-", "_").split("_python")[0] for name in SOLVERS} | {
        "speech_recognition", "twocaptcha", "cv2", "whisper", "anticaptchaofficial",
    }  # fmt: skip
    pattern = re.compile(
        r"^\s*(?:from|import)\s+(" + "|".join(sorted(map(re.escape, modules))) + r")\b", re.M
    )
    found = [
        (str(path.relative_to(root)), hit.group(1))
        for path in (root / "src").rglob("*.py")
        for hit in pattern.finditer(path.read_text(encoding="utf-8"))
    ]
    assert not found, found


@pytest.mark.parametrize("person", ["Jean Dupont", "../../etc/x", "p-<b>", "p-", "=p-1", "p-1/.."])
async def test_a_person_is_an_opaque_id_everywhere(tmp_path: Path, person: str) -> None:
    """A name, a path or markup can be no probe's or attempt's person, and names no dossier: the
    id is written into a ZIP member's name, HTML and CSV cells as it is."""
    from datetime import date

    from guichets.evidence.dossier import DossierError
    from guichets.evidence.person_dossier import build_person_dossier
    from guichets.model import Detail, Observation, Outcome
    from guichets.periods import DateRange

    with pytest.raises(ValueError, match="opaque id"):
        Observation(
            probe_id="x", service=SERVICE.id, platform="rdvpref", url=SERVICE.url, started_at=NOW,
            finished_at=NOW, outcome=Outcome.BARRIER, detail=Detail.CAPTCHA, requests=0,
            message="", assisted=True, person=person,
        )  # fmt: skip
    with pytest.raises(ValueError, match="opaque id"):
        Attempt("a", person, SERVICE.id, SERVICE.url, NOW)
    with Store.open(None, home=tmp_path) as store, pytest.raises(DossierError, match="person id"):
        await build_person_dossier(
            tmp_path, store, person=person, days=DateRange(date(2026, 10, 1), date(2026, 10, 5)),
            out=tmp_path / "d.zip",
        )  # fmt: skip
    assert not (tmp_path / "d.zip").exists()


async def test_a_captcha_goes_to_its_own_person_only(tmp_path: Path) -> None:
    """The captcha an attempt received is served to the person who started it, and to nobody
    else logged in to the same console (another account sees neither its page nor its image)."""
    from guichets.assist.attempt import AttemptRun
    from guichets.assist.browser import PageRecorder
    from guichets.platforms import guard_for

    book = Accounts(tmp_path / "assist" / "accounts.json")
    mine, other = book.add("une", "un mot de passe long"), book.add("autre", "un autre mot long")
    clock = SimulatedClock(NOW, autojump=False)
    image = b"\x89PNG\r\n\x1a\n the captcha shown"
    with Store.open(None, home=tmp_path) as store, EvidenceArchive(tmp_path, store, clock) as arch:
        console = Console(
            services=[SERVICE], store=store, archive=arch, clock=clock, limits=Limits(),
            browser=None, accounts=book,
        )  # fmt: skip
        attempt = Attempt("a1", mine.person, SERVICE.id, SERVICE.url, NOW)
        recorder = PageRecorder(guard_for("rdvpref"), clock, lambda e: None)
        run = AttemptRun(
            attempt, SERVICE, None, None, recorder, arch, store, clock, Limits(), image=image
        )
        console.runs[run.id] = run
        for account, password, status in ((mine, "un mot de passe long", 200),
                                          (other, "un autre mot long", 404)):  # fmt: skip
            async with TestClient(TestServer(console.app())) as client:
                login = {"login": account.login, "mot_de_passe": password}
                assert (await client.post("/connexion", data=login)).status == 200
                got = await client.get(f"/tentatives/{run.id}/captcha")
                assert got.status == status and (await got.read() == image) == (status == 200)
                assert (await client.get(f"/tentatives/{run.id}")).status == status


async def test_the_readers_browser_session_refuses_the_truth_and_captcha_fields() -> None:
    """The robot's reader in the person's browser context: the simulator's captcha truth and
    any captcha or personal field are refused before the context is asked for anything."""
    from guichets.assist.browser import BrowserSession
    from guichets.http import ForbiddenRequest, HostGates, Politeness

    session = BrowserSession(None, HostGates(SimulatedClock(NOW), Politeness(min_gap=0)))
    base = "http://127.0.0.1:9"
    with pytest.raises(ForbiddenRequest):
        await session.get(f"{base}/_captcha/0123")
    with pytest.raises(ForbiddenRequest):
        await session.get(f"{base}/_captcha/{'0' * 64}?x=1")
    for name in ("captchaUsercode", "captcha", "captchacode", "email", "nom"):
        with pytest.raises(ForbiddenRequest):
            await session.post(f"{base}/rdvpref/reservation/demarche/2200/cgu/", {name: "x"})
    assert session.requests == 0


async def test_a_hostile_service_label_is_text_in_the_console(tmp_path: Path) -> None:
    """Catalogue labels and sites are untrusted text: the console's pages show them escaped."""
    label, site = "<script>alert(1)</script>", "<img src=x onerror=alert(2)>"
    hostile = Service(**{**SERVICE.model_dump(), "label": label, "site": site})
    clock = SimulatedClock(NOW, autojump=False)
    with Store.open(None, home=tmp_path) as store, EvidenceArchive(tmp_path, store, clock) as arch:
        console = Console(
            services=[hostile], store=store, archive=arch, clock=clock, limits=Limits(),
            browser=None, person="p-local",
        )  # fmt: skip
        async with TestClient(TestServer(console.app())) as client:
            home = await (await client.get(f"/?jeton={console.login_token}")).text()
            page = await (await client.get(f"/services/{hostile.id}")).text()
            for text in (home, page):
                assert label not in text and site not in text
            assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
            assert "&lt;img src=x onerror=alert(2)&gt;" in home


def test_the_scripted_person_answers_only_a_local_simulator() -> None:
    """The demo's scripted person reads captcha answers from a simulator's truth: never from any
    address but this machine's."""
    from guichets.usecases.demo_person import ScriptedPerson

    for truth in ("https://www.rdv-prefecture.interieur.gouv.fr", "http://10.0.0.1:8080"):
        with pytest.raises(ValueError, match="local simulator"):
            ScriptedPerson(None, "http://127.0.0.1:8766", truth)
    assert ScriptedPerson(None, "http://127.0.0.1:8766", "http://127.0.0.1:8000").truth_url

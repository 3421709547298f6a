"""Screenshots of archived pages: the page a probe saw, rendered from its WARC record.

Courts want screenshots with the URL, the date and the time visible. A new visit would show
another moment, so the page is rendered from the archive: headless Chromium (Playwright driving
Debian's ``chromium``, never a downloaded browser) asks for the probe's URL, and every request the
page makes is answered from the probe's archived responses or refused, so nothing live is ever
fetched. JavaScript is off, and every navigation after the first is answered "204 No Content"
(which a browser takes as "stay where you are"), so a ``<meta http-equiv=refresh>`` or a link
cannot take the page elsewhere. A banner on top says what it is: URL, date and time in
Europe/Paris and in UTC, service, probe id, and the record's SHA-256. The banner is out of the
archived page's reach: it is rendered as a document of its own (our HTML, in a browser context
that loads nothing) and composed above the page's screenshot with Pillow, so no CSS of the page
can hide, move or imitate it in place.

The page shown is the last one the probe received (not robots.txt): the "no slot" page, the error
or the refusal; for a probe that saw slots, the page where its first slot is (a link ending in the
slot's Unix time, as the legacy module writes them), else the last page. A probe that received
nothing gets a card saying so.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from yarl import URL

from guichets.clock import parse_instant
from guichets.evidence import layout
from guichets.evidence.warc import ReadRecord, read_member, read_record
from guichets.http.decode import decode as decode_content  # the robot's own bounded decoder
from guichets.model import PARIS, Observation
from guichets.store import EvidenceRecord, LedgerEntry, Store

__all__ = [
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "ArchivedProbe",
    "Renderer",
    "ScreenshotError",
    "banner_lines",
    "load_probe",
    "screenshot_name",
]

CHROMIUM = os.environ.get("GUICHETS_CHROMIUM", "/usr/bin/chromium")
# Without the background-networking flags Chromium tries to reach Google; the page's own requests
# are answered from the archive or refused by the route below, whatever these flags do.
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
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_DROP = frozenset({"content-encoding", "transfer-encoding", "content-length", "set-cookie"})
_MAX_BODY = 20_000_000
MAX_PAGE_HEIGHT = 12_000
"""Pixels of the archived page kept in a screenshot: a page as long as it likes cannot exhaust
memory; the banner says when the page was cut."""
_TIMEOUT_MS = 30_000


class ScreenshotError(Exception):
    """The page cannot be rendered: no such probe, records pruned, no browser; says which."""


@dataclass(frozen=True)
class Archived:
    """One archived response, as read back from its record."""

    row: EvidenceRecord
    record: ReadRecord
    at: datetime  # WARC-Date: when the request was sent (UTC)

    @property
    def body(self) -> bytes:
        """The body as a browser would get it: transfer and content codings undone."""
        body = self.record.body
        if "chunked" in (self.record.header("Transfer-Encoding") or "").lower():
            body = _dechunk(body)
        return decode_content(body, self.record.header("Content-Encoding") or "", _MAX_BODY, True)

    def headers(self) -> list[tuple[str, str]]:
        return [(k, v) for k, v in self.record.http_headers if k.lower() not in _DROP]


@dataclass(frozen=True)
class ArchivedProbe:
    """What a screenshot of one probe needs, all read from the archive and the ledger."""

    probe_id: str
    service: str
    outcome: str
    detail: str
    page: Archived | None  # the last response; None when none came
    responses: tuple[Archived, ...]
    failure: str  # why no response came, from the probe's metadata record
    entry: LedgerEntry | None
    attempt: str = ""  # an assisted read: its attempt (guichets assist), and the person's id
    person: str = ""


def _dechunk(data: bytes) -> bytes:
    out, position = bytearray(), 0
    while position < len(data):
        end = data.find(b"\r\n", position)
        if end < 0:
            break
        size = int(data[position:end].split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out += data[end + 2 : end + 2 + size]
        position = end + 4 + size
    return bytes(out)


def read_row(home: Path, row: EvidenceRecord) -> ReadRecord:
    """Read one record's bytes from its file and parse them."""
    if row.position is None or row.size is None:
        raise ScreenshotError(
            f"record {row.record_id} of probe {row.probe_id} was pruned by retention "
            f"({row.pruned_at:%Y-%m-%d}): its bytes are gone, only its digest remains"
            if row.pruned_at
            else f"record {row.record_id} has no position in its file"
        )
    path = layout.warc_dir(home) / row.file
    try:
        with path.open("rb") as handle:
            handle.seek(row.position)
            blob = handle.read(row.size)
        return read_record(read_member(blob))
    except (OSError, ValueError) as exc:
        raise ScreenshotError(f"cannot read record {row.record_id} from {path}: {exc}") from exc


def load_probe(home: Path, store: Store, probe_id: str) -> ArchivedProbe:
    """The probe's archived responses, the page to show, and its ledger entry."""
    rows = store.evidence_records(probe_ids=[probe_id])
    if not rows:
        raise ScreenshotError(
            f"no archived record for probe {probe_id!r}: check the id (guichets evidence dossier "
            "lists them), or the probe was stored without evidence"
        )
    entries = store.ledger(probe_ids=[probe_id])
    present = [r for r in rows if r.position is not None]  # retention may have thinned them
    if not present:
        read_row(home, rows[0])  # raises, saying when they were pruned
    responses: list[Archived] = []
    closing: ReadRecord | None = None
    failures: list[str] = []
    for row in present:
        if row.kind == "response":
            record = read_row(home, row)
            responses.append(Archived(row, record, parse_instant(record.date)))
        elif row.kind == "metadata":
            record = read_row(home, row)
            fields = _warc_fields(record.body)
            if "outcome" in fields:
                closing = record
            elif "error" in fields:
                failures.append(f"{row.uri}: {fields['error']}")
    fields = _warc_fields(closing.body) if closing is not None else {}
    pages = [r for r in responses if URL(r.row.uri).path != "/robots.txt"]
    page = pages[-1] if pages else (responses[-1] if responses else None)
    if fields.get("first-slot"):  # show where the first slot is, not the last week read
        stamp = str(int(datetime.fromisoformat(fields["first-slot"]).timestamp())).encode()
        page = next((r for r in pages if stamp in r.body), page)
    return ArchivedProbe(
        probe_id=probe_id,
        service=fields.get("service") or (entries[0].service if entries else "?"),
        outcome=fields.get("outcome", "?"),
        detail=fields.get("detail", "?"),
        page=page,
        responses=tuple(responses),
        failure="; ".join(failures) or "no response was received",
        entry=entries[0] if entries else None,
        attempt=fields.get("attempt", ""),
        person=fields.get("person", ""),
    )


def _warc_fields(block: bytes) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in block.decode("utf-8", errors="replace").split("\r\n"):
        name, sep, value = line.partition(": ")
        if sep:
            fields[name] = value
    return fields


def _when(at: datetime) -> tuple[str, str]:
    paris = at.astimezone(PARIS)
    offset = paris.strftime("%z")
    return (
        f"{paris:%d/%m/%Y à %H:%M:%S} heure de Paris (UTC{offset[:3]}:{offset[3:]})",
        f"{at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC",
    )


def banner_lines(probe: ArchivedProbe) -> list[str]:
    """The banner's lines: what is shown, from where, when, and how to check it."""
    page = probe.page
    digest = page.row.sha256 if page is not None else "-"
    lines = ["Page archivée par guichets : rendue depuis l'archive WARC, sans nouvelle visite"]
    if page is not None:
        paris, utc = _when(page.at)
        lines += [
            f"URL : {page.row.uri}",
            f"Date et heure : {paris} — {utc}",
            f"Réponse : HTTP {page.record.status}",
        ]
    else:
        lines.append(f"Aucune réponse reçue : {probe.failure}")
    lines += [
        f"Service : {probe.service} — sondage {probe.probe_id} — résultat : "
        f"{probe.outcome} ({probe.detail})",
        f"SHA-256 de l'enregistrement WARC : {digest}",
    ]
    if probe.attempt:
        lines.insert(
            -1,
            f"Tentative assistée {probe.attempt} — personne {probe.person} (une personne a "
            "répondu au captcha ; guichets a lu la page)",
        )
    if probe.entry is not None:
        lines.append(
            f"Registre : entrée {probe.entry.seq} du service, SHA-256 {probe.entry.entry_sha256}"
        )
    return lines


def _banner_html(lines: Sequence[str], width: int) -> str:
    """The banner as a document of its own: our markup, the lines escaped."""
    rows = "".join(
        f"<div{' class=first' if i == 0 else ''}>{html.escape(text)}</div>"
        for i, text in enumerate(lines)
    )
    return (
        "<!doctype html><html lang=fr><meta charset=utf-8><style>"
        f"html,body{{margin:0;padding:0;background:#fff4c2;width:{width}px}}"
        "#b{box-sizing:border-box;width:100%;color:#000;border-bottom:4px solid #b00;"
        "padding:8px 12px;font:13px/1.45 'DejaVu Sans',sans-serif;white-space:pre-wrap;"
        "word-break:break-all}.first{font-weight:bold}"
        f"</style><body><div id=b>{rows}</div></body></html>"
    )


def compose(banner: bytes, page: bytes, width: int) -> bytes:
    """The banner's picture above the page's, as one PNG: drawn by us, after the page rendered."""
    from PIL import Image

    with Image.open(io.BytesIO(banner)) as top, Image.open(io.BytesIO(page)) as bottom:
        height = top.height + bottom.height
        whole = Image.new("RGB", (width, height), "white")
        whole.paste(top.convert("RGB"), (0, 0))
        whole.paste(bottom.convert("RGB"), (0, top.height))
    out = io.BytesIO()
    whole.save(out, format="PNG")
    return out.getvalue()


def _card(probe: ArchivedProbe) -> str:
    """A page made by guichets, said to be one, for what a browser cannot show as a page."""
    page = probe.page
    if page is None:
        body = f"<p>Aucune réponse n'a été reçue : {html.escape(probe.failure)}.</p>"
    else:
        heads = "".join(
            f"<li><code>{html.escape(k)}: {html.escape(v)}</code></li>"
            for k, v in page.record.http_headers
        )
        body = (
            f"<p>Réponse HTTP {page.record.status} sans page à afficher "
            f"({len(page.body)} octets). En-têtes reçus :</p><ul>{heads}</ul>"
        )
    return (
        "<!doctype html><html lang=fr><meta charset=utf-8><body style='font-family:sans-serif'>"
        "<h1>Description de l'échange archivé (page composée par guichets)</h1>"
        f"{body}</body></html>"
    )


def screenshot_name(observation: Observation) -> str:
    """``2026-10-05_1403_3f2a9c1e.png``: sorts by time, names the probe."""
    local = observation.started_at.astimezone(PARIS)
    return f"{local:%Y-%m-%d_%H%M}_{observation.probe_id[:8]}.png"


class Renderer:
    """One headless Chromium for many screenshots; the page is reused, its routes replaced."""

    def __init__(
        self, *, width: int = 1100, executable: str = CHROMIUM, browser: Any = None
    ) -> None:
        """``browser``: a Chromium already launched (the assisted console's) to render in a
        context of its own, instead of launching one."""
        self._shared = browser
        if browser is None and not Path(executable).exists():
            raise ScreenshotError(
                f"Chromium not found at {executable}: install Debian's chromium "
                "(apt-get install chromium; make test does it) or set GUICHETS_CHROMIUM"
            )
        self.width = width
        self.executable = executable
        self.blocked: list[str] = []
        self.text = ""  # the banner's lines, then the rendered page's text, after render()
        self._lock = asyncio.Lock()
        self._routes: dict[str, Archived] = {}
        self._navigations = 0
        self._playwright: Any = None
        self._browser: Any = None
        self._context: Any = None
        self._page: Any = None
        self._banner: Any = None
        self._banners: Any = None

    async def __aenter__(self) -> Self:
        try:
            from playwright.async_api import async_playwright
        except ImportError as exc:
            raise ScreenshotError(
                "screenshots need Playwright: pip install 'guichets[screenshots]' "
                "(make install has it)"
            ) from exc

        if self._shared is None:
            self._playwright = await async_playwright().start()
        try:
            if self._shared is None:
                self._browser = await self._playwright.chromium.launch(
                    executable_path=self.executable, args=list(CHROMIUM_ARGS), headless=True
                )
            self._context = await self._new_context()
            await self._context.route("**/*", self._answer)
            self._page = await self._context.new_page()
            banners = self._banners = await self._new_context()  # ours: no archived page in it
            await banners.route("**/*", lambda route: route.abort("blockedbyclient"))
            self._banner = await banners.new_page()
        except BaseException:
            if self._playwright is not None:
                await self._playwright.stop()
            raise
        return self

    async def _new_context(self) -> Any:
        return await (self._shared or self._browser).new_context(
            java_script_enabled=False,
            service_workers="block",
            viewport={"width": self.width, "height": 800},
            locale="fr-FR",
            timezone_id="Europe/Paris",
        )

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._shared is not None:
            await self._context.close()
            await self._banners.close()
            return
        try:
            if self._browser is not None:
                await self._browser.close()
        finally:
            await self._playwright.stop()

    async def _answer(self, route: Any) -> None:
        """Every request of the rendered page: from the archive, or refused."""
        request = route.request
        if request.is_navigation_request():
            self._navigations += 1
            if self._navigations > 1:  # a refresh, a redirect, a frame: stay on the page shown
                self.blocked.append(request.url)
                await route.fulfill(status=204, body=b"")
                return
        archived = self._routes.get(request.url)
        if archived is None or request.method not in ("GET", "POST"):
            self.blocked.append(route.request.url)
            await route.abort("blockedbyclient")
            return
        await route.fulfill(
            status=archived.record.status or 200,
            headers=dict(archived.headers()),
            body=archived.body,
        )

    async def render(self, probe: ArchivedProbe) -> bytes:
        """The probe's page with its banner, as PNG bytes (one at a time: the page is shared).

        A page that cannot be rendered (it crashed the tab, it never loads) is described by a
        card instead; ScreenshotError only when even that fails, so that one hostile page costs
        one screenshot, never a whole dossier."""
        async with self._lock:
            try:
                return await self._render(probe, as_card=False)
            except Exception as first:  # whatever the page did to the browser
                try:
                    await self._reset_page()
                    return await self._render(probe, as_card=True, why=str(first))
                except Exception as exc:
                    raise ScreenshotError(
                        f"probe {probe.probe_id}: the archived page could not be rendered "
                        f"({_short(first)}; then {_short(exc)})"
                    ) from exc

    async def _reset_page(self) -> None:
        """A new tab, in case the page left the old one unusable."""
        old, self._page = self._page, None
        with contextlib.suppress(Exception):  # already gone
            await old.close()
        self._page = await self._context.new_page()

    async def _render(self, probe: ArchivedProbe, *, as_card: bool, why: str = "") -> bytes:
        page = self._page
        shown = probe.page
        self._routes = {}
        for archived in probe.responses:  # later answers for a URL win, as the probe saw them
            self._routes[archived.row.uri] = archived
        self.blocked = []
        self._navigations = 0
        showable = (
            not as_card
            and shown is not None
            and shown.record.status not in _REDIRECTS
            and bool(shown.body.strip())
        )
        if showable and shown is not None:
            self._routes[shown.row.uri] = shown
            try:
                await page.goto(shown.row.uri, wait_until="load", timeout=_TIMEOUT_MS)
            except Exception:  # Chromium would not show it: describe it instead
                showable = False
        if not showable:
            self._navigations = 1  # the card is ours; nothing may navigate away from it either
            await page.set_content(_card(probe), wait_until="load", timeout=_TIMEOUT_MS)
        height = await self._height(page)
        clip = {"x": 0, "y": 0, "width": self.width, "height": min(height, MAX_PAGE_HEIGHT)}
        shot: bytes = await page.screenshot(
            full_page=True, clip=clip, animations="disabled", timeout=_TIMEOUT_MS
        )
        try:
            body_text = str(await page.inner_text("body", timeout=5_000))
        except Exception:
            body_text = ""
        lines = banner_lines(probe)
        if self.blocked:
            lines.append(
                f"{len(self.blocked)} ressource(s) ou navigation(s) non archivée(s) ou refusée(s) "
                "(images, styles, redirections…)"
            )
        if height > MAX_PAGE_HEIGHT:
            lines.append(f"Page coupée à {MAX_PAGE_HEIGHT} pixels de haut (elle en fait {height})")
        if as_card:
            lines.append(f"La page n'a pas pu être affichée : {_short(why)}")
        await self._banner.set_content(
            _banner_html(lines, self.width), wait_until="load", timeout=_TIMEOUT_MS
        )
        # The banner's own box: a full-page shot would be at least the viewport's height, with a
        # blank band under short banners.
        top: bytes = await self._banner.locator("#b").screenshot(timeout=_TIMEOUT_MS)
        self.text = "\n".join(lines) + "\n" + body_text
        return await asyncio.to_thread(compose, top, shot, self.width)

    async def _height(self, page: Any) -> int:
        try:
            value = await page.evaluate(
                "() => Math.max(document.documentElement ? document.documentElement.scrollHeight"
                " : 0, document.body ? document.body.scrollHeight : 0)"
            )
            return max(1, int(value))
        except Exception:  # a page without a document: the viewport
            return 800

    async def render_many(
        self, home: Path, store: Store, probe_ids: Sequence[str]
    ) -> list[tuple[str, bytes]]:
        return [(pid, await self.render(load_probe(home, store, pid))) for pid in probe_ids]


def _short(error: object) -> str:
    text = str(error).strip().splitlines()
    return (text[0] if text else type(error).__name__)[:300]


class ProbeTimeScreenshots:
    """``guichets run --screenshots``: after each probe is stored, its archived page rendered to
    ``evidence/screenshots/<service>/<date>_<time>_<probe>.png``."""

    def __init__(self, home: Path, store: Store, renderer: Renderer) -> None:
        self.home, self.store, self.renderer = home, store, renderer
        self.taken = 0
        self.failed: list[str] = []  # a screenshot is a convenience: it never stops the run

    async def __call__(self, observation: Observation) -> None:
        try:
            probe = load_probe(self.home, self.store, observation.probe_id)
            png = await self.renderer.render(probe)
        except Exception as exc:  # the probe is stored; the dossier can render it again
            self.failed.append(f"{observation.probe_id}: {exc}")
            return
        folder = layout.screenshots_dir(self.home) / observation.service
        folder.mkdir(parents=True, exist_ok=True)
        (folder / screenshot_name(observation)).write_bytes(png)
        self.taken += 1

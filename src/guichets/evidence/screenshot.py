"""Screenshots of archived pages: the page a probe saw, rendered from its WARC record.

Courts want screenshots with the URL, the date and the time visible. A new visit would show
another moment, so the page is rendered from the archive: headless Chromium (Playwright driving
Debian's ``chromium``, never a downloaded browser) asks for the probe's URL, and every request the
page makes is answered from the probe's archived responses or refused, so nothing live is ever
fetched. JavaScript is off: the page is shown as it was served. A banner on top says what it is:
URL, date and time in Europe/Paris and in UTC, service, probe id, and the record's SHA-256.

The page shown is the last one the probe received (not robots.txt): the "no slot" page, the error
or the refusal; for a probe that saw slots, the page where its first slot is (a link ending in the
slot's Unix time, as the legacy module writes them), else the last page. A probe that received
nothing gets a card saying so.
"""

from __future__ import annotations

import asyncio
import html
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
from guichets.fetch import _decode as decode_content  # the robot's own bounded decoder
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
    if probe.entry is not None:
        lines.append(
            f"Registre : entrée {probe.entry.seq} du service, SHA-256 {probe.entry.entry_sha256}"
        )
    return lines


_BANNER_JS = """(lines) => {
  const box = document.createElement('div');
  box.setAttribute('id', 'guichets-evidence-banner');
  box.style.cssText = 'all:initial;display:block;box-sizing:border-box;width:100%;' +
    'background:#fff4c2;color:#000;border-bottom:3px solid #b00;padding:8px 12px;' +
    'font:13px/1.45 "DejaVu Sans",sans-serif;white-space:pre-wrap;word-break:break-all;';
  lines.forEach((text, i) => {
    const line = document.createElement('div');
    line.textContent = text;
    if (i === 0) line.style.fontWeight = 'bold';
    box.appendChild(line);
  });
  const host = document.body || document.documentElement;
  host.insertBefore(box, host.firstChild);
}"""


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
        self.text = ""  # the rendered page's text, banner included, after render()
        self._lock = asyncio.Lock()
        self._routes: dict[str, Archived] = {}
        self._playwright: Any = None
        self._browser: Any = None
        self._page: Any = None
        self._context: Any = None

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
            browser = self._shared or self._browser
            self._context = context = await browser.new_context(
                java_script_enabled=False,
                service_workers="block",
                viewport={"width": self.width, "height": 800},
                locale="fr-FR",
                timezone_id="Europe/Paris",
            )
            await context.route("**/*", self._answer)
            self._page = await context.new_page()
        except BaseException:
            if self._playwright is not None:
                await self._playwright.stop()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._shared is not None:
            await self._context.close()
            return
        try:
            if self._browser is not None:
                await self._browser.close()
        finally:
            await self._playwright.stop()

    async def _answer(self, route: Any) -> None:
        """Every request of the rendered page: from the archive, or refused."""
        archived = self._routes.get(route.request.url)
        if archived is None or route.request.method not in ("GET", "POST"):
            self.blocked.append(route.request.url)
            await route.abort("blockedbyclient")
            return
        await route.fulfill(
            status=archived.record.status or 200,
            headers=dict(archived.headers()),
            body=archived.body,
        )

    async def render(self, probe: ArchivedProbe) -> bytes:
        """The probe's page with its banner, as PNG bytes (one at a time: the page is shared)."""
        async with self._lock:
            return await self._render(probe)

    async def _render(self, probe: ArchivedProbe) -> bytes:
        page = self._page
        shown = probe.page
        self._routes = {}
        for archived in probe.responses:  # later answers for a URL win, as the probe saw them
            self._routes[archived.row.uri] = archived
        self.blocked = []
        showable = (
            shown is not None and shown.record.status not in _REDIRECTS and bool(shown.body.strip())
        )
        if showable and shown is not None:
            self._routes[shown.row.uri] = shown
            try:
                await page.goto(shown.row.uri, wait_until="load", timeout=30_000)
            except Exception:  # Chromium would not show it: describe it instead
                showable = False
        if not showable:
            await page.set_content(_card(probe), wait_until="load")
        lines = banner_lines(probe)
        if self.blocked:
            lines.append(
                f"{len(self.blocked)} ressource(s) non archivée(s) non chargée(s) (images, styles…)"
            )
        await page.evaluate(_BANNER_JS, lines)
        self.text = str(await page.inner_text("body"))
        png: bytes = await page.screenshot(full_page=True, animations="disabled")
        return png

    async def render_many(
        self, home: Path, store: Store, probe_ids: Sequence[str]
    ) -> list[tuple[str, bytes]]:
        return [(pid, await self.render(load_probe(home, store, pid))) for pid in probe_ids]


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
